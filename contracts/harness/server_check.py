"""``specfake check server``: test any running implementation of a contract with schemathesis.

schemathesis (as a library: ``schemathesis.engine.from_schema(schema).execute()``) runs its four
phases (examples, coverage, fuzzing, stateful links) with every check on, plus the harness's own
SSE checks (`streams`); then the domain invariants (`invariants`) run as hypothesis state
machines. Every failure becomes a `Finding` with the request and response, a curl command and the
seed. The built-in contracts' allowances (`profiles.ALLOWANCES`) keep a correct server clean.

Same seed, same run: schemathesis's seed is fixed, its example database and cache are off, and
duplicate failures are reduced to one per operation, check and kind, always the one with the
shortest reproduction, so thread scheduling cannot change what is reported.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from specfake.compiled import SSE
from specfake.contract import Contract, ContractError, load_contract, resolve_pointer
from specfake.contracts.harness import profiles, progress
from specfake.contracts.harness.findings import Exchange, Finding, Report, field_path, trim
from specfake.contracts.harness.stream_judge import CONNECTION_CHECK, DROPPED

MESSAGE_LIMIT = 1500
# Request headers that do not reproduce anything (schemathesis's random per-case id).
NOISE_HEADERS = frozenset({"x-schemathesis-testcaseid"})
REQUIRED = re.compile(r'^"(.+)" is a required property$')
# What schemathesis's positive_data_acceptance accepts without being told (besides 2xx, 3xx, 5xx).
ALWAYS_POSITIVE = frozenset({"401", "403", "404", "409", "429"})
TOOL = "check server"


def auth_headers(contract: Contract, api_key: str | None) -> dict[str, str]:
    """The headers that carry ``api_key`` for the contract's security schemes: every apiKey header,
    spelled as the contract spells it, and ``Authorization: Bearer``/``Basic`` for HTTP schemes
    (schemathesis's ignored_auth check removes a header by that exact name, ``Authorization`` for
    HTTP schemes), a ``Cookie`` for cookie keys. A query-string key is not sent."""
    return contract.compiled.auth_headers(api_key) if api_key else {}


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> ``("Name", "value")``; ValueError names the bad entry."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ValueError(f"--header {text!r}: expected 'NAME: VALUE'")
    return name.strip(), value.strip()


def schemathesis_config(
    contract: Contract,
    base_url: str,
    headers: dict[str, str],
    *,
    seed: int,
    profile: profiles.Profile,
    max_examples: int | None,
    workers: int,
) -> dict[str, Any]:
    """The run's schemathesis configuration, as the dict a ``schemathesis.toml`` would hold."""
    allowances = profiles.allowances_for(contract.name)
    config: dict[str, Any] = {
        "seed": seed,
        "base-url": base_url.rstrip("/"),
        "headers": headers,
        "workers": workers,
        "max-stream-events": profile.max_stream_events,
        "request-timeout": profile.request_timeout,
        "cache": {"enabled": False},  # no memory of earlier runs: same seed, same run
        "output": {"sanitization": {"enabled": False}},  # curl commands carry the real headers
        "checks": {"enabled": True},
        "generation": {"max-examples": max_examples or profile.max_examples, "database": "none"},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True, "generation": {"mode": profile.coverage_mode}},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": profile.stateful_max_steps},
        },
    }
    by_statuses: dict[tuple[str, ...], list[str]] = {}
    for op_id, statuses in allowances.positive_statuses.items():
        kept = declared_statuses(contract, op_id, statuses)
        if kept:
            by_statuses.setdefault(kept, []).append(op_id)
    config["operations"] = [
        {
            "include-operation-id": sorted(op_ids),
            "checks": {"positive_data_acceptance": {"expected-statuses": list(statuses)}},
        }
        for statuses, op_ids in sorted(by_statuses.items())
    ]
    return config


def declared_statuses(contract: Contract, operation_id: str, statuses: Sequence[str]) -> tuple[str, ...]:
    """``statuses`` an allowance lets a schema-valid request get, less any specific code the
    operation does not declare: the contract decides which refusals are answers at all (a 422 for
    a rule the schema cannot state needs the operation's declared 422). Ranges and the codes
    positive_data_acceptance allows anyway stay; () when the contract has no such operation."""
    op = next((o for o in contract.operations if o.operation_id == operation_id), None)
    if op is None:
        return ()
    if "default" in (op.raw.get("responses") or {}):
        return tuple(statuses)
    return tuple(s for s in statuses if not s.isdigit() or s in ALWAYS_POSITIVE or int(s) in op.responses)


