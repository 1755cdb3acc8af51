"""``make soak``: mixed load on a ``specfake serve`` child for ``DURATION`` seconds (600 by default).

Reads (gets, lists), writes (Humanloop logs and feedback, SGP creates and patches), streams
(Humanloop ``POST /chat`` with ``stream: true``) and faults asked for on purpose (the
``X-Specfake-Fault`` header, and a ``--faults`` rule that fails every third session list). A fault
that did what it was told counts as *injected*; anything else that is not the normal answer is an
*unexpected* error, and one of those fails the run. Every ``INTERVAL`` seconds (60) a line gives the
requests by class, the unexpected errors and the server's RSS (``VmRSS``); the last line is the
verdict. The exit status is 1 on any unexpected error, 2 when the server cannot start.

The load is cheap: no HTTP library, one keep-alive connection per worker (`Connection`), every
fixed request's bytes built once per key, answers parsed only as far as the checks need, one
watchdog timer for the run. One core drives about 5,000 requests a second of this mix (the
``load=`` CPU figure); each answer is still checked as a client would, so every error the fake
was not told to make is counted.

Environment: ``DURATION`` (seconds), ``INTERVAL``, ``CONCURRENCY`` (32 connections), ``STREAM_SPEED``
(0: streams sent at once; 1 is real time). The server is pinned to core 0 and the load to core 1
(``taskset``, when there are two cores), and always stopped, Ctrl-C included.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.serving import pin, rss_mb, stop
from specfake.server import free_port

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("soak-key-1", "soak-key-2")
CLASSES = ("read", "write", "stream", "fault")
TIMEOUT = 30.0  # seconds an answer may take before its request counts as unexpected
RULES = """\
- id: soak-flaky-sessions
  operation: sessions_list
  fault: "status=503"
  every: 3
"""
LOG = {"project": "support-assistant", "output": "soak", "config": {"type": "model", "model": "gpt-4o"}}
SGP_CREATE = {
    "account_id": "acct_demo",
    "application_spec_id": "app_support_bot",
    "name": "soak",
    "description": "load",
    "type": "default",
}
CHAT = {
    "project": "support-assistant",
    "messages": [{"role": "user", "content": "How do I reset my password?"}],
    "model_config": {"model": "gpt-4o"},
    "stream": True,
}


class Unexpected(Exception):
    """An answer the fake was not told to give."""


class Closed(Exception):
    """The server closed the connection before the answer was whole."""


@dataclass
class Tally:
    done: collections.Counter[str] = field(default_factory=collections.Counter)
    injected: int = 0
    unexpected: int = 0
    samples: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        self.unexpected += 1
        if len(self.samples) < 20:
            self.samples.append(what)


@dataclass
class World:
    """The demo world's ids, per key (every tenant starts from the same world)."""

    project: str
    log: str
    evaluation: str


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def text(self) -> str:
        return self.body[:200].decode("utf-8", "replace")


