"""``make bench``: every target of issue 17, measured in one run, each as a ratio to something
measured in the same run, with a verdict.

Throughput: the ceiling (``bench/ceiling_app.py``: a framework-free ASGI callable on the same
uvicorn, answering the very bytes the fake answered), bare Starlette, specfake serving the generic
two-operation contract (``bench/items.yaml``, no behaviour), specfake with the built-in world
(Humanloop, SGP), specfake with CPython's default collector, and Prism and WireMock on the same
contract when node / java are there (``bench/tools.py``): each one uvicorn (or node, or JVM)
process pinned to core 0, all up at once; wrk drives them in turn from core 1, ``BENCH_ROUNDS``
(3) interleaved rounds. Figures are medians over the rounds, ratios the median of the per-round
ratios, so a ratio never compares runs made under different machine load.

Then memory and scale (``bench/scale.py``), cold start, and streaming fidelity
(``bench/streaming.py``). ``BENCH_QUICK=1``: one round of 2 s runs, 5,000 logs, 300 keys, RSS
samples 5 s apart.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import scale, streaming, tools
from bench.serving import (
    CONNECTIONS,
    DURATION,
    ITEM_BODY,
    KEY,
    LOG_BODY,
    QUICK,
    ROOT,
    SGP_BODY,
    UVICORN_FLAGS,
    pin,
    rss_mb,
    server,
    wrk,
)
from specfake.server import free_port

__all__ = ["KEY", "LOG_BODY", "SGP_BODY", "main"]  # bench.profile

ITEMS = ROOT / "bench" / "items.yaml"
TARGETS = {
    "generic_get": 0.80,
    "generic_post": 0.70,
    "hl_project_get": 0.60,
    "hl_log_get": 0.60,
    "hl_log_post": 0.60,
    "p99_factor": 2.0,
    "cold_start_s": 1.0,
    "idle_rss_mb": 80.0,
    "bytes_per_log": 1024.0,
    "kb_per_tenant": 4.0,
    "page_ratio": 1.5,
    "export_probe_ms": 100.0,
}


def untuned_server(port: int) -> None:
    """``specfake serve`` (built-in world) without ``settle_gc``: the yardstick for the collector."""
    import uvicorn

    from specfake.app import create_app
    from specfake.server import uvicorn_config

    app = create_app(seed=0)
    uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, tune_gc=False)).run()


@dataclass
class Target:
    """One measured request: which server, which URL, what body, which ceiling it is held to."""

    name: str
    url: str
    body: str | None = None
    headers: dict[str, str] | None = None


@dataclass
class Servers:
    """What the throughput phase started and sampled."""

    targets: list[Target] = field(default_factory=list)
    idle: dict[str, float] = field(default_factory=dict)  # MiB right after start
    started: dict[str, float] = field(default_factory=dict)  # seconds to the first answer
    pids: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _sample(
    client: httpx.Client, method: str, url: str, body: str | None, headers: dict[str, str]
) -> httpx.Response:
    sent = {**headers, "content-type": "application/json"} if body is not None else headers
    answer = client.request(method, url, content=body, headers=sent)
    answer.raise_for_status()
    return answer


def _start(stack: ExitStack, found: Servers, name: str, command: list[str], ready: str, **kw: Any) -> None:
    process, seconds = stack.enter_context(server(command, ready, **kw))
    found.pids[name], found.started[name] = process.pid, seconds
    found.idle[name] = rss_mb(process.pid)


def _peer(stack: ExitStack, found: Servers, name: str, command: list[str], ready: str) -> bool:
    """Start Prism or WireMock; one that does not come up is a printed note, not a failed run."""
    try:
        _start(stack, found, name, command, ready, timeout=60)
    except RuntimeError as exc:
        found.notes.append(f"{name} row skipped: {str(exc).splitlines()[0][:200]}")
        return False
    return True


def start_servers(stack: ExitStack, work: Path) -> Servers:
    """Start every server, sample the fake's answers, start the ceiling answering those bytes."""
    found = Servers()
    ports = {
        name: free_port() for name in ("generic", "full", "untuned", "bare", "ceiling", "prism", "wiremock")
    }
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    fake = [*pin(0), sys.executable, "-m", "specfake.cli", "serve"]
    _start(stack, found, "full", [*fake, "--port", str(ports["full"])], url["full"] + "/")
    _start(
        stack,
        found,
        "generic",
        [*fake, "--port", str(ports["generic"]), "--contract", str(ITEMS), "--empty", "--api-key", KEY],
        url["generic"] + "/",
    )
    untuned = [
        *pin(0),
        sys.executable,
        "-c",
        f"from bench.run import untuned_server; untuned_server({ports['untuned']})",
    ]
    _start(stack, found, "untuned", untuned, url["untuned"] + "/")
    bare = [
        *pin(0),
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare_app:app",
        "--port",
        str(ports["bare"]),
        *UVICORN_FLAGS,
    ]
    _start(stack, found, "bare", bare, url["bare"] + "/items/seed")

    key = {"X-API-Key": KEY}
    hl_key = {"X-API-KEY": KEY}
    items, hl, sgp = (
        url["generic"] + "/items/v1/items",
        url["full"] + "/humanloop/v4",
        url["full"] + "/sgp/v4",
    )
    routes: dict[str, tuple[int, str]] = {}
    with httpx.Client() as client:
        made = _sample(client, "POST", items, ITEM_BODY, key)
        item_get = _sample(client, "GET", f"{items}/{made.json()['id']}", None, key)
        project = client.get(f"{hl}/projects", params={"size": 1}, headers=hl_key).json()["records"][0]["id"]
        log = client.get(f"{hl}/logs", params={"project_id": project, "size": 1}, headers=hl_key).json()
        log_id = log["records"][0]["id"]
        samples = {
            "generic_get": (f"{items}/{made.json()['id']}", item_get),
            "generic_post": (items, made),
            "hl_project_get": (
                f"{hl}/projects/{project}",
                _sample(client, "GET", f"{hl}/projects/{project}", None, hl_key),
            ),
            "hl_log_get": (
                f"{hl}/logs/{log_id}",
                _sample(client, "GET", f"{hl}/logs/{log_id}", None, hl_key),
            ),
            "hl_log_post": (f"{hl}/logs", _sample(client, "POST", f"{hl}/logs", LOG_BODY, hl_key)),
        }
        evaluation = _sample(client, "POST", f"{sgp}/evaluations", SGP_BODY, {"x-api-key": KEY}).json()["id"]
    for target, answer in samples.values():
        path = httpx.URL(target).path
        routes[f"{answer.request.method} {path}"] = (answer.status_code, answer.text)
    table = work / "ceiling.json"
    table.write_text(json.dumps(routes))
    ceiling = [
        *pin(0),
        sys.executable,
        "-m",
        "uvicorn",
        "bench.ceiling_app:app",
        "--port",
        str(ports["ceiling"]),
    ]
    _start(
        stack,
        found,
        "ceiling",
        [*ceiling, *UVICORN_FLAGS],
        url["ceiling"] + "/",
        env={"BENCH_CEILING_ROUTES": str(table)},
    )

    bodies = {"generic_post": ITEM_BODY, "hl_log_post": LOG_BODY}
    with httpx.Client() as client:
        for name, (target, answer) in samples.items():
            headers = key if name.startswith("generic") else hl_key
            body = bodies.get(name)
            found.targets.append(Target(name, target, body, headers))
            path = httpx.URL(target).path
            found.targets.append(Target("ceiling_" + name, url["ceiling"] + path, body, headers))
            # The ceiling must answer what the fake answered, or its row compares unlike things.
            echoed = _sample(client, answer.request.method, url["ceiling"] + path, body, headers)
            if (echoed.status_code, echoed.content) != (answer.status_code, answer.content):
                raise RuntimeError(f"the ceiling does not answer {name} as the fake did")
    found.targets += [
        Target("bare_get", url["bare"] + "/items/seed"),
        Target("bare_post", url["bare"] + "/items", ITEM_BODY),
        Target("sgp_get", f"{sgp}/evaluations/{evaluation}", None, {"x-api-key": KEY}),
        Target("sgp_post", f"{sgp}/evaluations", SGP_BODY, {"x-api-key": KEY}),
        Target("untuned_hl_log_post", url["untuned"] + "/humanloop/v4/logs", LOG_BODY, hl_key),
    ]

    item_path = "/items/" + made.json()["id"]
    prism = tools.prism(ITEMS, ports["prism"])
    if prism.command is None:
        found.notes.append(prism.note)
    elif _peer(stack, found, "prism", [*pin(0), *prism.command], url["prism"] + item_path):
        found.targets += [
            Target("prism_get", url["prism"] + item_path, None, key),
            Target("prism_post", url["prism"] + "/items", ITEM_BODY, key),
        ]
    stubs: list[dict[str, object]] = [
        {
            "request": {"method": "GET", "urlPathPattern": "/items/[^/]+"},
            "response": {
                "status": item_get.status_code,
                "body": item_get.text,
                "headers": {"Content-Type": "application/json"},
            },
        },
        {
            "request": {"method": "POST", "urlPath": "/items"},
            "response": {
                "status": made.status_code,
                "body": made.text,
                "headers": {"Content-Type": "application/json"},
            },
        },
    ]
    wiremock = tools.wiremock(ports["wiremock"], work / "wiremock", stubs)
    if wiremock.command is None:
        found.notes.append(wiremock.note)
    elif _peer(stack, found, "wiremock", [*pin(0), *wiremock.command], url["wiremock"] + item_path):
        found.targets += [
            Target("wiremock_get", url["wiremock"] + item_path, None, key),
            Target("wiremock_post", url["wiremock"] + "/items", ITEM_BODY, key),
        ]
        # The JVM compiles its hot paths over the first seconds: warm it longer than the rest.
        for warm in found.targets[-2:]:
            wrk(warm.url, body=warm.body, headers=warm.headers, duration="2s")
    return found


