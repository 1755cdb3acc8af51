"""Generate contracts/sgp.yaml (Scale GenAI Platform, evaluations family) from the scale-gp SDK.

The SDK (``scale-gp==0.1.0a62``) is the source of truth: paths, methods, parameters, field names,
types, enums, required-ness, nullability. Schemas come from its pydantic models and params
TypedDicts through pydantic's JSON-schema generator; only the SDK's prose is dropped.

Cross-check against the documented ``GET /v4/evaluations`` (shared/seeds/003_078a7af999ebe66f.txt):
- The item fields at every depth (question set and questions, datasets, async jobs, application
  spec, annotation and metric configs) and the ``sort_by``/``view`` enums agree with the SDK, and
  the seed's example page validates against both the SDK models and this document.
- Paging: the seed shows ``{items, total_item_count, current_page, items_per_page}``; the SDK's
  ``SyncPageResponse`` declares only ``items`` and ``current_page: Optional[int] = None`` (the rest
  reach it as extra fields). We document all four as required non-null integers: the SDK asks for
  page ``current_page + 1`` (page 2 when it is missing or null), so a server that omits it makes
  ``for e in client.evaluations.list()`` loop forever. The wire names are the seed's and the SDK's.
- ``page`` (>= 1, default 1) and ``limit`` (1..10000, default 100) carry bounds and defaults only
  the seed states; the SDK types both as plain ``int``. Both apply.
- ``application_spec_id`` (query) is ``Union[int, str]`` in the SDK; the seed shows no type. SDK wins.

Success status: Stainless SDKs accept any 2xx and never look at the code; the seed calls the list
answer "Successful Response" (FastAPI's label for its default 200), and nothing in the SDK or the
seed points at 201/204 for create/delete (delete returns a body, ``{count, success}``). So every
operation documents 200.

``claim_task`` (``POST /v4/evaluations/{evaluation_id}/claim-task``): the SDK sends ``task_type`` in
the query and ``skip_current`` in a JSON body (``{}`` when omitted, so the body is optional here),
and returns ``Optional[Task]``: the 200 answer is a ``Task`` or JSON ``null``.

Errors: 400/401/403/404/409/422/429 on every operation (the contracts README asks for 404
everywhere; on list/create it stands for a referenced entity that does not exist), 413 where
there is a body. The SDK has no error model, so the bodies follow FastAPI (``{"detail": ...}``).

Run: ``.venv/bin/python contracts/tools/build_sgp.py`` (writes ``../sgp.yaml`` next to this file).
"""

from __future__ import annotations

import importlib
import json
import typing
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import CoreModeRef, DefsRef, GenerateJsonSchema, JsonSchemaMode
from scale_gp.pagination import SyncPageResponse
from scale_gp.types import (
    evaluation_claim_task_params,
    evaluation_create_params,
    evaluation_list_params,
    evaluation_retrieve_params,
    evaluation_update_params,
)
from scale_gp.types.evaluation_create_response import EvaluationCreateResponse
from scale_gp.types.evaluation_list_response import EvaluationListResponse
from scale_gp.types.evaluation_retrieve_response import EvaluationRetrieveResponse
from scale_gp.types.evaluation_update_response import EvaluationUpdateResponse
from scale_gp.types.shared.generic_delete_response import GenericDeleteResponse
from scale_gp.types.task import Task
from typing_extensions import is_typeddict

Schema = dict[str, Any]

SDK_PACKAGE = "scale-gp"
SDK_VERSION = "0.1.0a62"
OUT = Path(__file__).resolve().parent.parent / "sgp.yaml"
REF_PREFIX = "#/components/schemas/"
TAG = "evaluations"
PAGE_SCHEMA = "SyncPageResponseEvaluationListResponse"
CLAIM_BODY = "EvaluationClaimTaskParams"
CLAIM_QUERY = "task_type"  # in the SDK's params TypedDict, but sent as a query parameter

# Component name -> SDK type. Unions (the create/update bodies) become anyOf components.
SDK_TYPES: dict[str, Any] = {
    "EvaluationCreateParams": evaluation_create_params.EvaluationCreateParams,
    "EvaluationUpdateParams": evaluation_update_params.EvaluationUpdateParams,
    "EvaluationCreateResponse": EvaluationCreateResponse,
    "EvaluationRetrieveResponse": EvaluationRetrieveResponse,
    "EvaluationUpdateResponse": EvaluationUpdateResponse,
    "EvaluationListResponse": EvaluationListResponse,
    "GenericDeleteResponse": GenericDeleteResponse,
    CLAIM_BODY: evaluation_claim_task_params.EvaluationClaimTaskParams,
    "Task": Task,
}

