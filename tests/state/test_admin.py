"""``/__admin``: reset, export/import, journal, who may call it, and rollback of failed requests."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from specfake.api import MountedApi
from specfake.app import SpecfakeApp, create_app
from specfake.calls import Call
from specfake.contract import load_contract
from specfake.errors import ApiError
from specfake.http import Reply
from specfake.store import Store
from specfake.tenants import fingerprint
from tests.state.helpers import NOTES, PREFIX, key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TOKEN = "s3cret-admin-token"


@pytest.fixture
def app() -> SpecfakeApp:
    return create_app([NOTES, "sgp"], admin_token=TOKEN)


@pytest.fixture
def client(app: SpecfakeApp) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def create(client: TestClient, tenant: str, title: str) -> dict[str, Any]:
    answer = client.post(f"{PREFIX}/notes", json={"title": title, "body": "b"}, headers=key(tenant))
    assert answer.status_code == 201
    return dict(answer.json())


def titles(client: TestClient, tenant: str) -> list[str]:
    return [n["title"] for n in client.get(f"{PREFIX}/notes", headers=key(tenant)).json()["items"]]


def test_reset_one_tenant_or_all(client: TestClient) -> None:
    create(client, "a", "a1")
    create(client, "b", "b1")
    answer = client.post("/__admin/reset", json={}, params={"contract": "notes", "tenant": "a"})
    assert answer.json() == {"reset": ["notes"], "tenant": fingerprint("a")}
    assert titles(client, "a") == [] and titles(client, "b") == ["b1"]
    client.post("/__admin/reset", json={})
    assert titles(client, "b") == []
    assert client.post("/__admin/reset", json={}, params={"contract": "nope"}).status_code == 404


def test_export_import_round_trip(client: TestClient) -> None:
    kept = [create(client, "a", f"a{i}") for i in range(3)]
    create(client, "b", "b1")
    snapshot = client.get("/__admin/state").json()
    assert set(snapshot) == {"notes", "sgp"}
    client.delete(f"{PREFIX}/notes/{kept[0]['id']}", headers=key("a"))
    create(client, "c", "c1")
    client.patch(f"{PREFIX}/notes/{kept[1]['id']}", json={"title": "changed"}, headers=key("a"))

    answer = client.put("/__admin/state", json=snapshot)
    assert answer.status_code == 200 and answer.json() == {"imported": ["notes", "sgp"]}
    assert client.get("/__admin/state").json() == snapshot
    assert titles(client, "a") == ["a0", "a1", "a2"] and titles(client, "c") == []
    assert client.get(f"{PREFIX}/notes/{kept[0]['id']}", headers=key("a")).json() == kept[0]
    # Counters came back too: the next id is the one the first run would have made next.
    after = create(client, "a", "next")
    assert after["id"] not in {n["id"] for n in kept}


def test_import_is_all_or_nothing(client: TestClient) -> None:
    create(client, "a", "a1")
    before = client.get("/__admin/state").json()
    good = before["notes"]
    cases = [
        b"not json",
        b"[]",
        b'{"nope": {}}',
        {"notes": {**good, "tenants": {"a": {"getNote": {"x": []}}}}},
        {"notes": {**good, "tenants": {}}, "sgp": {"format": "something else"}},  # 2nd bad: 1st untouched
        {"notes": {**good, "counters": {"getNote": -1}}},
    ]
    for case in cases:
        json_type = {"content-type": "application/json"}
        sent = {"content": case, "headers": json_type} if isinstance(case, bytes) else {"json": case}
        answer = client.put("/__admin/state", **sent)
        assert answer.status_code == 422, case
        assert "detail" in answer.json()
    assert client.get("/__admin/state").json() == before


def test_journal_records_requests_and_is_bounded() -> None:
    api = MountedApi(load_contract(NOTES), journal_size=5)
    with TestClient(SpecfakeApp([api])) as client:
        note = create(client, "a", "t")
        client.get(f"{PREFIX}/notes/{note['id']}", headers=key("b"))
        client.get(f"{PREFIX}/notes", headers=key("a"), params={"size": 2})
        entries = client.get("/__admin/journal").json()["entries"]
        assert [(e["method"], e["path"], e["status"], e["tenant"]) for e in entries] == [
            ("POST", f"{PREFIX}/notes", 201, fingerprint("a")),
            ("GET", f"{PREFIX}/notes/{note['id']}", 404, fingerprint("b")),
            ("GET", f"{PREFIX}/notes", 200, fingerprint("a")),
        ]
        assert entries[0]["body"] == '{"title":"t","body":"b"}' and entries[2]["query"] == "size=2"
        only_b = client.get("/__admin/journal", params={"tenant": "b"}).json()["entries"]
        assert [e["status"] for e in only_b] == [404]
        assert len(client.get("/__admin/journal", params={"limit": 1}).json()["entries"]) == 1
        assert client.get("/__admin/journal", params={"limit": "x"}).status_code == 422
        for _ in range(10):
            client.get(f"{PREFIX}/notes", headers=key("a"))
        assert len(client.get("/__admin/journal").json()["entries"]) == 5  # bounded
        assert client.delete("/__admin/journal").status_code == 204
        assert client.get("/__admin/journal").json()["entries"] == []


@pytest.mark.parametrize(
    ("host", "headers", "allowed"),
    [
        ("10.0.0.5", {}, False),
        ("10.0.0.5", {"X-Specfake-Admin-Token": "wrong"}, False),
        ("10.0.0.5", {"X-Specfake-Admin-Token": TOKEN}, True),
        ("127.0.0.1", {}, True),
        ("127.8.9.10", {}, True),
        ("::1", {}, True),
        ("::ffff:127.0.0.1", {}, True),
        ("::ffff:10.0.0.5", {}, False),
        ("localhost.evil.example", {}, False),
    ],
)
def test_admin_answers_loopback_or_token_only(
    app: SpecfakeApp, host: str, headers: dict[str, str], allowed: bool
) -> None:
    with TestClient(app, client=(host, 1234)) as client:
        calls = [
            client.get("/__admin", headers=headers),
            client.get("/__admin/state", headers=headers),
            client.put("/__admin/state", json={}, headers=headers),
            client.get("/__admin/journal", headers=headers),
            client.delete("/__admin/journal", headers=headers),
            client.post("/__admin/reset", json={}, headers=headers),
        ]
    assert all((answer.status_code != 403) == allowed for answer in calls), [a.status_code for a in calls]
    if not allowed:
        assert "admin" in calls[0].json()["detail"]


def test_without_a_token_no_remote_caller_is_let_in() -> None:
    app = create_app([NOTES])
    with TestClient(app, client=("10.0.0.5", 1234)) as client:
        assert client.get("/__admin/state", headers={"X-Specfake-Admin-Token": ""}).status_code == 403


# -- rollback: a failed request leaves the state as it was ---------------------------------------


@pytest.mark.parametrize("error", [ApiError(409, "conflict"), RuntimeError("a behaviour bug")])
def test_failed_request_leaves_state_unchanged(error: Exception) -> None:
    """A handler that writes, deletes and draws an id, then fails: all of it is undone."""
    stores: list[Store] = []

    def writes_then_fails(call: Call) -> Reply:
        store = stores[0]
        store.put(call.api_key, "getNote", "half-made", {"id": "half-made"})
        existing = store.list(call.api_key, "getNote")
        store.delete(call.api_key, "getNote", existing[0]["id"])
        store.next_number(call.api_key, "getNote")
        raise error

    app = create_app([NOTES], handlers={"notes": {"updateNote": writes_then_fails}})
    stores.append(app.api("notes").store)
    with TestClient(app, raise_server_exceptions=False) as client:
        note = create(client, "a", "kept")
        before = client.get("/__admin/state").json()
        for tenant in ("a", "never-seen"):
            answer = client.patch(f"{PREFIX}/notes/{note['id']}", json={"title": "x"}, headers=key(tenant))
            assert answer.status_code == (409 if isinstance(error, ApiError) else 500)
        for failing in (
            client.patch(f"{PREFIX}/notes/{note['id']}", json={"title": ""}, headers=key("a")),  # 422
            client.get(f"{PREFIX}/notes/missing", headers=key("other")),  # 404, new tenant
            client.post(f"{PREFIX}/notes", json={"body": "no title"}, headers=key("a")),
        ):
            assert 400 <= failing.status_code < 500
        after = client.get("/__admin/state").json()
    counters, earlier = after["notes"].pop("counters"), before["notes"].pop("counters")
    assert earlier  # per tenant ("<tenant>/getNote"), never reused
    assert all(counters[name] >= value for name, value in earlier.items())
    assert after == before  # nothing else: no half-made item, no deleted one, no new tenant


# -- SQLite: admin changes reach the file ---------------------------------------------------------


def test_sqlite_export_import_reset_persist(tmp_path: Path) -> None:
    state = tmp_path / "state.db"

    def opened() -> Iterator[TestClient]:
        app = create_app([NOTES], state=state)
        with TestClient(app) as client:
            yield client
        app.api("notes").store.close()  # type: ignore[attr-defined]

    for client in opened():
        for tenant in ("a", "b"):
            create(client, tenant, f"{tenant}1")
            create(client, tenant, f"{tenant}2")
        snapshot = client.get("/__admin/state").json()
        client.post("/__admin/reset", json={}, params={"tenant": "a"})
    for client in opened():
        assert titles(client, "a") == [] and titles(client, "b") == ["b1", "b2"]
        client.post("/__admin/reset", json={})
    for client in opened():
        assert titles(client, "b") == []
        assert client.put("/__admin/state", json=snapshot).status_code == 200
    for client in opened():
        assert client.get("/__admin/state").json() == snapshot
        assert titles(client, "a") == ["a1", "a2"]
