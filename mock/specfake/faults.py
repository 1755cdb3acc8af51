"""Faults on any operation: the unhappy paths a client must survive, one line each.

A request asks for one with the header ``X-Specfake-Fault`` (``;``-separated entries), or a rule
(`specfake.fault_rules`) gives it one. Every fault is deterministic for the seed and the request:

``status=N`` (with ``retry-after=S``)
    answer N with the body and headers the service would send (its error shape; ``Retry-After``
    on 429 and 503, 1 s unless given) instead of running the operation: nothing is stored.
``latency=300ms`` | ``latency=200..800ms`` | ``latency=2s``
    wait that long (a range: a seeded draw) before answering.
``reset``
    close the connection with no answer; the operation does not run.
``empty``
    run the operation, send the status and headers, then close (no body).
``truncate=N``
    run it, send the first N bytes of the body, then close.
``malformed``
    run it, answer with a body that is not JSON (the first half of the real one, then garbage).
``dribble=2s``
    run it, send the body in small pieces spread over that long.
``cut-after=N``, ``stall=N:S``, ``error-at=N``, ``malformed-at=N``
    inside a stream (`specfake.streaming.faults`); ``X-Specfake-Stream-Fault`` takes these alone.

``empty``, ``truncate``, ``malformed`` and ``dribble`` shape a JSON answer; a stream is broken with
the stream entries (``empty`` on a stream is ``cut-after=0``). A fault applies to a request the
fake would answer: a request the contract refuses still gets its 4xx.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import struct
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from specfake.contract import is_json
from specfake.errors import ApiError, parse_header
from specfake.http import REQUEST_ID, Reply, dump_json
from specfake.streaming.faults import StreamCut, StreamFaults

if TYPE_CHECKING:
    from starlette.types import Send

    from specfake.compiled import CompiledContract, CompiledOperation

HEADER = "x-specfake-fault"
STREAM_ENTRIES = ("cut-after", "stall", "error-at", "malformed-at")
DEFAULT_RETRY_AFTER = 1.0
MAX_DELAY_S = 300.0
MALFORMED_TAIL = b"<<specfake: malformed>>"
DRIBBLE_PIECES = 16
SYNTAX = (
    "status=N, retry-after=S, latency=300ms or 200..800ms, reset, empty, truncate=N, malformed, "
    "dribble=2s, cut-after=N, stall=N:S, error-at=N, malformed-at=N (';'-separated)"
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")


class ConnectionReset(Exception):
    """Raised by the engine to close a connection with no answer (``reset``)."""


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    retry_after: float | None = None
    latency: tuple[float, float] | None = None  # seconds: (low, high); equal for a fixed delay
    reset: bool = False
    empty: bool = False
    truncate: int | None = None
    malformed: bool = False
    dribble: float | None = None  # seconds
    stream: StreamFaults | None = None

    @classmethod
    def parse(cls, text: str) -> Fault:
        """The header's text; ValueError names the entry that cannot be read."""
        fields: dict[str, Any] = {}
        stream: list[str] = []
        for entry in filter(str.strip, text.split(";")):
            name, sep, value = (part.strip() for part in entry.partition("="))
            if name in STREAM_ENTRIES:
                stream.append(entry)
            elif name in ("reset", "empty", "malformed") and not sep:
                fields[name] = True
            elif name == "status" and sep:
                fields["status"] = _status(value)
            elif name == "retry-after" and sep:
                fields["retry_after"] = _seconds(name, value)
            elif name == "latency" and sep:
                low, dots, high = value.partition("..")
                if dots and low.strip().replace(".", "").isdigit():  # 200..800ms: one unit for both
                    low += high.strip().lstrip("0123456789.")
                fields["latency"] = (_seconds(name, low), _seconds(name, high if dots else low))
                if fields["latency"][0] > fields["latency"][1]:
                    raise ValueError(f"latency={value}: the range must go up")
            elif name == "truncate" and sep:
                fields["truncate"] = _count(name, value)
            elif name == "dribble" and sep:
                fields["dribble"] = _seconds(name, value)
            else:
                raise ValueError(f"cannot read {entry.strip()!r}; expected {SYNTAX}")
        if stream:
            fields["stream"] = StreamFaults.parse(";".join(stream))
        if fields.get("retry_after") is not None and fields.get("status") is None:
            raise ValueError("retry-after needs a status (status=429; retry-after=2)")
        return cls(**fields)

    @classmethod
    def from_headers(cls, headers: dict[str, str]) -> Fault | None:
        """The fault a request asks for (lower-cased header names); a bad header is a 422 naming it."""
        return parse_header(headers, HEADER, cls.parse)

    def delay(self, seed: int) -> float:
        """The latency for a request with this seed (a draw in the range, the same every time)."""
        if self.latency is None:
            return 0.0
        low, high = self.latency
        return low if low == high else random.Random(f"{seed}:latency").uniform(low, high)

    def for_stream(self, asked: StreamFaults | None) -> StreamFaults | None:
        """The stream faults of a streamed answer: the stream entries, ``empty`` as a cut at once."""
        found = asked or self.stream
        if self.empty:
            found = replace(found or StreamFaults(), cut_after=0)
        return found

    @property
    def shapes_body(self) -> bool:
        return self.empty or self.truncate is not None or self.malformed or self.dribble is not None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.retry_after is not None:
            parts.append(f"retry-after={self.retry_after:g}")
        if self.latency is not None:
            low, high = self.latency
            parts.append(f"latency={low:g}s" if low == high else f"latency={low:g}..{high:g}s")
        parts += [name for name in ("reset", "empty", "malformed") if getattr(self, name)]
        if self.truncate is not None:
            parts.append(f"truncate={self.truncate}")
        if self.dribble is not None:
            parts.append(f"dribble={self.dribble:g}s")
        if self.stream is not None:
            parts.append(str(self.stream))
        return "; ".join(parts)


