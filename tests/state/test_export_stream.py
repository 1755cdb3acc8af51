"""``GET /__admin/state`` streams (issue 17): many pieces, bounded memory, other requests answered
in between, a snapshot of one moment, and what it writes imports back.

Driven in process on the raw ASGI interface, so the tests see every piece as the server would
send it and judge the order of events, never wall time.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest

from specfake.app import SpecfakeApp, create_app
from specfake.http import http_scope
from specfake.store import MemoryStore
from specfake.tenants import fingerprint

LOGS = 20_000
KEY = "export-key"
TENANT = fingerprint(KEY)
HL = "/humanloop/v4"
LOG = {"project": "export", "output": "o" * 200, "config": {"model": "gpt-4", "type": "model"}}

OnPiece = Callable[[int], Awaitable[None]]


@pytest.fixture(scope="module")
def app() -> SpecfakeApp:
    """Humanloop with ``LOGS`` stored logs in one tenant (copies of one real log), and a second
    tenant with a few of its own."""
    app = create_app(["humanloop"])
    status, body = asyncio.run(request(app, "POST", f"{HL}/logs", LOG))
    assert status == 200, body
    store = app.api("humanloop").store
    assert isinstance(store, MemoryStore)
    log = store.get(TENANT, "logs", orjson.loads(body)["id"])
    assert log is not None
    for number in range(LOGS):
        store.put(TENANT, "logs", f"log_{number:06d}", {**log, "id": f"log_{number:06d}"})
    store.put("other", "logs", "log_other", {**log, "id": "log_other"})
    store.commit()
    return app


async def request(
    app: SpecfakeApp,
    method: str,
    path: str,
    body: Any = None,
    on_piece: OnPiece | None = None,
    keep: bool = True,
) -> tuple[int, bytes]:
    """One request on the ASGI interface; ``on_piece(size)`` is awaited for each body message,
    and the body is kept (answered) only with ``keep``."""
    raw = b"" if body is None else orjson.dumps(body)
    headers = [(b"host", b"127.0.0.1"), (b"x-api-key", KEY.encode()), (b"content-type", b"application/json")]
    scope = http_scope(method, path, [*headers, (b"content-length", str(len(raw)).encode())])
    sent = False
    finished = asyncio.Event()
    status: list[int] = []
    parts: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            piece = message.get("body", b"")
            if keep:
                parts.append(piece)
            if on_piece is not None:
                await on_piece(len(piece))
            if not message.get("more_body"):
                finished.set()

    await app(scope, receive, send)
    return status[0], b"".join(parts)


def export(app: SpecfakeApp) -> Any:
    status, body = asyncio.run(request(app, "GET", "/__admin/state"))
    assert status == 200
    return orjson.loads(body)


def test_the_export_streams_in_many_pieces_with_bounded_memory(app: SpecfakeApp) -> None:
    sizes: list[int] = []

    async def on_piece(size: int) -> None:
        sizes.append(size)  # counted, then dropped: the client keeps nothing

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        status, _ = asyncio.run(request(app, "GET", "/__admin/state", on_piece=on_piece, keep=False))
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert status == 200
    total = sum(sizes)
    assert total > 10_000_000  # 20k logs of ~600 bytes
    assert len(sizes) > 100
    assert max(sizes) < 1_000_000  # pieces of ~64 KiB (the last batch can push one past it)
    # The snapshot's references (~50 bytes a log) and a piece or two, never the document.
    assert peak < total / 10, (peak, total)


def test_other_requests_are_answered_while_the_export_streams(app: SpecfakeApp) -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def on_piece(size: int) -> None:
        events.append("piece")
        started.set()

    async def read_during_export() -> None:
        await started.wait()
        events.append("read sent")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://fake") as client:
            answer = await client.get(f"{HL}/logs/log_000001", headers={"x-api-key": KEY})
        assert answer.status_code == 200
        events.append("read answered")

    async def both() -> None:
        exporting = asyncio.create_task(request(app, "GET", "/__admin/state", on_piece=on_piece, keep=False))
        await read_during_export()
        assert (await exporting)[0] == 200
        events.append("export done")

    asyncio.run(both())
    sent, answered = events.index("read sent"), events.index("read answered")
    assert 0 < sent < answered
    # The read waited for at most a piece or two, and the export went on for many after it.
    assert events[sent:answered].count("piece") <= 2
    assert events[answered:].count("piece") > 50


def test_the_export_is_a_snapshot_of_the_moment_it_started(app: SpecfakeApp) -> None:
    """A write, a delete of a log still to be written and a tenant's reset, landing after the
    first piece, are not in it; what it wrote imports back as it was."""
    store = app.api("humanloop").store
    before = {"humanloop": store.export()}
    last = f"log_{LOGS - 1:06d}"
    writes = 0

    async def write_after_first_piece(size: int) -> None:
        nonlocal writes
        if writes == 0:
            store.put(TENANT, "logs", "log_new", {**before["humanloop"]["tenants"][TENANT]["logs"][last]})
            store.delete(TENANT, "logs", last)
            store.reset("other")
            store.commit()
        writes += 1

    try:
        status, body = asyncio.run(request(app, "GET", "/__admin/state", on_piece=write_after_first_piece))
        assert status == 200 and writes > 100
        exported = orjson.loads(body)
        assert exported == before
        assert list(exported["humanloop"]["tenants"][TENANT]["logs"])[-1] == last  # order kept
        assert store.get(TENANT, "logs", last) is None and store.get(TENANT, "logs", "log_new")

        # export -> import -> export: the same document
        status, answer = asyncio.run(request(app, "PUT", "/__admin/state", exported))
        assert status == 200, answer[:300]
        assert store.get(TENANT, "logs", "log_new") is None and store.get(TENANT, "logs", last)
        assert export(app) == before
    finally:
        store.load(before["humanloop"])
