"""``specfake check client --proxy URL``: both sides of the contract on live traffic.

The client talks to a proxy on 127.0.0.1 that forwards every request to the real server and
streams its answer straight back (an SSE stream is passed through event by event, never held):
it is `specfake.record.ForwardingProxy`, keeping exchanges to check instead of cassettes. Each request is
checked with `RequestChecker` (client side) and each answer with `ResponseChecker` (server side:
declared status, content type, body schema, every stream event). API keys are never written to
the report.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote_plus

import httpx

from specfake.contract import Contract, ContractError, load_contract
from specfake.contracts.harness.client_check import (
    checker_for,
    client_env,
    finish,
    run_command,
    usage_error,
)
from specfake.contracts.harness.conformance import ResponseChecker
from specfake.contracts.harness.findings import Finding, Report, trim
from specfake.contracts.harness.stream_judge import CONNECTION_CHECK, DROPPED
from specfake.record import ForwardingProxy, Proxied

REDACTED = "<redacted>"


class CheckingProxy(ForwardingProxy):
    """Forwards like ``specfake record`` and keeps each exchange for checking instead of a cassette."""

    def __init__(
        self,
        upstream: str,
        *,
        contract: str | Path | Contract,
        allow_extra_fields: bool = False,
        timeout: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(upstream, contract=contract, keep=self._keep, timeout=timeout, transport=transport)
        self.requests = checker_for(self.contract, allow_extra_fields=allow_extra_fields)
        self.responses = ResponseChecker(self.contract)
        self.forwarded: list[Proxied] = []
        self._lock = threading.Lock()

    def _keep(self, exchange: Proxied) -> None:
        with self._lock:
            self.forwarded.append(exchange)

    def findings(self, root_url: str) -> list[Finding]:
        """Client and server findings for every exchange so far, in the order they happened."""
        with self._lock:
            exchanges = list(self.forwarded)
        out: list[Finding] = []
        secrets = self.contract.compiled.secret_headers  # API-key headers, Authorization, Cookie
        query_secrets = self.contract.compiled.auth_query(REDACTED)
        for ex in exchanges:
            query = _redact_query(ex.query.decode("latin-1"), query_secrets)
            url = root_url + self.contract.prefix + ex.path + ("?" + query if query else "")
            exchange = self.requests.exchange(ex.method, url, ex.headers, ex.body)
            exchange.headers = {
                k: REDACTED if k.lower() in secrets else v for k, v in exchange.headers.items()
            }
            exchange.status = ex.status
            exchange.response_headers = {
                k: v for k, v in ex.response_headers.items() if k.lower() in ("content-type", "allow")
            }
            answer = ex.response_body
            exchange.response_body = trim(answer)
            out.extend(
                self.requests.check(ex.method, ex.path, ex.query, ex.headers, ex.body, exchange=exchange)
            )
            operation = self.requests.operation(ex.method, ex.path)
            if operation is not None:
                out.extend(
                    self.responses.check(
                        operation, ex.status, ex.response_headers, answer, exchange=exchange, cut_short=ex.cut
                    )
                )
                if ex.cut:
                    label = f"{operation.method} {operation.path}"
                    out.append(Finding(label, CONNECTION_CHECK, DROPPED, exchange=exchange))
        return out

    def operations(self) -> list[str]:
        with self._lock:
            exchanges = list(self.forwarded)
        ops = [self.requests.operation(ex.method, ex.path) for ex in exchanges]
        return sorted({f"{op.method} {op.path}" for op in ops if op is not None})


def _redact_query(query: str, secrets: dict[str, str]) -> str:
    """``query`` with the value of every query-string API key replaced by ``<redacted>``."""
    if not secrets or not query:
        return query
    parts = [part.partition("=") for part in query.split("&")]
    return "&".join(
        name + sep + (REDACTED if unquote_plus(name) in secrets else value) for name, sep, value in parts
    )


def run(args: argparse.Namespace) -> int:
    """``specfake check client --contract NAME --proxy URL [-- command ...]``."""
    from specfake.server import LiveServer

    command = list(args.command or [])
    if command[:1] == ["--"]:
        command = command[1:]
    try:
        contract = load_contract(args.contract)
    except ContractError as exc:
        return usage_error("check client --proxy", str(exc))
    proxy = CheckingProxy(args.proxy, contract=contract, allow_extra_fields=args.allow_extra_fields)
    started = time.perf_counter()
    status: int | None = None
    error: str | None = None
    with LiveServer(proxy, port=args.port) as server:
        base = server.url + contract.prefix
        print(f"specfake check client --proxy: {base} -> {proxy.upstream}", file=sys.stderr, flush=True)
        if command:
            status, error = run_command(command, client_env(server.url, {contract.name: base}, None), None)
        else:
            print(
                "specfake check client --proxy: point the client here; Ctrl-C ends and reports",
                file=sys.stderr,
                flush=True,
            )
            try:
                while True:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        report = check_traffic(proxy, server.url, args.seed)
    if status is not None:
        report.stats["command exit"] = status
    report.duration = time.perf_counter() - started
    from specfake.contracts.harness.coverage import Coverage, from_proxy

    coverage = Coverage(contract, from_proxy(list(proxy.forwarded), proxy.requests))
    return finish(report, args, status, error, coverage)


def check_traffic(proxy: CheckingProxy, root_url: str, seed: int | None = None) -> Report:
    """The report for what went through ``proxy`` so far (the Python API of the proxy check)."""
    report = Report("check client --proxy", proxy.contract.name, seed)
    for finding in proxy.findings(root_url):
        report.add(finding)
    report.operations = proxy.operations()
    report.stats = {"requests": len(proxy.forwarded), "operations": len(report.operations)}
    return report
