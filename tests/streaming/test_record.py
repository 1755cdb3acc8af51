"""``specfake record`` against a local fake upstream (no network): the proxy streams answers back
as they arrive, writes redacted cassettes, and the fake replays them byte for byte."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.measure import Timed, timed_post
from specfake.app import create_app
from specfake.record import RecordingProxy, add_record_parser, main_record
from specfake.server import LiveServer
from specfake.streaming.cassette import Cassette, CassetteLibrary
from specfake.streaming.faults import StreamCut
from specfake.streaming.handler import cassette_handler
from specfake.streaming.redact import REDACTED

UPSTREAM_KEY = "hl_sk_upstream_0123456789abcdef"
PROVIDER_KEY = "sk-openai-provider-secret-42"
INPUT_KEY = "sk-inputs-secret-77"
PIECES = [(0.05, "Hel"), (0.02, "lo"), (0.03, ","), (0.02, " stream"), (0.40, "ed"), (0.02, " world.")]
PROJECT = {"id": "pr_1", "name": "demo"}


def _piece(number: int, piece: str, last: bool) -> bytes:
    item = {
        "id": "data_up1",
        "index": 0,
        "output": piece,
        "finish_reason": "stop" if last else None,
        "model_config_id": "config_up1",
    }
    # Python's json.dumps spacing, unlike the fake's orjson: a replay must keep the recorded bytes.
    return ("data: " + json.dumps({"data": [item], "project_id": "pr_up1"}) + "\n\n").encode()


async def _chat(request: Request) -> Response:
    key = request.headers.get("x-api-key", "")
    if key != UPSTREAM_KEY:
        return JSONResponse({"detail": f"Invalid API key {key}"}, status_code=401)
    body = await request.json()
    prompt = body["messages"][-1]["content"]
    if body.get("stream"):

        async def events() -> AsyncIterator[bytes]:
            for number, (gap, piece) in enumerate(PIECES):
                if prompt == "drop" and number == 3:
                    raise StreamCut("upstream drops the connection")
                await asyncio.sleep(gap)
                yield _piece(number, piece, number == len(PIECES) - 1)

        return StreamingResponse(events(), media_type="text/event-stream")
    answer = {
        "data": [{"id": "data_up2", "index": 0, "output": "Hi", "raw_output": "Hi", "model_config_id": "c"}],
        "provider_responses": [],
        "provider_request": {"model": "gpt-4o-mini", "api_key": body["provider_api_keys"]["openai"]},
        "project_id": "pr_up1",
    }
    return JSONResponse(answer)


async def _project(request: Request) -> Response:
    if request.path_params["id"] != "pr_1":
        return JSONResponse({"detail": "Project not found"}, status_code=404)
    return JSONResponse(PROJECT)


UPSTREAM = Starlette(routes=[Route("/chat", _chat, methods=["POST"]), Route("/projects/{id}", _project)])


def chat(prompt: str, stream: bool = True) -> dict[str, Any]:
    return {
        "project": "demo",
        "model_config": {"model": "gpt-4o-mini"},
        "messages": [{"role": "user", "content": prompt}],
        "inputs": {"openai_api_key": INPUT_KEY, "city": "Paris"},
        "provider_api_keys": {"openai": PROVIDER_KEY},
        "stream": stream,
    }


HEADERS = {"X-API-KEY": UPSTREAM_KEY}


class Recorded:
    def __init__(self) -> None:
        self.stream: Timed = Timed()
        self.dropped: Timed = Timed()
        self.json: httpx.Response | None = None
        self.missing: httpx.Response | None = None
        self.unauthorised: httpx.Response | None = None


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Recorded]]:
    out = tmp_path_factory.mktemp("recorded")
    seen = Recorded()
    with LiveServer(UPSTREAM) as upstream:
        proxy = RecordingProxy(upstream.url, out, contract="humanloop")
        with LiveServer(proxy) as served, httpx.Client(base_url=served.url + "/humanloop/v4") as client:
            seen.stream = timed_post(client, "/chat", chat("Say hello"), HEADERS)
            seen.dropped = timed_post(client, "/chat", chat("drop"), HEADERS)
            seen.json = client.post("/chat", json=chat("Say hi", stream=False), headers=HEADERS)
            seen.missing = client.get("/projects/pr_404", headers=HEADERS)
            seen.unauthorised = client.post(
                "/chat", json=chat("x"), headers={"X-API-KEY": "hl_sk_wrong_key_1"}
            )
        assert len(proxy.recorded) == 5
    yield out, seen


def test_the_proxy_streams_as_the_upstream_sends(recorded: tuple[Path, Recorded]) -> None:
    _, seen = recorded
    stream = seen.stream
    assert stream.error is None and stream.status == 200 and len(stream.events) == len(PIECES)
    first = (stream.events[0][0] - stream.started) * 1000
    before_pause = (stream.events[3][0] - stream.started) * 1000
    assert first < 250, first  # the client did not wait for the end of the stream
    assert before_pause < 350, before_pause
    assert stream.gaps_ms[4] > 300, stream.gaps_ms  # the upstream's 400 ms pause came through as a pause


def test_errors_and_drops_pass_through(recorded: tuple[Path, Recorded]) -> None:
    _, seen = recorded
    assert isinstance(seen.dropped.error, httpx.RemoteProtocolError) and len(seen.dropped.events) == 3
    assert seen.missing is not None and seen.missing.status_code == 404
    assert seen.unauthorised is not None and seen.unauthorised.status_code == 401
    assert seen.json is not None and seen.json.json()["provider_request"]["api_key"] == PROVIDER_KEY


def test_cassettes_are_written_with_timing_and_no_secret(recorded: tuple[Path, Recorded]) -> None:
    out, seen = recorded
    texts = {p.name: p.read_text() for p in out.glob("*.yaml")}
    assert len(texts) == 5
    for name, text in texts.items():
        for secret in (UPSTREAM_KEY, PROVIDER_KEY, INPUT_KEY, "hl_sk_wrong_key_1"):
            assert secret not in text, (name, secret)
    library = CassetteLibrary(out)
    stream = library.match("chats_create", chat("Say hello"))
    assert (
        stream is not None
        and stream.end == "complete"
        and stream.events() == [e for _, e in seen.stream.events]
    )
    gaps = [c.gap_ms for c in stream.chunks]
    for got, (want, _) in zip(gaps[1:], PIECES[1:], strict=True):
        assert abs(got - want * 1000) < 30, gaps
    final = library.match("chats_create", chat("Say hi", stream=False))
    assert final is not None and not final.is_stream
    assert final.final["provider_request"]["api_key"] == REDACTED
    unauthorised = library.match("chats_create", chat("x"))
    assert unauthorised is not None and unauthorised.final == {"detail": f"Invalid API key {REDACTED}"}


def test_replay_gives_the_client_the_same_bytes(recorded: tuple[Path, Recorded]) -> None:
    out, seen = recorded
    library = CassetteLibrary(out)
    handler = cassette_handler(library, speed=0.0)
    app = create_app(
        ["humanloop"], handlers={"humanloop": {"chats_create": handler, "projects_get": handler}}
    )
    with LiveServer(app) as fake, httpx.Client(base_url=fake.url + "/humanloop/v4") as client:
        stream = timed_post(client, "/chat", chat("Say hello"), HEADERS)
        dropped = timed_post(client, "/chat", chat("drop"), HEADERS)
        answer = client.post("/chat", json=chat("Say hi", stream=False), headers=HEADERS)
        missing = client.get("/projects/pr_404", headers=HEADERS)
        unknown = client.post("/chat", json=chat("never recorded"), headers=HEADERS)
    assert [e for _, e in stream.events] == [e for _, e in seen.stream.events]  # event for event
    assert stream.body == seen.stream.body
    assert isinstance(dropped.error, httpx.RemoteProtocolError)
    assert [e for _, e in dropped.events] == [e for _, e in seen.dropped.events]
    assert answer.status_code == 200 and answer.json()["data"] == seen.json.json()["data"]  # type: ignore[union-attr]
    assert missing.status_code == 404 and missing.json() == seen.missing.json()  # type: ignore[union-attr]
    assert unknown.status_code == 404 and "No recording" in unknown.json()["detail"]


def test_a_stream_replays_at_its_recorded_pace(recorded: tuple[Path, Recorded]) -> None:
    out, seen = recorded
    handler = cassette_handler(CassetteLibrary(out), speed=1.0)
    app = create_app(["humanloop"], handlers={"humanloop": {"chats_create": handler}})
    with LiveServer(app) as fake, httpx.Client(base_url=fake.url + "/humanloop/v4") as client:
        stream = timed_post(client, "/chat", chat("Say hello"), HEADERS)
    for replayed, original in zip(stream.gaps_ms[1:], seen.stream.gaps_ms[1:], strict=True):
        assert abs(replayed - original) < 30, (stream.gaps_ms, seen.stream.gaps_ms)


def test_unreachable_upstream_is_a_502_and_not_recorded(tmp_path: Path) -> None:
    from specfake.server import free_port

    proxy = RecordingProxy(f"http://127.0.0.1:{free_port()}", tmp_path, contract="humanloop")
    with LiveServer(proxy) as served:
        answer = httpx.post(served.url + "/chat", json=chat("x"), headers=HEADERS)
    assert answer.status_code == 502 and "failed" in answer.json()["detail"]
    assert list(tmp_path.iterdir()) == []


def test_record_command_line() -> None:
    parser = argparse.ArgumentParser()
    add_record_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["record", "--upstream", "https://api.example.com/v4", "--out", "rec"])
    assert args.func is main_record and args.port == 4011 and args.contract == "humanloop"
    assert args.host == "127.0.0.1"


def test_redaction_of_stream_chunks_rewrites_only_events_with_secrets() -> None:
    from specfake.record import _redact_chunk
    from specfake.streaming.cassette import Chunk

    clean = Chunk(10.0, data='{"data": [{"output": "hi"}]}')
    assert _redact_chunk(clean, [PROVIDER_KEY]) is clean
    leaky = Chunk(10.0, data=json.dumps({"data": [{"output": f"key {PROVIDER_KEY}"}], "api_key": "x"}))
    cleaned = _redact_chunk(leaky, [PROVIDER_KEY])
    assert PROVIDER_KEY not in cleaned.data and json.loads(cleaned.data)["api_key"] == REDACTED  # type: ignore[arg-type]
    raw = Chunk(10.0, raw=f"event: x\ndata: {PROVIDER_KEY}\n\n")
    assert PROVIDER_KEY not in (_redact_chunk(raw, [PROVIDER_KEY]).raw or "")
    assert Cassette  # the module's public type is importable with the proxy
