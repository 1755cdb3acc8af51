"""``specfake check client --proxy``: both sides of live traffic, against local upstreams only.

Upstreams: the fake itself (nothing to report), and a small broken server (a schema-invalid body,
an undeclared status, a wrong content type, a malformed stream) whose faults must be reported on
the server side while the client's own mistakes are reported on the client side.
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
from specfake.contracts.harness import proxy
from specfake.contracts.harness.proxy import CheckingProxy, check_traffic
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
