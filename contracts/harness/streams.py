"""schemathesis checks for server-sent event streams, strict where the official SDKs are lenient.

The SDKs drop any event they cannot read (a line without ``data: ``, a payload that is not JSON),
so a broken stream shows up in a client as a shorter answer, never as an error. schemathesis
validates event payloads against the contract but reads events the forgiving SSE way. These two
checks read the body as the SDKs' strict framing defines it (`specfake.streaming.sse.parse_events`)
and report every problem with the event's number:

``sse_framing``
    a line without ``data: ``, a payload that is not single-line JSON, an unterminated event, and a
    stream that ends without a final event carrying a non-null ``finish_reason`` (only where the
    contract's chunk schema has a ``finish_reason`` property: the rule is read from the contract).
``sse_chunk_schema``
    every event's payload against the chunk schema the contract names for the operation's
    ``text/event-stream`` response (compiled once per operation).

schemathesis rarely generates a request that both passes a server's semantic checks and asks for
a stream, so the checks also probe: when a streaming operation answers a request with a 2xx JSON
body, the same request is sent again with the contract's stream flag on (``x-specfake-stream``, else
a boolean ``stream`` body property), a few times per operation and run, and that stream is checked.
The probe is recorded as a child of the case, so its request is the one a finding reproduces.

The checks are registered with schemathesis globally (that is its API) but act only on schemas a
`check server` run attached with `attach`, and only on ``text/event-stream`` responses.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import schemathesis
from schemathesis.core.failures import Failure, FailureGroup, Severity

from specfake.contract import Contract, Operation
from specfake.contracts.harness.findings import field_path
from specfake.streaming.sse import SseEvent, parse_events
from specfake.validation import SchemaValidator, registry_for

SSE = "text/event-stream"
FINAL_FIELD = "finish_reason"
WILDCARD = "*"
PROBES_PER_OPERATION = 3


class StreamFailure(Failure):
    """One stream problem; one finding per operation and kind of problem."""

    code = "SF901"
    kind_title = "Stream breaks the contract"
    __slots__ = ("field", "kind", "probe_case_id")

    def __init__(
        self, *, operation: str, title: str, message: str, kind: str, field: str | None = None
    ) -> None:
        super().__init__(operation=operation, title=title, message=message, severity=Severity.HIGH)
        self.kind = kind
        self.field = field
        self.probe_case_id: str | None = None  # the streamed request, when a probe found it

    @property
    def _unique_key(self) -> str:
        return self.kind


@dataclass
class StreamRule:
    """What the contract says about one streaming operation's events."""

    contract: Contract
    operation: Operation
    chunk_schema: dict[str, Any] | None  # the JSON payload of one event, None when undocumented
    final_path: list[str] | None  # where finish_reason sits in a chunk, e.g. ["data", "*", "finish_reason"]
    flag: str | None  # the request body's boolean that asks for a stream

    @cached_property
    def validator(self) -> SchemaValidator | None:
        if self.chunk_schema is None:
            return None
        return SchemaValidator(self.contract, self.chunk_schema, registry_for(self.contract))


def stream_rules(contract: Contract) -> dict[str, StreamRule]:
    """``"METHOD /path"`` -> rule, for every operation documenting a ``text/event-stream`` response."""
    rules: dict[str, StreamRule] = {}
    for op in contract.operations:
        event_schema = next(
            (spec.content[SSE] for spec in op.responses.values() if SSE in spec.content), None
        )
        if event_schema is None:
            continue
        chunk = chunk_schema_of(contract, event_schema)
        final = find_property(contract, chunk, FINAL_FIELD) if chunk is not None else None
        rules[f"{op.method} {op.path}"] = StreamRule(contract, op, chunk, final, stream_flag(contract, op))
    return rules


def stream_flag(contract: Contract, op: Operation) -> str | None:
    """specfake's ``x-specfake-stream`` extension, else a boolean ``stream`` body property."""
    if op.stream_flag:
        return op.stream_flag
    body = contract.resolve(op.body_schema or {})
    prop = contract.resolve((body.get("properties") or {}).get("stream") or {})
    return "stream" if prop.get("type") == "boolean" else None