def _status(value: str) -> int:
    if not value.isdigit() or not 100 <= int(value) <= 599:
        raise ValueError(f"status={value}: expected an HTTP status from 100 to 599")
    return int(value)


def _seconds(name: str, value: str) -> float:
    found = _DURATION.match(value)
    if found is None:
        raise ValueError(f"{name}={value}: expected a duration such as 300ms or 2s")
    seconds = float(found.group(1)) / (1000.0 if found.group(2) == "ms" else 1.0)
    if seconds > MAX_DELAY_S:
        raise ValueError(f"{name}={value}: at most {MAX_DELAY_S:g}s")
    return seconds


def _count(name: str, value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"{name}={value}: expected a whole number of bytes")
    return int(value)


# -- the answers a fault gives ------------------------------------------------------------------


def error_reply(
    fault: Fault, compiled: CompiledContract, op: CompiledOperation, errors: type[ApiError]
) -> Reply:
    """The answer ``status=N`` gives: the API's error body for N (``errors``, the behaviour's error
    class), or the contract's own example or schema for N when that shape does not fit it."""
    status = fault.status or 500
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    error = errors(status, f"{phrase} (specfake fault)")
    body = error.body()
    spec = op.operation.responses.get(status)
    schema = next((s for t, s in spec.content.items() if is_json(t)), None) if spec else None
    if schema and not compiled.validator(schema).is_valid(body):
        example = next((e for t, e in spec.examples.items() if is_json(t)), None) if spec else None
        body = example if example is not None else body
    headers = dict(error.headers)
    if status in (429, 503) or fault.retry_after is not None:
        wait = fault.retry_after if fault.retry_after is not None else DEFAULT_RETRY_AFTER
        headers["retry-after"] = f"{wait:g}"
    return Reply(status, body=body, headers=headers)


async def reset_connection(send: Send) -> None:
    """Close the connection with no answer. Raw ASGI cannot: the server's transport is reached
    through uvicorn's ``send`` (its request cycle), and closed with a TCP reset; elsewhere the
    connection is cut as a streamed body would be (the server then closes it, maybe after a 500)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        raise StreamCut("specfake reset the connection (fault)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:  # linger 0: the close is a reset (RST), as a crashed server's would be
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, AttributeError):
            pass
    transport.abort()
    for _ in range(10):  # let uvicorn see the connection lost before the app returns
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)


async def send_shaped(send: Send, reply: Reply, fault: Fault, request_id: bytes) -> None:
    """A JSON answer as ``empty``, ``truncate``, ``malformed`` or ``dribble`` shapes it."""
    payload = reply.raw if reply.raw is not None else b"" if reply.body is None else dump_json(reply.body)
    if fault.malformed:
        payload = payload[: len(payload) // 2] + MALFORMED_TAIL
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items()]
    headers.append((REQUEST_ID, request_id))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if fault.empty:
        raise StreamCut("specfake sent headers only (fault)")
    if fault.truncate is not None:
        await send({"type": "http.response.body", "body": payload[: fault.truncate], "more_body": True})
        raise StreamCut("specfake truncated the answer (fault)")
    if fault.dribble is not None:
        size = max(1, -(-len(payload) // DRIBBLE_PIECES))
        pieces = [payload[i : i + size] for i in range(0, len(payload), size)] or [b""]
        pause = fault.dribble / max(len(pieces), 1)
        for piece in pieces:
            await asyncio.sleep(pause)
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send({"type": "http.response.body", "body": payload})
