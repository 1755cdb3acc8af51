"""Streaming fidelity over a real socket: replayed inter-chunk gaps against the recording at
``--stream-speed 1``, and time to first byte at speed 0 (issue 4's targets: 5 ms median and 15 ms
p95 gap error; first byte under 20 ms). ``python -m bench.streaming`` or ``run()`` for the dict.

The fake runs in-process on uvicorn (``LiveServer``, a thread) and serves a 40-chunk recording
(gaps 20-80 ms) through the real engine; httpx reads the body as it arrives.
"""

from __future__ import annotations

import statistics
from typing import Any

import httpx

from bench.measure import gap_errors, paced_cassette, paced_request, timed_post
from specfake.app import create_app
from specfake.server import LiveServer
from specfake.streaming.cassette import CassetteLibrary
from specfake.streaming.handler import cassette_handler

TARGETS = {"gap_median_ms": 5.0, "gap_p95_ms": 15.0, "ttfb_ms": 20.0}
KEY = {"X-API-KEY": "bench-key"}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _serve(speed: float, library: CassetteLibrary) -> LiveServer:
    handlers = {"humanloop": {"chats_create": cassette_handler(library, speed=speed)}}
    return LiveServer(create_app(["humanloop"], handlers=handlers))


def run(streams: int = 3, chunks: int = 40, ttfb_requests: int = 50) -> dict[str, Any]:
    """Gap error over ``streams`` replays at speed 1; first-byte times over ``ttfb_requests``."""
    library = CassetteLibrary()
    cassette = paced_cassette(count=chunks, low_ms=20, high_ms=80, seed=11)
    library.add(cassette)
    recorded = [c.gap_ms for c in cassette.chunks]
    measured: list[float] = []
    expected: list[float] = []
    with _serve(1.0, library) as server, httpx.Client() as client:
        url = server.url + "/humanloop/v4/chat"
        timed_post(client, url, paced_request(), KEY, stop_after=1)  # warm the connection
        for _ in range(streams):
            seen = timed_post(client, url, paced_request(), KEY)
            if seen.error is not None or len(seen.events) != chunks:
                raise RuntimeError(f"replay failed: {seen.error or len(seen.events)}")
            measured += seen.gaps_ms
            expected += recorded
    median, p95 = gap_errors(measured, expected)
    firsts: list[float] = []
    with _serve(0.0, library) as server, httpx.Client() as client:
        url = server.url + "/humanloop/v4/chat"
        timed_post(client, url, paced_request(), KEY)
        for _ in range(ttfb_requests):
            firsts.append(timed_post(client, url, paced_request(), KEY).first_event_ms)
    return {
        "gap_median_ms": round(median, 2),
        "gap_p95_ms": round(p95, 2),
        "gaps_measured": len(measured),
        "ttfb_median_ms": round(statistics.median(firsts), 2),
        "ttfb_p95_ms": round(_percentile(firsts, 0.95), 2),
        "ttfb_requests": ttfb_requests,
    }


def report(figures: dict[str, Any]) -> str:
    gap = (
        f"stream gaps at speed 1 ({figures['gaps_measured']} gaps): error median "
        f"{figures['gap_median_ms']:.2f} ms (target < {TARGETS['gap_median_ms']:g}), p95 "
        f"{figures['gap_p95_ms']:.2f} ms (target < {TARGETS['gap_p95_ms']:g})"
    )
    ttfb = (
        f"stream first byte at speed 0 ({figures['ttfb_requests']} requests): median "
        f"{figures['ttfb_median_ms']:.2f} ms, p95 {figures['ttfb_p95_ms']:.2f} ms "
        f"(target < {TARGETS['ttfb_ms']:g})"
    )
    return gap + "\n" + ttfb


if __name__ == "__main__":
    print(report(run()))