def chunk_schema_of(contract: Contract, event_schema: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of one event's JSON payload: the ``contentSchema`` of the event's ``data`` field
    (OpenAPI 3.1's way to describe SSE), else None (framing is still checked)."""
    event_schema = contract.resolve(event_schema)
    data = contract.resolve((event_schema.get("properties") or {}).get("data") or {})
    schema = data.get("contentSchema")
    return schema if isinstance(schema, dict) else None


def find_property(
    contract: Contract, schema: Any, name: str, depth: int = 0, seen: frozenset[str] = frozenset()
) -> list[str] | None:
    """The path to the first property called ``name`` (arrays as ``*``), breadth-first by nesting."""
    if depth > 6 or not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return (
            None
            if ref in seen
            else find_property(contract, contract.resolve(schema), name, depth, seen | {ref})
        )
    properties = schema.get("properties") or {}
    if name in properties:
        return [name]
    children: list[tuple[list[str], Any]] = [([key], sub) for key, sub in properties.items()]
    if "items" in schema:
        children.append(([WILDCARD], schema["items"]))
    for keyword in ("allOf", "anyOf", "oneOf"):
        children += [([], branch) for branch in schema.get(keyword) or []]
    for prefix, sub in children:
        found = find_property(contract, sub, name, depth + 1, seen)
        if found is not None:
            return prefix + found
    return None


def values_at(payload: Any, path: list[str]) -> list[Any]:
    """Every value at ``path`` (``*`` walks array items); missing keys give nothing."""
    nodes = [payload]
    for part in path:
        nxt: list[Any] = []
        for node in nodes:
            if part == WILDCARD and isinstance(node, list):
                nxt.extend(node)
            elif isinstance(node, dict) and part in node:
                nxt.append(node[part])
        nodes = nxt
    return nodes


def stream_problems(rule: StreamRule, body: bytes, *, cut_short: bool = False) -> list[StreamFailure]:
    """Every framing and schema problem of one stream body, at most one per kind (the first)."""
    label = f"{rule.operation.method} {rule.operation.path}"
    events = parse_events(body)
    if cut_short and events and not events[-1].ok:
        events = events[:-1]  # the reader stopped mid-event: not the server's fault
    found: dict[str, StreamFailure] = {}

    def report(kind: str, title: str, message: str, field: str | None = None) -> None:
        found.setdefault(
            kind, StreamFailure(operation=label, title=title, message=message, kind=kind, field=field)
        )

    for ev in events:
        if not ev.ok:
            report(f"framing:{ev.kind}", "Malformed SSE event", f"event {ev.number}: {ev.error}")
            if ev.payload is None:
                continue
        if rule.validator is not None:
            errors = rule.validator.errors(ev.payload, [])
            if errors:
                first = errors[0]
                where = field_path(first.get("loc") or [])
                report(
                    "schema",
                    "SSE event violates the chunk schema",
                    f"event {ev.number}: {first.get('msg')}" + (f" at {where}" if where else ""),
                    where or None,
                )
    if not events:
        report("framing:empty-stream", "Empty SSE stream", "the stream ended without any event")
    elif rule.final_path is not None and not cut_short:
        last = _last_payload(events)
        if last is None or not any(v is not None for v in values_at(last[1], rule.final_path)):
            number = last[0] if last else len(events)
            report(
                "framing:no-final",
                "SSE stream has no final event",
                f"event {number} (the last) has no non-null {field_path(list(rule.final_path))}: "
                "the stream ended before its final event",
                field_path(list(rule.final_path)),
            )
    return list(found.values())


def _last_payload(events: list[SseEvent]) -> tuple[int, Any] | None:
    for ev in reversed(events):
        if ev.payload is not None:
            return ev.number, ev.payload
    return None


# --- the schemathesis side ------------------------------------------------------------------------


@dataclass
class _Attached:
    rules: dict[str, StreamRule]
    probes: dict[str, int]  # operation label -> probes sent
    problems: dict[str, tuple[list[StreamFailure], str | None]]  # case id -> (problems, probe case id)


_ATTACHED: dict[int, _Attached] = {}
_LOCK = threading.Lock()


def attach(schema: Any, contract: Contract) -> None:
    """Turn the stream checks on for one loaded schemathesis schema."""
    with _LOCK:
        _ATTACHED[id(schema)] = _Attached(stream_rules(contract), {}, {})


def detach(schema: Any) -> None:
    with _LOCK:
        _ATTACHED.pop(id(schema), None)


def _is_sse(response: Any) -> bool:
    content_type = (response.headers.get("content-type") or [""])[0]
    return content_type.split(";", 1)[0].strip().lower() == SSE


def _problems(ctx: Any, response: Any, case: Any) -> list[StreamFailure] | None:
    """The case's stream problems (its own stream, or a probe's), computed once for both checks;
    None when there is no stream to judge."""
    attached = _ATTACHED.get(id(case.operation.schema))
    rule = attached.rules.get(case.operation.label) if attached else None
    if attached is None or rule is None:
        return None
    with _LOCK:
        cached = attached.problems.get(case.id)
    if cached is None:
        probe_id: str | None = None
        if _is_sse(response):
            stream = response
        else:
            probed = _probe(ctx, response, case, rule, attached)
            if probed is None:
                return None
            stream, probe_id = probed
        problems = stream_problems(rule, stream.content, cut_short=stream.stream_cut_short)
        for problem in problems:
            problem.probe_case_id = probe_id
        cached = (problems, probe_id)
        with _LOCK:
            attached.problems[case.id] = cached
    return cached[0]


def _probe(
    ctx: Any, response: Any, case: Any, rule: StreamRule, attached: _Attached
) -> tuple[Any, str] | None:
    """Send the accepted JSON request again, asking for a stream (a few times per operation)."""
    if rule.flag is None or not 200 <= response.status_code < 300 or not isinstance(case.body, dict):
        return None
    if case.body.get(rule.flag) is True:
        return None  # asked for a stream and got JSON: content_type_conformance's finding, not ours
    label = case.operation.label
    with _LOCK:
        if attached.probes.get(label, 0) >= PROBES_PER_OPERATION:
            return None
        attached.probes[label] = attached.probes.get(label, 0) + 1
    probe = case.derive(keep_auth=True)
    probe.body = {**case.body, rule.flag: True}
    ctx.internals.record_case(parent_id=case.id, case=probe)
    streamed = case.operation.schema.transport.send(probe, **(ctx.internals.transport_kwargs or {}))
    ctx.internals.record_response(case_id=probe.id, response=streamed)
    if not 200 <= streamed.status_code < 300 or not _is_sse(streamed):
        return None  # the server may answer a stream request differently; not a framing matter
    return streamed, probe.id


def _raise(problems: list[StreamFailure]) -> None:
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise FailureGroup(problems)


@schemathesis.check
def sse_framing(ctx: Any, response: Any, case: Any) -> bool | None:
    """Strict SSE framing and a final ``finish_reason`` event (see the module docstring)."""
    problems = _problems(ctx, response, case)
    if problems is None:
        return True  # skipped: no stream of an attached contract
    _raise([p for p in problems if p.kind != "schema"])
    return None


@schemathesis.check
def sse_chunk_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every event's payload against the contract's chunk schema."""
    problems = _problems(ctx, response, case)
    if problems is None:
        return True
    _raise([p for p in problems if p.kind == "schema"])
    return None