class Connection:
    """One keep-alive HTTP/1.1 connection: a request's bytes out, the answer read with just enough
    parsing (status, headers, a Content-Length or chunked body). No HTTP library: the load is
    cheap enough that one core drives thousands of requests a second."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.busy_since: float | None = None  # the watchdog closes a request stuck past TIMEOUT

    async def exchange(self, request: bytes) -> Answer:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        reader = self.reader
        assert reader is not None
        self.busy_since = time.monotonic()
        try:
            self.writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head[:-4].split(b"\r\n")
            status = int(lines[0][9:12])
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = headers.get(b"content-length")
            if length is not None:
                body = await reader.readexactly(int(length))
            elif headers.get(b"transfer-encoding") == b"chunked":
                pieces = []
                while size := int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
                    pieces.append((await reader.readexactly(size + 2))[:-2])
                await reader.readuntil(b"\r\n")  # no trailers
                body = b"".join(pieces)
            else:
                body = await reader.read()
                headers[b"connection"] = b"close"
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as exc:
            self.close()
            raise Closed(f"{type(exc).__name__}: {exc}"[:200]) from None
        finally:
            self.busy_since = None
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return Answer(status, headers, body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
        self.reader = self.writer = None


def expect(answer: Answer, what: str, status: int = 200) -> Any:
    if answer.status != status:
        raise Unexpected(f"{what}: {answer.status} {answer.text()}")
    try:
        return answer.json()
    except orjson.JSONDecodeError:
        raise Unexpected(f"{what}: not JSON: {answer.text()}") from None


def is_fault_answer(answer: Answer, status: int) -> bool:
    """The fake's own fault answer: that status and the API's error body saying so."""
    return answer.status == status and b"(specfake fault)" in answer.body


Request = Callable[[Connection, str], Awaitable[bool]]


class Load:
    """The mix, as pre-built requests: per key, the bytes of every fixed request are made once;
    the few that vary (a log id, a description) are formatted into a template."""

    def __init__(self, host: str, port: int, tally: Tally, seed: int) -> None:
        self.host, self.port = host, port
        self.tally = tally
        self.random = random.Random(seed)
        self.worlds: dict[str, World] = {}
        self.logs: dict[str, list[str]] = {key: [] for key in KEYS}
        self.fixed: dict[str, dict[str, bytes]] = {}
        self.reads: list[Request] = [
            self.read_projects,
            self.read_logs,
            self.read_log,
            self.read_evaluations,
            self.read_evaluation,
        ]
        self.writes: list[Request] = [
            self.write_log,
            self.write_log,
            self.write_feedback,
            self.write_evaluation,
            self.patch_evaluation,
        ]
        self.faults: list[Request] = [
            self.fault_status,
            self.fault_retry_after,
            self.fault_latency,
            self.fault_truncate,
            self.fault_rule,
        ]

    def request(
        self, method: str, target: str, key: str, body: Any = None, fault: str | None = None
    ) -> bytes:
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nx-api-key: {key}\r\n"
        if fault is not None:
            head += f"x-specfake-fault: {fault}\r\n"
        if body is None:
            return f"{head}\r\n".encode()
        raw = orjson.dumps(body)
        head += f"content-type: application/json\r\ncontent-length: {len(raw)}\r\n\r\n"
        return head.encode() + raw

    async def world(self, client: httpx.AsyncClient, key: str) -> World:
        base = f"http://{self.host}:{self.port}"
        headers = {"x-api-key": key}
        project = (await client.get(f"{base}/humanloop/v4/projects", headers=headers)).json()["records"][0][
            "id"
        ]
        logs = await client.get(f"{base}/humanloop/v4/logs", params={"project_id": project}, headers=headers)
        evaluations = await client.get(f"{base}/sgp/v4/evaluations", headers=headers)
        world = World(project, logs.json()["records"][0]["id"], evaluations.json()["items"][0]["id"])
        hl, sgp = "/humanloop/v4", "/sgp/v4"
        self.fixed[key] = {
            "projects": self.request("GET", f"{hl}/projects?size=5", key),
            "logs": self.request("GET", f"{hl}/logs?project_id={project}&size=10", key),
            "evaluations": self.request("GET", f"{sgp}/evaluations?limit=10", key),
            "evaluation": self.request("GET", f"{sgp}/evaluations/{world.evaluation}", key),
            "write_log": self.request("POST", f"{hl}/logs", key, LOG),
            "write_evaluation": self.request("POST", f"{sgp}/evaluations", key, SGP_CREATE),
            "stream": self.request("POST", f"{hl}/chat", key, CHAT),
            "fault_status": self.request("POST", f"{hl}/logs", key, LOG, "status=503"),
            "fault_retry_after": self.request(
                "GET", f"{sgp}/evaluations", key, None, "status=429; retry-after=2"
            ),
            "fault_latency": self.request("GET", f"{hl}/projects", key, None, "latency=5ms"),
            "fault_truncate": self.request("GET", f"{sgp}/evaluations", key, None, "truncate=40"),
            "fault_rule": self.request("GET", f"{hl}/sessions?project_id={project}&size=5", key),
        }
        return world

    def pick(self) -> tuple[str, Request]:
        """A class (by weight) and one of its requests; the request answers True when it was a
        fault that did what it was told."""
        draw = self.random.random()
        if draw < 0.55:
            return "read", self.random.choice(self.reads)
        if draw < 0.80:
            return "write", self.random.choice(self.writes)
        if draw < 0.85:
            return "stream", self.stream
        return "fault", self.random.choice(self.faults)

    def some_log(self, key: str) -> str:
        ids = self.logs[key]
        return ids[self.random.randrange(len(ids))] if ids else self.worlds[key].log

    async def read_projects(self, conn: Connection, key: str) -> bool:
        expect(await conn.exchange(self.fixed[key]["projects"]), "GET /projects")
        return False

    async def read_logs(self, conn: Connection, key: str) -> bool:
        expect(await conn.exchange(self.fixed[key]["logs"]), "GET /logs")
        return False

    async def read_log(self, conn: Connection, key: str) -> bool:
        log = self.some_log(key)
        body = expect(
            await conn.exchange(self.request("GET", f"/humanloop/v4/logs/{log}", key)), "GET /logs/{id}"
        )
        if body["id"] != log:
            raise Unexpected(f"GET /logs/{log} answered {body['id']}")
        return False

    async def read_evaluations(self, conn: Connection, key: str) -> bool:
        expect(await conn.exchange(self.fixed[key]["evaluations"]), "GET /evaluations")
        return False

    async def read_evaluation(self, conn: Connection, key: str) -> bool:
        expect(await conn.exchange(self.fixed[key]["evaluation"]), "GET /evaluations/{id}")
        return False

    async def write_log(self, conn: Connection, key: str) -> bool:
        body = expect(await conn.exchange(self.fixed[key]["write_log"]), "POST /logs")
        if len(self.logs[key]) < 10_000:
            self.logs[key].append(body["id"])
        return False

    async def write_feedback(self, conn: Connection, key: str) -> bool:
        """On a log of this run (one log collecting every feedback would slow its reads down)."""
        body = {"type": "rating", "value": "good", "data_id": self.some_log(key)}
        expect(
            await conn.exchange(self.request("POST", "/humanloop/v4/feedback", key, body)), "POST /feedback"
        )
        return False

    async def write_evaluation(self, conn: Connection, key: str) -> bool:
        expect(await conn.exchange(self.fixed[key]["write_evaluation"]), "POST /evaluations")
        return False

    async def patch_evaluation(self, conn: Connection, key: str) -> bool:
        target = f"/sgp/v4/evaluations/{self.worlds[key].evaluation}"
        body = {"description": f"soak {self.random.random()}"}
        expect(await conn.exchange(self.request("PATCH", target, key, body)), "PATCH /evaluations/{id}")
        return False

    async def stream(self, conn: Connection, key: str) -> bool:
        """A whole stream: every event is JSON, the last one finishes its sample."""
        answer = await conn.exchange(self.fixed[key]["stream"])
        if answer.status != 200 or not answer.headers.get(b"content-type", b"").startswith(
            b"text/event-stream"
        ):
            raise Unexpected(f"POST /chat stream: {answer.status} {answer.text()}")
        events = [line[5:].strip() for line in answer.body.split(b"\n") if line.startswith(b"data:")]
        try:
            finished = bool(events) and orjson.loads(events[-1])["data"][0]["finish_reason"] is not None
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise Unexpected(f"POST /chat stream: a bad last event ({exc}): {events[-1][:200]!r}") from None
        if not finished:
            raise Unexpected(f"POST /chat stream ended without a finish_reason after {len(events)} events")
        return False

    async def fault_status(self, conn: Connection, key: str) -> bool:
        answer = await conn.exchange(self.fixed[key]["fault_status"])
        if not is_fault_answer(answer, 503):
            raise Unexpected(f"fault status=503 answered {answer.status} {answer.text()}")
        return True

    async def fault_retry_after(self, conn: Connection, key: str) -> bool:
        answer = await conn.exchange(self.fixed[key]["fault_retry_after"])
        if not is_fault_answer(answer, 429) or answer.headers.get(b"retry-after") != b"2":
            raise Unexpected(f"fault status=429 answered {answer.status} {answer.headers}")
        return True

    async def fault_latency(self, conn: Connection, key: str) -> bool:
        started = time.perf_counter()
        expect(await conn.exchange(self.fixed[key]["fault_latency"]), "GET /projects (latency=5ms)")
        if time.perf_counter() - started < 0.004:
            raise Unexpected("fault latency=5ms answered at once")
        return True

    async def fault_truncate(self, conn: Connection, key: str) -> bool:
        try:
            answer = await conn.exchange(self.fixed[key]["fault_truncate"])
        except Closed:
            return True
        raise Unexpected(f"fault truncate=40 answered whole: {answer.status}")

    async def fault_rule(self, conn: Connection, key: str) -> bool:
        """Every third session list fails by rule: a 503 fault answer or the list itself."""
        answer = await conn.exchange(self.fixed[key]["fault_rule"])
        if is_fault_answer(answer, 503):
            return True
        expect(answer, "GET /sessions")
        return False


async def worker(load: Load, conn: Connection, key: str, deadline: float) -> None:
    tally = load.tally
    try:
        while time.monotonic() < deadline:
            name, request = load.pick()
            try:
                if await request(conn, key):
                    tally.injected += 1
            except Unexpected as error:
                tally.fail(f"{name}: {error}")
            except (Closed, OSError) as error:
                conn.close()
                tally.fail(f"{name}: {type(error).__name__}: {error}")
            tally.done[name] += 1
    finally:
        conn.close()


async def watchdog(connections: list[Connection]) -> None:
    """Closes a connection whose answer has not come in `TIMEOUT` seconds: its request then fails
    as unexpected (one timer for the run, not one per request)."""
    while True:
        await asyncio.sleep(1)
        now = time.monotonic()
        for conn in connections:
            if conn.busy_since is not None and now - conn.busy_since > TIMEOUT:
                conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (``/proc/PID/stat``), to tell a slow fake from a busy
    machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def report(load: Load, pid: int, started: float, deadline: float, interval: float) -> list[float]:
    """One line per interval; returns the RSS readings (MB), the first at start."""
    tally, rss = load.tally, [rss_mb(pid)]
    last, last_time = collections.Counter[str](), started
    last_cpu, last_own = cpu_seconds(pid), time.process_time()
    print(f"soak: RSS at start {rss[0]:.1f} MB", flush=True)
    while True:
        await asyncio.sleep(
            max(0.0, min(interval - (time.monotonic() - last_time), deadline - time.monotonic()))
        )
        now = time.monotonic()
        delta = tally.done - last
        try:
            rss.append(rss_mb(pid))
            cpu = cpu_seconds(pid)
        except (OSError, AttributeError):
            tally.fail("the server process is gone")
            rss.append(rss[-1])
            cpu = last_cpu
        own, span = time.process_time(), max(now - last_time, 1e-9)
        by_class = " ".join(f"{c}={delta[c]}" for c in CLASSES)
        rate = sum(delta.values()) / max(now - last_time, 1e-9)
        print(
            f"soak: t={now - started:5.0f}s {by_class} ({rate:.0f} req/s) injected={tally.injected} "
            f"unexpected={tally.unexpected} RSS={rss[-1]:.1f} MB ({rss[-1] - rss[-2]:+.1f}) "
            f"CPU server={(cpu - last_cpu) / span:.0%} load={(own - last_own) / span:.0%}",
            flush=True,
        )
        last, last_time = collections.Counter(tally.done), now
        last_cpu, last_own = cpu, own
        if now >= deadline:
            return rss


async def soak(
    port: int, pid: int, duration: float, interval: float, concurrency: int
) -> tuple[Tally, list[float]]:
    tally = Tally()
    load = Load("127.0.0.1", port, tally, seed=0)
    base = f"http://127.0.0.1:{port}"
    main_task = asyncio.current_task()
    for signum in (signal.SIGINT, signal.SIGTERM):  # stop quietly; main() stops the server
        asyncio.get_running_loop().add_signal_handler(signum, main_task.cancel)  # type: ignore[union-attr]
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:  # set-up and the checks after the run
        for key in KEYS:
            load.worlds[key] = await load.world(client, key)
        connections = [Connection(load.host, port) for _ in range(concurrency)]
        started = time.monotonic()
        deadline = started + duration
        workers = [
            asyncio.create_task(worker(load, conn, KEYS[i % len(KEYS)], deadline))
            for i, conn in enumerate(connections)
        ]
        guard = asyncio.create_task(watchdog(connections))
        try:
            rss = await report(load, pid, started, deadline, interval)
            await asyncio.gather(*workers)
        except asyncio.CancelledError:  # interrupted: the workers go before the client closes
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            guard.cancel()
        # the fake still answers, and every tenant's state still exports
        for key in KEYS:
            conn = Connection(load.host, port)
            try:
                await load.read_logs(conn, key)
            except (Unexpected, Closed, OSError) as error:
                tally.fail(f"read after the run: {error}")
            finally:
                conn.close()
        export = await client.get(f"{base}/__admin/state", timeout=300)
        if export.status_code != 200:
            tally.fail(f"GET /__admin/state after the run: {export.status_code} {export.text[:200]}")
        else:
            orjson.loads(export.content)  # the whole document is JSON
    return tally, rss


def start(port: int, rules: Path) -> subprocess.Popen[bytes]:
    command = [
        *pin(0),
        sys.executable,
        "-m",
        "specfake.cli",
        "serve",
        "--port",
        str(port),
        "--faults",
        str(rules),
    ]
    command += ["--stream-speed", os.environ.get("STREAM_SPEED", "0"), "--log-level", "warning"]
    for key in KEYS:
        command += ["--api-key", key]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process, 15)
            error = process.stderr.read().decode()[-2000:] if process.stderr else ""
            raise RuntimeError(f"specfake serve did not start: {error}")
        time.sleep(0.05)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM stops the run as Ctrl-C does: the server is stopped on the way out."""
    raise KeyboardInterrupt


