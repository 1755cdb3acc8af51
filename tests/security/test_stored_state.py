"""Stored state never breaks, and an error answer leaves nothing behind (issue 14).

Every reproducer: bodies nested past `MAX_DEPTH` are a 422 naming where (and nothing is stored,
reads still answer), an answer that cannot be serialised commits nothing, SQLite and memory never
disagree, and an admin import is validated before anything is replaced.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from specfake.app import SpecfakeApp, create_app
from specfake.calls import Call
from specfake.http import Reply
from specfake.pipeline import DEPTH_TYPE, MAX_DEPTH, too_deep
from specfake.sqlite_store import SqliteStore
from specfake.store import FORMAT, MemoryStore
from tests.state.helpers import NOTES, PREFIX, key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

HL = {"X-API-KEY": "k1"}
SGP = {"x-api-key": "k1"}
LOG = {"project": "p1", "output": "o", "config": {"model": "gpt-4", "type": "model"}}
EVALUATION = {"account_id": "a", "application_spec_id": "s", "description": "d", "name": "n"}


def nested(levels: int) -> Any:
    """An object holding ``levels`` - 1 nested lists: ``levels`` containers in all."""
    value: Any = []
    for _ in range(levels - 2):
        value = [value]
    return {"a": value}


def deep_json(body: dict[str, Any], field: str, levels: int) -> dict[str, Any]:
    """Request kwargs for ``body`` with ``field`` set to `nested` (``levels``), written by hand:
    no JSON encoder goes that deep."""
    text = orjson.dumps({**body, field: "__deep__"}).decode()
    deep = '{"a":' + "[" * (levels - 1) + "]" * (levels - 1) + "}"
    return {"content": text.replace('"__deep__"', deep), "headers": {"content-type": "application/json"}}


@pytest.fixture(scope="module")
def app() -> SpecfakeApp:
    return create_app(["humanloop", "sgp"])


@pytest.fixture(scope="module")
def client(app: SpecfakeApp) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def state(client: TestClient) -> Any:
    answer = client.get("/__admin/state")
    assert answer.status_code == 200
    return answer.json()


def refused_deep(answer: Any, *loc: str | int) -> list[Any]:
    """The 422's one entry is the depth rule, at a loc that starts with ``loc``."""
    assert answer.status_code == 422, answer.text
    (entry,) = answer.json()["detail"]
    assert entry["type"] == DEPTH_TYPE and str(MAX_DEPTH) in entry["msg"]
    assert entry["loc"][: len(loc)] == list(loc)
    return list(entry["loc"])


# -- the limit itself --------------------------------------------------------------------------------


def test_limit_boundary_and_loc() -> None:
    """Exactly MAX_DEPTH levels pass; one more is refused at the container that crosses it, its
    path shortened after 12 parts."""
    assert too_deep(nested(MAX_DEPTH)) is None
    error = too_deep(nested(MAX_DEPTH + 1))
    assert error is not None and error.type == DEPTH_TYPE
    assert error.loc == ("body", "a", *[0] * 11, "...")
    assert too_deep({"a": {"b": [1]}}, limit=3) is None
    shallow = too_deep({"a": {"b": [{}]}}, limit=3)
    assert shallow is not None and shallow.loc == ("body", "a", "b", 0)


def test_a_body_at_the_limit_is_stored_and_reads_back(client: TestClient) -> None:
    body = {**LOG, "inputs": nested(MAX_DEPTH - 1)}  # the body is one level more
    answer = client.post("/humanloop/v4/logs", json=body, headers=HL)
    assert answer.status_code == 200, answer.text
    assert client.get(f"/humanloop/v4/logs/{answer.json()['id']}", headers=HL).status_code == 200


# -- deep bodies: a 422 naming where, nothing stored, reads still answer -------------------------------


def test_deep_array_body_on_logs(client: TestClient) -> None:
    raw = "[" * 300 + "]" * 300
    headers = {**HL, "content-type": "application/json"}
    before = state(client)
    refused_deep(client.post("/humanloop/v4/logs", content=raw, headers=headers), "body", 0, 0)
    assert state(client) == before


