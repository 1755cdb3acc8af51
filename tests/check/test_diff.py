"""``specfake check diff``: each kind of breaking change is found in a generated pair of contracts,
with its severity and location; a contract compared with itself (or a re-serialised copy) reports
nothing; recorded traffic the new version rejects is flagged; the CLI's exit codes and reports."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml

from specfake.cli import main
from specfake.contract import builtin_contracts, load_contract
from specfake.contracts.harness.conformance import ResponseChecker
from specfake.contracts.harness.diff import Change, diff_contracts
from specfake.contracts.harness.replay_check import load_traffic, replay

OPENAI_STYLE = Path(__file__).resolve().parents[1] / "contracts" / "openai_style.yaml"
Doc = dict[str, Any]
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the Humanloop contract in 0.1 s

SSE_EXAMPLE = (
    'data: {"id":"c1","index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}\n\ndata: [DONE]\n\n'
)


def json_of(schema: Doc) -> Doc:
    return {"application/json": {"schema": schema}}


def base() -> Doc:
    """A small contract with every feature a break can touch: parameters, a body, unions, a
    recursive schema, enums, a nullable field and a stream."""
    item = {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "done"]},
            "score": {"type": "number"},
            "note": {"type": "string"},
            "shape": {
                "oneOf": [{"$ref": "#/components/schemas/Circle"}, {"$ref": "#/components/schemas/Square"}]
            },
            "tree": {"$ref": "#/components/schemas/Node"},
        },
    }
    new_item = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "weight": {"type": "number"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "label": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "tree": {"$ref": "#/components/schemas/Node"},
        },
    }
    chunk = {
        "type": "object",
        "required": ["id", "index", "delta"],
        "properties": {
            "id": {"type": "string"},
            "index": {"type": "integer"},
            "delta": {"type": "object", "properties": {"content": {"type": "string"}}},
            "finish_reason": {"type": ["string", "null"]},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "diff base", "version": "1"},
        "servers": [{"url": "https://api.example.com/v1"}],
        "paths": {
            "/items": {
                "post": {
                    "operationId": "items_create",
                    "parameters": [
                        {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 100}},
                    ],
                    "requestBody": {"content": json_of({"$ref": "#/components/schemas/NewItem"})},
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": json_of({"$ref": "#/components/schemas/Item"}),
                        }
                    },
                }
            },
            "/items/{item_id}": {
                "get": {
                    "operationId": "items_get",
                    "parameters": [
                        {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": json_of({"$ref": "#/components/schemas/Item"}),
                        }
                    },
                }
            },
            "/chat": {
                "post": {
                    "operationId": "chat",
                    "requestBody": {
                        "required": True,
                        "content": json_of(
                            {
                                "type": "object",
                                "required": ["prompt"],
                                "properties": {"prompt": {"type": "string"}, "stream": {"type": "boolean"}},
                            }
                        ),
                    },
                    "responses": {
                        "200": {
                            "description": "a completion, or a stream of chunks",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Chunk"}},
                                "text/event-stream": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["data"],
                                        "properties": {
                                            "data": {
                                                "type": "string",
                                                "contentMediaType": "application/json",
                                                "contentSchema": {"$ref": "#/components/schemas/Chunk"},
                                            }
                                        },
                                    },
                                    "example": SSE_EXAMPLE,
                                },
                            },
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Item": item,
                "NewItem": new_item,
                "Chunk": chunk,
                "Node": {
                    "type": "object",
                    "properties": {
                        "value": {"type": "integer"},
                        "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                    },
                },
                "Circle": {
                    "type": "object",
                    "required": ["radius"],
                    "properties": {"radius": {"type": "number"}},
                },
                "Square": {
                    "type": "object",
                    "required": ["side"],
                    "properties": {"side": {"type": "number"}},
                },
                "Triangle": {
                    "type": "object",
                    "required": ["base"],
                    "properties": {"base": {"type": "number"}},
                },
            }
        },
    }


def schemas(doc: Doc) -> Doc:
    result: Doc = doc["components"]["schemas"]
    return result


def _items_post(doc: Doc) -> Doc:
    result: Doc = doc["paths"]["/items"]["post"]
    return result


def _param(doc: Doc, name: str) -> Doc:
    return next(p for p in _items_post(doc)["parameters"] if p["name"] == name)


def _chat_200(doc: Doc) -> Doc:
    result: Doc = doc["paths"]["/chat"]["post"]["responses"]["200"]
    return result


def _set(doc: Doc, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    node[last] = value


ITEM = "#/components/schemas/Item"
NEW_ITEM = "#/components/schemas/NewItem"
CHUNK = "#/components/schemas/Chunk"
POST_ITEMS, GET_ITEM, CHAT = "POST /items", "GET /items/{item_id}", "POST /chat"
Mutation = Callable[[Doc], object]

# (id, mutation, kind, severity, operation, document, pointer)
BREAKS: list[tuple[str, Mutation, str, str, str, str, str]] = [
    (
        "operation removed",
        lambda d: d["paths"]["/items/{item_id}"].pop("get"),
        "operation-removed",
        "error",
        GET_ITEM,
        "old",
        "#/paths/~1items~1{item_id}/get",
    ),
    (
        "request field removed",
        lambda d: schemas(d)["NewItem"]["properties"].pop("count"),
        "request-property-removed",
        "error",
        POST_ITEMS,
        "old",
        f"{NEW_ITEM}/properties/count",
    ),
    (
        "request field became required",
        lambda d: schemas(d)["NewItem"]["required"].append("count"),
        "request-property-became-required",
        "error",
        POST_ITEMS,
        "new",
        f"{NEW_ITEM}/properties/count",
    ),
    (
        "new required request field",
        lambda d: (
            schemas(d)["NewItem"]["properties"].update(owner={"type": "string"}),
            schemas(d)["NewItem"]["required"].append("owner"),
        ),
        "new-required-request-property",
        "error",
        POST_ITEMS,
        "new",
        f"{NEW_ITEM}/properties/owner",
    ),
    (
        "parameter became required",
        lambda d: _param(d, "verbose").update(required=True),
        "request-parameter-became-required",
        "error",
        POST_ITEMS,
        "new",
        "#/paths/~1items/post/parameters/0",
    ),
    (
        "new required parameter",
        lambda d: _items_post(d)["parameters"].append(
            {"name": "org", "in": "query", "required": True, "schema": {"type": "string"}}
        ),
        "new-required-request-parameter",
        "error",
        POST_ITEMS,
        "new",
        "#/paths/~1items/post/parameters/2",
    ),
    (
        "parameter removed",
        lambda d: _items_post(d)["parameters"].pop(0),
        "request-parameter-removed",
        "error",
        POST_ITEMS,
        "old",
        "#/paths/~1items/post/parameters/0",
    ),
    (
        "request body became required",
        lambda d: _items_post(d)["requestBody"].update(required=True),
        "request-body-became-required",
        "error",
        POST_ITEMS,
        "new",
        "#/paths/~1items/post/requestBody",
    ),
    (
        "request type narrowed (integer from number)",
        lambda d: schemas(d)["NewItem"]["properties"]["weight"].update(type="integer"),
        "request-property-type-changed",
        "error",
        POST_ITEMS,
        "new",
        f"{NEW_ITEM}/properties/weight",
    ),
    (
        "request parameter type narrowed",
        lambda d: _param(d, "verbose").update(schema={"type": "string", "enum": ["yes"]}),
        "request-parameter-type-changed",
        "error",
        POST_ITEMS,
        "new",
        "#/paths/~1items/post/parameters/0/schema",
    ),
    (
        "request format added",
        lambda d: schemas(d)["NewItem"]["properties"]["name"].update(format="email"),
        "request-property-format-added",
        "error",
        POST_ITEMS,
        "new",
        f"{NEW_ITEM}/properties/name",
    ),
    (
        "request enum value removed",
        lambda d: schemas(d)["NewItem"]["properties"]["kind"].update(enum=["a"]),
        "request-property-enum-value-removed",
        "error",
        POST_ITEMS,
        "new",
        f"{NEW_ITEM}/properties/kind",
    ),
    (
        "request constraint narrowed",
        lambda d: _param(d, "limit")["schema"].update(maximum=50),
        "request-parameter-constraint-narrowed",
        "error",
        POST_ITEMS,
        "new",
        "#/paths/~1items/post/parameters/1/schema",
    ),
    (
        "request no longer nullable",
        lambda d: schemas(d)["NewItem"]["properties"].update(label={"type": "string"}),
        "request-property-became-not-nullable",
        "error",
        POST_ITEMS,
        "new",
        f"{NEW_ITEM}/properties/label",
    ),
    (
        "request union alternative removed",
        lambda d: schemas(d)["NewItem"]["properties"]["input"]["anyOf"].__setitem__(1, {"type": "integer"}),
        "request-property-any-of-removed",
        "error",
        POST_ITEMS,
        "old",
        f"{NEW_ITEM}/properties/input/anyOf/1",
    ),
    (
        "request change inside a recursive schema",
        lambda d: schemas(d)["Node"]["properties"]["value"].update(type="string"),
        "request-property-type-changed",
        "error",
        POST_ITEMS,
        "new",
        "#/components/schemas/Node/properties/value",
    ),
    (
        "required response field removed",
        lambda d: (schemas(d)["Item"]["properties"].pop("id"), schemas(d)["Item"]["required"].remove("id")),
        "response-required-property-removed",
        "error",
        GET_ITEM,
        "old",
        f"{ITEM}/properties/id",
    ),
    (
        "optional response field removed",
        lambda d: schemas(d)["Item"]["properties"].pop("note"),
        "response-optional-property-removed",
        "warning",
        GET_ITEM,
        "old",
        f"{ITEM}/properties/note",
    ),
    (
        "response field became optional",
        lambda d: schemas(d)["Item"]["required"].remove("status"),
        "response-property-became-optional",
        "error",
        GET_ITEM,
        "new",
        f"{ITEM}/properties/status",
    ),
    (
        "response field became nullable (type list)",
        lambda d: schemas(d)["Item"]["properties"]["score"].update(type=["number", "null"]),
        "response-property-became-nullable",
        "error",
        GET_ITEM,
        "new",
        f"{ITEM}/properties/score",
    ),
    (
        "response field became nullable (anyOf null)",
        lambda d: schemas(d)["Item"]["properties"].update(
            score={"anyOf": [{"type": "number"}, {"type": "null"}]}
        ),
        "response-property-became-nullable",
        "error",
        GET_ITEM,
        "new",
        f"{ITEM}/properties/score",
    ),
    (
        "response type widened",
        lambda d: schemas(d)["Item"]["properties"]["score"].update(type=["number", "string"]),
        "response-property-type-changed",
        "error",
        GET_ITEM,
        "new",
        f"{ITEM}/properties/score",
    ),
    (
        "response enum value added",
        lambda d: schemas(d)["Item"]["properties"]["status"]["enum"].append("archived"),
        "response-property-enum-value-added",
        "warning",
        GET_ITEM,
        "new",
        f"{ITEM}/properties/status",
    ),
    (
        "response union alternative added",
        lambda d: schemas(d)["Item"]["properties"]["shape"]["oneOf"].append(
            {"$ref": "#/components/schemas/Triangle"}
        ),
        "response-property-one-of-added",
        "error",
        GET_ITEM,
        "new",
        "#/components/schemas/Triangle",
    ),
    (
        "response field inside a union alternative removed",
        lambda d: (schemas(d)["Square"]["properties"].pop("side"), schemas(d)["Square"].pop("required")),
        "response-required-property-removed",
        "error",
        GET_ITEM,
        "old",
        "#/components/schemas/Square/properties/side",
    ),
    (
        "new required response field (breaks servers)",
        lambda d: schemas(d)["Item"]["required"].append("note"),
        "response-property-became-required",
        "warning",
        GET_ITEM,
        "new",
        f"{ITEM}/properties/note",
    ),
    (
        "success status changed",
        lambda d: _items_post(d)["responses"].__setitem__("201", _items_post(d)["responses"].pop("200")),
        "response-success-status-removed",
        "error",
        POST_ITEMS,
        "old",
        "#/paths/~1items/post/responses/200",
    ),
    (
        "success status added",
        lambda d: _items_post(d)["responses"].__setitem__(
            "201", copy.deepcopy(_items_post(d)["responses"]["200"])
        ),
        "response-success-status-added",
        "warning",
        POST_ITEMS,
        "new",
        "#/paths/~1items/post/responses/201",
    ),
    (
        "stream chunk field type changed",
        lambda d: schemas(d)["Chunk"]["properties"]["index"].update(type="string"),
        "stream-chunk-property-type-changed",
        "error",
        CHAT,
        "new",
        f"{CHUNK}/properties/index",
    ),
    (
        "stream chunk field removed",
        lambda d: (
            schemas(d)["Chunk"]["properties"].pop("delta"),
            schemas(d)["Chunk"]["required"].remove("delta"),
        ),
        "stream-chunk-required-property-removed",
        "error",
        CHAT,
        "old",
        f"{CHUNK}/properties/delta",
    ),
    (
        "stream chunk schema replaced",
        lambda d: _set(
            _chat_200(d),
            "content.text/event-stream.schema.properties.data.contentSchema",
            {"type": "object", "properties": {"text": {"type": "string"}}},
        ),
        "stream-chunk-required-property-removed",
        "error",
        CHAT,
        "old",
        f"{CHUNK}/properties/id",
    ),
    (
        "stream removed",
        lambda d: _chat_200(d)["content"].pop("text/event-stream"),
        "stream-removed",
        "error",
        CHAT,
        "old",
        "#/paths/~1chat/post",
    ),
    (
        "stream terminator dropped",
        lambda d: _chat_200(d)["content"]["text/event-stream"].update(
            example=SSE_EXAMPLE.replace("data: [DONE]\n\n", "")
        ),
        "stream-terminator-changed",
        "error",
        CHAT,
        "new",
        "#/paths/~1chat/post",
    ),
]


def _diff(tmp_path: Path, old: Doc, new: Doc) -> list[Change]:
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(old))
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(new))
    return diff_contracts(load_contract(tmp_path / "old.yaml"), load_contract(tmp_path / "new.yaml"))


def test_the_base_pair_is_clean(tmp_path: Path) -> None:
    assert _diff(tmp_path, base(), base()) == []


@pytest.mark.parametrize(
    ("mutate", "kind", "severity", "operation", "document", "pointer"),
    [case[1:] for case in BREAKS],
    ids=[case[0] for case in BREAKS],
)
def test_each_kind_of_break_is_found_where_it_is(
    tmp_path: Path, mutate: Mutation, kind: str, severity: str, operation: str, document: str, pointer: str
) -> None:
    new = base()
    mutate(new)
    changes = _diff(tmp_path, base(), new)
    found = [c for c in changes if c.kind == kind and c.operation == operation]
    assert found, f"{kind} not found in {[(c.kind, c.operation) for c in changes]}"
    assert (severity, document, pointer) in {(c.severity, c.document, c.pointer) for c in found}
    assert {c.severity for c in found} == {severity}
    assert all(c.message and c.operation == operation for c in found)


def test_a_widening_is_no_break(tmp_path: Path) -> None:
    """What old clients and old servers both still get: a new optional request field, a new
    request enum value, a response narrowed (integer from number), a new operation."""
    new = base()
    schemas(new)["NewItem"]["properties"]["extra"] = {"type": "string"}
    schemas(new)["NewItem"]["properties"]["kind"]["enum"].append("c")
    schemas(new)["NewItem"]["properties"]["weight"]["type"] = ["number", "string"]
    schemas(new)["Item"]["properties"]["score"]["type"] = "integer"
    schemas(new)["Item"]["properties"]["status"]["enum"].remove("done")
    new["paths"]["/items"]["get"] = copy.deepcopy(new["paths"]["/items/{item_id}"]["get"]) | {
        "operationId": "items_list"
    }
    new["paths"]["/items/{item_id}"]["get"]["parameters"][0]["name"] = "id"
    new["paths"]["/items/{id}"] = new["paths"].pop("/items/{item_id}")  # a renamed path parameter
    assert _diff(tmp_path, base(), new) == []


def _reordered(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _reordered(node[k]) for k in reversed(list(node))}
    if isinstance(node, list):
        return [_reordered(v) for v in node]
    return node


@pytest.mark.parametrize("name", ["humanloop", "sgp", "openai_style"])
def test_a_contract_against_itself_and_its_reserialised_copy_reports_nothing(
    tmp_path: Path, name: str
) -> None:
    source = OPENAI_STYLE if name == "openai_style" else builtin_contracts()[name]
    document = yaml.load(source.read_text(), Loader=LOADER)
    copy_path = tmp_path / f"{name}.json"
    copy_path.write_text(json.dumps(_reordered(document), indent=1))
    original = load_contract(source)
    assert diff_contracts(original, load_contract(source)) == []
    assert diff_contracts(original, load_contract(copy_path)) == []


# -- replaying recorded traffic ---------------------------------------------------------------------


def _count_required() -> Doc:
    new = base()
    schemas(new)["NewItem"]["required"].append("count")
    return new


def _pair(tmp_path: Path, new: Doc) -> tuple[Any, Any]:
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(base()))
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(new))
    return load_contract(tmp_path / "old.yaml"), load_contract(tmp_path / "new.yaml")


def _har_entry(body: Doc, answer: Doc) -> Doc:
    return {
        "request": {
            "method": "POST",
            "url": "https://api.example.com/v1/items?verbose=true",
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "queryString": [{"name": "verbose", "value": "true"}],
            "postData": {"mimeType": "application/json", "text": json.dumps(body)},
        },
        "response": {
            "status": 200,
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "content": {"mimeType": "application/json", "text": json.dumps(answer)},
        },
    }


GOOD_ANSWER = {"id": "it_1", "status": "active"}


def test_replay_flags_a_har_request_the_new_version_rejects_and_passes_one_that_conforms(
    tmp_path: Path,
) -> None:
    old, new = _pair(tmp_path, _count_required())
    har = {
        "log": {
            "version": "1.2",
            "entries": [
                _har_entry({"name": "a"}, GOOD_ANSWER),
                _har_entry({"name": "b", "count": 2}, GOOD_ANSWER),
            ],
        }
    }
    (tmp_path / "traffic.har").write_text(json.dumps(har))
    records = load_traffic(tmp_path / "traffic.har")
    assert [r.path for r in records] == ["/v1/items", "/v1/items"]
    changes, stats = replay(records, old, new)
    assert [(c.kind, c.severity, c.rule, c.field, c.source) for c in changes] == [
        ("traffic-request-rejected", "error", "required", "body.count", "traffic.har#0 (POST /items)")
    ]
    assert stats["requests judged"] == 2 and stats["responses judged"] == 2
    assert replay(records, old, old)[0] == []


def test_replay_flags_a_recorded_response_the_new_version_rejects(tmp_path: Path) -> None:
    new = base()
    schemas(new)["Item"]["properties"]["status"]["enum"] = ["active"]  # a narrowing: no diff break
    old, new_contract = _pair(tmp_path, new)
    har = {
        "log": {
            "entries": [
                _har_entry({"name": "a"}, {"id": "it_1", "status": "done"}),
                _har_entry({"name": "b"}, GOOD_ANSWER),
            ]
        }
    }
    (tmp_path / "traffic.har").write_text(json.dumps(har))
    changes, _ = replay(load_traffic(tmp_path / "traffic.har"), old, new_contract)
    assert [(c.kind, c.rule, c.field, c.side, c.source) for c in changes] == [
        (
            "traffic-response-rejected",
            "response_schema_conformance",
            "body.status",
            "server",
            "traffic.har#0 (POST /items)",
        )
    ]


def test_replay_flags_a_journal_request_the_new_version_rejects(tmp_path: Path) -> None:
    old, new = _pair(tmp_path, _count_required())
    entry = {"at": 1.0, "contract": "old", "tenant": "t_0123456789abcdef", "query": "", "status": 200}
    journal = {
        "entries": [
            entry | {"method": "POST", "path": "/old/v1/items", "body": json.dumps({"name": "a"})},
            entry
            | {"method": "POST", "path": "/old/v1/items", "body": json.dumps({"name": "b", "count": 1})},
            entry | {"method": "GET", "path": "/old/v1/items/it_1", "body": ""},
        ]
    }
    (tmp_path / "journal.json").write_text(json.dumps(journal))
    changes, stats = replay(load_traffic(tmp_path / "journal.json"), old, new)
    assert [(c.kind, c.rule, c.field, c.source) for c in changes] == [
        ("traffic-request-rejected", "required", "body.count", "journal.json#0 (POST /items)")
    ]
    assert stats["requests judged"] == 3 and stats["responses judged"] == 0  # a journal has no answers


def _cassette(body: Doc) -> Doc:
    return {
        "format": "specfake-cassette/1",
        "name": "create-item",
        "request": {
            "contract": "old",
            "operation": "items_create",
            "method": "POST",
            "path": "/items",
            "subject": {"path": "/items", "query": {}, "body": body},
        },
        "response": {"status": 200, "content_type": "application/json", "final": GOOD_ANSWER},
    }


def test_replay_flags_a_cassette_request_the_new_version_rejects(tmp_path: Path) -> None:
    old, new = _pair(tmp_path, _count_required())
    cassettes = tmp_path / "cassettes"
    cassettes.mkdir()
    (cassettes / "a.yaml").write_text(yaml.safe_dump(_cassette({"name": "a"})))
    (cassettes / "b.yaml").write_text(yaml.safe_dump(_cassette({"name": "b", "count": 3})))
    changes, stats = replay(load_traffic(cassettes), old, new)
    assert [(c.kind, c.rule, c.field, c.source) for c in changes] == [
        ("traffic-request-rejected", "required", "body.count", "a.yaml (POST /items)")
    ]
    assert stats["responses judged"] == 2


def test_replay_judges_a_recorded_stream_by_its_chunks(tmp_path: Path) -> None:
    """The shipped Humanloop cassettes (their requests kept in part only, so their streams alone
    are judged) conform to their contract, and are flagged once a chunk field changes type."""
    humanloop = load_contract("humanloop")
    records = load_traffic(Path(__file__).resolve().parents[2] / "fixtures" / "streams")
    assert len(records) == 5 and all(r.status == 200 and r.body is None for r in records)
    checker = ResponseChecker(humanloop)
    for record in records:  # the baseline: every recording is valid under the old contract
        operation = humanloop.operation(str(record.operation_id))
        assert checker.check(operation, 200, record.response_headers, record.response_body) == []
    document = yaml.load(builtin_contracts()["humanloop"].read_text(), Loader=LOADER)
    document["components"]["schemas"]["GenerationStreamChunk"]["properties"]["project_id"] = {
        "type": "integer"
    }
    (tmp_path / "humanloop_next.json").write_text(json.dumps(document))
    changes, stats = replay(records, humanloop, load_contract(tmp_path / "humanloop_next.json"))
    assert stats["responses judged"] == 5 and stats["requests judged"] == 0
    assert len({c.source for c in changes}) == 5  # every recording, once per bad event
    assert {c.kind for c in changes} == {"traffic-response-rejected"}
    assert all(str(c.rule).startswith("sse_") for c in changes)  # the response checker's stream rules
    assert all(c.field and c.field.endswith("project_id") for c in changes)


# -- the command ----------------------------------------------------------------------------------


def test_cli_exit_codes_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(base()))
    breaking, warning_only = _count_required(), base()
    schemas(warning_only)["Item"]["properties"]["status"]["enum"].append("archived")
    (tmp_path / "breaking.yaml").write_text(yaml.safe_dump(breaking))
    (tmp_path / "warning.yaml").write_text(yaml.safe_dump(warning_only))
    old = str(tmp_path / "old.yaml")
    assert main(["check", "diff", old, old]) == 0
    assert main(["check", "diff", old, str(tmp_path / "warning.yaml")]) == 0
    assert main(["check", "diff", old, str(tmp_path / "warning.yaml"), "--fail-on", "warning"]) == 1
    junit, report = tmp_path / "diff.xml", tmp_path / "diff.json"
    argv = [
        "check",
        "diff",
        old,
        str(tmp_path / "breaking.yaml"),
        "--junit",
        str(junit),
        "--report",
        str(report),
    ]
    capsys.readouterr()
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "request-property-became-required" in out and "1 breaking change(s)" in out
    data = json.loads(report.read_text())
    assert data["ok"] is False and data["errors"] == 1
    assert data["changes"][0]["pointer"] == f"{NEW_ITEM}/properties/count"
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["POST /items :: request-property-became-required"]
    assert main(["check", "diff", old, str(tmp_path / "missing.yaml")]) == 2
    assert "no contract" in capsys.readouterr().err
