"""``specfake check client -- <command>``: run a client against the fake and report every request
that breaks the contract.

The fake runs as usual (same behaviours, same answers), with a journal that keeps every request
whole (`specfake.journal`). Requests are checked with `RequestChecker` (the fake's own request
pipeline) once the command has finished, so the checks never slow the answers down. The same
pieces make the Python API, and the pytest plugin checks its journal the same way::

    with ClientCheck("humanloop") as check:
        status = check.run(["python", "my_client.py"])   # or drive a client in-process
    print(check.report().summary())
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from specfake.contract import Contract, ContractError, load_contract
from specfake.contracts.harness.conformance import RequestChecker
from specfake.contracts.harness.coverage import Coverage, ResponseRecorder, from_journal
from specfake.contracts.harness.findings import Finding, Report
from specfake.journal import Journal, JournalEntry
from specfake.pipeline import DEFAULT_MAX_BODY

DEFAULT_API_KEY = "specfake-check-key"
BODY_LIMIT = DEFAULT_MAX_BODY  # the fake answers 413 past this: nothing larger needs checking
# Exit codes: 0 clean, 1 contract violations, 2 usage error, 3 the command itself failed,
# 4 coverage below --min-coverage.
EXIT_VIOLATIONS, EXIT_USAGE, EXIT_COMMAND, EXIT_COVERAGE = 1, 2, 3, 4
# The official SDKs' own settings: (base URL variable, API key variable). Humanloop's Python SDK
# (0.7.30) reads no environment variable at all: pass SPECFAKE_HUMANLOOP_URL to it as ``host``.
SDK_ENV: dict[str, tuple[str, str]] = {"sgp": ("SGP_CLIENT_BASE_URL", "SGP_API_KEY")}
_NOT_CHECKED = ("/__admin", "/openapi.json")


def checking_journal() -> Journal:
    """Every request, each body whole up to the fake's own limit (larger ones are answered 413)."""
    return Journal(maxlen=None, body_limit=BODY_LIMIT)


_CHECKERS: dict[tuple[str, str, bool], RequestChecker] = {}


def checker_for(contract: Contract, *, allow_extra_fields: bool = False) -> RequestChecker:
    """One compiled checker per contract file for the whole process (fixtures start fast)."""
    if contract.source is None:
        return RequestChecker(contract, allow_extra_fields=allow_extra_fields)
    key = (contract.name, str(contract.source), allow_extra_fields)
    if key not in _CHECKERS:
        _CHECKERS[key] = RequestChecker(contract, allow_extra_fields=allow_extra_fields)
    return _CHECKERS[key]


def check_requests(
    seen: Iterable[JournalEntry],
    checkers: Sequence[tuple[str, RequestChecker]],
    root_url: str,
) -> list[Finding]:
    """Findings for captured requests; ``checkers`` pairs each contract's mount prefix with its checker."""
    out: list[Finding] = []
    mounts = sorted(checkers, key=lambda pc: len(pc[0]), reverse=True)
    for entry in seen:
        if entry.path == "/" or entry.path.startswith(_NOT_CHECKED[0]):
            continue
        query = entry.query.decode("latin-1")
        url = root_url + entry.path + ("?" + query if query else "")
        for prefix, checker in mounts:
            if entry.path == prefix or entry.path.startswith(prefix + "/"):
                path = entry.path[len(prefix) :] or "/"
                if path == _NOT_CHECKED[1]:
                    break
                out.extend(checker.check(entry.method, path, entry.query, entry.headers, entry.body, url=url))
                break
        else:
            # Outside every contract's prefix: most often a base URL without it.
            prefixes = ", ".join(p for p, _ in mounts)
            exchange = mounts[0][1].exchange(entry.method, url, entry.headers, entry.body) if mounts else None
            out.append(
                Finding(
                    "-",
                    "unknown_path",
                    f"{entry.method} {entry.path} is outside the contract's base path ({prefixes})",
                    "client",
                    exchange=exchange,
                )
            )
    return out


def operations_seen(
    seen: Iterable[JournalEntry], checkers: Sequence[tuple[str, RequestChecker]]
) -> list[str]:
    """ "METHOD /template" of every operation the client called, for the report's passing cases."""
    labels: set[str] = set()
    for entry in seen:
        for prefix, checker in checkers:
            if entry.path.startswith(prefix + "/"):
                op = checker.operation(entry.method, entry.path[len(prefix) :])
                if op is not None:
                    labels.add(f"{op.method} {op.path}")
    return sorted(labels)


def client_env(root_url: str, bases: dict[str, str], api_key: str | None = DEFAULT_API_KEY) -> dict[str, str]:
    """What a client needs to find the fake: SPECFAKE_* plus the SDKs' own variables.

    ``api_key`` None (a proxy to a real server): the client keeps the keys of its own environment.
    """
    env = {"SPECFAKE_URL": root_url}
    if api_key is not None:
        env["SPECFAKE_API_KEY"] = api_key
    for name, base in bases.items():
        env[f"SPECFAKE_{name.upper().replace('-', '_')}_URL"] = base
        if name in SDK_ENV:
            url_var, key_var = SDK_ENV[name]
            env[url_var] = base
            if api_key is not None:
                env[key_var] = api_key
    return env


