"""Server-sent events exactly as the official Humanloop SDKs read them, and a strict parser.

The wire format: each event is ONE line ``data: `` (with the space) + single-line JSON, followed by
a blank line (``\\n\\n``). The Python SDK (``humanloop/client_custom.py``) reads the body line by
line, keeps lines starting with ``data: `` and drops silently any line it cannot ``json.loads`` or
that has no ``data[0]``; the TypeScript SDK (eventsource-parser) joins multi-line ``data:`` fields
with ``\\n`` before ``JSON.parse`` and dispatches an event only at a blank line. Anything outside the
one-line form therefore shows up as a shorter (or empty) stream, not as an error, which is why
:func:`parse_events` reports every framing problem instead of dropping it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from specfake.http import dump_json

PREFIX = b"data: "
TERMINATOR = b"\n\n"


class SseFramingError(ValueError):
    """A stream that an official SDK would silently shorten."""


def event(obj: Any) -> bytes:
    """One event: ``data: <compact JSON>\\n\\n``. JSON escapes newlines, so it is always one line."""
    return PREFIX + dump_json(obj) + TERMINATOR


def event_raw(payload: str | bytes) -> bytes:
    """One event around an already serialised JSON payload (kept byte for byte, e.g. a recording)."""
    data = payload.encode() if isinstance(payload, str) else payload
    if b"\n" in data or b"\r" in data:
        raise SseFramingError("an event payload must be a single line")
    return PREFIX + data + TERMINATOR


@dataclass(frozen=True)
class SseEvent:
    """One event as received: its text, the parsed JSON (if any) and what is wrong with it (if any)."""

    number: int  # 1-based position in the stream
    raw: str  # the event's text without its terminating blank line
    payload: Any = None  # parsed JSON when ``error`` is None
    error: str | None = None
    kind: str | None = None  # "no-data-prefix" | "not-json" | "multi-line" | "unterminated" | "empty"

    @property
    def ok(self) -> bool:
        return self.error is None


def _blocks(text: str) -> tuple[list[str], str]:
    """Split into event blocks at blank lines; returns (complete blocks, unterminated remainder)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = text.split("\n\n")
    rest = parts.pop()  # whatever follows the last blank line
    return parts, rest


def _check(number: int, block: str, terminated: bool) -> SseEvent:
    lines = block.split("\n")
    # Blank lines beyond the terminator (``\n\n\n``) are empty blocks: report them, clients skip them.
    if block == "":
        return SseEvent(number, block, error="empty event (an extra blank line)", kind="empty")
    if len(lines) > 1:
        return SseEvent(
            number,
            block,
            error=f"multi-line event ({len(lines)} lines): each event must be one 'data: ' line",
            kind="multi-line",
        )
    line = lines[0]
    if not line.startswith("data: "):
        why = "'data:' without the space" if line.startswith("data:") else "missing 'data: ' prefix"
        return SseEvent(number, block, error=f"{why}: {line[:60]!r}", kind="no-data-prefix")
    try:
        payload = json.loads(line[6:])
    except ValueError as exc:
        return SseEvent(number, block, error=f"payload is not JSON ({exc}): {line[6:66]!r}", kind="not-json")
    if not terminated:
        return SseEvent(
            number,
            block,
            payload,
            error="unterminated event: no blank line after it (eventsource-parser never dispatches it)",
            kind="unterminated",
        )
    return SseEvent(number, block, payload)


def parse_events(data: bytes | str | Iterable[bytes | str]) -> list[SseEvent]:
    """Every event of a stream body (or of its lines/chunks, joined), each checked strictly.

    Lines may end in ``\\n`` or ``\\r\\n`` (both SDKs accept either). Pass chunks as received; a
    chunk boundary inside an event is fine.
    """
    if isinstance(data, bytes | str):
        pieces: Iterable[bytes | str] = [data]
    else:
        pieces = data
    text = "".join(p.decode("utf-8") if isinstance(p, bytes) else p for p in pieces)
    blocks, rest = _blocks(text)
    events = [_check(i + 1, block, True) for i, block in enumerate(blocks)]
    if rest.strip("\n"):
        events.append(_check(len(events) + 1, rest.rstrip("\n"), False))
    return events


def payloads(data: bytes | str | Iterable[bytes | str]) -> list[Any]:
    """The JSON payloads, raising :class:`SseFramingError` at the first framing error."""
    out: list[Any] = []
    for ev in parse_events(data):
        if ev.error is not None:
            raise SseFramingError(f"event {ev.number}: {ev.error}")
        out.append(ev.payload)
    return out


class SseSplitter:
    """Incremental splitter: feed bytes as they arrive, get back each complete event's bytes.

    Boundaries are ``\\n\\n`` or ``\\r\\n\\r\\n``; the returned bytes include the terminator, so
    joining them (plus :meth:`rest`) gives back the input exactly.
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        out: list[bytes] = []
        while True:
            cut = _boundary(self._buffer)
            if cut < 0:
                return out
            out.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]

    def rest(self) -> bytes:
        """Bytes after the last complete event (an unterminated event, if any)."""
        return self._buffer


def _boundary(buffer: bytes) -> int:
    """End (exclusive) of the first complete event, -1 if none; extra blank lines stay attached."""
    ends = [i + len(sep) for sep in (b"\n\n", b"\r\n\r\n") if (i := buffer.find(sep)) >= 0]
    return min(ends) if ends else -1