def load_schema(contract: Contract, config: dict[str, Any], include: Sequence[str] | None) -> Any:
    """The contract as a schemathesis schema, restricted to ``include`` and with its allowances' hooks."""
    import schemathesis
    from schemathesis.config import SchemathesisConfig

    document = orjson.loads(contract.document_bytes)  # a copy: examples are added, schemathesis annotates
    allowances = profiles.allowances_for(contract.name)
    for op in contract.operations:
        add_examples(document, op.method, op.path, allowances.request_examples.get(op.operation_id, ()))
    admit_terminators(document, contract)
    schema = schemathesis.openapi.from_dict(document, config=SchemathesisConfig.from_dict(config))
    if include:
        from schemathesis.filters import FilterSet

        # The schema's own `include()` would OR with the config's filter, which takes every operation.
        wanted = FilterSet()
        wanted.include(operation_id=list(include))
        schema.filter_set = schema.config.operations.filter_set_with(include=wanted)
    for name, hook in allowances.hooks.items():
        schema.hook(name)(hook)
    return schema


def add_examples(document: dict[str, Any], method: str, path: str, bodies: Sequence[Any]) -> None:
    """Add request bodies to an operation's JSON examples (schemathesis's examples phase sends them)."""
    if not bodies:
        return
    operation = document["paths"][path][method.lower()]
    body = operation.get("requestBody") or {}
    if "$ref" in body:
        body = operation["requestBody"] = json_copy(resolve_pointer(document, body["$ref"]))
    media = body.setdefault("content", {}).setdefault("application/json", {})
    examples = media.setdefault("examples", {})
    if "example" in media:
        examples["contract"] = {"value": media.pop("example")}
    for number, value in enumerate(bodies, 1):
        examples[f"specfake-{number}"] = {"value": value}


def admit_terminators(document: dict[str, Any], contract: Contract) -> None:
    """schemathesis checks every SSE event against the event schema, the terminator event too
    (``data: [DONE]``: its data is no JSON chunk). Where the contract declares one (the last event
    of its stream example, `StreamSpec.terminator`; `sse_terminator` requires it), the event's
    ``data`` in schemathesis's copy of the document may be that terminator as well."""
    for op in contract.operations:
        spec = contract.compiled.operation(op.operation_id).stream
        if spec is None or spec.terminator is None:
            continue
        responses = document["paths"][op.path][op.method.lower()].get("responses") or {}
        for code, response in list(responses.items()):
            if "$ref" in response:
                response = responses[code] = json_copy(resolve_pointer(document, response["$ref"]))
            media = (response.get("content") or {}).get(SSE)
            if not isinstance(media, dict):
                continue
            key = "itemSchema" if isinstance(media.get("itemSchema"), dict) else "schema"
            event = media.get(key)
            if isinstance(event, dict) and "$ref" in event:
                event = json_copy(resolve_pointer(document, event["$ref"]))
            properties = event.get("properties") if isinstance(event, dict) else None
            if isinstance(event, dict) and isinstance(properties, dict) and "data" in properties:
                data = {"anyOf": [properties["data"], {"const": spec.terminator}]}
                media[key] = {**event, "properties": {**properties, "data": data}}


