"""``make bench``: specfake's speed, latency, start-up and memory, side by side with bare Starlette.

Bare Starlette, specfake and specfake with CPython's default collector settings (the effect of
``specfake.server.settle_gc``) each run one uvicorn process pinned to core 0, all started at once;
wrk drives them in turn from core 1 over loopback, ``BENCH_ROUNDS`` (3) rounds, and every figure
is the median over the rounds, so a ratio never compares runs made under different machine load.
"RSS after load" is after all rounds. Every figure comes from this run; targets are printed next
to what was measured, with the ratio to bare Starlette. Streaming fidelity (bench/streaming.py:
replayed gaps against the recording at speed 1, first byte at speed 0) runs last, over a real
socket."""

from __future__ import annotations

import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from bench import streaming
from specfake.server import free_port

ROOT = Path(__file__).resolve().parents[1]
DURATION = os.environ.get("BENCH_DURATION", "5s")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "64")
KEY = "bench-key"
TARGETS = {"get_rps": 20_000, "post_rps": 15_000, "p99_ms": 5.0, "cold_start_s": 1.0}
SGP_BODY = (
    '{"account_id":"acct_bench","application_spec_id":"app_bench","name":"bench run",'
    '"description":"load","type":"default"}'
)
LOG_BODY = (
    '{"project":"bench","inputs":{"q":"hi"},"output":"hello there","source":"bench",'
    '"config":{"type":"model","model":"gpt-4o"}}'
)


def pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


