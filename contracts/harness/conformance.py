"""Is this request (or response) what the contract allows? The findings of each side, in one place.

`RequestChecker` reports what a client got wrong. It is the fake's own request pipeline
(`specfake.pipeline.RequestPipeline.judge`), so the checker and the fake can never disagree about
what is valid: every violation becomes a `Finding` naming the rule and the field (e.g.
``body.messages[0].role``), advisories included (fields the contract does not name, which the fake,
like FastAPI, ignores).

`ResponseChecker` reports what a server got wrong: an undeclared status, a wrong content type, a
body the schema rejects, and every problem of a stream (`stream_judge`, the judgement
`check server` uses too).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

import orjson

from specfake.compiled import CompiledContract
from specfake.contract import Contract, Operation, is_event_stream, is_json, media_type
from specfake.contracts.harness.findings import Exchange, Finding, field_path, trim
from specfake.contracts.harness.stream_judge import judge_stream
from specfake.pipeline import KEY_PLACES, RequestPipeline, Violation, rule_of
from specfake.shapes import closest

__all__ = ["RequestChecker", "ResponseChecker", "closest", "rule_of"]

Query = str | bytes | Mapping[str, list[str]]


class RequestChecker:
    """``check(method, path, query, headers, body)`` -> client-side findings; compile once, reuse."""

    def __init__(self, contract: Contract, *, allow_extra_fields: bool = False) -> None:
        self.contract = contract
        self.compiled: CompiledContract = contract.compiled
        self.pipeline = RequestPipeline(self.compiled)
        self.allow_extra_fields = allow_extra_fields

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation ``method path`` (relative to the contract's prefix) calls, if any."""
        match = self.compiled.match(method.upper(), path)
        return match.target.operation if match is not None and match.target is not None else None

    def exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | str | None
    ) -> Exchange:
        """The request as a finding shows it: only the headers that matter to the contract."""
        kept = {k: v for k, v in headers.items() if k.lower() in self.compiled.declared_headers}
        return Exchange(method.upper(), url, kept, trim(body) or None)

    def check(
        self,
        method: str,
        path: str,
        query: Query = b"",
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = b"",
        *,
        url: str | None = None,
        exchange: Exchange | None = None,
    ) -> list[Finding]:
        """Every way this request breaks the contract (empty: it is fine).

        ``path`` is relative to the contract's prefix; ``headers`` may be in any case; ``url``
        (the full URL) only makes the reproducing curl command runnable.
        """
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        violations = self.pipeline.judge(
            method, path, query, lower, body, allow_extra_fields=self.allow_extra_fields
        )
        if not violations:
            return []
        method = method.upper()
        seen = exchange or self.exchange(
            method, url or (self.contract.prefix + path + _query_suffix(query)), lower, body
        )
        match = self.compiled.match(method, path)
        label = match.target.label if match is not None and match.target is not None else f"{method} {path}"
        return [_finding(v, label, method, path, lower, seen) for v in violations]


def _finding(
    v: Violation, label: str, method: str, path: str, headers: dict[str, str], seen: Exchange
) -> Finding:
    """One violation as a client-side finding: the rule as the check, a message for a reader."""
    where: str | None = field_path(v.loc)
    if v.rule == "unknown_path":
        return Finding("-", v.rule, f"{method} {path}: no such path in the contract", "client", exchange=seen)
    if v.rule == "method_not_allowed":
        message = f"{method} is not an operation of {path}; the contract allows {', '.join(v.allow)}"
        return Finding(label, v.rule, message, "client", exchange=seen)
    if v.rule == "auth":
        place, name = str(v.loc[0]), str(v.loc[-1])
        state = "is empty" if place == "header" and name in headers else "is missing"
        if v.type != "missing":  # malformed (or, with known keys, not accepted)
            message = v.msg
        elif v.challenge is not None:  # an HTTP scheme: Authorization: Bearer / Basic
            what = "bearer token" if v.challenge == "Bearer" else "basic credentials"
            message = f"the {what} (Authorization: {v.challenge} ...) {state}"
        else:
            message = f"the API key {KEY_PLACES.get(place, place)} {name} {state}"
    elif v.rule == "content_type":
        got = media_type(headers.get("content-type", "")) or "no Content-Type header"
        message, where = f"the body must be sent as application/json, got {got}", "header.content-type"
    elif v.rule == "json":
        message, where = f"the body is not valid JSON: {v.msg}", "body"
    elif v.loc == ("body",) and v.rule == "required":
        message = "the request body is required"
    elif v.rule in ("unknown_field", "unexpected_body") or v.loc[:1] == ("body",):
        message = v.msg
        where = where if v.rule != "unexpected_body" else None
    else:  # a path, query or header parameter
        message = f"{where}: {v.msg}"
    return Finding(label, v.rule, message, "client", field=where, exchange=seen)


def _query_suffix(query: Query) -> str:
    if isinstance(query, Mapping):
        text = urlencode([(k, v) for k, values in query.items() for v in values])
    else:
        text = query.decode("latin-1") if isinstance(query, bytes) else query
    text = text.lstrip("?")
    return "?" + text if text else ""


# -- responses ---------------------------------------------------------------------------------------


class ResponseChecker:
    """``check(operation, status, headers, body)`` -> server-side findings."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.compiled: CompiledContract = contract.compiled

    def check(
        self,
        operation: Operation,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        exchange: Exchange | None = None,
        cut_short: bool = False,
    ) -> list[Finding]:
        """``cut_short``: the connection dropped mid-answer, so a stream's end is not judged."""
        label = f"{operation.method} {operation.path}"
        out: list[Finding] = []

        def add(check: str, message: str, where: str | None = None) -> None:
            out.append(Finding(label, check, message, "server", field=where, exchange=exchange))

        spec = operation.responses.get(status)
        if spec is None:
            if "default" not in (operation.raw.get("responses") or {}):
                declared = ", ".join(str(s) for s in sorted(operation.responses)) or "none"
                add("status_code_conformance", f"status {status} is not declared (declared: {declared})")
            return out
        lower = {k.lower(): v for k, v in headers.items()}
        media = media_type(lower.get("content-type", ""))
        if not spec.content:
            if body.strip() and status == 204:
                add("response_body", f"status 204 must have no body, got {len(body)} bytes")
            return out
        declared_types = [media_type(t) for t in spec.content]
        if media not in declared_types and not (is_json(media) and any(is_json(t) for t in declared_types)):
            add(
                "content_type_conformance",
                f"Content-Type {media or '(none)'} is not declared for {status} "
                f"(declared: {', '.join(declared_types)})",
                "header.content-type",
            )
            return out
        if is_event_stream(media):
            stream = self.compiled.operation(operation.operation_id).stream
            for problem in judge_stream(self.compiled, stream, body, cut_short=cut_short) if stream else ():
                event = () if problem.event is None else (f"event[{problem.event}]",)
                add(problem.check, problem.message, field_path((*event, *problem.loc)) or None)
            return out
        schema = next(s for t, s in spec.content.items() if is_json(t) or media_type(t) == media)
        try:
            document = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError as exc:
            add("response_schema_conformance", f"the body is not valid JSON: {exc}", "body")
            return out
        if not schema:
            return out
        validator = self.compiled.validator(schema)
        if not validator.is_valid(document):
            for error in validator.errors(document, ("body",)):
                add("response_schema_conformance", error.msg, field_path(error.loc))
        return out
