"""A web page must not reach the admin API: foreign Origins and non-JSON writes get a 403."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from specfake.app import create_app
from tests.state.helpers import NOTES, PREFIX, key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

EVIL = {"Origin": "http://evil.example"}
SNAPSHOT = b'{"notes": {"format": "specfake-state/1", "tenants": {}}}'


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app([NOTES], fixtures=None)) as client:
        client.post(f"{PREFIX}/notes", json={"title": "kept", "body": "b"}, headers=key("a"))
        yield client


def titles(client: TestClient) -> list[str]:
    return [n["title"] for n in client.get(f"{PREFIX}/notes", headers=key("a")).json()["items"]]


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/__admin/state"), ("PUT", "/__admin/state"), ("POST", "/__admin/reset")]
)
def test_a_simple_cross_origin_write_is_refused_and_changes_nothing(
    client: TestClient, method: str, path: str
) -> None:
    before = client.get("/__admin/state").json()
    for headers in ({**EVIL, "Content-Type": "text/plain"}, {"Content-Type": "text/plain"}):
        answer = client.request(method, path, content=SNAPSHOT, headers=headers)
        assert answer.status_code == 403, headers
        assert (
            "Origin" in answer.json()["detail"]
            if "Origin" in headers
            else "application/json" in answer.json()["detail"]
        )
    assert client.get("/__admin/state").json() == before and titles(client) == ["kept"]


def test_a_json_write_or_a_read_from_a_foreign_origin_is_refused(client: TestClient) -> None:
    json_type = {"Content-Type": "application/json"}
    for origin in ("http://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.1.nip.io"):
        headers = {"Origin": origin}
        assert client.post("/__admin/reset", json={}, headers=headers).status_code == 403, origin
        assert (
            client.put("/__admin/state", content=SNAPSHOT, headers={**headers, **json_type}).status_code
            == 403
        )
        refused = client.get("/__admin/journal", headers=headers)
        assert refused.status_code == 403 and "not a loopback origin" in refused.json()["detail"]
    assert titles(client) == ["kept"]


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "http://localhost",
        "http://localhost:5173",
        "http://127.0.0.1:8080",
        "http://[::1]:3000",
        "http://app.localhost",
    ],
)
def test_loopback_origins_and_scripts_pass(client: TestClient, origin: str | None) -> None:
    headers = {} if origin is None else {"Origin": origin}
    assert client.get("/__admin/journal", headers=headers).status_code == 200
    vendor_json = {**headers, "Content-Type": "application/vnd.specfake+json; charset=utf-8"}
    assert client.put("/__admin/state", content=SNAPSHOT, headers=vendor_json).status_code == 200
    assert titles(client) == []  # the import replaced the tenant
    assert client.post("/__admin/reset", json={}, headers=headers).status_code == 200
    assert client.delete("/__admin/journal", headers=headers).status_code == 204  # no body: no type needed
    assert client.post("/__admin/reset", headers=headers).status_code == 200  # curl -X POST .../reset
