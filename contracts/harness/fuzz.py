"""``specfake check client --fuzz-responses -- <command>``: does the client survive every answer the
contract allows?

One Hypothesis test runs the client command once per example. A small server (one socket for the
whole run) routes each request to its operation and hands it to the test's thread through a
queue; the test draws a contract-valid, deliberately unusual body for it (`strategies.responses`,
or chunk events for a streaming call) and hands it back. A non-zero exit (or a timeout) is a crash:
Hypothesis shrinks the drawn answers to the smallest ones that still crash the client, and that
minimal run is reported with every response it served and the tail of the client's stderr.

Draws happen on the test's thread only (Hypothesis requires it); the server thread just waits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from starlette.types import Receive, Scope, Send

from specfake.contract import Contract, ContractError, Operation, builtin_contracts
from specfake.contracts.harness import strategies
from specfake.contracts.harness.client_check import DEFAULT_API_KEY, client_env, usage_error
from specfake.contracts.harness.findings import Exchange, Finding, Report, trim
from specfake.http import dump_json, lifespan, read_body
from specfake.server import LiveServer
from specfake.streaming.sse import event, event_raw

TOOL = "check client --fuzz-responses"
CHECK = "client_crash_on_valid_response"
EXIT_COMMAND = 3  # as `check client`: the command could not run, or failed before any request
STDERR_TAIL = 2000  # characters of the client's stderr kept in a finding
WAIT_FOR_ANSWER = 60.0  # seconds the server waits for the test thread to draw an answer
POLL = 0.005  # seconds between looks at the client process while no request is waiting


@dataclass
class Pending:
    """A request the server received, waiting for the test thread to answer it."""

    operation: Operation
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    answer: Future[Answer] = field(default_factory=Future)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body.strip() else None
        except ValueError:
            return None


@dataclass
class Answer:
    status: int
    content_type: str | None
    payload: bytes


@dataclass
class Served:
    """One request of a client run and the drawn answer it got: the facts a finding reports."""

    operation: str  # "GET /v4/evaluations"
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str | None
    status: int
    content_type: str | None
    body: Any  # the drawn JSON body, or the list of chunk payloads for a stream
    stream: bool = False

    def describe(self) -> str:
        kind = "stream of chunks" if self.stream else "body"
        shown = "(none)" if self.body is None and not self.stream else _dumps(self.body)
        return f"{self.method} {self.url} → {self.status} {kind}: {trim(shown)}"


class ShrinkBudgetSpent(BaseException):
    """Stops Hypothesis (a BaseException passes through it) once shrinking has had its time."""


class ClientCrashed(Exception):
    """The client exited non-zero (or timed out) on answers the contract allows."""

    def __init__(self, served: list[Served], status: int | None, stderr: str, timed_out: bool) -> None:
        super().__init__(f"client exited with {status}")
        self.served = served
        self.status = status
        self.stderr = stderr
        self.timed_out = timed_out


@dataclass
class FuzzReport(Report):
    """A `Report` that also keeps the minimal crashing run's answers as data (``minimal``)."""

    minimal: list[Served] = field(default_factory=list)
    command_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["minimal_responses"] = [
            {"operation": s.operation, "url": s.url, "status": s.status, "stream": s.stream, "body": s.body}
            for s in self.minimal
        ]
        return out


