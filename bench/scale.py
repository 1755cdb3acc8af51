"""Memory and scale, black-box over HTTP on a served ``specfake serve`` (built-in world, any key):
bytes per stored log, RSS under endless POSTs, the cost of an idle tenant, a list page on a big
project against a small one, and the admin export while other requests wait (issue 17).

Everything is read from outside the process (``/proc/PID/status`` RSS, answers, wrk), so the
rows hold whatever the store does inside (compact bodies, retention caps, copy-on-write tenants,
O(page) lists, a streamed export). Two fresh processes: one holds the N logs (per-log bytes, the
list page, the export), the other measures new tenants before anything is stored, then the
sustained load, so no phase's freed memory hides another's growth.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from bench.serving import KEY, LOG_BODY, QUICK, parse_wrk, pin, post_script, rss_mb, server, wrk, wrk_command
from specfake.server import free_port

MIB = 1024 * 1024
N_LOGS = int(os.environ.get("BENCH_LOGS", "5000" if QUICK else "50000"))
TENANT_KEYS = int(os.environ.get("BENCH_TENANTS", "300" if QUICK else "2000"))
SAMPLE_GAP = float(os.environ.get("BENCH_SAMPLE_GAP", "5" if QUICK else "20"))
WARM_LOGS = 2000
SETTLE = 1.5  # seconds idle before an RSS reading: the fake collects fully when idle


def _fake() -> tuple[list[str], str, str]:
    port = free_port()
    command = [*pin(0), sys.executable, "-m", "specfake.cli", "serve", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    return command, base, base + "/humanloop/v4"


def _log_body(project: str) -> str:
    return LOG_BODY.replace('"project":"bench"', f'"project":"{project}"')


def _total(client: httpx.Client, project_id: str) -> int:
    answer = client.get("/logs", params={"project_id": project_id, "size": 1, "page": 1})
    answer.raise_for_status()
    return int(answer.json()["total"])


def post_logs(url: str, body: str, count: int, headers: dict[str, str]) -> dict[str, float]:
    """POST ``body`` until ``count`` answers came back (wrk, stopped by its Lua script's signal)."""
    script = post_script(body) + (
        "local answered = 0\n"
        "response = function(status, headers, body)\n"
        "  answered = answered + 1\n"
        f"  if answered == {count} then\n"
        "    io.stderr:write('done\\n'); io.stderr:flush(); wrk.thread:stop()\n"
        "  end\n"
        "end\n"
    )
    command, path = wrk_command(url, script, headers, duration="600s")
    try:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stderr is not None
        process.stderr.readline()  # "done", or "" if wrk ended first
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if path is not None:
            os.unlink(path)
    return parse_wrk(out)


def stored_and_lists() -> dict[str, Any]:
    """Bytes per stored log, a list page on N logs against one on 100, and the admin export."""
    command, base, hl = _fake()
    headers = {"X-API-KEY": KEY}
    out: dict[str, Any] = {"n": N_LOGS}
    with server(command, base + "/") as (process, _), httpx.Client(base_url=hl, headers=headers) as client:
        demo = client.get("/projects", params={"size": 1}).json()["records"][0]["id"]
        first = client.post(
            "/logs", content=_log_body("bench-big"), headers={"content-type": "application/json"}
        )
        first.raise_for_status()
        big = first.json()["project_id"]
        out["log_json_bytes"] = len(client.get(f"/logs/{first.json()['id']}").content)
        # The small project lives in a tenant of its own: a page that costs O(tenant) or
        # O(project) rather than O(page) then shows as a ratio above 1.
        small_key = {"X-API-KEY": KEY + "-small", "content-type": "application/json"}
        small_id = ""
        for _ in range(100):
            small = client.post("/logs", content=_log_body("bench-small"), headers=small_key)
            small.raise_for_status()
            small_id = small.json()["project_id"]
        # Warm-up writes first: the journal's ring (the last 1,000 requests) fills and allocator
        # pools settle, so the RSS difference below is what the N logs themselves cost.
        post_logs(hl + "/logs", _log_body("bench-big"), WARM_LOGS, headers)
        before_logs = _total(client, big)
        time.sleep(SETTLE)
        rss0 = rss_mb(process.pid)
        posted = post_logs(hl + "/logs", _log_body("bench-big"), N_LOGS, headers)
        time.sleep(SETTLE)
        rss1 = rss_mb(process.pid)
        stored = _total(client, big) - before_logs
        out.update(
            posted=posted["requests"],
            post_non_2xx=posted["non_2xx"],
            stored=stored,
            rss_before_mb=rss0,
            rss_after_mb=rss1,
            bytes_per_log=(rss1 - rss0) * MIB / max(stored, 1),
        )
        # The export first: the list pages' garbage would otherwise leave free memory behind
        # for the export to reuse, hiding its peak.
        out["export"] = export_under_load(process.pid, base, client, f"/projects/{demo}")
        page_duration = "1s" if QUICK else "3s"
        for name, project, key in (("page_big", big, headers), ("page_small", small_id, small_key)):
            url = f"{hl}/logs?project_id={project}&page=1&size=50"  # 0-based: items 50-99, full in both
            out[name] = wrk(
                url, headers={"X-API-KEY": key["X-API-KEY"]}, connections="1", duration=page_duration
            )
    return out


def export_under_load(pid: int, base: str, client: httpx.Client, probe: str) -> dict[str, float]:
    """``GET /__admin/state`` read to its end while another thread reads ``probe`` in a loop and a
    third samples the server's RSS every 5 ms: seconds, bytes, peak RSS delta, probe latencies."""
    quiet = []
    for _ in range(50):
        started = time.perf_counter()
        client.get(probe).raise_for_status()
        quiet.append((time.perf_counter() - started) * 1000)
    time.sleep(SETTLE)
    rss0 = rss_mb(pid)
    done = threading.Event()
    peak = [rss0]
    probes: list[float] = []

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.005)

    def read_probe() -> None:
        with httpx.Client(base_url=str(client.base_url), headers=client.headers, timeout=600) as own:
            while not done.is_set():
                started = time.perf_counter()
                own.get(probe)
                probes.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=sample), threading.Thread(target=read_probe)]
    for thread in threads:
        thread.start()
    time.sleep(0.05)  # the probe loop is running before the export starts
    size = 0
    started = time.perf_counter()
    try:
        with httpx.stream("GET", base + "/__admin/state", timeout=600) as answer:
            answer.raise_for_status()
            for piece in answer.iter_raw():
                size += len(piece)
        seconds = time.perf_counter() - started
    finally:
        done.set()
        for thread in threads:
            thread.join()
    return {
        "seconds": seconds,
        "mb": size / MIB,
        "peak_rss_delta_mb": peak[0] - rss0,
        "probe_max_ms": max(probes) if probes else float("nan"),
        "probes": float(len(probes)),
        "quiet_probe_median_ms": statistics.median(quiet),
    }