def throughput(rounds: int) -> tuple[dict[str, list[dict[str, float]]], Servers, dict[str, float]]:
    """Every target ``rounds`` times, in turn: the per-round figures, the servers, RSS after load."""
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="specfake-bench-") as work:
        found = start_servers(stack, Path(work))
        # One short pass first: no server's first figure includes its warm-up (imports on first
        # use, caches, the JVM's compiler), then ``rounds`` measured passes.
        for target in found.targets:
            wrk(target.url, body=target.body, headers=target.headers, duration="1s")
        runs: dict[str, list[dict[str, float]]] = {}
        for _ in range(rounds):
            for target in found.targets:
                runs.setdefault(target.name, []).append(
                    wrk(target.url, body=target.body, headers=target.headers)
                )
        after = {name: rss_mb(pid) for name, pid in found.pids.items()}
        return runs, found, after


def cold_start(runs: int) -> tuple[float, float]:
    """Median seconds from spawning to the first answer: ``specfake serve`` (built-in world), and the
    ceiling app on the same uvicorn."""
    fake, ceiling = [], []
    for _ in range(runs):
        port = free_port()
        command = [sys.executable, "-m", "specfake.cli", "serve", "--port", str(port)]
        with server(command, f"http://127.0.0.1:{port}/") as (_, started):
            fake.append(started)
        port = free_port()
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.ceiling_app:app",
            "--port",
            str(port),
            *UVICORN_FLAGS,
        ]
        with server(command, f"http://127.0.0.1:{port}/") as (_, started):
            ceiling.append(started)
    return statistics.median(fake), statistics.median(ceiling)


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(
        self, label: str, measured: str, target: str = "", ratio: str = "", verdict: str = "info"
    ) -> None:
        self.rows.append((label, measured, target, ratio, verdict))

    def check(self, label: str, measured: str, target: str, ratio: str, ok: bool) -> None:
        self.add(label, measured, target, ratio, "ok" if ok else "MISS")

    def print(self) -> None:
        widths = [max(len(row[i]) for row in self.rows) for i in range(5)]
        header = ("row", "measured", "target", "ratio", "verdict")
        widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
        for row in (header, *self.rows):
            cells = [
                row[0].ljust(widths[0]),
                *(cell.rjust(width) for cell, width in zip(row[1:4], widths[1:4], strict=True)),
            ]
            print("  ".join([*cells, row[4]]))


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def _ratio(runs: dict[str, list[dict[str, float]]], a: str, b: str, key: str = "rps") -> float:
    """The median over rounds of a's figure over b's in the same round."""
    return statistics.median(x[key] / y[key] for x, y in zip(runs[a], runs[b], strict=True))