# Our own one-line descriptions for the top-level components (the SDK's prose is not copied).
DESCRIPTIONS: dict[str, str] = {
    "EvaluationCreateParams": "Create body: a builder request (with a dataset) or a default one.",
    "EvaluationUpdateParams": "Update body: a partial patch, or `{restore: true}` to unarchive.",
    "EvaluationCreateResponse": "The evaluation as stored, without expanded views.",
    "EvaluationUpdateResponse": "The evaluation after the update, without expanded views.",
    "EvaluationRetrieveResponse": "The evaluation; `view` adds the expanded sub-objects.",
    "EvaluationListResponse": "One evaluation in a list page; `view` adds expanded sub-objects.",
    "GenericDeleteResponse": "Outcome of an archive (delete).",
    CLAIM_BODY: "Claim body; `task_type` travels in the query.",
    "Task": "A task of an evaluation (one test case result to annotate) and its assignment.",
    PAGE_SCHEMA: "One page of evaluations (page numbers start at 1).",
    "ErrorResponse": "Error body for every non-422 failure.",
    "HTTPValidationError": "FastAPI-style request validation failure.",
    "ValidationError": "One request validation problem.",
}

# Keywords holding a map of name -> subschema, a single subschema, or a list of subschemas.
_MAP_KEYS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_ONE_KEYS = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
)
_LIST_KEYS = ("anyOf", "oneOf", "allOf", "prefixItems")
_PROSE_KEYS = ("title", "description")
_KEY_ORDER = (
    "$ref",
    "description",
    "type",
    "format",
    "const",
    "enum",
    "minimum",
    "maximum",
    "items",
    "properties",
    "required",
    "additionalProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "default",
)


class _QualifiedNames(GenerateJsonSchema):
    """Name every definition by its module-qualified class so no two SDK classes are merged
    behind our back; ``_component_names`` decides the public names afterwards."""

    def get_defs_ref(self, core_mode_ref: CoreModeRef) -> DefsRef:
        core_ref, _mode = core_mode_ref
        name = DefsRef(core_ref.rsplit(":", 1)[0])
        self._prioritized_defsref_choices[name] = [name]
        return name


def _walk(schema: Any, fn: typing.Callable[[Schema], None]) -> None:
    """Apply ``fn`` to every schema object, following only schema positions (so property
    names such as ``title`` or ``default`` are never mistaken for keywords)."""
    if not isinstance(schema, dict):
        return
    fn(schema)
    for key in _MAP_KEYS:
        for sub in schema.get(key, {}).values():
            _walk(sub, fn)
    for key in _ONE_KEYS:
        if key in schema:
            _walk(schema[key], fn)
    for key in _LIST_KEYS:
        for sub in schema.get(key, []):
            _walk(sub, fn)


def _drop_prose(schema: Schema) -> None:
    for key in _PROSE_KEYS:
        schema.pop(key, None)


