"""schemathesis checks for server-sent event streams, strict where the official SDKs are lenient.

schemathesis validates event payloads against the contract but reads events the forgiving SSE way.
These three checks judge the body with `stream_judge` (the SDKs' strict framing, the same judgement
`check client --proxy` uses) and report the first problem of each kind with its event's number:

``sse_framing``
    a line without ``data: ``, a payload that is not single-line JSON, an unterminated event, and a
    stream that ends without a final event carrying a non-null ``finish_reason`` (only where the
    contract's chunk schema has a ``finish_reason`` property: the rule is read from the contract).
``sse_chunk_schema``
    every event's payload against the chunk schema the contract names for the operation's
    ``text/event-stream`` response (compiled once per operation).
``sse_terminator``
    a stream that does not end with the terminator event the contract's example ends with (e.g.
    ``data: [DONE]``); only where the example shows one.

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
from typing import Any

import schemathesis
from schemathesis.core.failures import Failure, FailureGroup, Severity

from specfake.compiled import CompiledContract, StreamSpec
from specfake.contract import Contract, is_event_stream
from specfake.contracts.harness.stream_judge import (
    FRAMING_CHECK,
    SCHEMA_CHECK,
    TERMINATOR_CHECK,
    StreamProblem,
    judge_stream,
)

PROBES_PER_OPERATION = 3


class StreamFailure(Failure):
    """One stream problem; one finding per operation and kind of problem."""

    code = "SF901"
    kind_title = "Stream breaks the contract"
    __slots__ = ("check", "field", "kind", "probe_case_id")

    def __init__(
        self, *, operation: str, title: str, message: str, kind: str, check: str, field: str | None = None
    ) -> None:
        super().__init__(operation=operation, title=title, message=message, severity=Severity("high"))
        self.kind = kind
        self.check = check  # the rule (stream_judge): the schemathesis check that raises it
        self.field = field
        self.probe_case_id: str | None = None  # the streamed request, when a probe found it

    @property
    def _unique_key(self) -> str:
        return self.kind

    @classmethod
    def of(cls, operation: str, problem: StreamProblem) -> StreamFailure:
        return cls(
            operation=operation,
            title=problem.title,
            message=problem.message,
            kind=problem.kind,
            check=problem.check,
            field=problem.field,
        )


@dataclass
class StreamRule:
    """One streaming operation of a contract: its label and what the contract says of its events."""

    compiled: CompiledContract
    label: str  # "POST /chat"
    spec: StreamSpec


def stream_rules(contract: Contract) -> dict[str, StreamRule]:
    """``"METHOD /path"`` -> rule, for every operation documenting a ``text/event-stream`` response."""
    compiled = contract.compiled
    return {
        op.label: StreamRule(compiled, op.label, op.stream)
        for op in compiled.operations.values()
        if op.stream is not None
    }


def stream_problems(rule: StreamRule, body: bytes, *, cut_short: bool = False) -> list[StreamFailure]:
    """The first problem of each kind in one stream body (schemathesis keeps one per kind)."""
    found: dict[str, StreamFailure] = {}
    for problem in judge_stream(rule.compiled, rule.spec, body, cut_short=cut_short):
        found.setdefault(problem.kind, StreamFailure.of(rule.label, problem))
    return list(found.values())


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
    return is_event_stream((response.headers.get("content-type") or [""])[0])


def _problems(ctx: Any, response: Any, case: Any) -> list[StreamFailure] | None:
    """The case's stream problems (its own stream, or a probe's), computed once for all three checks;
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
    flag = rule.spec.flag
    if flag is None or not 200 <= response.status_code < 300 or not isinstance(case.body, dict):
        return None
    if case.body.get(flag) is True:
        return None  # asked for a stream and got JSON: content_type_conformance's finding, not ours
    label = case.operation.label
    with _LOCK:
        if attached.probes.get(label, 0) >= PROBES_PER_OPERATION:
            return None
        attached.probes[label] = attached.probes.get(label, 0) + 1
    probe = case.derive(keep_auth=True)
    probe.body = {**case.body, flag: True}
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
    _raise([p for p in problems if p.check == FRAMING_CHECK])
    return None


@schemathesis.check
def sse_chunk_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every event's payload against the contract's chunk schema."""
    problems = _problems(ctx, response, case)
    if problems is None:
        return True
    _raise([p for p in problems if p.check == SCHEMA_CHECK])
    return None


@schemathesis.check
def sse_terminator(ctx: Any, response: Any, case: Any) -> bool | None:
    """The stream ends with the contract's terminator event, where its example shows one."""
    problems = _problems(ctx, response, case)
    if problems is None:
        return True
    _raise([p for p in problems if p.check == TERMINATOR_CHECK])
    return None
