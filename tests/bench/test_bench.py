"""The bench's own parts that decide its verdicts: the ceiling answers exactly the sampled bytes
(reading a POST's whole body first), wrk's report is parsed right, and the generic contract is
served by the resource layer (a POST reads back), so the ceiling rows compare like with like."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import ceiling_app
from bench.serving import ITEM_BODY, parse_wrk
from specfake.app import create_app

ITEMS = Path(__file__).parents[2] / "bench" / "items.yaml"
WRK = """Running 2s test @ http://127.0.0.1:1/items
  1 threads and 64 connections
  Latency Distribution
     50%  520.00us
     75%    1.20ms
     90%    2.00ms
     99%    1.50s
  9000 requests in 2.00s, 1.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   4500.50
"""


def _call(method: str, path: str, chunks: list[bytes]) -> tuple[list[MutableMapping[str, Any]], int]:
    sent: list[MutableMapping[str, Any]] = []
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]

    async def receive() -> MutableMapping[str, Any]:
        return pending.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(ceiling_app.app({"type": "http", "method": method, "path": path}, receive, send))
    return sent, len(pending)


def test_ceiling_answers_the_sampled_bytes_after_the_whole_body(monkeypatch: pytest.MonkeyPatch) -> None:
    start = ceiling_app._start(201, b'{"id":"x"}')
    monkeypatch.setitem(
        ceiling_app.ANSWERS,
        ("POST", "/v1/items"),
        (start, {"type": "http.response.body", "body": b'{"id":"x"}'}),
    )
    sent, unread = _call("POST", "/v1/items", [b'{"na', b'me":"a"}'])
    assert unread == 0
    assert sent[0]["status"] == 201 and (b"content-length", b"10") in sent[0]["headers"]
    assert sent[1]["body"] == b'{"id":"x"}'
    missing, _ = _call("GET", "/nowhere", [b""])
    assert missing[0]["status"] == 404


def test_wrk_report_parsed() -> None:
    figures = parse_wrk(WRK)
    assert figures["rps"] == 4500.5 and figures["p50_ms"] == 0.52 and figures["p99_ms"] == 1500.0
    assert figures["requests"] == 9000 and figures["non_2xx"] == 12 and figures["socket_errors"] == 0


def test_generic_contract_is_stateful() -> None:
    app = create_app([ITEMS], api_keys=["k"], fixtures=None)
    transport = httpx.ASGITransport(app=app)

    async def flow() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            headers = {"X-API-Key": "k", "content-type": "application/json"}
            made = await client.post("/items/v1/items", content=ITEM_BODY, headers=headers)
            read = await client.get(f"/items/v1/items/{made.json()['id']}", headers=headers)
            return made, read

    made, read = asyncio.run(flow())
    assert made.status_code == 201 and read.status_code == 200
    assert read.content == made.content