def _tidy(schema: Schema) -> None:
    """Put keywords in a readable fixed order (pydantic sorts them alphabetically)."""
    rank = {key: i for i, key in enumerate(_KEY_ORDER)}
    ordered = sorted(schema.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
    schema.clear()
    schema.update(ordered)


def _generate() -> tuple[dict[str, Schema], dict[str, Schema]]:
    """One pydantic pass over all SDK types, so shared definitions are emitted once."""
    inputs: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = [
        (name, "validation", TypeAdapter(tp)) for name, tp in SDK_TYPES.items()
    ]
    top, defs = TypeAdapter.json_schemas(inputs, schema_generator=_QualifiedNames)
    tops = {name: schema for (name, _mode), schema in top.items()}
    definitions: dict[str, Schema] = defs.get("$defs", {})
    for schema in [*tops.values(), *definitions.values()]:
        _walk(schema, _drop_prose)
    return tops, definitions


def _ref_target(ref: str) -> str:
    if not ref.startswith("#/$defs/"):
        raise ValueError(f"unexpected $ref {ref}")
    return ref.removeprefix("#/$defs/")


def _signature(schema: Any, defs: dict[str, Schema]) -> str:
    """Structure of a schema with every $ref inlined: equal signatures mean the SDK repeats
    one shape under several modules (e.g. ``MetricConfig`` in four response modules)."""

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = _ref_target(node["$ref"])
                if target in seen:
                    raise ValueError(f"recursive schema {target}: not supported here")
                rest = {k: inline(v, seen) for k, v in node.items() if k != "$ref"}
                return {"$inline": inline(defs[target], (*seen, target)), **rest}
            return {k: inline(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v, seen) for v in node]
        return node

    return json.dumps(inline(schema, ()), sort_keys=True)


def _sdk_class(qualified: str) -> type:
    module, _, name = qualified.rpartition(".")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


def _component_names(defs: dict[str, Schema]) -> dict[str, str]:
    """Map module-qualified definitions to component names = SDK class names.

    Identical shapes sharing a class name collapse into one component. When a name covers a
    response model and a request TypedDict of different shapes (``Component``, ``LlmPrompt``,
    ``AutoEvaluationParameters``...), the TypedDict gets Stainless' ``Param`` suffix. Anything
    more ambiguous stops the build rather than guessing.
    """
    by_name: dict[str, dict[str, list[str]]] = {}
    for qualified in sorted(defs):
        cls = _sdk_class(qualified)
        sig = _signature({"$ref": f"#/$defs/{qualified}"}, defs)
        by_name.setdefault(cls.__name__, {}).setdefault(sig, []).append(qualified)

    names: dict[str, str] = {}
    for name, variants in by_name.items():
        if len(variants) == 1:
            for qualified in next(iter(variants.values())):
                names[qualified] = name
            continue
        kinds: dict[str, list[list[str]]] = {"model": [], "param": []}
        for members in variants.values():
            cls = _sdk_class(members[0])
            kind = "param" if is_typeddict(cls) else "model"
            if kind == "model" and not issubclass(cls, BaseModel):
                raise TypeError(f"unexpected SDK type {members[0]}")
            kinds[kind].append(members)
        if len(kinds["model"]) > 1 or len(kinds["param"]) > 1:
            raise ValueError(f"{name}: several different shapes of one kind: {variants}")
        for kind, suffix in (("model", ""), ("param", "Param")):
            for members in kinds[kind]:
                for qualified in members:
                    names[qualified] = name + suffix
    clashes = set(names.values()) & {PAGE_SCHEMA, *_hand_written()}
    if clashes:
        raise ValueError(f"SDK class names clash with hand-written schemas: {sorted(clashes)}")
    return names


def _rename_refs(schema: Any, names: dict[str, str]) -> None:
    def fix(node: Schema) -> None:
        if "$ref" in node:
            node["$ref"] = REF_PREFIX + names[_ref_target(node["$ref"])]

    _walk(schema, fix)


def _hand_written() -> dict[str, Schema]:
    """Error bodies: the SDK has no error model, the real service is FastAPI."""
    return {
        "ErrorResponse": {
            "type": "object",
            "required": ["detail"],
            "properties": {
                "detail": {
                    "description": "Usually a message; any JSON value is accepted.",
                    "anyOf": [
                        {"type": "string"},
                        {"type": ["object", "array", "number", "boolean", "null"]},
                    ],
                }
            },
        },
        "HTTPValidationError": {
            "type": "object",
            "required": ["detail"],
            "properties": {
                "detail": {
                    "type": "array",
                    "items": {"$ref": REF_PREFIX + "ValidationError"},
                }
            },
        },
        "ValidationError": {
            "type": "object",
            "required": ["loc", "msg", "type"],
            "properties": {
                "loc": {
                    "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                },
                "msg": {"type": "string"},
                "type": {"type": "string"},
            },
        },
    }


def _page_schema() -> Schema:
    """The list envelope. Fields beyond the SDK's page model come from the seed (see top)."""
    sdk_fields = set(SyncPageResponse.model_fields)
    if sdk_fields != {"items", "current_page"}:
        raise ValueError(f"SyncPageResponse changed: {sorted(sdk_fields)}")
    return {
        "type": "object",
        "required": ["items", "total_item_count", "current_page", "items_per_page"],
        "properties": {
            "items": {
                "type": "array",
                "items": {"$ref": REF_PREFIX + "EvaluationListResponse"},
            },
            "total_item_count": {"type": "integer", "minimum": 0},
            "current_page": {"type": "integer", "minimum": 1},
            "items_per_page": {"type": "integer", "minimum": 1},
        },
        "additionalProperties": True,
    }


def components() -> dict[str, Schema]:
    """All component schemas, sorted by name."""
    tops, defs = _generate()
    names = _component_names(defs)
    out: dict[str, Schema] = {}
    for qualified, schema in defs.items():
        name = names[qualified]
        _rename_refs(schema, names)
        if name in out and out[name] != schema:
            raise ValueError(f"{name}: merged shapes differ after renaming")
        out[name] = schema
    for name, schema in tops.items():
        _rename_refs(schema, names)
        if schema.get("$ref") == REF_PREFIX + name:
            continue  # a model: its definition is already in `out` under this name
        if name in out:
            raise ValueError(f"{name} generated twice")
        out[name] = schema
    out[PAGE_SCHEMA] = _page_schema()
    claim_body = out[CLAIM_BODY]
    if set(claim_body.get("properties", {})) != {CLAIM_QUERY, "skip_current"} or claim_body.get("required"):
        raise ValueError(f"{CLAIM_BODY} changed: {claim_body}")
    del claim_body["properties"][CLAIM_QUERY]
    out.update(_hand_written())
    for name, text in DESCRIPTIONS.items():
        out[name]["description"] = text
    for schema in out.values():
        _walk(schema, _tidy)
    return dict(sorted(out.items()))


def _query_schema(params: type, field: str, **extra: Any) -> Schema:
    """Schema of one query parameter, read from the SDK's params TypedDict."""
    hint = typing.get_type_hints(params, include_extras=False)[field]
    schema: Schema = TypeAdapter(hint).json_schema()
    schema.update(extra)
    _walk(schema, _drop_prose)
    _walk(schema, _tidy)
    return schema


def _query(name: str, schema: Schema, description: str | None = None) -> Schema:
    param: Schema = {"name": name, "in": "query", "required": False}
    if description:
        param["description"] = description
    if schema.get("type") == "array":
        # The SDK's Querystring(array_format="comma") sends `a,b`, not repeated keys.
        param.update({"style": "form", "explode": False})
    param["schema"] = schema
    return param


def _view_param(params: type) -> Schema:
    return _query("view", _query_schema(params, "view"), "Expanded sub-objects to include.")


def _path_param() -> Schema:
    return {
        "name": "evaluation_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }


def _json(ref: str) -> Schema:
    return {"application/json": {"schema": {"$ref": REF_PREFIX + ref}}}


_ERRORS: dict[str, str] = {
    "400": "Bad request.",
    "401": "Missing or invalid API key.",
    "403": "The key may not access this account or evaluation.",
    "404": "Not found (the evaluation, or an entity the request refers to).",
    "409": "Conflicts with the current state.",
    "413": "Request body too large.",
    "422": "Request validation failed.",
    "429": "Rate limited.",
}


def _responses(success: str, ok_schema: str, has_body: bool, nullable: bool = False) -> dict[str, Schema]:
    content = _json(ok_schema)
    if nullable:  # the SDK's return type is Optional[...]: JSON `null` is an answer
        ref = content["application/json"]["schema"]
        content["application/json"]["schema"] = {"anyOf": [ref, {"type": "null"}]}
    responses: dict[str, Schema] = {"200": {"description": success, "content": content}}
    for code, text in _ERRORS.items():
        if code == "413" and not has_body:
            continue
        schema = "HTTPValidationError" if code == "422" else "ErrorResponse"
        responses[code] = {"description": text, "content": _json(schema)}
    return responses


def _operation(
    op: str,
    summary: str,
    success: str,
    ok_schema: str,
    parameters: list[Schema],
    body: str | None = None,
    *,
    body_required: bool = True,
    nullable: bool = False,
) -> Schema:
    operation: Schema = {
        "operationId": f"{TAG}_{op}",
        "tags": [TAG],
        "summary": summary,
    }
    if parameters:
        operation["parameters"] = parameters
    if body:
        content = _json(body)
        if not body_required:  # FastAPI reads a JSON null as the absent optional body it may be
            media = content["application/json"]
            media["schema"] = {"anyOf": [media["schema"], {"type": "null"}]}
        operation["requestBody"] = {"required": body_required, "content": content}
    operation["responses"] = _responses(success, ok_schema, body is not None, nullable)
    return operation


def paths() -> dict[str, Schema]:
    """The six evaluation operations, at the SDK's paths."""
    lp = evaluation_list_params.EvaluationListParams
    list_params = [
        _query(
            "page",
            _query_schema(lp, "page", minimum=1, default=1),
            "Page number, from 1.",
        ),
        _query(
            "limit",
            _query_schema(lp, "limit", minimum=1, maximum=10000, default=100),
            "Page size.",
        ),
        _query("sort_by", _query_schema(lp, "sort_by"), "Sort keys, `field:asc|desc`."),
        _query("include_archived", _query_schema(lp, "include_archived")),
        _view_param(lp),
        _query("account_id", _query_schema(lp, "account_id")),
        _query("application_spec_id", _query_schema(lp, "application_spec_id")),
    ]
    unknown = set(typing.get_type_hints(lp)) - {p["name"] for p in list_params}
    if unknown:
        raise ValueError(f"list params not documented: {unknown}")

    create = _operation(
        "create",
        "Create an evaluation",
        "The created evaluation.",
        "EvaluationCreateResponse",
        [],
        body="EvaluationCreateParams",
    )
    create["responses"]["200"]["links"] = {
        f"{link}Evaluation": {
            "operationId": f"{TAG}_{verb}",
            "parameters": {"evaluation_id": "$response.body#/id"},
        }
        for link, verb in (
            ("Get", "retrieve"),
            ("Update", "update"),
            ("Delete", "delete"),
            ("ClaimTask", "claim_task"),
        )
    }
    # claim_task: `task_type` in the query, `skip_current` in an optional body (the SDK always
    # sends one, `{}` when the flag is omitted); None when nothing is left to claim.
    claim_params = [
        _path_param(),
        _query(
            CLAIM_QUERY,
            _query_schema(evaluation_claim_task_params.EvaluationClaimTaskParams, CLAIM_QUERY),
            "Only tasks of this type.",
        ),
    ]
    return {
        "/v4/evaluations": {
            "get": _operation(
                "list",
                "List evaluations",
                "A page of evaluations.",
                PAGE_SCHEMA,
                list_params,
            ),
            "post": create,
        },
        "/v4/evaluations/{evaluation_id}": {
            "get": _operation(
                "retrieve",
                "Get an evaluation",
                "The evaluation.",
                "EvaluationRetrieveResponse",
                [
                    _path_param(),
                    _view_param(evaluation_retrieve_params.EvaluationRetrieveParams),
                ],
            ),
            "patch": _operation(
                "update",
                "Update or restore an evaluation",
                "The updated evaluation.",
                "EvaluationUpdateResponse",
                [_path_param()],
                body="EvaluationUpdateParams",
            ),
            "delete": _operation(
                "delete",
                "Archive (delete) an evaluation",
                "Archive outcome; `update` with `restore: true` undoes it.",
                "GenericDeleteResponse",
                [_path_param()],
            ),
        },
        "/v4/evaluations/{evaluation_id}/claim-task": {
            "post": _operation(
                "claim_task",
                "Claim the next task of an evaluation",
                "The caller's task, or null when none is left to claim.",
                "Task",
                claim_params,
                body=CLAIM_BODY,
                body_required=False,
                nullable=True,
            ),
        },
    }


def build() -> Schema:
    """The whole document."""
    installed = version(SDK_PACKAGE)
    if installed != SDK_VERSION:
        raise RuntimeError(f"{SDK_PACKAGE}=={SDK_VERSION} expected, found {installed}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Scale GenAI Platform API: evaluations",
            "version": SDK_VERSION,
            "description": (
                f"Evaluations family of the Scale GenAI Platform API as the Python SDK "
                f"`{SDK_PACKAGE}=={SDK_VERSION}` knows it. Generated by `tools/build_sgp.py`; "
                "`info.version` is the SDK release it was read from."
            ),
        },
        "servers": [{"url": "https://api.egp.scale.com"}],
        "security": [{"ApiKeyAuth": []}],
        "tags": [
            {
                "name": TAG,
                "description": "Evaluations; delete archives, restore undoes.",
            }
        ],
        "paths": paths(),
        "components": {
            "securitySchemes": {"ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
            "schemas": components(),
        },
    }


def main() -> None:
    text = yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=100)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
