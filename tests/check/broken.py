"""Servers that each break their contract in exactly one way: the fake, wrapped in a small ASGI
middleware that changes one operation's request or response.

`Bench` serves every break at once from one live server, each under its own path prefix with its
own fresh fake (``/<break>/sgp/...``), so the acceptance tests start one server, not ten.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from specfake.app import create_app
from specfake.clock import SteppingClock

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

API_KEY = "k1"
EVALUATIONS = re.compile(r"^/sgp/v4/evaluations$")
EVALUATION = re.compile(r"^/sgp/v4/evaluations/[^/]+$")
COUNT = "completed_test_case_result_count"  # a required integer of an SGP evaluation
OPENAI_STYLE = str(Path(__file__).resolve().parents[1] / "contracts" / "openai_style.yaml")
VECTOR_STORES = re.compile(r"^/openai_style/v1/vector_stores$")


def fake(contract: str, **options: str) -> App:
    """A fresh, deterministic fake: fixed seed, a stepping clock, instant streams."""
    return create_app(
        [contract],
        seed=0,
        api_keys=[API_KEY, "k2"],
        clock=SteppingClock(datetime(2024, 1, 1, tzinfo=UTC)),
        options={"stream_speed": "0", **options},
    )


async def _answer(send: Send, status: int, body: Any, content_type: bytes = b"application/json") -> None:
    raw = orjson.dumps(body)
    headers = [(b"content-type", content_type), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


@dataclass
class ResponseBreak:
    """Rewrite the whole (buffered) response of ``method path`` on a 2xx: status, content type, body."""

    app: App
    method: str
    path: re.Pattern[str]
    status: int | None = None
    content_type: bytes | None = None
    mutate: Callable[[Any], Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != self.method or not self.path.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        status, headers, body = await buffered(self.app, scope, receive)
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        if 200 <= status < 300:
            if self.mutate is not None:
                body = orjson.dumps(self.mutate(orjson.loads(body)))
            if self.content_type is not None:
                headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
                headers.append((b"content-type", self.content_type))
            status = self.status or status
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass
class RequestBreak:
    """Answer or rewrite matching requests before the fake sees them."""

    app: App
    rewrite: Callable[[Scope], Scope | tuple[int, Any]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        changed = self.rewrite(scope)
        if isinstance(changed, tuple):
            await _answer(send, *changed)
        else:
            await self.app(changed, receive, send)


def _query(scope: Scope) -> list[tuple[str, str]]:
    return parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def _drop_page(scope: Scope) -> Scope:
    """Paging that never ends: the list ignores ``page`` and answers the first page every time."""
    if scope["method"] != "GET" or not EVALUATIONS.match(scope["path"]):
        return scope
    kept = [(k, v) for k, v in _query(scope) if k != "page"]
    return {**scope, "query_string": urlencode(kept).encode()}


def _drop_after(scope: Scope) -> Scope:
    """Cursor paging that never ends: the list ignores ``after`` and answers the first page (with
    ``has_more`` still true) every time."""
    if scope["method"] != "GET" or not VECTOR_STORES.match(scope["path"]):
        return scope
    kept = [(k, v) for k, v in _query(scope) if k != "after"]
    return {**scope, "query_string": urlencode(kept).encode()}


@dataclass
class ClampPastEnd:
    """Paging that never ends for the SGP SDK: a page past the end of the evaluations list answers
    the last page again (``current_page`` the last page's, as a clamping paginator does), so
    ``current_page + 1`` never comes back empty."""

    app: App

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not EVALUATIONS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        status, headers, body = await buffered(self.app, scope, receive)
        answer = orjson.loads(body) if status == 200 else None
        if isinstance(answer, dict) and not answer.get("items") and answer.get("total_item_count"):
            size = max(int(answer.get("items_per_page") or 1), 1)
            last = -(-int(answer["total_item_count"]) // size)
            query = [(k, v) for k, v in _query(scope) if k != "page"] + [("page", str(last))]
            clamped = {**scope, "query_string": urlencode(query).encode()}
            status, headers, body = await buffered(self.app, clamped, receive)
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def buffered(app: App, scope: Scope, receive: Receive) -> tuple[int, list[Any], bytes]:
    """``app``'s whole answer to a request (a GET: its body is never read twice)."""
    start: Message = {}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return start["status"], list(start.get("headers", [])), b"".join(chunks)


def _crash_on_max_limit(scope: Scope) -> Scope | tuple[int, Any]:
    """A 500 on an edge input: the largest ``limit`` the contract allows."""
    if scope["method"] == "GET" and EVALUATIONS.match(scope["path"]):
        if any(k == "limit" and v.strip() == "10000" for k, v in _query(scope)):
            return 500, {"detail": "Internal Server Error"}
    return scope


def _ignore_missing_key(scope: Scope) -> Scope:
    """An ignored API key: a request without one is served as if it had a valid one."""
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"x-api-key"]
    return {**scope, "headers": [*headers, (b"x-api-key", API_KEY.encode())]}


def _unreadable(scope: Scope) -> Scope | tuple[int, Any]:
    """A created resource that cannot be read back: every read by id is a 404."""
    if scope["method"] == "GET" and EVALUATION.match(scope["path"]):
        return 404, {"detail": "Evaluation not found"}
    return scope