def test_deep_inputs_are_refused_and_nothing_is_stored(client: TestClient) -> None:
    before = state(client)
    logs = client.get("/humanloop/v4/logs", headers=HL, params={"project_id": "x"})
    kwargs = deep_json(LOG, "inputs", 990)
    answer = client.post("/humanloop/v4/logs", content=kwargs["content"], headers={**HL, **kwargs["headers"]})
    assert refused_deep(answer, "body", "inputs", "a")[-1] == "..."
    assert state(client) == before
    again = client.get("/humanloop/v4/logs", headers=HL, params={"project_id": "x"})
    assert again.status_code == logs.status_code and again.json() == logs.json()


def test_deep_feedback_is_refused(client: TestClient) -> None:
    body = {"type": "rating", "value": "good", "data_id": "data_x", "user": nested(300)}
    refused_deep(client.post("/humanloop/v4/feedback", json=body, headers=HL), "body", "user")


def test_deep_value_next_to_an_invalid_field_is_a_422_not_a_500(client: TestClient) -> None:
    body = {"project": 5, "config": "not a config", "inputs": nested(300)}
    refused_deep(client.post("/humanloop/v4/logs", json=body, headers=HL), "body", "inputs")


def test_deep_sgp_patch_leaves_the_evaluation_as_it_was(client: TestClient) -> None:
    created = client.post("/sgp/v4/evaluations", json={**EVALUATION, "tags": {"x": 1}}, headers=SGP)
    assert created.status_code == 200, created.text
    url = f"/sgp/v4/evaluations/{created.json()['id']}"
    before = client.get(url, headers=SGP).json()
    patch = deep_json({}, "tags", 1000)
    headers = {**SGP, **patch["headers"]}
    refused_deep(client.patch(url, content=patch["content"], headers=headers), "body", "tags")
    create = deep_json(EVALUATION, "tags", 1000)
    refused_deep(
        client.post("/sgp/v4/evaluations", content=create["content"], headers=headers), "body", "tags"
    )
    assert client.get(url, headers=SGP).json() == before
    listed = client.get("/sgp/v4/evaluations", headers=SGP)
    assert listed.status_code == 200 and created.json()["id"] in {e["id"] for e in listed.json()["items"]}
    state(client)


def test_deep_admin_bodies_are_refused(client: TestClient) -> None:
    deep = nested(300)
    for method, url in (
        ("PUT", "/__admin/options?contract=sgp"),
        ("POST", "/__admin/faults"),
        ("PUT", "/__admin/scenarios/anything"),
        ("PUT", "/__admin/state"),
    ):
        answer = client.request(method, url, json=deep)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["detail"][0]["type"] == DEPTH_TYPE


# -- never commit before the answer serialises -------------------------------------------------------


def test_an_answer_that_cannot_be_serialised_stores_nothing() -> None:
    """A handler that stores, then answers what JSON cannot carry: a 422, and nothing kept."""
    apps: list[SpecfakeApp] = []

    def stores_then_answers_a_cycle(call: Call) -> Reply:
        apps[0].api("notes").store.put(call.api_key, "getNote", "n1", {"id": "n1"})
        cycle: dict[str, Any] = {}
        cycle["self"] = cycle
        return Reply(201, body=cycle)

    app = create_app([NOTES], handlers={"notes": {"createNote": stores_then_answers_a_cycle}})
    apps.append(app)
    with TestClient(app) as client:
        before = state(client)
        answer = client.post(f"{PREFIX}/notes", json={"title": "t", "body": "b"}, headers=key("a"))
        assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body"]
        assert state(client) == before
        assert client.get(f"{PREFIX}/notes", headers=key("a")).json()["items"] == []


# -- SQLite and memory never disagree ----------------------------------------------------------------


