"""Answering requests from cassettes: the fake's side of record → replay.

``cassette_handler(library)`` is a ``Handler`` for any operation: it answers a request that a
cassette matches with that recording (a stream at its recorded pace, or the recorded JSON and
status) and passes any other request to ``fallback``. Generation behaviours that also store logs
use ``ctx.streams`` (`specfake.streaming.settings.Streams`) instead.
"""

from __future__ import annotations

import inspect
from typing import Any

from specfake.calls import Call, Handler
from specfake.errors import NotFound
from specfake.http import Reply
from specfake.streaming.cassette import Cassette, CassetteLibrary
from specfake.streaming.replay import replay


def concrete_path(call: Call) -> str:
    """The request path (below the mount prefix) rebuilt from the template and path values."""
    path = call.operation.path
    for name, value in call.path.items():
        path = path.replace("{" + name + "}", str(value))
    return path


def query_subject(query: dict[str, Any]) -> dict[str, list[str]]:
    """Query values as the strings a client sent, so recorded and coerced queries compare equal."""

    def text(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return {k: [text(v) for v in (vs if isinstance(vs, list) else [vs])] for k, vs in query.items()}


def match_call(library: CassetteLibrary, call: Call, contract: str | None) -> Cassette | None:
    return library.match(
        call.operation.operation_id,
        call.body,
        contract=contract,
        path=concrete_path(call),
        query=query_subject(call.query),
    )


_FRAMING = frozenset({"content-type", "content-length", "transfer-encoding", "content-encoding"})


def cassette_reply(cassette: Cassette, call: Call, speed: float) -> Reply:
    """The recorded answer: its status, its headers (Retry-After, rate-limit headers...) and its
    body, or its stream at the recorded pace (broken as the call's stream faults say)."""
    headers = {k: v for k, v in cassette.headers.items() if k.lower() not in _FRAMING}
    if cassette.is_stream:
        stream = replay(cassette, speed, call.stream_faults)
        return Reply(cassette.status, headers=headers, stream=stream)
    if cassette.final is not None:
        return Reply(cassette.status, body=cassette.final, headers=headers)
    if cassette.body is not None:
        return Reply(cassette.status, raw=cassette.body.encode(), headers=headers)
    return Reply(cassette.status, headers=headers)


def cassette_handler(
    library: CassetteLibrary,
    *,
    speed: float = 1.0,
    fallback: Handler | None = None,
    contract: str | None = None,
) -> Handler:
    """``contract``: whose recordings answer (None: any contract's in the library)."""

    async def handle(call: Call) -> Reply:
        cassette = match_call(library, call, contract)
        if cassette is not None:
            return cassette_reply(cassette, call, speed)
        if fallback is None:
            raise NotFound(f"No recording matches this {call.operation.operation_id} request")
        result = fallback(call)
        return await result if inspect.isawaitable(result) else result

    return handle