@contextmanager
def server(command: list[str], ready_url: str) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = started + 30
        while True:
            try:
                if httpx.get(ready_url, timeout=0.5).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"{command[0]} did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.005)
        yield process, time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wrk(url: str, *, body: str | None = None, headers: dict[str, str] | None = None) -> dict[str, float]:
    script = None
    command = [*pin(1), "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}", "--latency"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if body is not None:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(
            f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[{body}]]\n'
        )
        script.close()
        command += ["-s", script.name]
    try:
        out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    finally:
        if script is not None:
            os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "p99_ms": p99,
        "non_2xx": float(bad.group(1)) if bad else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def untuned_server(port: int) -> None:
    """``specfake serve --empty`` without ``settle_gc``: the bench's yardstick for the collector."""
    import uvicorn

    from specfake.app import create_app
    from specfake.server import uvicorn_config

    app = create_app(seed=0, api_keys=[KEY])
    uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, tune_gc=False)).run()


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds (the non-2xx count: their sum)."""
    out = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    out["non_2xx"] = sum(run["non_2xx"] for run in runs)
    return out


def bench_servers(rounds: int) -> dict[str, dict[str, float]]:
    """Bare Starlette, specfake and specfake with an untuned collector, all up at once on core 0,
    measured in turn, ``rounds`` times over: every ratio compares runs minutes apart at most, on
    a machine whose load may drift. Figures are medians over the rounds."""
    bare_port, fake_port, untuned_port = free_port(), free_port(), free_port()
    bare_cmd = [*pin(0), sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(bare_port)]
    bare_cmd += ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
    fake_cmd = [*pin(0), sys.executable, "-m", "specfake.cli", "serve", "--port", str(fake_port), "--empty"]
    fake_cmd += ["--api-key", KEY]
    untuned_cmd = [
        *pin(0),
        sys.executable,
        "-c",
        f"from bench.run import untuned_server; untuned_server({untuned_port})",
    ]
    bare, fake, untuned = (f"http://127.0.0.1:{port}" for port in (bare_port, fake_port, untuned_port))
    with ExitStack() as stack:
        bare_process, bare_started = stack.enter_context(server(bare_cmd, f"{bare}/items/seed"))
        fake_process, fake_started = stack.enter_context(server(fake_cmd, f"{fake}/"))
        stack.enter_context(server(untuned_cmd, f"{untuned}/"))
        bare_idle, fake_idle = rss_mb(bare_process.pid), rss_mb(fake_process.pid)
        sgp = {"x-api-key": KEY}
        created = httpx.post(
            f"{fake}/sgp/v4/evaluations",
            content=SGP_BODY,
            headers={**sgp, "content-type": "application/json"},
        )
        created.raise_for_status()
        evaluation = created.json()["id"]
        hl = {"X-API-KEY": KEY}
        # The project read is not the one logged to, so every round reads the same shape.
        project = httpx.post(f"{fake}/humanloop/v4/projects", json={"name": "bench-read"}, headers=hl)
        project.raise_for_status()
        project_id = project.json()["id"]
        runs: dict[str, list[dict[str, float]]] = {}
        for _ in range(rounds):
            for name, url, body, headers in (
                ("bare_get", f"{bare}/items/seed", None, None),
                ("sgp_get", f"{fake}/sgp/v4/evaluations/{evaluation}", None, sgp),
                ("hl_get", f"{fake}/humanloop/v4/projects/{project_id}", None, hl),
                ("bare_post", f"{bare}/items", SGP_BODY, None),
                ("sgp_post", f"{fake}/sgp/v4/evaluations", SGP_BODY, sgp),
                ("hl_post", f"{fake}/humanloop/v4/logs", LOG_BODY, hl),
                ("untuned_hl_post", f"{untuned}/humanloop/v4/logs", LOG_BODY, hl),
            ):
                runs.setdefault(name, []).append(wrk(url, body=body, headers=headers))
        out = {name: _median(found) for name, found in runs.items()}
        out["bare_start"] = {
            "seconds": bare_started,
            "rss_idle_mb": bare_idle,
            "rss_after_mb": rss_mb(bare_process.pid),
        }
        out["start"] = {
            "seconds": fake_started,
            "rss_idle_mb": fake_idle,
            "rss_after_mb": rss_mb(fake_process.pid),
        }
        return out


def cold_start(runs: int = 5) -> float:
    """Median seconds from spawning ``specfake serve`` (built-in world) to its first answer."""
    times = []
    for _ in range(runs):
        port = free_port()
        command = [sys.executable, "-m", "specfake.cli", "serve", "--port", str(port)]
        with server(command, f"http://127.0.0.1:{port}/") as (_, started):
            times.append(started)
    return sorted(times)[len(times) // 2]


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench: wrk is needed (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    print(
        f"bench: wrk -t1 -c{CONNECTIONS} -d{DURATION}; servers pinned to core 0, wrk to core 1; "
        f"medians of {rounds} interleaved rounds\n"
    )
    measured = bench_servers(rounds)
    bare = {"get": measured["bare_get"], "post": measured["bare_post"], "start": measured["bare_start"]}
    untuned = measured["untuned_hl_post"]
    fake = {name: measured[name] for name in ("sgp_get", "sgp_post", "hl_get", "hl_post", "start")}
    cold = cold_start()
    rows = []

    def row(label: str, measured: float, unit: str, target: str, ok: bool, ratio: str = "") -> None:
        rows.append((label, f"{measured:,.1f} {unit}", target, ratio, "ok" if ok else "MISSED"))

    for kind, key, target in (("GET", "get", "get_rps"), ("POST", "post", "post_rps")):
        base = bare[key]["rps"]
        row(f"bare Starlette {kind} req/s", base, "", "", True)
        for api in ("sgp", "hl"):
            m = fake[f"{api}_{key}"]
            label = f"specfake {api} {kind} req/s" + (" (validated+stored)" if kind == "POST" else "")
            ok = m["rps"] >= TARGETS[target] and m["non_2xx"] == 0
            row(label, m["rps"], "", f">= {TARGETS[target]:,}", ok, f"{m['rps'] / base:.2f}x bare")
    for kind in ("get", "post"):
        row(f"bare Starlette {kind} p99", bare[kind]["p99_ms"], "ms", "", True)
    for name, m in fake.items():
        if name != "start":
            row(f"specfake {name} p99", m["p99_ms"], "ms", "< 5 ms", m["p99_ms"] < TARGETS["p99_ms"])
            if m["non_2xx"]:
                row(f"specfake {name} non-2xx answers", m["non_2xx"], "", "0", False)
    hl_post = fake["hl_post"]
    row("specfake hl_post req/s, collector untuned", untuned["rps"], "", "", True,
        f"{untuned['rps'] / hl_post['rps']:.2f}x tuned")  # fmt: skip
    row("specfake hl_post p99, collector untuned", untuned["p99_ms"], "ms", "", True)
    row("specfake cold start (built-in world)", cold, "s", "< 1 s", cold < TARGETS["cold_start_s"])
    row("bare Starlette cold start", bare["start"]["seconds"], "s", "", True)
    ratio = fake["start"]["rss_idle_mb"] / bare["start"]["rss_idle_mb"]
    row("specfake RSS idle", fake["start"]["rss_idle_mb"], "MB", "", True, f"{ratio:.2f}x bare")
    row("specfake RSS after load", fake["start"]["rss_after_mb"], "MB", "", True)
    row("bare RSS after load", bare["start"]["rss_after_mb"], "MB", "", True)
    stream = streaming.run()
    limits = streaming.TARGETS
    gaps, requests = stream["gaps_measured"], stream["ttfb_requests"]
    for label, key, limit in (
        (f"stream gap error median, speed 1 ({gaps} gaps)", "gap_median_ms", "gap_median_ms"),
        ("stream gap error p95, speed 1", "gap_p95_ms", "gap_p95_ms"),
        (f"stream first byte median, speed 0 ({requests} req)", "ttfb_median_ms", "ttfb_ms"),
        ("stream first byte p95, speed 0", "ttfb_p95_ms", "ttfb_ms"),
    ):
        row(label, stream[key], "ms", f"< {limits[limit]:g} ms", stream[key] < limits[limit])
    width = max(len(r[0]) for r in rows)
    for label, measured, target, ratio_text, verdict in rows:
        print(f"{label:<{width}}  {measured:>14}  {target:>10}  {ratio_text:>12}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