def json_copy(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def ensure_reachable(base_url: str) -> None:
    """Fail fast (RuntimeError) when nothing answers at ``base_url``: every check would fail alike."""
    import httpx

    try:
        httpx.get(base_url, timeout=10.0)
    except httpx.HTTPError as exc:
        raise RuntimeError(f"cannot reach {base_url}: {exc}") from exc


def check_server(
    contract: str | Path | Contract,
    base_url: str,
    *,
    api_key: str | None = None,
    headers: dict[str, str] | None = None,
    seed: int = 0,
    profile: str = "thorough",
    max_examples: int | None = None,
    workers: int = 1,
    include: Sequence[str] | None = None,
    invariants: bool = True,
    log: Any = None,
) -> Report:
    """Test the server at ``base_url`` (the contract's base, e.g. ``http://h:p/humanloop/v4``).

    ``log``: a file-like for progress notes (e.g. invariants skipped); None keeps quiet.
    """
    from specfake.contracts.harness import streams

    loaded = contract if isinstance(contract, Contract) else load_contract(contract)
    chosen = profiles.get_profile(profile)
    known = {op.operation_id: op for op in loaded.operations}
    unknown = sorted(set(include or ()) - set(known))
    if unknown:
        raise ValueError(f"--include: no operation {', '.join(unknown)} in contract {loaded.name}")
    sent = {**auth_headers(loaded, api_key), **(headers or {})}
    operations = [known[i] for i in include] if include else loaded.operations
    report = Report(
        tool=TOOL,
        contract=loaded.name,
        seed=seed,
        operations=sorted(f"{op.method} {op.path}" for op in operations),
    )
    started = time.monotonic()
    ensure_reachable(base_url)
    config = schemathesis_config(
        loaded, base_url, sent, seed=seed, profile=chosen, max_examples=max_examples, workers=workers
    )
    schema = load_schema(loaded, config, include)
    streams.attach(schema, loaded)
    progress.current().phase("schemathesis")
    try:
        findings, stats = run_schemathesis(schema, seed)
    finally:
        streams.detach(schema)
    stats["schemathesis_s"] = round(time.monotonic() - started, 1)
    if invariants:
        progress.current().phase("invariants (create/list/delete/paging)")
        begun = time.monotonic()
        findings += _invariants(loaded, base_url, sent, seed, chosen, max_examples, include, stats, log)
        stats["invariants_s"] = round(time.monotonic() - begun, 1)
    progress.current().close()  # the last phase's line ends before the summary prints
    for finding in findings:
        report.add(finding)
    report.stats = stats
    report.duration = time.monotonic() - started
    return report


def _invariants(
    contract: Contract,
    base_url: str,
    headers: dict[str, str],
    seed: int,
    profile: profiles.Profile,
    max_examples: int | None,
    include: Sequence[str] | None,
    stats: dict[str, Any],
    log: Any,
) -> list[Finding]:
    try:
        from specfake.contracts.harness.invariants import run_invariants
    except ImportError as exc:
        stats["invariants"] = "skipped (specfake.contracts.harness.invariants is not available)"
        if log is not None:
            print(f"specfake check server: invariants skipped: {exc}", file=log)
        return []
    found = run_invariants(
        contract,
        base_url.rstrip("/"),
        headers,
        seed=seed,
        max_examples=max_examples or profile.invariant_examples,
        include=list(include) if include else None,
    )
    stats["invariants"] = "run"
    return list(found)


def run_schemathesis(schema: Any, seed: int) -> tuple[list[Finding], dict[str, Any]]:
    """Execute the engine, turning every recorded check failure and engine error into a finding."""
    from schemathesis.engine import events, from_schema

    candidates: list[tuple[tuple[str, ...], Finding]] = []
    cases = requests = 0
    stop = "completed"
    stop_notes: list[str] = []
    shown = progress.current()
    for event in from_schema(schema).execute():
        shown.event(event)
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            cases += len(recorder.cases)
            requests += len(recorder.interactions)
            candidates += _recorder_findings(recorder, seed)
        elif isinstance(event, events.NonFatalError):
            if type(event.value).__name__ == "NoLinksFound":
                stop_notes.append("stateful phase skipped: no links among the included operations")
                continue
            candidates.append(_error_finding(event, seed))
        elif isinstance(event, events.FatalError):
            raise RuntimeError(f"schemathesis stopped: {event.exception}") from event.exception
        elif isinstance(event, events.EngineFinished):
            stop = str(event.stop_reason)
            for failure in event.failures:
                finding = Finding(operation="-", check=failure.title, message=_message(failure), seed=seed)
                candidates.append(
                    (("-", failure.title, type(failure).__name__, failure._unique_key), finding)
                )
    stats: dict[str, Any] = {"cases": cases, "requests": requests, "stop": stop}
    if stop_notes:
        stats["notes"] = "; ".join(sorted(set(stop_notes)))
    return _dedupe(candidates), stats


def _recorder_findings(recorder: Any, seed: int) -> Iterable[tuple[tuple[str, ...], Finding]]:
    for case_id, nodes in recorder.checks.items():
        for node in nodes:
            info = node.failure_info
            if info is None:
                continue
            failure = info.failure
            node_case = recorder.cases.get(case_id)
            operation = node_case.value.operation.label if node_case else (failure.operation or "-")
            probe = getattr(failure, "probe_case_id", None)  # a stream check's own request
            exchange = _exchange(recorder.interactions.get(probe or case_id))
            curl = _steps_curl(recorder, info.steps) if len(info.steps) > 1 and not probe else None
            curl = curl or (exchange.curl() if exchange else info.code_sample)
            finding = Finding(
                operation=operation,
                check=node.name,
                message=_message(failure),
                field=_field(failure),
                exchange=exchange,
                curl=curl,
                seed=seed,
            )
            yield (operation, node.name, type(failure).__name__, failure._unique_key), finding


def _steps_curl(recorder: Any, steps: list[Any]) -> str | None:
    """A failure that needs several requests (e.g. create, delete, then get): one curl per line."""
    exchanges = [_exchange(recorder.interactions.get(step.case_id)) for step in steps]
    if any(exchange is None for exchange in exchanges):
        return "\n".join(step.curl for step in steps)
    return "\n".join(exchange.curl() for exchange in exchanges if exchange is not None)


def _error_finding(event: Any, seed: int) -> tuple[tuple[str, ...], Finding]:
    """An engine error (network failure, unusable schema) is a finding too: the run was not clean."""
    label = event.label if event.related_to_operation else "-"
    text = f"{type(event.value).__name__}: {event.value}"
    check = "schemathesis_error"
    if _dropped_mid_answer(event.value):  # the proxy's finding for the same cut, by the same name
        check, text = CONNECTION_CHECK, f"{DROPPED} ({text})"
    finding = Finding(operation=label, check=check, message=trim(text, MESSAGE_LIMIT) or "", seed=seed)
    if event.info.code_sample:
        finding.curl = event.info.code_sample
    return (label, check, type(event.value).__name__, ""), finding


def _dropped_mid_answer(error: BaseException) -> bool:
    """The answer had begun (status and headers read) when the connection ended: requests' broken
    chunked read, which is how schemathesis's transport sees a stream cut short by the server."""
    from requests.exceptions import ChunkedEncodingError

    return isinstance(error, ChunkedEncodingError)


def _dedupe(candidates: list[tuple[tuple[str, ...], Finding]]) -> list[Finding]:
    """One finding per operation, check and failure kind: the one with the shortest reproduction."""
    best: dict[tuple[str, ...], Finding] = {}
    for key, finding in candidates:
        rank = (len(finding.curl or ""), finding.curl or "", finding.message)
        current = best.get(key)
        if current is None or rank < (len(current.curl or ""), current.curl or "", current.message):
            best[key] = finding
    return [best[key] for key in sorted(best)]


def _message(failure: Any) -> str:
    """One line: the failure's title, the first paragraph of its message (schemathesis's statement
    of what is wrong) and, for schema errors, where in the contract the violated schema is."""
    title = str(failure.title or "").strip()
    paragraphs = [p.strip() for p in str(failure.message or "").split("\n\n") if p.strip()]
    parts = [title]
    if paragraphs and paragraphs[0] != title:
        parts.append("; ".join(line.strip() for line in paragraphs[0].splitlines() if line.strip()))
    text = ": ".join(parts)
    where = next((p for p in paragraphs if p.startswith("Schema at ")), None)
    if where:
        text += f" (s{where.splitlines()[0].rstrip(':')[1:]})"
    return trim(text, MESSAGE_LIMIT) or ""


def _field(failure: Any) -> str | None:

    field = getattr(failure, "field", None)
    if isinstance(field, str):
        return field
    path = list(getattr(failure, "instance_path", None) or [])
    missing = REQUIRED.match(str(getattr(failure, "_raw_message", "")))
    if missing and list(getattr(failure, "schema_path", None) or [])[-1:] == ["required"]:
        path.append(missing.group(1))  # a missing property: name it, not its parent
    return field_path(path) if path else None


def _exchange(interaction: Any) -> Exchange | None:
    if interaction is None:
        return None
    request = interaction.request
    exchange = Exchange(
        method=request.method,
        url=request.uri,
        headers={k: ", ".join(v) for k, v in request.headers.items() if k.lower() not in NOISE_HEADERS},
        body=trim(request.body),
    )
    response = interaction.response
    if response is not None:
        exchange.status = response.status_code
        exchange.response_headers = {k: ", ".join(v) for k, v in response.headers.items()}
        exchange.response_body = trim(response.content)
    return exchange


def run(args: argparse.Namespace) -> int:
    """The CLI entry: print the summary, write the reports, exit 1 on any finding (2 on bad usage)."""
    if args.base_url is None:
        return _run_against_fake(args)
    return _run(args, args.base_url, args.api_key)


def _run_against_fake(args: argparse.Namespace) -> int:
    """No --base-url: check the built-in fake of the contract (a child process, always stopped)."""
    from specfake.contracts.harness.selfcheck import fake_server

    try:
        with fake_server(args.contract, seed=args.seed) as (base_url, key):
            print(f"specfake check server: checking the fake at {base_url}", file=sys.stderr, flush=True)
            return _run(args, base_url, args.api_key or key)
    except (ContractError, RuntimeError) as exc:
        print(f"specfake check server: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, base_url: str, api_key: str | None) -> int:
    try:
        headers = dict(parse_header(h) for h in args.header or [])
        report = check_server(
            args.contract,
            base_url,
            api_key=api_key,
            headers=headers,
            seed=args.seed,
            profile=args.profile,
            max_examples=args.max_examples,
            workers=args.workers,
            include=args.include or None,
            invariants=not args.no_invariants,
            log=sys.stderr,
        )
    except (ValueError, ContractError, RuntimeError) as exc:
        print(f"specfake check server: {exc}", file=sys.stderr)
        return 2
    print(report.summary(verbose=args.verbose))
    report.write(junit=args.junit, report=args.report)
    if getattr(args, "html", None):
        from specfake.contracts.harness.html_report import write_server

        write_server(args.html, report)
    return report.exit_code
