"""``specfake check client --proxy``: both sides of live traffic, against local upstreams only.

Upstreams: the fake itself (nothing to report), and a small broken server (a schema-invalid body,
an undeclared status, a wrong content type, a malformed stream) whose faults must be reported on
the server side while the client's own mistakes are reported on the client side. The same bad
streams are judged alike by `check server` and the proxy (one judge, `stream_judge`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from specfake.app import create_app
from specfake.contract import load_contract
from specfake.contracts.harness import proxy
from specfake.contracts.harness.findings import Finding
from specfake.contracts.harness.proxy import CheckingProxy, check_traffic
from specfake.contracts.harness.server_check import check_server
from specfake.server import LiveServer

CLIENTS = Path(__file__).parent / "clients"
PROJECT = {
    "id": "pr_1",
    "name": "p",
    "users": [],
    "data_count": 0,
    "feedback_types": [],
    "team_id": "t",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


def broken_upstream() -> Starlette:
    async def project(request: Request) -> Response:
        return JSONResponse({**PROJECT, "data_count": "many"})  # wrong type

    async def projects(request: Request) -> Response:
        return PlainTextResponse("records: none")  # wrong content type

    async def create(request: Request) -> Response:
        return JSONResponse(PROJECT, status_code=202)  # undeclared status (201 is declared)

    async def chat(request: Request) -> Response:
        async def events() -> Iterator[bytes]:  # type: ignore[misc]
            yield b'data: {"data": [{"id": "d", "index": 0, "output": "Hi", "finish_reason": null, '
            yield b'"model_config_id": "c"}]}\n\n'
            yield b"data:{not json}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")  # type: ignore[arg-type]

    return Starlette(
        routes=[
            Route("/v4/projects/{id}", project),
            Route("/v4/projects", projects, methods=["GET"]),
            Route("/v4/projects", create, methods=["POST"]),
            Route("/v4/chat", chat, methods=["POST"]),
        ]
    )


@pytest.fixture
def broken() -> Iterator[tuple[CheckingProxy, str]]:
    with LiveServer(broken_upstream()) as upstream:
        checking = CheckingProxy(upstream.url + "/v4", contract="humanloop")
        with LiveServer(checking) as server:
            yield checking, server.url


def test_broken_server_answers_are_reported_on_the_server_side(broken: tuple[CheckingProxy, str]) -> None:
    checking, root = broken
    key = {"X-API-KEY": "secret-key"}
    with httpx.Client(base_url=root + "/humanloop/v4", headers=key) as http:
        assert http.get("/projects/pr_1").json()["data_count"] == "many"  # forwarded untouched
        assert http.get("/projects").text == "records: none"
        assert http.post("/projects", json={"name": "p"}).status_code == 202
        body = {"project_id": "pr_1", "messages": [{"role": "user", "content": "hi"}], "model_config": {}}
        with http.stream("POST", "/chat", json={**body, "stream": True}) as streamed:
            raw = b"".join(streamed.iter_raw())
        assert raw.count(b"data:") == 2  # the stream passes through as the server sent it
    report = check_traffic(checking, root)
    found = {(f.side, f.operation, f.check, f.field) for f in report.findings}
    assert found == {
        ("server", "GET /projects/{id}", "response_schema_conformance", "body.data_count"),
        ("server", "GET /projects", "content_type_conformance", "header.content-type"),
        ("server", "POST /projects", "status_code_conformance", None),
        ("server", "POST /chat", "sse_framing", "event[2]"),
        ("client", "POST /chat", "required", "body.model_config.model"),
    }
    assert report.exit_code == 1
    text = json.dumps(report.to_json())
    assert "secret-key" not in text and "<redacted>" in text  # keys never reach a report
    framing = next(f for f in report.findings if f.check == "sse_framing")
    assert framing.exchange is not None and framing.exchange.status == 200


@pytest.mark.sdk
def test_proxy_to_the_fake_runs_the_sdk_clean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECFAKE_API_KEY", "the-users-own-key")  # a proxy keeps the client's keys
    with LiveServer(create_app(["humanloop"], options={"stream_speed": "0"})) as upstream:
        args = argparse.Namespace(
            contract="humanloop",
            proxy=upstream.url + "/humanloop/v4",
            seed=0,
            junit=None,
            report=str(tmp_path / "report.json"),
            verbose=False,
            port=0,
            allow_extra_fields=False,
            command=["--", sys.executable, str(CLIENTS / "humanloop_flow.py")],
        )
        assert proxy.run(args) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ok"] and report["stats"]["requests"] >= 14 and "POST /chat" in report["operations"]


def test_unreachable_upstream_is_a_502_and_bad_contract_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    checking = CheckingProxy("http://127.0.0.1:9", contract="humanloop")
    with LiveServer(checking) as server:
        answer = httpx.get(server.url + "/humanloop/v4/projects", headers={"x-api-key": "k"})
    assert answer.status_code == 502 and check_traffic(checking, server.url).ok
    args = argparse.Namespace(contract="no-such-contract", proxy="http://127.0.0.1:9", command=[])
    assert proxy.run(args) == 2 and "no contract" in capsys.readouterr().err


# --- one judgement: the same bad streams through `check server` and `check client --proxy` --------


def _chunk_event(output: str, finish: str | None = None) -> str:
    item = {"id": "d1", "index": 0, "output": output, "finish_reason": finish, "model_config_id": "c1"}
    return "data: " + json.dumps({"data": [item], "project_id": "p1"}) + "\n\n"


CUT = "<the server drops the connection after one event>"
# Each streamed Humanloop operation (one chunk schema for all eight) answers one bad stream.
BAD_STREAMS = {
    "/chat": "",  # no event at all
    "/chat-deployed": _chunk_event("Hi") + _chunk_event("!"),  # no final finish_reason
    "/chat-experiment": "data:" + json.dumps({"data": []}) + "\n\n" + _chunk_event("!", "stop"),
    "/chat-model-config": _chunk_event("Hi") + "data: {not json}\n\n" + _chunk_event("!", "stop"),
    "/completion": _chunk_event("Hi").replace('"index": 0', '"index": "zero"') + _chunk_event("!", "stop"),
    "/completion-deployed": CUT,
}
STREAM_RULES = {"sse_framing", "sse_chunk_schema", "sse_terminator", "connection"}


def bad_streams_upstream() -> Starlette:
    """Answers every request to a streamed operation with that operation's bad stream."""

    async def stream(request: Request) -> Response:
        body = BAD_STREAMS[request.url.path.removeprefix("/v4")]

        async def events() -> Iterator[bytes]:  # type: ignore[misc]
            if body == CUT:
                yield _chunk_event("Hi").encode()
                raise ConnectionResetError("cut")  # uvicorn ends the chunked answer mid-way
            if body:
                yield body.encode()

        return StreamingResponse(events(), media_type="text/event-stream")  # type: ignore[arg-type]

    return Starlette(routes=[Route("/v4" + path, stream, methods=["POST"]) for path in BAD_STREAMS])


