"""What every bench phase shares: starting a server process and waiting for it, driving it with
wrk, and reading a process's RSS. Black-box on purpose: the rows hold whatever the fake does
inside."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
DURATION = os.environ.get("BENCH_DURATION", "2s" if QUICK else "5s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "64")
KEY = "bench-key"
SGP_BODY = (
    '{"account_id":"acct_bench","application_spec_id":"app_bench","name":"bench run",'
    '"description":"load","type":"default"}'
)
LOG_BODY = (
    '{"project":"bench","inputs":{"q":"hi"},"output":"hello there","source":"bench",'
    '"config":{"type":"model","model":"gpt-4o"}}'
)
ITEM_BODY = '{"name":"widget","quantity":3,"tags":["bench"]}'
UVICORN_FLAGS = ["--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
UVICORN_FLAGS += ["--no-server-header", "--no-date-header", "--host", "127.0.0.1"]


def pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


@contextmanager
def server(
    command: list[str], ready_url: str, env: dict[str, str] | None = None, timeout: float = 30
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Start ``command``; yield (process, seconds until ``ready_url`` answered below 500); stop it."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = started + timeout
        while True:
            try:
                if httpx.get(ready_url, timeout=0.5).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.perf_counter() > deadline:
                assert process.stderr is not None
                if process.poll() is None:
                    process.kill()
                raise RuntimeError(f"{command[0]} did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.005)
        yield process, time.perf_counter() - started
    finally:
        stop(process, 10)


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Ctrl-C first (uvicorn's clean shutdown), a kill past ``timeout`` seconds; always reaped."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def post_script(body: str) -> str:
    return f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[{body}]]\n'


def wrk_command(
    url: str,
    script: str | None,
    headers: dict[str, str] | None,
    connections: str = CONNECTIONS,
    duration: str = DURATION,
) -> tuple[list[str], str | None]:
    """The wrk command line (pinned to core 1) and the temporary Lua file it names, if any."""
    command = [*pin(1), "wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    path = None
    if script is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
            file.write(script)
        path = file.name
        command += ["-s", path]
    return [*command, url], path


def wrk(
    url: str,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    connections: str = CONNECTIONS,
    duration: str = DURATION,
) -> dict[str, float]:
    """One wrk run: req/s, p50/p99 ms, non-2xx answers, whether any socket error happened."""
    command, path = wrk_command(
        url, None if body is None else post_script(body), headers, connections, duration
    )
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        if path is not None:
            os.unlink(path)
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, float]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests": float(total.group(1)) if total else 0.0,
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
