"""Timing fidelity over a real uvicorn socket (issue 4's acceptance): replayed gaps within 5 ms
(median) and 15 ms (p95) of the recording at speed 1; the first event under 20 ms at speed 0."""

from __future__ import annotations

import statistics

import httpx

from bench.measure import gap_errors, paced_cassette, paced_request, timed_post
from specfake.streaming.cassette import CassetteLibrary
from specfake.streaming.handler import cassette_handler
from tests.streaming.helpers import KEY, served


def _library() -> CassetteLibrary:
    library = CassetteLibrary()
    library.add(paced_cassette(count=20, low_ms=20, high_ms=80))
    return library


def test_replayed_gaps_match_the_recording_at_speed_1() -> None:
    library = _library()
    cassette = library.get("paced-20")
    recorded = [c.gap_ms for c in cassette.chunks]
    assert 20 <= min(recorded) and max(recorded) <= 80
    with served({"chats_create": cassette_handler(library, speed=1.0)}) as base, httpx.Client() as client:
        timed_post(client, base + "/chat", paced_request(), KEY, stop_after=1)  # warm the connection
        runs = [timed_post(client, base + "/chat", paced_request(), KEY) for _ in range(2)]
    for seen in runs:
        assert seen.error is None and seen.status == 200
        assert [ev for _, ev in seen.events] == cassette.events()
    median, p95 = gap_errors([g for seen in runs for g in seen.gaps_ms], recorded * len(runs))
    assert median < 5.0, (median, p95)
    assert p95 < 15.0, (median, p95)
    # Drift compensation: the last event lands where the recording puts it, not later.
    lateness = [(seen.events[-1][0] - seen.headers_at) * 1000.0 - sum(recorded) for seen in runs]
    assert min(abs(late) for late in lateness) < 15.0, lateness


def test_speed_scales_the_gaps() -> None:
    library = _library()
    recorded = [c.gap_ms for c in library.get("paced-20").chunks]
    with served({"chats_create": cassette_handler(library, speed=0.5)}) as base, httpx.Client() as client:
        seen = timed_post(client, base + "/chat", paced_request(), KEY)
    total = (seen.events[-1][0] - seen.headers_at) * 1000.0
    assert abs(total - sum(recorded) / 2) < 15.0


def test_first_byte_under_20_ms_at_speed_0() -> None:
    library = _library()
    with served({"chats_create": cassette_handler(library, speed=0.0)}) as base, httpx.Client() as client:
        timed_post(client, base + "/chat", paced_request(), KEY)  # warm the connection
        firsts = []
        for _ in range(10):
            seen = timed_post(client, base + "/chat", paced_request(), KEY)
            assert len(seen.events) == 20
            firsts.append(seen.first_event_ms)
    assert statistics.median(firsts) < 20.0, firsts
    assert max(firsts) < 50.0, firsts