def test_check_server_and_the_proxy_report_the_same_stream_rules() -> None:
    """Empty stream, no final event, framing, chunk schema and a cut connection: each bad stream
    gets the same rule names, with the same messages, from the server check and the proxy."""
    contract = load_contract("humanloop")
    ops = {op.path: op.operation_id for op in contract.operations if op.path in BAD_STREAMS}
    with LiveServer(bad_streams_upstream()) as upstream:
        report = check_server(
            contract, upstream.url + "/v4", api_key="k", profile="quick", include=sorted(ops.values()),
            invariants=False, max_examples=1,
        )  # fmt: skip
        checking = CheckingProxy(upstream.url + "/v4", contract=contract)
        with LiveServer(checking) as server, httpx.Client(base_url=server.url + contract.prefix) as http:
            for path in BAD_STREAMS:
                try:
                    with http.stream("POST", path, json={"stream": True}, headers={"X-API-KEY": "k"}) as sent:
                        b"".join(sent.iter_raw())
                except httpx.RemoteProtocolError:
                    assert BAD_STREAMS[path] == CUT
            proxied = check_traffic(checking, server.url)

    def rules(findings: list[Finding]) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {f"POST {path}": set() for path in BAD_STREAMS}
        for f in findings:
            if f.check in STREAM_RULES and f.operation in out:
                out[f.operation].add(f.check)
        return out

    expected = {
        "POST /chat": {"sse_framing"},
        "POST /chat-deployed": {"sse_framing"},
        "POST /chat-experiment": {"sse_framing"},
        "POST /chat-model-config": {"sse_framing"},
        "POST /completion": {"sse_chunk_schema"},
        "POST /completion-deployed": {"connection"},
    }
    assert rules(report.findings) == expected, report.summary(verbose=True)
    assert rules(proxied.findings) == expected, proxied.summary(verbose=True)
    # check server keeps the first problem of a kind, titled; the proxy all of them: same words.
    said = [(f.operation, f.check, f.message) for f in proxied.findings if f.check in STREAM_RULES]
    for f in report.findings:
        if f.check in STREAM_RULES:
            assert any(op == f.operation and check == f.check and m in f.message for op, check, m in said), f


def test_the_schemathesis_stream_checks_carry_the_judges_rule_names() -> None:
    """`check server` names a finding after the schemathesis check that raised it."""
    from specfake.contracts.harness import stream_judge, streams

    registered = (streams.sse_framing, streams.sse_chunk_schema, streams.sse_terminator)
    assert {check.__name__ for check in registered} == set(stream_judge.CHECKS)