class FuzzServer:
    """ASGI app: routes each request to its operation, then waits for the test thread's answer."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.requests: queue.Queue[Pending] = queue.Queue()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await read_body(receive, sys.maxsize)
        # Match the path as sent: an id holding an encoded "/" (%2F) is one segment, not two.
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        prefix = self.contract.prefix
        below = path[len(prefix) :] if path == prefix or path.startswith(prefix + "/") else None
        match = self.contract.compiled.match(scope["method"], below or "/") if below is not None else None
        if match is None or match.target is None:
            status = 405 if match is not None else 404
            answer = Answer(status, "application/json", b'{"detail":"Not Found"}')
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            pending = Pending(
                operation=match.target.operation,
                method=scope["method"],
                url=path + (f"?{query}" if query else ""),
                headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
                body=body,
            )
            self.requests.put(pending)
            try:
                answer = await asyncio.wait_for(asyncio.wrap_future(pending.answer), WAIT_FOR_ANSWER)
            except TimeoutError:
                answer = Answer(503, "application/json", b'{"detail":"no fuzz example is running"}')
        headers = [(b"content-length", str(len(answer.payload)).encode())]
        if answer.content_type:
            headers.append((b"content-type", answer.content_type.encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.payload})

    def drain(self) -> None:
        """Answer requests left over from an earlier run (a client's stray thread) with a 503."""
        while True:
            try:
                pending = self.requests.get_nowait()
            except queue.Empty:
                return
            pending.answer.set_result(Answer(503, "application/json", b'{"detail":"stale request"}'))


def _dumps(value: Any) -> str:
    return dump_json(value).decode()


def _label(op: Operation) -> str:
    return f"{op.method} {op.path}"


def _streams(contract: Contract, pending: Pending) -> bool:
    """The request asks for a stream the contract can describe (a chunk schema to draw from)."""
    spec = contract.compiled.operation(pending.operation.operation_id).stream
    if spec is None or spec.flag is None or spec.chunk_schema is None:
        return False
    body = pending.json
    return isinstance(body, dict) and body.get(spec.flag) is True


def _answer(contract: Contract, pending: Pending, data: st.DataObject, number: int) -> tuple[Answer, Served]:
    """Draw the answer to one request (on the test thread)."""
    op = pending.operation
    label = _label(op)
    status = strategies.success_status(op)
    request_body = trim(pending.body) if pending.body else None
    if _streams(contract, pending):
        chunks = data.draw(
            strategies.stream_events(contract, op.operation_id), label=f"{number}: {label} stream"
        )
        payload = b"".join(event(chunk) for chunk in chunks)
        spec = contract.compiled.operation(op.operation_id).stream
        if spec is not None and spec.terminator is not None:  # the contract's own end: data: [DONE]
            payload += event_raw(spec.terminator)
        served = Served(label, pending.method, pending.url, pending.headers, request_body, 200,
                        "text/event-stream", chunks, stream=True)  # fmt: skip
        return Answer(200, "text/event-stream", payload), served
    compiled = strategies.response_schema(contract, op.operation_id)
    if compiled is None:
        served = Served(label, pending.method, pending.url, pending.headers, request_body, status, None, None)
        return Answer(status, None, b""), served
    body = data.draw(compiled.strategy, label=f"{number}: {label} response")
    served = Served(label, pending.method, pending.url, pending.headers, request_body, status,
                    "application/json", body)  # fmt: skip
    return Answer(status, "application/json", dump_json(body)), served


class Fuzzer:
    """One server for the whole run; ``run`` is the Hypothesis test loop."""

    def __init__(
        self,
        contract: str | Path | Contract,
        command: Sequence[str],
        *,
        seed: int = 0,
        max_examples: int = 50,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
        api_key: str = DEFAULT_API_KEY,
        port: int = 0,
        shrink_seconds: float = 60.0,
    ) -> None:
        self.port = port
        self.shrink_seconds = shrink_seconds
        self.first_failure_at: float | None = None
        self.budget_spent = False
        self.contract = strategies.contract_of(contract if isinstance(contract, Contract) else str(contract))
        self.command = list(command)
        self.seed = seed
        self.max_examples = max_examples
        self.extra_env = dict(env or {})
        self.timeout = timeout
        self.api_key = api_key
        self.server_app = FuzzServer(self.contract)
        self.runs = 0
        self.requests = 0
        self.operations: set[str] = set()
        self.last_failure: ClientCrashed | None = None
        self.command_error: str | None = None
        self.base_url = ""

    def _env(self, url: str) -> dict[str, str]:
        env = {
            **os.environ,
            **client_env(url, {self.contract.name: url + self.contract.prefix}, self.api_key),
        }
        for name in ("NO_PROXY", "no_proxy"):
            env[name] = ",".join(v for v in (env.get(name), "127.0.0.1", "localhost") if v)
        return {**env, **self.extra_env}

    def run_client(self, data: st.DataObject, env: dict[str, str]) -> None:
        """One example: run the command, answer its requests with draws, raise on a crash."""
        if (
            self.first_failure_at is not None
            and time.monotonic() - self.first_failure_at > self.shrink_seconds
        ):
            # Each shrink step is a client run: past the budget, the smallest crash so far is the answer.
            self.budget_spent = True
            raise ShrinkBudgetSpent
        self.server_app.drain()
        self.runs += 1
        served: list[Served] = []
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    self.command, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
                )
            except OSError as exc:
                self.command_error = f"cannot run {self.command[0]!r}: {exc}"
                raise ClientCrashed(served, 127, str(exc), False) from None
            deadline = time.monotonic() + self.timeout
            timed_out = False
            try:
                while True:
                    try:
                        pending = self.server_app.requests.get(timeout=POLL)
                    except queue.Empty:
                        if proc.poll() is not None:
                            break
                        if time.monotonic() > deadline:
                            timed_out = True
                            break
                        continue
                    try:
                        answer, record = _answer(self.contract, pending, data, len(served) + 1)
                    except BaseException:
                        pending.answer.set_result(Answer(503, "application/json", b'{"detail":"no answer"}'))
                        raise
                    pending.answer.set_result(answer)
                    served.append(record)
                    self.requests += 1
                    self.operations.add(record.operation)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        if timed_out or proc.returncode != 0:
            failure = ClientCrashed(served, None if timed_out else proc.returncode, stderr, timed_out)
            # While shrinking, Hypothesis only runs examples simpler than the smallest crash so far:
            # the last crash is always the smallest.
            self.last_failure = failure
            if self.first_failure_at is None:
                self.first_failure_at = time.monotonic()
            raise failure

    def run(self) -> FuzzReport:
        report = FuzzReport(TOOL, self.contract.name, self.seed)
        started = time.perf_counter()
        failure: ClientCrashed | None = None
        shrinking = ""
        with LiveServer(self.server_app, port=self.port) as server:
            self.base_url = server.url
            env = self._env(server.url)

            @settings(
                max_examples=self.max_examples,
                database=None,
                deadline=None,
                derandomize=False,
                phases=(Phase.explicit, Phase.generate, Phase.shrink),
                report_multiple_bugs=False,
                suppress_health_check=list(HealthCheck),
                verbosity=Verbosity.quiet,
            )
            @hypothesis_seed(self.seed)
            @given(st.data())
            def example(data: st.DataObject) -> None:
                self.run_client(data, env)

            try:
                example()
            except ClientCrashed as exc:
                failure = exc
            except (ShrinkBudgetSpent, Flaky):
                # Out of shrinking time (Hypothesis may report the refused replay as flakiness), or
                # the client crashed and then passed on the same answers: the last crash is the
                # smallest seen.
                failure = self.last_failure
                shrinking = (
                    f"stopped after {self.shrink_seconds:g}s"
                    if self.budget_spent
                    else "the client is flaky: it crashed, then passed on the same answers"
                )
        report.duration = time.perf_counter() - started
        report.operations = sorted(self.operations)
        report.stats = {
            "client runs": self.runs,
            "requests": self.requests,
            "operations": len(self.operations),
        }
        if shrinking:
            report.stats["shrinking"] = shrinking
        report.command_error = self.command_error
        if failure is not None and self.command_error is None:
            report.minimal = failure.served
            report.add(self.finding(failure))
        return report

    def finding(self, failure: ClientCrashed) -> Finding:
        served = failure.served
        if failure.timed_out:
            how = f"did not finish within {self.timeout:g}s"
        else:
            how = f"exited with status {failure.status}"
        if not served:
            return Finding("-", CHECK, f"the client {how} before making any request", side="client")
        lines = [f"the client {how} on contract-valid answers; the smallest crashing run served:"]
        lines += [f"  {i}. {s.describe()}" for i, s in enumerate(served, 1)]
        tail = failure.stderr.strip()[-STDERR_TAIL:]
        if tail:
            lines.append("client stderr (tail):\n" + tail)
        last = served[-1]
        exchange = Exchange(
            method=last.method,
            url=self.base_url + last.url,
            headers={k: v for k, v in last.request_headers.items() if k.lower() not in _SECRET_HEADERS},
            body=last.request_body,
            status=last.status,
            response_headers={"content-type": last.content_type} if last.content_type else {},
            response_body=trim(
                "".join(event(c).decode() for c in last.body) if last.stream else _dumps(last.body)
            ),
        )
        return Finding(
            last.operation, CHECK, "\n".join(lines), side="client", exchange=exchange, curl=self.rerun()
        )

    def _contract_arg(self) -> str:
        builtin = builtin_contracts().get(self.contract.name)
        if builtin is not None and builtin == self.contract.source:
            return self.contract.name
        return str(self.contract.source or self.contract.name)

    def rerun(self) -> str:
        """The command line that replays this run: the answers come from the seed, not a request."""
        return " ".join(
            [
                "specfake check client --fuzz-responses",
                f"--contract {shlex.quote(self._contract_arg())}",
                f"--seed {self.seed} --max-examples {self.max_examples} --",
                shlex.join(self.command),
            ]
        )