class ClientCheck:
    """The fake for one contract on 127.0.0.1 with every request captured; a context manager."""

    def __init__(
        self,
        contract: str | Path | Contract,
        *,
        seed: int = 0,
        fixtures: str | Path | None = "builtin",
        port: int = 0,
        allow_extra_fields: bool = False,
        api_key: str = DEFAULT_API_KEY,
    ) -> None:
        from specfake.app import create_app
        from specfake.server import LiveServer

        self.contract = contract if isinstance(contract, Contract) else load_contract(contract)
        self.seed = seed
        self.api_key = api_key
        self.journal = checking_journal()
        self.app = create_app(
            [self.contract], seed=seed, fixtures=fixtures, options={"stream_speed": "0"}, journal=self.journal
        )
        # Answers are kept for coverage (which variants the client met): this run's path only.
        self.recorder = ResponseRecorder(self.app)
        self.server = LiveServer(self.recorder, port=port)
        self.checker = checker_for(self.contract, allow_extra_fields=allow_extra_fields)
        self.command_status: int | None = None
        self.command_error: str | None = None
        self._started = time.perf_counter()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        return self.server.url + self.contract.prefix

    @property
    def env(self) -> dict[str, str]:
        return client_env(self.url, {self.contract.name: self.base_url}, self.api_key)

    def __enter__(self) -> ClientCheck:
        self.server.start()
        self._started = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.server.stop()

    def run(self, command: Sequence[str], *, timeout: float | None = None) -> int:
        """Run ``command`` with the fake's URLs in its environment; returns its exit status."""
        self.command_status, self.command_error = run_command(command, self.env, timeout)
        return self.command_status

    def findings(self) -> list[Finding]:
        seen = self.journal.entries(raw=True)  # judged as received: see specfake.journal
        return check_requests(seen, [(self.contract.prefix, self.checker)], self.url)

    def coverage(self) -> Coverage:
        """What the client's run exercised: operations, statuses, variants and faults."""
        seen = from_journal(
            self.journal.entries(), [(self.contract.prefix, self.checker)], self.recorder.answers
        )
        return Coverage(self.contract, seen)

    def report(self, tool: str = "check client") -> Report:
        seen = self.journal.entries(raw=True)
        report = Report(tool, self.contract.name, self.seed)
        for finding in self.findings():
            report.add(finding)
        report.operations = operations_seen(seen, [(self.contract.prefix, self.checker)])
        report.stats = {"requests": len(seen), "operations": len(report.operations)}
        if self.command_status is not None:
            report.stats["command exit"] = self.command_status
        report.duration = time.perf_counter() - self._started
        return report


def run_command(command: Sequence[str], env: dict[str, str], timeout: float | None) -> tuple[int, str | None]:
    """(exit status, why it failed to run); loopback traffic never goes through an HTTP proxy."""
    full = {**os.environ, **env}
    for name in ("NO_PROXY", "no_proxy"):
        full[name] = ",".join(v for v in (full.get(name), "127.0.0.1", "localhost") if v)
    try:
        return subprocess.run(list(command), env=full, timeout=timeout, check=False).returncode, None
    except FileNotFoundError:
        return 127, f"command not found: {command[0]}"
    except subprocess.TimeoutExpired:
        return 124, f"command timed out after {timeout}s"


def finish(
    report: Report,
    args: argparse.Namespace,
    status: int | None,
    error: str | None,
    coverage: Coverage | None = None,
) -> int:
    """Print and write the reports; the exit code tells violations (1) from a failed command (3)
    from coverage below ``--min-coverage`` (4)."""
    print(report.summary(verbose=bool(getattr(args, "verbose", False))), flush=True)
    report.write(junit=getattr(args, "junit", None), report=getattr(args, "report", None))
    minimum = getattr(args, "min_coverage", None)
    gap = None
    if coverage is not None and (getattr(args, "coverage", None) or minimum is not None):
        print(coverage.summary(), flush=True)
        if getattr(args, "coverage", None):
            coverage.write_json(args.coverage)
        gap = coverage.gate(minimum) if minimum is not None else None
    if getattr(args, "html", None):
        from specfake.contracts.harness.html_report import write_client

        write_client(args.html, report, coverage)
    if gap:
        print(f"specfake {report.tool}: {gap}", file=sys.stderr)
    if error:
        print(f"specfake {report.tool}: the client command could not run: {error}", file=sys.stderr)
    elif status:
        print(f"specfake {report.tool}: the client command failed with exit status {status}", file=sys.stderr)
    if not report.ok:
        return EXIT_VIOLATIONS
    if status:
        return EXIT_COMMAND
    return EXIT_COVERAGE if gap else 0


def usage_error(tool: str, message: str) -> int:
    print(f"specfake {tool}: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    """``specfake check client --contract NAME [...] -- command ...``."""
    command = [c for c in (args.command or [])]
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        return usage_error("check client", "give the client command after --, e.g. -- python my_client.py")
    if args.fixtures and args.empty:
        return usage_error("check client", "--fixtures and --empty exclude each other")
    try:
        check = ClientCheck(
            args.contract,
            seed=args.seed,
            fixtures=None if args.empty else (args.fixtures or "builtin"),
            port=args.port,
            allow_extra_fields=args.allow_extra_fields,
        )
    except (ContractError, ValueError) as exc:
        return usage_error("check client", str(exc))
    with check:
        print(
            f"specfake check client: {check.contract.name} fake at {check.base_url}; "
            f"running: {' '.join(command)}",
            file=sys.stderr,
            flush=True,
        )
        check.run(command)
    return finish(check.report(), args, check.command_status, check.command_error, check.coverage())