def tenants_and_sustained() -> dict[str, Any]:
    """RSS over ``TENANT_KEYS`` new keys doing one GET each, then RSS sampled ``SAMPLE_GAP`` seconds
    apart while wrk POSTs logs without pause."""
    command, base, hl = _fake()
    out: dict[str, Any] = {"keys": TENANT_KEYS, "gap_s": SAMPLE_GAP}
    with server(command, base + "/") as (process, _), httpx.Client(base_url=hl) as client:
        warm = {"X-API-KEY": KEY}
        demo = client.get("/projects", params={"size": 1}, headers=warm).json()["records"][0]["id"]
        client.get(f"/projects/{demo}", headers=warm).raise_for_status()
        time.sleep(SETTLE)
        rss0 = rss_mb(process.pid)
        accepted = refused = 0
        started = time.perf_counter()
        for number in range(TENANT_KEYS):
            answer = client.get(f"/projects/{demo}", headers={"X-API-KEY": f"bench-tenant-{number}"})
            if answer.status_code == 200:
                accepted += 1
            else:
                refused += 1
        seconds = time.perf_counter() - started
        time.sleep(SETTLE)
        rss1 = rss_mb(process.pid)
        # The same keys write one log each: the control that shows what a tenant costs once it
        # wrote, and that the RSS reading above could see a tenant's cost at all.
        wrote = 0
        for number in range(TENANT_KEYS):
            answer = client.post(
                "/logs",
                content=LOG_BODY,
                headers={"X-API-KEY": f"bench-tenant-{number}", "content-type": "application/json"},
            )
            wrote += answer.status_code == 200
        time.sleep(SETTLE)
        rss2 = rss_mb(process.pid)
        out.update(
            accepted=accepted,
            refused=refused,
            tenants_per_s=TENANT_KEYS / seconds,
            kb_per_tenant=(rss1 - rss0) * 1024 / max(accepted, 1),
            wrote=wrote,
            kb_per_written_tenant=(rss2 - rss0) * 1024 / max(wrote, 1),
        )
        first = 3.0
        duration = f"{int(first + 2 * SAMPLE_GAP + 2)}s"
        wrk_cmd, path = wrk_command(hl + "/logs", post_script(LOG_BODY), warm, duration=duration)
        try:
            load = subprocess.Popen(wrk_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(first)
            samples = [rss_mb(process.pid)]
            for _ in range(2):
                time.sleep(SAMPLE_GAP)
                samples.append(rss_mb(process.pid))
            stdout, _ = load.communicate(timeout=120)
        finally:
            if path is not None:
                os.unlink(path)
        out["sustained"] = {"samples_mb": samples, **parse_wrk(stdout)}
    return out


def run() -> dict[str, Any]:
    return {"logs": stored_and_lists(), "tenants": tenants_and_sustained()}


if __name__ == "__main__":
    print(run())
