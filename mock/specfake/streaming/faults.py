"""Faults inside a stream, chosen per request, for reproducing a client's edge cases.

Header ``X-Specfake-Stream-Fault`` (or the same text from an admin rule), ``;``-separated, each
entry repeatable; chunk numbers count from 1 and every fault is deterministic:

``cut-after=N``
    send N chunks, then drop the connection: no terminating chunk, so the client sees an
    incomplete chunked body (httpx ``RemoteProtocolError``, aiohttp ``ClientPayloadError``).
    ``cut-after=0`` drops it right after the headers. Past the end: cut after the last chunk.
``stall=N:SECONDS``
    wait SECONDS of real time (not scaled by ``--stream-speed``) before chunk N; the chunks after
    it keep their recorded gaps. Past the end: the stall happens before the body ends.
``error-at=N``
    instead of chunk N, send the error event ``data: {"detail": "..."}`` (the fake's error shape)
    and end the stream cleanly: the remaining chunks and the finish_reason never come. The
    official Python SDK drops that event silently (it has no ``data[0]``); that is the point.
``malformed-at=N``
    before chunk N, insert the line ``data: {"data":[{"output":`` (truncated JSON); the stream
    then goes on. The SDKs drop it; the text still concatenates.

A stream cut or ended by an error is not complete: the generation's ``on_complete`` never runs, so
nothing is stored (the fake behaves as a service that failed before it could log).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from specfake.errors import parse_header
from specfake.streaming.sse import event

HEADER = "x-specfake-stream-fault"
MAX_STALL_S = 300.0
MALFORMED = b'data: {"data":[{"output":\n\n'
_ENTRY = re.compile(r"^\s*([a-z-]+)\s*=\s*(.+?)\s*$")
SYNTAX = "cut-after=N, stall=N:SECONDS, error-at=N, malformed-at=N (';'-separated)"


class StreamCut(Exception):
    """Raised inside a streamed body to drop the connection mid-stream.

    Raw ASGI has no "abort" message: an exception after ``http.response.start`` is how the app
    tells uvicorn to close the socket without the terminating chunk (it logs it at ERROR; the log
    filter below, installed when the first cut is made, keeps these intentional cuts quiet).
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        quiet_cuts()


class _QuietCuts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        group = getattr(exc, "exceptions", None)  # an ExceptionGroup (Starlette's task groups)
        if group:
            return not all(isinstance(e, StreamCut) for e in group)
        return not isinstance(exc, StreamCut)


def quiet_cuts() -> None:
    """Keep uvicorn from logging a traceback for each intentional cut (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietCuts) for f in logger.filters):
        logger.addFilter(_QuietCuts())


@dataclass(frozen=True)
class Step:
    """One thing a stream does: wait until ``at`` (recorded seconds, scaled by the speed) plus
    ``stall`` (real seconds), then send ``payload`` (or cut, when ``payload`` is None)."""

    at: float
    payload: bytes | None
    stall: float = 0.0


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    complete: bool  # False when the stream is cut or ends in an error event


@dataclass(frozen=True)
class StreamFaults:
    cut_after: int | None = None
    stalls: tuple[tuple[int, float], ...] = ()
    error_at: int | None = None
    malformed_at: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> StreamFaults:
        """Parse the header's text; ValueError names the offending entry."""
        cut: int | None = None
        error: int | None = None
        stalls: list[tuple[int, float]] = []
        malformed: list[int] = []
        for entry in filter(str.strip, text.split(";")):
            found = _ENTRY.match(entry)
            if not found:
                raise ValueError(f"cannot read {entry.strip()!r}; expected {SYNTAX}")
            name, value = found.groups()
            if name == "cut-after":
                cut = _number(name, value, minimum=0)
            elif name == "error-at":
                error = _number(name, value)
            elif name == "malformed-at":
                malformed.append(_number(name, value))
            elif name == "stall":
                where, sep, seconds = value.partition(":")
                if not sep:
                    raise ValueError(f"stall={value}: expected stall=N:SECONDS")
                try:
                    pause = float(seconds)
                except ValueError:
                    raise ValueError(f"stall={value}: {seconds!r} is not a number of seconds") from None
                if not 0 <= pause <= MAX_STALL_S:
                    raise ValueError(f"stall={value}: seconds must be between 0 and {MAX_STALL_S:g}")
                stalls.append((_number(name, where), pause))
            else:
                raise ValueError(f"unknown stream fault {name!r}; expected {SYNTAX}")
        return cls(cut, tuple(stalls), error, tuple(malformed))

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> StreamFaults | None:
        """The faults a request asks for (lower-cased header names, as ``Call.headers``), or None.

        A header that cannot be read is a 422 naming it, as FastAPI answers a bad header.
        """
        return parse_header(headers, HEADER, cls.parse)

    def __str__(self) -> str:
        parts = [f"stall={n}:{s:g}" for n, s in self.stalls]
        parts += [f"malformed-at={n}" for n in self.malformed_at]
        if self.error_at is not None:
            parts.append(f"error-at={self.error_at}")
        if self.cut_after is not None:
            parts.append(f"cut-after={self.cut_after}")
        return ";".join(parts)

    def plan(self, timeline: Sequence[tuple[float, bytes]], *, cut_at_end: bool = False) -> Plan:
        """Apply the faults to (seconds since start, event bytes) pairs."""
        return build_plan(timeline, self, cut_at_end=cut_at_end)


def _number(name: str, value: str, minimum: int = 1) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}={value}: expected a whole number") from None
    if number < minimum:
        raise ValueError(f"{name}={value}: chunk numbers start at {minimum}")
    return number


def error_event(number: int) -> bytes:
    return event({"detail": f"Stream interrupted: the model provider failed at chunk {number}"})


def build_plan(
    timeline: Sequence[tuple[float, bytes]], faults: StreamFaults | None, *, cut_at_end: bool = False
) -> Plan:
    """The steps of a stream: its events, with faults applied. ``cut_at_end``: a recording whose
    connection dropped after its last chunk is replayed with the same cut."""
    total = len(timeline)
    end_at = timeline[-1][0] if timeline else 0.0
    if faults is None:
        plain = [Step(at, payload) for at, payload in timeline]
        if cut_at_end:
            plain.append(Step(end_at, None))
        return Plan(tuple(plain), not cut_at_end)
    stalls: dict[int, float] = {}
    for number, seconds in faults.stalls:
        position = min(number, total + 1)
        stalls[position] = stalls.get(position, 0.0) + seconds
    malformed = {min(n, total + 1) for n in faults.malformed_at}
    error_at = min(faults.error_at, total + 1) if faults.error_at is not None else None
    cut_after = min(faults.cut_after, total) if faults.cut_after is not None else None
    if cut_at_end and cut_after is None:
        cut_after = total
    steps: list[Step] = []
    complete = True
    for number in range(1, total + 2):  # total + 1 stands for "the end of the stream"
        at = timeline[number - 1][0] if number <= total else end_at
        stall = stalls.get(number, 0.0)
        if cut_after is not None and number == cut_after + 1:
            steps.append(Step(at, None, stall))
            complete = False
            break
        if number in malformed:
            steps.append(Step(at, MALFORMED, stall))
            stall = 0.0
        if number == error_at:
            steps.append(Step(at, error_event(number), stall))
            complete = False
            break
        if number <= total:
            steps.append(Step(at, timeline[number - 1][1], stall))
        elif stall:
            steps.append(Step(at, b"", stall))  # a stall before the body ends
    return Plan(tuple(steps), complete)