def main() -> int:
    duration = float(os.environ.get("DURATION", "600"))
    interval = float(os.environ.get("INTERVAL", "60"))
    concurrency = int(os.environ.get("CONCURRENCY", "32"))
    if len(pin(1)) and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # the load on core 1, the server on core 0
    signal.signal(signal.SIGTERM, _interrupt)  # Ctrl-C raises KeyboardInterrupt already
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "faults.yaml"
        rules.write_text(RULES)
        try:
            process = start(port, rules)
        except RuntimeError as error:
            print(f"soak: {error}", file=sys.stderr)
            return 2
        print(
            f"soak: specfake serve pid {process.pid} on 127.0.0.1:{port}; {duration:.0f}s, "
            f"{concurrency} connections",
            flush=True,
        )
        try:
            tally, rss = asyncio.run(soak(port, process.pid, duration, interval, concurrency))
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("soak: interrupted; server stopped", file=sys.stderr)
            return 130
        finally:
            stop(process, 15)
    total = sum(tally.done.values())
    minutes = max(duration / 60, 1e-9)
    for sample in tally.samples:
        print(f"soak: unexpected: {sample}")
    verdict = "PASS" if tally.unexpected == 0 else "FAIL"
    print(
        f"soak: {verdict}: {total} requests in {duration:.0f}s ({total / duration:.0f} req/s; "
        + ", ".join(f"{c} {tally.done[c]}" for c in CLASSES)
        + f"), {tally.injected} faults injected, {tally.unexpected} unexpected errors; "
        f"RSS {rss[0]:.1f} -> {rss[-1]:.1f} MB ({(rss[-1] - rss[0]) / minutes:+.1f} MB/min)"
    )
    return 0 if tally.unexpected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
