"""Faults inside a stream, over a real socket: a cut really drops the connection, a stall
stalls, an error event ends the stream, a malformed line is dropped by the SDK."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import httpx
import pytest
from humanloop import Humanloop

from bench.measure import timed_post
from specfake.streaming.faults import MALFORMED, StreamFaults, build_plan
from specfake.streaming.sse import parse_events
from tests.streaming.helpers import KEY, chat_body, generation_handler, sample, served

TEXT = "one two three four five six seven eight"  # eight chunks
FAULT = "X-Specfake-Stream-Fault"


def test_parse_and_print() -> None:
    faults = StreamFaults.parse(" cut-after=3 ; stall=2:1.5;malformed-at=1;error-at=4;stall=5:0")
    assert faults == StreamFaults(cut_after=3, stalls=((2, 1.5), (5, 0.0)), error_at=4, malformed_at=(1,))
    assert StreamFaults.parse(str(faults)) == faults
    assert StreamFaults.from_headers({}) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("explode=1", "unknown stream fault 'explode'"),
        ("cut-after=x", "whole number"),
        ("error-at=0", "start at 1"),
        ("stall=2", "stall=N:SECONDS"),
        ("stall=2:soon", "not a number"),
        ("stall=2:9999", "between 0 and"),
        ("cut-after", "cannot read"),
    ],
)
def test_bad_fault_text_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StreamFaults.parse(text)


def test_plan_positions_past_the_end_apply_at_the_end() -> None:
    timeline = [(0.1, b"a"), (0.2, b"b")]
    plan = build_plan(timeline, StreamFaults.parse("cut-after=9"))
    assert [s.payload for s in plan.steps] == [b"a", b"b", None] and not plan.complete
    plan = build_plan(timeline, StreamFaults.parse("malformed-at=9;stall=9:0.5"))
    assert [s.payload for s in plan.steps] == [b"a", b"b", MALFORMED] and plan.complete
    assert plan.steps[-1].stall == 0.5


@pytest.fixture(scope="module")
def live() -> object:
    completed: list[str] = []
    handler = generation_handler([sample(0, TEXT)], completed=completed)
    with served({"chats_create": handler}) as base:
        yield base, completed


def _post(live: object, fault: str | None, **kw: object) -> tuple[object, list[str]]:
    base, completed = live  # type: ignore[misc]
    completed.clear()
    headers = {FAULT: fault} if fault else None
    with httpx.Client() as client:
        seen = timed_post(client, base + "/chat", chat_body(), {**KEY, **(headers or {})}, **kw)  # type: ignore[arg-type]
    time.sleep(0.05)  # let the server finish the request
    return seen, list(completed)


def test_no_fault_sends_eight_chunks_and_stores(live: object) -> None:
    seen, completed = _post(live, None)
    assert seen.error is None and len(seen.events) == 8  # type: ignore[attr-defined]
    assert completed == ["chats_create"]


def test_cut_drops_the_connection_without_ending_the_body(live: object) -> None:
    seen, completed = _post(live, "cut-after=3")
    assert isinstance(seen.error, httpx.RemoteProtocolError)  # type: ignore[attr-defined]
    assert "incomplete chunked read" in str(seen.error)  # type: ignore[attr-defined]
    assert len(seen.events) == 3  # type: ignore[attr-defined]
    assert completed == []  # a cut stream stores nothing
    seen, _ = _post(live, "cut-after=0")
    assert seen.status == 200 and seen.events == []  # type: ignore[attr-defined]
    assert isinstance(seen.error, httpx.RemoteProtocolError)  # type: ignore[attr-defined]


def test_the_python_sdk_sees_a_cut_as_an_error() -> None:
    handler = generation_handler([sample(0, TEXT)], faults=StreamFaults(cut_after=2))
    with served({"chats_create": handler}) as base:
        client = Humanloop(api_key=KEY["X-API-KEY"], host=base)
        read: list[dict[str, object]] = []

        async def run() -> None:
            response = await client.chat_stream(
                project="demo", messages=[{"role": "user", "content": "Hi"}], model_config={"model": "m"}
            )
            async for chunk in response.content:
                read.append(chunk)

        with pytest.raises(aiohttp.ClientPayloadError):
            asyncio.run(run())
    assert [c["output"] for c in read] == ["one", " two"]


def test_stall_waits_before_the_chunk(live: object) -> None:
    seen, completed = _post(live, "stall=3:0.4")
    gaps = seen.gaps_ms  # type: ignore[attr-defined]
    assert len(gaps) == 8 and 380 <= gaps[2] <= 480, gaps
    assert max(gaps[:2] + gaps[3:]) < 100
    assert completed == ["chats_create"]


def test_error_event_ends_the_stream_cleanly(live: object) -> None:
    seen, completed = _post(live, "error-at=4")
    assert seen.error is None  # type: ignore[attr-defined]
    events = parse_events(seen.body)  # type: ignore[attr-defined]
    assert [ev.ok for ev in events] == [True] * 4
    assert len(events) == 4 and "detail" in events[3].payload
    assert all(ev.payload["data"][0]["finish_reason"] is None for ev in events[:3])
    assert completed == []


def test_malformed_line_is_reported_by_the_strict_parser_and_the_text_survives(live: object) -> None:
    seen, completed = _post(live, "malformed-at=2;malformed-at=8")
    events = parse_events(seen.body)  # type: ignore[attr-defined]
    assert [ev.kind for ev in events if not ev.ok] == ["not-json", "not-json"]
    assert [ev.number for ev in events if not ev.ok] == [2, 9]  # before chunks 2 and 8
    text = "".join(ev.payload["data"][0]["output"] for ev in events if ev.ok)
    assert text == TEXT
    assert completed == ["chats_create"]


def test_a_client_hanging_up_still_stores_the_generation(live: object) -> None:
    """Documented choice (specfake.streaming.replay): the generation completes upstream."""
    base, completed = live  # type: ignore[misc]
    completed.clear()
    with httpx.Client() as client:
        seen = timed_post(client, base + "/chat", chat_body(), {**KEY, FAULT: "stall=2:0.3"}, stop_after=1)
    assert len(seen.events) == 1
    deadline = time.monotonic() + 3
    while not completed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert completed == ["chats_create"]


def test_an_unreadable_fault_header_is_a_422_naming_it(live: object) -> None:
    base, _ = live  # type: ignore[misc]
    answer = httpx.post(base + "/chat", json=chat_body(), headers={**KEY, FAULT: "cut-after=soon"})
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["header", "x-specfake-stream-fault"] and "whole number" in error["msg"]