_SECRET_HEADERS = ("x-api-key", "authorization")


def fuzz_client(
    contract: str | Path | Contract,
    command: Sequence[str],
    *,
    seed: int = 0,
    max_examples: int = 50,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    shrink_seconds: float = 60.0,
) -> FuzzReport:
    """Run ``command`` against fuzzed contract-valid answers; the report holds the minimal crash.

    ``timeout`` bounds one client run; ``shrink_seconds`` bounds the search for a smaller crash
    (every step is a client run), after which the smallest crash found so far is reported.
    """
    fuzzer = Fuzzer(
        contract,
        command,
        seed=seed,
        max_examples=max_examples,
        env=env,
        timeout=timeout,
        shrink_seconds=shrink_seconds,
    )
    return fuzzer.run()


def run(args: argparse.Namespace) -> int:
    """``specfake check client --fuzz-responses --contract C [--seed N] [--max-examples N] -- cmd``."""
    command = list(args.command or [])
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        return usage_error(TOOL, "give the client command after --, e.g. -- python my_client.py")
    if getattr(args, "proxy", None):
        return usage_error(
            TOOL, "--fuzz-responses answers from the contract; it cannot be combined with --proxy"
        )
    try:
        fuzzer = Fuzzer(
            args.contract,
            command,
            seed=args.seed,
            max_examples=args.max_examples,
            port=getattr(args, "port", 0) or 0,
            timeout=getattr(args, "timeout", 30.0),
            shrink_seconds=getattr(args, "shrink_seconds", 60.0),
        )
    except ContractError as exc:
        return usage_error(TOOL, str(exc))
    print(
        f"specfake {TOOL}: {fuzzer.contract.name}, up to {args.max_examples} runs of: {' '.join(command)}",
        file=sys.stderr,
        flush=True,
    )
    report = fuzzer.run()
    print(report.summary(verbose=bool(getattr(args, "verbose", False))), flush=True)
    report.write(junit=getattr(args, "junit", None), report=getattr(args, "report", None))
    if report.command_error:
        print(f"specfake {TOOL}: the client command could not run: {report.command_error}", file=sys.stderr)
        return EXIT_COMMAND
    if report.findings and report.findings[0].operation == "-":
        return EXIT_COMMAND
    return report.exit_code
