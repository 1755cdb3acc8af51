"""In-process cost of the hot paths: requests driven straight through the ASGI app, no socket.

``python -m bench.profile`` prints microseconds per request for each scenario (the same requests
``make bench`` sends, plus two lists); ``--profile NAME`` runs one scenario under cProfile and
prints the top functions; ``--dump FILE`` writes every answer of a fixed request sequence (seeded,
stepping clock) so two versions of the code can be compared byte for byte.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from bench.run import KEY, LOG_BODY, SGP_BODY
from specfake.app import SpecfakeApp, create_app
from specfake.clock import SteppingClock
from specfake.http import http_scope

Request = tuple[str, str, bytes, bytes]  # method, path, query, body


def make_app(clock: SteppingClock | None = None) -> SpecfakeApp:
    return create_app(seed=7, api_keys=[KEY], clock=clock)


async def call(
    app: SpecfakeApp,
    method: str,
    path: str,
    query: bytes = b"",
    body: bytes = b"",
    sent_headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request through the app; returns (status, body). ``sent_headers`` (lower-case names)
    replace the bench's own key and JSON content type."""
    headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")]
    if sent_headers is not None:
        headers += [(k.encode(), v.encode()) for k, v in sent_headers.items()]
    else:
        headers.append((b"x-api-key", KEY.encode()))
        if body:
            headers.append((b"content-type", b"application/json"))
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = http_scope(method, path, headers, query)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def setup(app: SpecfakeApp) -> dict[str, Request]:
    """Create what the GETs read, as bench.run does; return each scenario's request."""
    status, body = await call(app, "POST", "/sgp/v4/evaluations", body=SGP_BODY.encode())
    assert status < 300, body
    evaluation = orjson.loads(body)["id"]
    # As bench.run: the project read is not the one logged to (so it has no active config).
    status, body = await call(app, "POST", "/humanloop/v4/projects", body=b'{"name":"bench-read"}')
    assert status < 300, body
    read = orjson.loads(body)["id"]
    for _ in range(20):  # something to list
        status, body = await call(app, "POST", "/humanloop/v4/logs", body=LOG_BODY.encode())
        await call(app, "POST", "/sgp/v4/evaluations", body=SGP_BODY.encode())
    project = orjson.loads(body)["project_id"]
    return {
        "sgp_get": ("GET", f"/sgp/v4/evaluations/{evaluation}", b"", b""),
        "sgp_post": ("POST", "/sgp/v4/evaluations", b"", SGP_BODY.encode()),
        "hl_get": ("GET", f"/humanloop/v4/projects/{read}", b"", b""),
        "hl_get_active": ("GET", f"/humanloop/v4/projects/{project}", b"", b""),
        "hl_post": ("POST", "/humanloop/v4/logs", b"", LOG_BODY.encode()),
        "sgp_list": ("GET", "/sgp/v4/evaluations", b"limit=10", b""),
        "hl_list": ("GET", "/humanloop/v4/logs", f"project_id={project}&size=10".encode(), b""),
    }


async def measure(app: SpecfakeApp, request: Request, count: int) -> float:
    method, path, query, body = request
    started = time.perf_counter()
    for _ in range(count):
        status, answer = await call(app, method, path, query, body)
    assert status < 300, answer
    return (time.perf_counter() - started) / count * 1e6


async def dump_sequence(app: SpecfakeApp) -> list[Any]:
    """A fixed mix of creates, reads, lists and errors; every answer, in order."""
    scenarios = await setup(app)
    out: list[Any] = []
    extra: list[Request] = [
        ("POST", "/humanloop/v4/logs", b"", b'{"project":"p2","inputs":{"a":1},"config":{"model":"m"}}'),
        ("POST", "/humanloop/v4/logs", b"", b'{"project":"p2","config":{"model":"m","temperature":0.2}}'),
        (
            "POST",
            "/humanloop/v4/logs",
            b"",
            b'{"project":"p3","session_reference_id":"s1","output":"o","config":{"model":"m",'
            b'"chat_template":[{"role":"user","content":"hi"}],"tools":[{"name":"t","parameters":{}}]}}',
        ),
        ("POST", "/humanloop/v4/model-configs", b"", b'{"project":"p2","model":"m2","name":"named"}'),
        ("POST", "/humanloop/v4/model-configs", b"", b'{"project":"p2","type":"tool","name":"tool1"}'),
        ("GET", "/humanloop/v4/projects", b"size=50", b""),
        ("GET", "/humanloop/v4/sessions", b"size=50", b""),
        ("POST", "/sgp/v4/evaluations", b"", b'{"account_id":"a","application_spec_id":"s"}'),
        ("GET", "/sgp/v4/evaluations", b"view=ApplicationSpec&view=EvaluationConfig&limit=3", b""),
        ("POST", "/humanloop/v4/logs", b"", b'{"project":7}'),
        ("GET", "/sgp/v4/evaluations/nope", b"", b""),
    ]
    project = scenarios["hl_list"][2].split(b"&")[0]
    for query in (b"&search=hello&page=1&size=3", b"&start_date=2025-01-01&end_date=2025-01-01", b"&size=0"):
        extra.append(("GET", "/humanloop/v4/logs", project + query, b""))
    for request in [*scenarios.values(), *extra, *scenarios.values()]:
        out.append([request[0], request[1], *(await call(app, *request))])
    return out


def latency(one: Callable[[], float], count: int) -> None:
    """Each request's time and every collector pause: what a p99 is made of in process."""
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - started[0]) * 1e3)

    gc.callbacks.append(timer)
    try:
        times = sorted(one() / 1e3 for _ in range(count))
    finally:
        gc.callbacks.remove(timer)
    pick = lambda q: times[min(int(len(times) * q), len(times) - 1)]  # noqa: E731
    print(f"{count} requests: p50 {pick(0.5):.3f} ms, p99 {pick(0.99):.3f} ms, max {times[-1]:.1f} ms")
    for generation, found in pauses.items():
        if found:
            print(
                f"gc gen{generation}: {len(found)} pauses, total {sum(found):.1f} ms, max {max(found):.2f} ms"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000, help="requests per scenario")
    parser.add_argument("--profile", metavar="SCENARIO", help="run one scenario under cProfile")
    parser.add_argument("--dump", metavar="FILE", help="write the answers of a fixed sequence")
    parser.add_argument("--latency", metavar="SCENARIO", help="per-request latency and GC pauses of one")
    args = parser.parse_args()
    if args.dump:
        app = make_app(SteppingClock(datetime(2025, 1, 1, tzinfo=UTC)))
        answers = asyncio.run(dump_sequence(app))
        with open(args.dump, "wb") as out:
            for method, path, status, body in answers:
                out.write(f"{method} {path} {status}\n".encode() + body + b"\n")
        return 0
    app = make_app()
    loop = asyncio.new_event_loop()
    scenarios = loop.run_until_complete(setup(app))
    run: Callable[[str, int], float] = lambda name, n: loop.run_until_complete(  # noqa: E731
        measure(app, scenarios[name], n)
    )
    if args.latency:
        latency(lambda: run(args.latency, 1), args.count)
        return 0
    if args.profile:
        run(args.profile, 200)
        profiler = cProfile.Profile()
        profiler.enable()
        run(args.profile, args.count)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return 0
    for name in scenarios:
        run(name, 20)
        gc.collect()
        # Best of 5: the box is shared. Lists cost O(stored items), so they get fewer requests.
        count = max(args.count // (250 if name.endswith("_list") else 5), 1)
        rounds = [run(name, count) for _ in range(5)]
        print(f"{name:<10} {min(rounds):8.1f} us/request (best of 5 rounds of {count})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
