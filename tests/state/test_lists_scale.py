"""Scale: what a list page, a stored log and an idle tenant cost, counted (values the store
decodes, bytes tracemalloc sees), never timed."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

import orjson

from bench.profile import call
from specfake.app import SpecfakeApp, create_app
from specfake.store import MemoryStore
from specfake.tenants import fingerprint

KEY = "scale-key"
LOG = b'{"project":"big","inputs":{"q":"hi"},"output":"hello","config":{"type":"model","model":"gpt-4o"}}'


def _request(
    app: SpecfakeApp, method: str, path: str, query: bytes = b"", body: bytes = b"", key: str = KEY
) -> Any:
    headers = {"x-api-key": key, **({"content-type": "application/json"} if body else {})}
    status, answer = asyncio.run(call(app, method, path, query, body, sent_headers=headers))
    assert status < 300, answer
    return orjson.loads(answer) if answer else None


def test_a_page_of_logs_touches_the_page_alone_with_100k_stored() -> None:
    app = create_app(seed=1, api_keys=[KEY])
    first = _request(app, "POST", "/humanloop/v4/logs", body=LOG)
    other = _request(app, "POST", "/humanloop/v4/logs", body=LOG.replace(b'"big"', b'"other"'))
    store = app.api("humanloop").store
    assert isinstance(store, MemoryStore)
    store.set_retention("logs", None)  # keep all 100k (the default cap, 100k, would evict some)
    tenant = fingerprint(KEY)
    template = store.get(tenant, "logs", first["id"])
    assert template is not None
    for number in range(100_000):  # straight into the store: alternately the two projects
        project = first["project_id"] if number % 2 else other["project_id"]
        store.put(
            tenant,
            "logs",
            f"data_{number:08d}",
            {**template, "id": f"data_{number:08d}", "project_id": project},
        )
    store.commit()
    query = f"project_id={first['project_id']}&size=10".encode()
    for page in (0, 7, 4000):
        store.touched = 0
        answer = _request(app, "GET", "/humanloop/v4/logs", query + b"&page=%d" % page)
        assert store.touched == 10  # the page's ten logs, nothing else of the 100k
        assert answer["total"] == 50_001
        assert len(answer["records"]) == 10
    newest = _request(app, "GET", "/humanloop/v4/logs", query + b"&page=0")["records"]
    assert [r["id"] for r in newest[:2]] == ["data_00099999", "data_00099997"]  # newest first
    assert newest[0]["project"] == "big"
    store.touched = 0  # a filter still reads the project's logs (documented: O(matches))
    _request(app, "GET", "/humanloop/v4/logs", query + b"&search=hello")
    assert store.touched > 50_000


def _traced(action: Any) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        gc.collect()
        return float(tracemalloc.get_traced_memory()[0] - before)
    finally:
        tracemalloc.stop()


def test_a_stored_log_costs_under_a_kilobyte() -> None:
    app = create_app(seed=1, api_keys=[KEY])
    for _ in range(20):  # the project, its config and the journal's first rows exist already
        _request(app, "POST", "/humanloop/v4/logs", body=LOG)
    count = 3000  # past the journal's 1000 rows, which then cost nothing more

    def store_logs() -> None:
        for _ in range(count):
            _request(app, "POST", "/humanloop/v4/logs", body=LOG)

    assert _traced(store_logs) / count < 1024


def test_an_idle_tenant_costs_under_4_kib() -> None:
    app = create_app(seed=1, fixtures="builtin")  # any key, every tenant over the demo world
    _request(app, "GET", "/humanloop/v4/projects", key="warm-up")
    count = 200

    def read_as_new_keys() -> None:
        for number in range(count):
            _request(app, "GET", "/humanloop/v4/projects", key=f"idle-{number}")

    assert _traced(read_as_new_keys) / count < 4096
    store = app.api("humanloop").store
    assert isinstance(store, MemoryStore)
    assert store.stats()["tenants"] == count + 1
