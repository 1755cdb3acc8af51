"""One judgement of a server-sent event stream, for every checker that reads one.

The official SDKs drop any event they cannot read (a line without ``data: ``, a payload that is not
JSON), so a broken stream shows up in a client as a shorter answer, never as an error. This reads
a stream body as the SDKs' strict framing defines it (`specfake.streaming.sse.parse_events`) and
finds every problem, each with its event's number:

- framing: a line without ``data: ``, a payload that is not single-line JSON, an unterminated
  event, an empty stream, and a stream whose well-formed last event carries no non-null
  ``finish_reason`` (only where the contract's chunk schema has that property);
- terminator: where the contract's example ends its stream with an event whose data is not JSON
  (``data: [DONE]``), a stream that does not end with that event (`StreamSpec.terminator`). That
  event is not a chunk: it is not judged as JSON, and the chunk before it is the final one;
- schema: every event's payload against the chunk schema the contract names.

Each problem names its rule (`StreamProblem.check`: ``sse_framing``, ``sse_chunk_schema``,
``sse_terminator``), the one name both paths report it under. `check server` (schemathesis,
``streams.py``) reports the first problem of each kind; `check client --proxy` and the response
checker report them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from specfake.compiled import CompiledContract, StreamSpec, values_at
from specfake.errors import Loc, field_path
from specfake.streaming.sse import SseEvent, parse_events

SCHEMA = "schema"
TERMINATOR = "terminator"
# The rules, as `check server` and `check client --proxy` both name their findings.
FRAMING_CHECK = "sse_framing"
SCHEMA_CHECK = "sse_chunk_schema"
TERMINATOR_CHECK = "sse_terminator"
CHECKS = (FRAMING_CHECK, SCHEMA_CHECK, TERMINATOR_CHECK)
# An answer (a stream, mostly) the server stopped sending mid-way: not judged on its end, reported
# under this one name by both paths (the proxy sees the cut, schemathesis a broken chunked read).
CONNECTION_CHECK = "connection"
DROPPED = "the server dropped the connection mid-answer"


@dataclass(frozen=True)
class StreamProblem:
    """``kind``: ``schema``, ``terminator`` or ``framing:<what>`` (``framing:not-json``,
    ``framing:empty-stream``, ``framing:no-final``...); ``event``: its 1-based number (None for
    the stream as a whole); ``loc``: where in the event's payload."""

    kind: str
    title: str
    message: str
    event: int | None = None
    loc: Loc = ()

    @property
    def framing(self) -> bool:
        return self.kind not in (SCHEMA, TERMINATOR)

    @property
    def check(self) -> str:
        """The rule this problem breaks, the finding's check name on every path."""
        if self.kind == SCHEMA:
            return SCHEMA_CHECK
        return TERMINATOR_CHECK if self.kind == TERMINATOR else FRAMING_CHECK

    @property
    def field(self) -> str | None:
        """The offending field, dotted (``data[0].finish_reason``), when there is one."""
        return field_path(self.loc) or None


def judge_stream(
    compiled: CompiledContract, spec: StreamSpec, body: bytes, *, cut_short: bool = False
) -> list[StreamProblem]:
    """Every problem of one stream body, in event order. ``cut_short``: the reader stopped before
    the end (a proxy's dropped connection, a capped read), so the stream's end is not judged."""
    try:
        events = parse_events(body)
    except UnicodeDecodeError as exc:
        message = f"the stream is not UTF-8: {exc}"
        return [StreamProblem("framing:not-utf8", "Malformed SSE stream", message)]
    if cut_short and events and not events[-1].ok:
        events = events[:-1]  # the reader stopped mid-event: not the server's fault
    validator = compiled.validator(spec.chunk_schema) if spec.chunk_schema is not None else None
    out: list[StreamProblem] = []
    ends = [ev.number for ev in events if _is_terminator(ev, spec.terminator)]
    chunks = [ev for ev in events if ev.number not in ends]
    for ev in chunks:
        if not ev.ok:
            message = f"event {ev.number}: {ev.error}"
            out.append(StreamProblem(f"framing:{ev.kind}", "Malformed SSE event", message, ev.number))
            if ev.payload is None:
                continue
        if validator is not None and not validator.is_valid(ev.payload):
            for error in validator.errors(ev.payload, ()):
                where = field_path(error.loc)
                message = f"event {ev.number}: {error.msg}" + (f" at {where}" if where else "")
                title = "SSE event violates the chunk schema"
                out.append(StreamProblem(SCHEMA, title, message, ev.number, error.loc))
    if not events:
        message = "the stream ended without any event"
        out.append(StreamProblem("framing:empty-stream", "Empty SSE stream", message))
    elif spec.final_path is not None and not cut_short and (not chunks or chunks[-1].ok):
        # A malformed last event is reported as such: what it carried (the final event?) is unknown.
        last = _last_payload(chunks)
        if last is None or not any(v is not None for v in values_at(last[1], spec.final_path)):
            number = last[0] if last else len(events)
            where = field_path(spec.final_path)
            message = f"event {number} (the last) has no non-null {where}: "
            message += "the stream ended before its final event"
            title = "SSE stream has no final event"
            out.append(StreamProblem("framing:no-final", title, message, number, spec.final_path))
    if spec.terminator is not None and events and not cut_short and events[-1].number not in ends:
        message = f"the stream ended without its terminator event 'data: {spec.terminator}'"
        if ends:
            message += f" (event {ends[0]} is the terminator, but {len(events) - ends[0]} event(s) follow it)"
        out.append(StreamProblem(TERMINATOR, "SSE stream has no terminator", message, len(events)))
    return out


def _is_terminator(ev: SseEvent, terminator: str | None) -> bool:
    """``ev`` is the contract's terminator event (``data: [DONE]``), framed as one event."""
    return terminator is not None and ev.kind == "not-json" and ev.raw == f"data: {terminator}"


def _last_payload(events: list[SseEvent]) -> tuple[int, object] | None:
    for ev in reversed(events):
        if ev.payload is not None:
            return ev.number, ev.payload
    return None
