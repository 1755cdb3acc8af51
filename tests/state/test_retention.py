"""Retention: a capped kind keeps its newest values per tenant, evicts the oldest first (at
commit, so a failed request evicts nothing), and counts what it evicted."""

from __future__ import annotations

import asyncio

import orjson

from bench.profile import call
from specfake.app import create_app
from specfake.store import MemoryStore


def _put(store: MemoryStore, tenant: str, number: int) -> None:
    store.put(tenant, "logs", f"log-{number}", {"id": f"log-{number}", "project_id": "p"})
    store.commit()


def test_retention_evicts_the_oldest_first_and_counts_them() -> None:
    store = MemoryStore()
    store.set_retention("logs", 5)
    store.set_grouping("logs", "project_id")
    for number in range(8):
        _put(store, "a", number)
    _put(store, "b", 0)
    kept = [log["id"] for log in store.list("a", "logs")]
    assert kept == [f"log-{n}" for n in range(3, 8)]  # the three oldest went, in order
    assert store.get("a", "logs", "log-2") is None
    assert store.count("a", "logs", group="p") == 5  # the group index forgot them too
    assert [v["id"] for v in store.window("a", "logs", 0, 2, group="p")] == ["log-3", "log-4"]
    assert store.stats()["evicted"] == {"a": {"logs": 3}}  # tenant b evicted nothing
    assert store.stats()["retention"] == {"logs": 5}


def test_a_failed_request_evicts_nothing() -> None:
    store = MemoryStore()
    store.set_retention("logs", 2)
    for number in range(2):
        _put(store, "a", number)
    store.put("a", "logs", "log-9", {"id": "log-9"})
    store.rollback()
    assert [log["id"] for log in store.list("a", "logs")] == ["log-0", "log-1"]
    assert store.stats()["evicted"] == {}


def test_uncapped_kinds_keep_everything() -> None:
    store = MemoryStore()
    store.set_retention("logs", 2)
    for number in range(5):
        store.put("a", "projects", str(number), {"id": number})
        store.commit()
    assert store.count("a", "projects") == 5


def test_a_new_key_past_the_tenant_cap_is_refused_with_403() -> None:
    app = create_app(seed=1, options={"max_tenants": "2"})

    def status(key: str) -> tuple[int, object]:
        code, body = asyncio.run(call(app, "GET", "/humanloop/v4/projects", sent_headers={"x-api-key": key}))
        return code, orjson.loads(body)

    assert status("one")[0] == 200
    assert status("two")[0] == 200
    code, body = status("three")
    assert code == 403
    assert isinstance(body, dict) and "max_tenants" in str(body["detail"])
    assert status("one")[0] == 200  # known keys are still served
    assert app.api("humanloop").store.stats()["tenants"] == 2


def test_the_admin_api_shows_evictions() -> None:
    app = create_app(seed=1, api_keys=["k"], options={"retention": "1"})
    body = b'{"account_id":"a","application_spec_id":"s","name":"n","description":"d","type":"default"}'
    for _ in range(3):
        code, _ = asyncio.run(
            call(
                app,
                "POST",
                "/sgp/v4/evaluations",
                body=body,
                sent_headers={"x-api-key": "k", "content-type": "application/json"},
            )
        )
        assert code == 200
    code, answer = asyncio.run(call(app, "GET", "/__admin/state/stats", sent_headers={}))
    assert code == 200
    stats = orjson.loads(answer)["sgp"]
    assert stats["retention"] == {"evaluations": 1}
    assert list(stats["evicted"].values()) == [{"evaluations": 2}]
