"""Raw request reading reads a repeated header as the real API (Starlette, under FastAPI) does:
the first value decides, so a second ``x-api-key`` or ``content-type`` changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from specfake.app import SpecfakeApp, create_app
from specfake.http import header_map, http_scope

KEY = "hl-first-key"
OTHER = "hl-second-key"


def test_header_map_keeps_the_first_of_repeated_names_in_their_place() -> None:
    scope = {"headers": [(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"c", b"4"), (b"b", b"5")]}
    headers = header_map(scope)
    assert headers == {"a": "1", "b": "2", "c": "4"}
    assert list(headers) == ["a", "b", "c"]
    assert header_map({"headers": [(b"x", b"\xe9")]}) == {"x": "\xe9"}  # latin-1, as before


def _call(
    app: SpecfakeApp, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
) -> tuple[int, Any]:
    raw = [(b"host", b"127.0.0.1"), *((k.encode(), v.encode()) for k, v in headers)]
    if body:
        raw.append((b"content-length", str(len(body)).encode()))
    scope = http_scope(method, path, raw)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    answer = b"".join(m.get("body", b"") for m in sent[1:])
    return sent[0]["status"], orjson.loads(answer) if answer else None


JSON = ("content-type", "application/json")


def test_the_first_of_two_api_keys_decides_whether_a_request_is_let_in() -> None:
    app = create_app(["humanloop"], api_keys=[KEY])
    status, _ = _call(app, "GET", "/humanloop/v4/projects", [("x-api-key", KEY), ("x-api-key", OTHER)])
    assert status == 200
    status, body = _call(app, "GET", "/humanloop/v4/projects", [("x-api-key", OTHER), ("x-api-key", KEY)])
    assert status == 401, body


def test_the_first_of_two_api_keys_is_the_tenant() -> None:
    app = create_app(["humanloop"])  # any key: each its own tenant
    both = [("x-api-key", KEY), ("x-api-key", OTHER), JSON]
    status, project = _call(app, "POST", "/humanloop/v4/projects", both, b'{"name":"dup"}')
    assert status == 201, project
    path = f"/humanloop/v4/projects/{project['id']}"
    assert _call(app, "GET", path, [("x-api-key", KEY)])[0] == 200
    assert _call(app, "GET", path, [("x-api-key", OTHER)])[0] == 404


def test_the_first_of_two_content_types_decides_how_the_body_is_read() -> None:
    app = create_app(["humanloop"], api_keys=[KEY])
    body = b'{"name":"typed"}'
    first_json = [("x-api-key", KEY), JSON, ("content-type", "text/plain")]
    status, answer = _call(app, "POST", "/humanloop/v4/projects", first_json, body)
    assert status == 201, answer
    first_text = [("x-api-key", KEY), ("content-type", "text/plain"), JSON]
    status, answer = _call(app, "POST", "/humanloop/v4/projects", first_text, body)
    assert status == 422, answer
    assert "text/plain" in orjson.dumps(answer).decode()