def throughput_rows(table: Table, runs: dict[str, list[dict[str, float]]]) -> None:
    labels = {
        "generic_get": "generic GET /items/{id}",
        "generic_post": "generic POST /items (validated+stored)",
        "hl_project_get": "humanloop GET /projects/{id} (demo world)",
        "hl_log_get": "humanloop GET /logs/{id} (demo world)",
        "hl_log_post": "humanloop POST /logs (validated+stored)",
    }
    for name, label in labels.items():
        ceiling = "ceiling_" + name
        table.add(f"ceiling: {label} req/s", f"{_median(runs[ceiling], 'rps'):,.0f}")
        m = runs[name]
        ratio = _ratio(runs, name, ceiling)
        errors = sum(r["non_2xx"] + r["socket_errors"] for r in m)
        ok = ratio >= TARGETS[name] and errors == 0
        note = "" if errors == 0 else f" ({errors:.0f} errors)"
        table.check(
            f"specfake {label} req/s{note}",
            f"{_median(m, 'rps'):,.0f}",
            f">= {TARGETS[name]:.2f}x",
            f"{ratio:.2f}x ceil",
            ok,
        )
    for name, label in labels.items():
        ceiling = "ceiling_" + name
        p99, base = _median(runs[name], "p99_ms"), _median(runs[ceiling], "p99_ms")
        ratio = _ratio(runs, name, ceiling, "p99_ms")
        factor = TARGETS["p99_factor"]
        table.check(
            f"specfake {label} p99 (ceiling {base:.2f} ms)",
            f"{p99:.2f} ms",
            f"<= {factor:g}x",
            f"{ratio:.2f}x ceil",
            ratio <= factor,
        )
    for kind in ("get", "post"):
        ratio = _ratio(runs, f"bare_{kind}", f"ceiling_generic_{kind}")
        table.add(
            f"bare Starlette {kind.upper()} req/s",
            f"{_median(runs[f'bare_{kind}'], 'rps'):,.0f}",
            "",
            f"{ratio:.2f}x ceil",
        )
        table.add(f"bare Starlette {kind.upper()} p99", f"{_median(runs[f'bare_{kind}'], 'p99_ms'):.2f} ms")
    for tool in ("prism", "wiremock"):
        for kind in ("get", "post"):
            name = f"{tool}_{kind}"
            if name not in runs:
                continue
            errors = sum(r["non_2xx"] + r["socket_errors"] for r in runs[name])
            note = "" if errors == 0 else f" ({errors:.0f} errors)"
            ratio = _ratio(runs, name, f"generic_{kind}")
            ceil = _ratio(runs, name, f"ceiling_generic_{kind}")
            label = f"{'Prism' if tool == 'prism' else 'WireMock'} generic {kind.upper()} req/s{note}"
            table.add(
                label, f"{_median(runs[name], 'rps'):,.0f}", "", f"{ceil:.2f}x ceil, {ratio:.2f}x specfake"
            )
            table.add(f"{label.split(' req/s')[0]} p99", f"{_median(runs[name], 'p99_ms'):.2f} ms")
    for name, label in (
        ("sgp_get", "sgp GET /evaluations/{id}"),
        ("sgp_post", "sgp POST /evaluations (validated+stored)"),
    ):
        kind = name.split("_")[1]
        ratio = _ratio(runs, name, f"bare_{kind}")
        table.add(f"specfake {label} req/s", f"{_median(runs[name], 'rps'):,.0f}", "", f"{ratio:.2f}x bare")
        table.add(f"specfake {label} p99", f"{_median(runs[name], 'p99_ms'):.2f} ms")
    ratio = _ratio(runs, "untuned_hl_log_post", "hl_log_post")
    table.add(
        "specfake humanloop POST /logs req/s, collector untuned",
        f"{_median(runs['untuned_hl_log_post'], 'rps'):,.0f}",
        "",
        f"{ratio:.2f}x tuned",
    )
    table.add(
        "specfake humanloop POST /logs p99, collector untuned",
        f"{_median(runs['untuned_hl_log_post'], 'p99_ms'):.2f} ms",
    )