def test_sqlite_refusing_a_value_rolls_memory_back(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    store.put("t", "k", "kept", {"id": "kept"})
    store.commit()
    store.put("t", "k", "big", {"id": "big", "n": 2**70})  # orjson refuses integers past 64 bits
    store.put("t", "k", "kept", {"id": "changed"})
    with pytest.raises(Exception) as raised:
        store.commit()
    assert getattr(raised.value, "status", None) == 422
    store.rollback()
    assert store.list("t", "k") == [{"id": "kept"}]
    store.close()
    reopened = SqliteStore(tmp_path / "state.db")
    assert reopened.export()["tenants"] == {"t": {"k": {"kept": {"id": "kept"}}}}
    reopened.close()


def test_sqlite_write_failure_is_a_503_and_memory_matches_disk(tmp_path: Path) -> None:
    """Through the API: a disk write that fails answers 503 in the API's shape, and neither the
    memory nor the file keeps the write; the next request works."""
    path = tmp_path / "state.db"
    app = create_app([NOTES], state=path)
    store = app.api("notes").store
    assert isinstance(store, SqliteStore)
    with TestClient(app) as client:
        kept = client.post(f"{PREFIX}/notes", json={"title": "kept", "body": "b"}, headers=key("a"))
        assert kept.status_code == 201
        real_write = store._write

        def broken(**kwargs: Any) -> None:
            import sqlite3

            raise sqlite3.OperationalError("disk I/O error")

        store._write = broken  # type: ignore[method-assign]
        failed = client.post(f"{PREFIX}/notes", json={"title": "lost", "body": "b"}, headers=key("a"))
        assert failed.status_code == 503 and "state file" in failed.json()["detail"]
        store._write = real_write  # type: ignore[method-assign]
        listed = [n["title"] for n in client.get(f"{PREFIX}/notes", headers=key("a")).json()["items"]]
        assert listed == ["kept"]
        memory = client.get("/__admin/state").json()["notes"]["tenants"]
    store.close()
    reopened = SqliteStore(path, "notes")
    assert reopened.export()["tenants"] == memory
    reopened.close()


# -- admin import is validated before anything is replaced -------------------------------------------


def test_import_of_an_invalid_evaluation_is_refused_with_its_path(client: TestClient) -> None:
    client.post("/sgp/v4/evaluations", json=EVALUATION, headers=SGP)
    before = state(client)
    good = before["sgp"]
    tenant, kinds = next(iter(good["tenants"].items()))
    evaluation = next(iter(kinds["evaluations"].values()))
    for broken, field in (({"id": "e1"}, None), ({**evaluation, "status": "NOPE"}, "status")):
        tenants = {tenant: {**kinds, "evaluations": {"e1": broken}}}
        answer = client.put("/__admin/state", json={"sgp": {**good, "tenants": tenants}})
        assert answer.status_code == 422, answer.text
        loc = answer.json()["detail"][0]["loc"]
        assert loc[:6] == ["body", "sgp", "tenants", tenant, "evaluations", "e1"]
        if field is not None:
            assert loc[6] == field
        assert state(client) == before
    private = {**evaluation}
    del private["_specfake"]
    tenants = {tenant: {**kinds, "evaluations": {"e1": private}}}
    assert client.put("/__admin/state", json={"sgp": {**good, "tenants": tenants}}).status_code == 422
    assert client.get("/sgp/v4/evaluations", headers=SGP).status_code == 200


def test_import_shape_and_depth_are_refused_with_a_path(client: TestClient) -> None:
    before = state(client)
    shape = {"sgp": {"format": FORMAT, "tenants": {"t": {"evaluations": {"e1": [1]}}}}}
    answer = client.put("/__admin/state", json=shape)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "sgp", "tenants", "t", "evaluations", "e1"]
    deep = {"sgp": {"format": FORMAT, "tenants": {"t": {"notes": {"n": nested(300)}}}}}
    assert client.put("/__admin/state", json=deep).json()["detail"][0]["type"] == DEPTH_TYPE
    assert state(client) == before


def test_a_valid_export_imports_back(client: TestClient) -> None:
    snapshot = state(client)
    assert client.put("/__admin/state", json=snapshot).status_code == 200
    assert state(client) == snapshot


def test_export_never_500s() -> None:
    """A value orjson cannot write (an integer past 64 bits) is exported by the standard encoder."""
    app = create_app([NOTES])
    store = app.api("notes").store
    assert isinstance(store, MemoryStore)
    store.put("t", "getNote", "n", {"id": "n", "n": 2**70})
    store.commit()
    with TestClient(app) as client:
        answer = client.get("/__admin/state")
    assert answer.status_code == 200
    assert answer.json()["notes"]["tenants"]["t"]["getNote"]["n"]["n"] == 2**70
