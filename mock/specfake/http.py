"""Raw ASGI request reading and response writing for the hot path.

Starlette's Request/Response objects are convenient but cost several microseconds each; the fake
answers tens of thousands of requests a second, so the mounted contracts speak ASGI directly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Receive, Scope, Send

JSON = b"application/json"
SSE = b"text/event-stream"


class BodyTooLarge(Exception):
    pass


async def lifespan(
    receive: Receive, send: Send, on_shutdown: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Answer an ASGI lifespan for apps that only serve HTTP (``on_shutdown``: what to close)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def http_scope(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    query: bytes = b"",
    *,
    raw_path: bytes | None = None,
) -> dict[str, Any]:
    """An HTTP scope as uvicorn hands one to the app: what in-process callers (the bench's
    profiler, tests driving the raw ASGI interface) send, so they exercise the served path."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode() if raw_path is None else raw_path,
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50123),
        "server": ("127.0.0.1", 4010),
    }


def header_map(scope: Scope) -> dict[str, str]:
    """Lower-cased header names (ASGI gives them lower-cased already) to latin-1 values. A repeated
    name keeps its first value, as Starlette's ``request.headers.get`` (so FastAPI) reads it: a
    second ``x-api-key`` or ``content-type`` must not decide what the real API would not. The
    usual request has no repeat, and pays one length comparison for the check."""
    raw = scope["headers"]
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
    if len(headers) != len(raw):  # a repeat: the first value wins (each name keeps its place)
        for k, v in reversed(raw):
            headers[k.decode("latin-1")] = v.decode("latin-1")
    return headers


def query_map(scope: Scope) -> dict[str, list[str]]:
    raw: bytes = scope.get("query_string", b"")
    return parse_query(raw) if raw else {}


def parse_query(raw: bytes | str) -> dict[str, list[str]]:
    """``a=1&a=2&b=`` -> ``{"a": ["1", "2"], "b": [""]}`` (blank values kept, as FastAPI reads them)."""
    if not raw:
        return {}
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(text.lstrip("?"), keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


@dataclass
class Reply:
    """What a behaviour answers: a JSON-able body (or None for no body) and a status."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # pre-serialised JSON, used instead of ``body`` when set
    stream: AsyncIterator[bytes] | None = None  # an SSE body, sent chunk by chunk


def dump_json(value: Any) -> bytes:
    """orjson, except for integers past 64 bits (a client may echo any page number), which
    Python's json encodes as FastAPI would."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _headers(
    content_type: bytes | None, length: int | None, extra: dict[str, str]
) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    if content_type is not None:
        headers.append((b"content-type", content_type))
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    for key, value in extra.items():
        headers.append((key.lower().encode("latin-1"), value.encode("latin-1")))
    return headers


REQUEST_ID = b"x-request-id"


async def send_reply(send: Send, reply: Reply, request_id: bytes) -> None:
    """Send ``reply``; ``request_id`` goes out as ``X-Request-Id`` (the journal has it too)."""
    if reply.stream is not None:
        headers = _headers(SSE, None, {"cache-control": "no-cache", **reply.headers})
        headers.append((REQUEST_ID, request_id))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        async for chunk in reply.stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if reply.status == 204 or (reply.body is None and reply.raw is None):
        headers = _headers(None, None, reply.headers)
        headers.append((REQUEST_ID, request_id))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    payload = reply.raw if reply.raw is not None else dump_json(reply.body)
    if reply.headers:
        headers = _headers(JSON, len(payload), reply.headers)
        headers.append((REQUEST_ID, request_id))
    else:  # the usual answer
        length = b"%d" % len(payload)
        headers = [(b"content-type", JSON), (b"content-length", length), (REQUEST_ID, request_id)]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