def scale_rows(table: Table, found: dict[str, Any]) -> None:
    logs, tenants = found["logs"], found["tenants"]
    stored = logs["stored"]
    rss = f"RSS {logs['rss_before_mb']:.0f}->{logs['rss_after_mb']:.0f} MiB"
    table.check(
        f"bytes per stored log ({stored:,} stored; {rss})",
        f"{logs['bytes_per_log']:,.0f} B",
        f"<= {TARGETS['bytes_per_log']:,.0f} B",
        f"{logs['bytes_per_log'] / logs['log_json_bytes']:.1f}x its JSON",
        logs["bytes_per_log"] <= TARGETS["bytes_per_log"] and logs["post_non_2xx"] == 0,
    )
    sustained = tenants["sustained"]
    samples = sustained["samples_mb"]
    growth = [b - a for a, b in itertools.pairwise(samples)]
    flat = growth[-1] <= max(2.0, 0.01 * samples[-1])
    table.add(
        f"RSS under sustained POST /logs ({sustained['rps']:,.0f} req/s), "
        f"samples {tenants['gap_s']:g} s apart",
        " / ".join(f"{s:.0f}" for s in samples) + " MiB",
    )
    table.check(
        "RSS growth per sample under sustained POST /logs",
        " / ".join(f"{g:+.1f}" for g in growth) + " MiB",
        "flat (last <= max(2 MiB, 1%))",
        f"{growth[-1] / growth[0]:.2f}x first" if growth[0] > 0 else "",
        flat,
    )
    refused = f", {tenants['refused']} refused" if tenants["refused"] else ""
    table.check(
        f"idle tenant in any-key mode ({tenants['accepted']:,} new keys, one GET each{refused})",
        f"{tenants['kb_per_tenant']:,.1f} KB",
        f"<= {TARGETS['kb_per_tenant']:g} KB",
        f"= {tenants['kb_per_tenant'] * 1024 / max(logs['bytes_per_log'], 1):.1f} logs",
        tenants["kb_per_tenant"] <= TARGETS["kb_per_tenant"],
    )
    table.add(
        f"control: the same tenants after one POST /logs each ({tenants['wrote']:,} wrote)",
        f"{tenants['kb_per_written_tenant']:,.1f} KB",
        "",
        f"{tenants['kb_per_written_tenant'] / max(tenants['kb_per_tenant'], 0.1):.0f}x idle",
    )
    table.add("new tenants per second (one GET each, sequential client)", f"{tenants['tenants_per_s']:,.0f}")
    big, small = logs["page_big"]["p50_ms"], logs["page_small"]["p50_ms"]
    table.check(
        f"list page 1 (size 50), median: {stored + 1:,} logs vs 100 in a new tenant ({small:.2f} ms)",
        f"{big:.2f} ms",
        f"ratio ~1 (<= {TARGETS['page_ratio']:g}x)",
        f"{big / small:.2f}x small",
        big / small <= TARGETS["page_ratio"],
    )
    export = logs["export"]
    table.add(
        f"admin export GET /__admin/state ({stored + 1:,} logs, {export['mb']:.0f} MiB)",
        f"{export['seconds']:.2f} s",
    )
    table.add(
        "admin export peak RSS delta",
        f"{export['peak_rss_delta_mb']:.0f} MiB",
        "",
        f"{export['peak_rss_delta_mb'] / max(export['mb'], 1e-9):.1f}x its size",
    )
    table.check(
        f"max GET /projects/{{id}} latency during export ({export['probes']:.0f} reads)",
        f"{export['probe_max_ms']:.1f} ms",
        f"< {TARGETS['export_probe_ms']:g} ms",
        f"{export['probe_max_ms'] / export['quiet_probe_median_ms']:.0f}x quiet median",
        export["probe_max_ms"] < TARGETS["export_probe_ms"],
    )


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench: wrk is needed (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    rounds = int(os.environ.get("BENCH_ROUNDS", "1" if QUICK else "3"))
    load = os.getloadavg()
    print(
        f"bench{' (quick)' if QUICK else ''}: wrk -t1 -c{CONNECTIONS} -d{DURATION}; "
        f"servers pinned to core 0, wrk to core 1; medians of {rounds} interleaved rounds; "
        f"load average at start {load[0]:.2f}"
    )
    runs, found, after = throughput(rounds)
    for note in found.notes:
        print(f"bench: {note}")
    print()
    table = Table()
    throughput_rows(table, runs)
    cold, ceiling_cold = cold_start(3 if QUICK else 5)
    table.check(
        "specfake cold start (built-in world)",
        f"{cold:.2f} s",
        f"< {TARGETS['cold_start_s']:g} s",
        f"{cold / ceiling_cold:.1f}x ceil",
        cold < TARGETS["cold_start_s"],
    )
    idle = found.idle["full"]
    table.check(
        "specfake idle RSS (built-in world)",
        f"{idle:.1f} MiB",
        f"< {TARGETS['idle_rss_mb']:g} MiB",
        f"{idle / found.idle['ceiling']:.1f}x ceil",
        idle < TARGETS["idle_rss_mb"],
    )
    table.add(
        "specfake RSS after load (built-in world)",
        f"{after['full']:.1f} MiB",
        "",
        f"{after['full'] / after['ceiling']:.1f}x ceil",
    )
    table.add(
        "specfake RSS after load (generic contract)",
        f"{after['generic']:.1f} MiB",
        "",
        f"{after['generic'] / after['bare']:.1f}x bare",
    )
    scale_rows(table, scale.run())
    stream = streaming.run()
    limits = streaming.TARGETS
    gaps, requests = stream["gaps_measured"], stream["ttfb_requests"]
    for label, key, limit in (
        (f"stream gap error median, speed 1 ({gaps} gaps)", "gap_median_ms", "gap_median_ms"),
        ("stream gap error p95, speed 1", "gap_p95_ms", "gap_p95_ms"),
        (f"stream first byte median, speed 0 ({requests} req)", "ttfb_median_ms", "ttfb_ms"),
        ("stream first byte p95, speed 0", "ttfb_p95_ms", "ttfb_ms"),
    ):
        ratio = f"{stream[key] / limits[limit]:.2f}x limit"
        table.check(
            label, f"{stream[key]:.2f} ms", f"< {limits[limit]:g} ms", ratio, stream[key] < limits[limit]
        )
    table.print()
    end = os.getloadavg()
    print(f"\nload average at end {end[0]:.2f} (1 min), {end[1]:.2f} (5 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
