"""``make soak``: mixed load on a ``specfake serve`` child for ``DURATION`` seconds (600 by default).

Reads (gets, lists), writes (Humanloop logs and feedback, SGP creates and patches), streams
(Humanloop ``POST /chat`` with ``stream: true``) and faults asked for on purpose (the
``X-Specfake-Fault`` header, and a ``--faults`` rule that fails every third session list). A fault
that did what it was told counts as *injected*; anything else that is not the normal answer is an
*unexpected* error, and one of those fails the run. Every ``INTERVAL`` seconds (60) a line gives the
requests by class, the unexpected errors and the server's RSS (``VmRSS``); the last line is the
verdict. The exit status is 1 on any unexpected error, 2 when the server cannot start.

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

from bench.run import pin, rss_mb
from specfake.server import free_port

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("soak-key-1", "soak-key-2")
CLASSES = ("read", "write", "stream", "fault")
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


def expect(response: httpx.Response, status: int = 200) -> Any:
    if response.status_code != status:
        raise Unexpected(
            f"{response.request.method} {response.request.url.path}: {response.status_code} "
            f"{response.text[:200]}"
        )
    return response.json()


def is_fault_answer(response: httpx.Response, status: int) -> bool:
    """The fake's own fault answer: that status and the API's error body saying so."""
    return response.status_code == status and "(specfake fault)" in response.text


class Load:
    def __init__(self, base: str, tally: Tally, seed: int) -> None:
        self.base = base
        self.tally = tally
        self.random = random.Random(seed)
        self.worlds: dict[str, World] = {}
        self.logs: dict[str, list[str]] = {key: [] for key in KEYS}

    async def world(self, client: httpx.AsyncClient, key: str) -> World:
        headers = {"x-api-key": key}
        project = expect(await client.get(f"{self.base}/humanloop/v4/projects", headers=headers))["records"][
            0
        ]["id"]
        logs = await client.get(
            f"{self.base}/humanloop/v4/logs", params={"project_id": project}, headers=headers
        )
        evaluations = await client.get(f"{self.base}/sgp/v4/evaluations", headers=headers)
        return World(project, expect(logs)["records"][0]["id"], expect(evaluations)["items"][0]["id"])

    def pick(self) -> tuple[str, Callable[[httpx.AsyncClient, str], Awaitable[bool]]]:
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

    @property
    def reads(self) -> list[Callable[[httpx.AsyncClient, str], Awaitable[bool]]]:
        return [
            self.read_projects,
            self.read_logs,
            self.read_log,
            self.read_evaluations,
            self.read_evaluation,
        ]

    @property
    def writes(self) -> list[Callable[[httpx.AsyncClient, str], Awaitable[bool]]]:
        return [
            self.write_log,
            self.write_log,
            self.write_feedback,
            self.write_evaluation,
            self.patch_evaluation,
        ]

    @property
    def faults(self) -> list[Callable[[httpx.AsyncClient, str], Awaitable[bool]]]:
        return [
            self.fault_status,
            self.fault_retry_after,
            self.fault_latency,
            self.fault_truncate,
            self.fault_rule,
        ]

    async def read_projects(self, client: httpx.AsyncClient, key: str) -> bool:
        expect(
            await client.get(
                f"{self.base}/humanloop/v4/projects", params={"size": 5}, headers={"x-api-key": key}
            )
        )
        return False

    async def read_logs(self, client: httpx.AsyncClient, key: str) -> bool:
        params: dict[str, str | int] = {"project_id": self.worlds[key].project, "size": 10}
        expect(await client.get(f"{self.base}/humanloop/v4/logs", params=params, headers={"x-api-key": key}))
        return False

    async def read_log(self, client: httpx.AsyncClient, key: str) -> bool:
        ids = self.logs[key]
        log = ids[self.random.randrange(len(ids))] if ids else self.worlds[key].log
        body = expect(await client.get(f"{self.base}/humanloop/v4/logs/{log}", headers={"x-api-key": key}))
        if body["id"] != log:
            raise Unexpected(f"GET /logs/{log} answered {body['id']}")
        return False

    async def read_evaluations(self, client: httpx.AsyncClient, key: str) -> bool:
        expect(
            await client.get(
                f"{self.base}/sgp/v4/evaluations", params={"limit": 10}, headers={"x-api-key": key}
            )
        )
        return False

    async def read_evaluation(self, client: httpx.AsyncClient, key: str) -> bool:
        evaluation = self.worlds[key].evaluation
        expect(await client.get(f"{self.base}/sgp/v4/evaluations/{evaluation}", headers={"x-api-key": key}))
        return False

    async def write_log(self, client: httpx.AsyncClient, key: str) -> bool:
        body = expect(
            await client.post(f"{self.base}/humanloop/v4/logs", json=LOG, headers={"x-api-key": key})
        )
        if len(self.logs[key]) < 10_000:
            self.logs[key].append(body["id"])
        return False

    async def write_feedback(self, client: httpx.AsyncClient, key: str) -> bool:
        """On a log of this run (one log collecting every feedback would slow its reads down)."""
        ids = self.logs[key]
        log = ids[self.random.randrange(len(ids))] if ids else self.worlds[key].log
        body = {"type": "rating", "value": "good", "data_id": log}
        expect(await client.post(f"{self.base}/humanloop/v4/feedback", json=body, headers={"x-api-key": key}))
        return False

    async def write_evaluation(self, client: httpx.AsyncClient, key: str) -> bool:
        expect(
            await client.post(f"{self.base}/sgp/v4/evaluations", json=SGP_CREATE, headers={"x-api-key": key})
        )
        return False

    async def patch_evaluation(self, client: httpx.AsyncClient, key: str) -> bool:
        url = f"{self.base}/sgp/v4/evaluations/{self.worlds[key].evaluation}"
        expect(
            await client.patch(
                url, json={"description": f"soak {self.random.random()}"}, headers={"x-api-key": key}
            )
        )
        return False

    async def stream(self, client: httpx.AsyncClient, key: str) -> bool:
        """A whole stream: every event is JSON, the last one finishes its sample."""
        url = f"{self.base}/humanloop/v4/chat"
        async with client.stream("POST", url, json=CHAT, headers={"x-api-key": key}) as response:
            if response.status_code != 200 or not response.headers["content-type"].startswith(
                "text/event-stream"
            ):
                raise Unexpected(
                    f"POST /chat stream: {response.status_code} {(await response.aread())[:200]!r}"
                )
            events = [line[5:].strip() async for line in response.aiter_lines() if line.startswith("data:")]
        if not events or orjson.loads(events[-1])["data"][0]["finish_reason"] is None:
            raise Unexpected(f"POST /chat stream ended without a finish_reason after {len(events)} events")
        return False

    async def fault_status(self, client: httpx.AsyncClient, key: str) -> bool:
        headers = {"x-api-key": key, "x-specfake-fault": "status=503"}
        response = await client.post(f"{self.base}/humanloop/v4/logs", json=LOG, headers=headers)
        if not is_fault_answer(response, 503):
            raise Unexpected(f"fault status=503 answered {response.status_code} {response.text[:200]}")
        return True

    async def fault_retry_after(self, client: httpx.AsyncClient, key: str) -> bool:
        headers = {"x-api-key": key, "x-specfake-fault": "status=429; retry-after=2"}
        response = await client.get(f"{self.base}/sgp/v4/evaluations", headers=headers)
        if not is_fault_answer(response, 429) or response.headers.get("retry-after") != "2":
            raise Unexpected(f"fault status=429 answered {response.status_code} {dict(response.headers)}")
        return True

    async def fault_latency(self, client: httpx.AsyncClient, key: str) -> bool:
        headers = {"x-api-key": key, "x-specfake-fault": "latency=5ms"}
        started = time.perf_counter()
        expect(await client.get(f"{self.base}/humanloop/v4/projects", headers=headers))
        if time.perf_counter() - started < 0.004:
            raise Unexpected("fault latency=5ms answered at once")
        return True

    async def fault_truncate(self, client: httpx.AsyncClient, key: str) -> bool:
        headers = {"x-api-key": key, "x-specfake-fault": "truncate=40"}
        try:
            response = await client.get(f"{self.base}/sgp/v4/evaluations", headers=headers)
        except httpx.RemoteProtocolError:
            return True
        raise Unexpected(f"fault truncate=40 answered whole: {response.status_code}")

    async def fault_rule(self, client: httpx.AsyncClient, key: str) -> bool:
        """Every third session list fails by rule: a 503 fault answer or the list itself."""
        params: dict[str, str | int] = {"project_id": self.worlds[key].project, "size": 5}
        url = f"{self.base}/humanloop/v4/sessions"
        response = await client.get(url, params=params, headers={"x-api-key": key})
        if is_fault_answer(response, 503):
            return True
        expect(response)
        return False


async def worker(load: Load, client: httpx.AsyncClient, key: str, deadline: float) -> None:
    tally = load.tally
    while time.monotonic() < deadline:
        name, request = load.pick()
        try:
            if await request(client, key):
                tally.injected += 1
            tally.done[name] += 1
        except Unexpected as error:
            tally.done[name] += 1
            tally.fail(f"{name}: {error}")
        except httpx.HTTPError as error:
            tally.done[name] += 1
            tally.fail(f"{name}: {type(error).__name__}: {error}")


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
    base: str, pid: int, duration: float, interval: float, concurrency: int
) -> tuple[Tally, list[float]]:
    tally = Tally()
    load = Load(base, tally, seed=0)
    main_task = asyncio.current_task()
    for signum in (signal.SIGINT, signal.SIGTERM):  # stop quietly; main() stops the server
        asyncio.get_running_loop().add_signal_handler(signum, main_task.cancel)  # type: ignore[union-attr]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        for key in KEYS:
            load.worlds[key] = await load.world(client, key)
        started = time.monotonic()
        deadline = started + duration
        workers = [
            asyncio.create_task(worker(load, client, KEYS[i % len(KEYS)], deadline))
            for i in range(concurrency)
        ]
        try:
            rss = await report(load, pid, started, deadline, interval)
            await asyncio.gather(*workers)
        except asyncio.CancelledError:  # interrupted: the workers go before the client closes
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        # the fake still answers, and every tenant's state still exports
        for key in KEYS:
            await load.read_logs(client, key)
        export = await client.get(f"{base}/__admin/state", timeout=300)
        if export.status_code != 200:
            tally.fail(f"GET /__admin/state after the run: {export.status_code} {export.text[:200]}")
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
            stop(process)
            error = process.stderr.read().decode()[-2000:] if process.stderr else ""
            raise RuntimeError(f"specfake serve did not start: {error}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
            tally, rss = asyncio.run(
                soak(f"http://127.0.0.1:{port}", process.pid, duration, interval, concurrency)
            )
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("soak: interrupted; server stopped", file=sys.stderr)
            return 130
        finally:
            stop(process)
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