def _without(name: str) -> Callable[[Any], Any]:
    def mutate(body: Any) -> Any:
        body.pop(name, None)
        return body

    return mutate


def _with(name: str, value: Any) -> Callable[[Any], Any]:
    def mutate(body: Any) -> Any:
        body[name] = value
        return body

    return mutate


@dataclass(frozen=True)
class Break:
    """One planted break and where `check server` must find it."""

    name: str
    contract: str
    build: Callable[[], App]
    operation: str  # "METHOD /path" the finding must name
    checks: tuple[str, ...]  # any of these check names counts as found
    include: tuple[str, ...]  # operation ids to test (keeps each run to a few seconds)
    field: str | None = None  # the field the finding must name, when it names one
    needs_invariants: bool = False


def _sgp(wrap: Callable[[App], App]) -> Callable[[], App]:
    return lambda: wrap(fake("sgp"))


BREAKS: tuple[Break, ...] = (
    Break(
        "wrong_status",
        "sgp",
        _sgp(lambda app: ResponseBreak(app, "POST", EVALUATIONS, status=201)),
        "POST /v4/evaluations",
        ("status_code_conformance",),
        ("evaluations_create",),
    ),
    Break(
        "missing_required_field",
        "sgp",
        _sgp(lambda app: ResponseBreak(app, "GET", EVALUATIONS, mutate=_without("total_item_count"))),
        "GET /v4/evaluations",
        ("response_schema_conformance",),
        ("evaluations_list",),
        field="total_item_count",
    ),
    Break(
        "wrong_type",
        "sgp",
        _sgp(
            lambda app: ResponseBreak(
                app, "POST", EVALUATIONS, mutate=_with("completed_test_case_result_count", "3")
            )
        ),
        "POST /v4/evaluations",
        ("response_schema_conformance",),
        ("evaluations_create",),
        field=COUNT,
    ),
    Break(
        "null_not_allowed",
        "sgp",
        _sgp(lambda app: ResponseBreak(app, "POST", EVALUATIONS, mutate=_with("name", None))),
        "POST /v4/evaluations",
        ("response_schema_conformance",),
        ("evaluations_create",),
        field="name",
    ),
    Break(
        "wrong_content_type",
        "sgp",
        _sgp(lambda app: ResponseBreak(app, "GET", EVALUATIONS, content_type=b"text/plain")),
        "GET /v4/evaluations",
        ("content_type_conformance",),
        ("evaluations_list",),
    ),
    Break(
        "paging_never_ends",
        "sgp",
        _sgp(lambda app: RequestBreak(app, _drop_page)),
        "GET /v4/evaluations",
        ("paging_walks_every_item_once",),
        ("evaluations_create", "evaluations_list"),
        needs_invariants=True,
    ),
    Break(
        "clamps_past_end",
        "sgp",
        _sgp(ClampPastEnd),
        "GET /v4/evaluations",
        ("paging_terminates",),
        ("evaluations_create", "evaluations_list"),
        needs_invariants=True,
    ),
    Break(
        "ignored_api_key",
        "sgp",
        _sgp(lambda app: RequestBreak(app, _ignore_missing_key)),
        "GET /v4/evaluations",
        ("ignored_auth",),
        ("evaluations_list",),
    ),
    Break(
        "server_error_on_edge_input",
        "sgp",
        _sgp(lambda app: RequestBreak(app, _crash_on_max_limit)),
        "GET /v4/evaluations",
        ("not_a_server_error",),
        ("evaluations_list",),
    ),
    Break(
        "malformed_sse_line",
        "humanloop",
        lambda: fake("humanloop", stream_faults="malformed-at=2"),
        "POST /completion",
        ("sse_framing",),
        ("completions_create",),
    ),
    Break(
        "created_not_readable",
        "sgp",
        _sgp(lambda app: RequestBreak(app, _unreadable)),
        "GET /v4/evaluations/{evaluation_id}",
        ("ensure_resource_availability", "created_is_readable"),
        ("evaluations_create", "evaluations_retrieve"),
        needs_invariants=True,
    ),
    Break(
        "cursor_never_ends",
        OPENAI_STYLE,
        lambda: RequestBreak(fake(OPENAI_STYLE), _drop_after),
        "GET /vector_stores",
        ("paging_walks_every_item_once",),
        ("vector_stores_create", "vector_stores_list"),
        needs_invariants=True,
    ),
)


class Bench:
    """One ASGI app serving ``/<name>/...`` from ``apps[name]`` (a fresh one per `reset`)."""

    def __init__(self, builders: dict[str, Callable[[], App]]) -> None:
        self.builders = builders
        self.apps = {name: build() for name, build in builders.items()}

    def reset(self, name: str) -> None:
        self.apps[name] = self.builders[name]()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        name, _, rest = scope["path"].lstrip("/").partition("/")
        app = self.apps.get(name)
        if app is None:
            await _answer(send, 404, {"detail": f"no bench {name!r}"})
            return
        path = "/" + rest
        await app({**scope, "path": path, "raw_path": path.encode()}, receive, send)
