"""Measuring a stream as a client sees it over a real socket: when the headers and each event
arrive. Used by the timing tests and ``bench/streaming.py`` (in-process test clients buffer the
whole body, so they cannot see timing); it measures the built-in Humanloop streams, so it lives
with the bench, not in the engine."""

from __future__ import annotations

import itertools
import random
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from specfake.streaming.cassette import Cassette, CassetteRequest, Chunk
from specfake.streaming.sse import SseSplitter, event


@dataclass
class Timed:
    """A streamed answer as a client saw it (``time.perf_counter`` seconds)."""

    status: int = 0
    started: float = 0.0
    headers_at: float = 0.0
    events: list[tuple[float, bytes]] = field(default_factory=list)
    body: bytes = b""
    error: Exception | None = None

    @property
    def gaps_ms(self) -> list[float]:
        """Milliseconds before each event: since the headers for the first, then between events."""
        times = [self.headers_at, *(t for t, _ in self.events)]
        return [(b - a) * 1000.0 for a, b in itertools.pairwise(times)]

    @property
    def first_event_ms(self) -> float:
        """Time to first byte of the body: from sending the request to the first event."""
        return (self.events[0][0] - self.started) * 1000.0


def timed_post(
    client: httpx.Client,
    url: str,
    body: Any,
    headers: dict[str, str] | None = None,
    stop_after: int | None = None,
) -> Timed:
    """POST ``body`` and read the answer as it streams; a transport error is kept, not raised."""
    out = Timed()
    splitter = SseSplitter()
    parts: list[bytes] = []
    out.started = time.perf_counter()
    try:
        with client.stream("POST", url, json=body, headers=headers) as response:
            out.headers_at = time.perf_counter()
            out.status = response.status_code
            for piece in response.iter_raw():
                now = time.perf_counter()
                parts.append(piece)
                out.events.extend((now, ev) for ev in splitter.feed(piece))
                if stop_after is not None and len(out.events) >= stop_after:
                    break
    except httpx.HTTPError as exc:
        out.error = exc
    out.body = b"".join(parts)
    return out


def gap_errors(measured: list[float], recorded: list[float]) -> tuple[float, float]:
    """(median, p95) of |measured - recorded| in ms."""
    errors = sorted(abs(m - r) for m, r in zip(measured, recorded, strict=True))
    p95 = errors[min(len(errors) - 1, round(0.95 * (len(errors) - 1)))]
    return statistics.median(errors), p95


def paced_cassette(count: int = 20, low_ms: float = 20.0, high_ms: float = 80.0, seed: int = 4) -> Cassette:
    """A one-sample chat recording of ``count`` chunks, gaps drawn from [low_ms, high_ms], that
    answers :func:`paced_request`."""
    rng = random.Random(seed)
    chunks = []
    for number in range(count):
        item = {
            "id": "data_" + "0" * 24,
            "index": 0,
            "output": f" word{number}",
            "finish_reason": "stop" if number == count - 1 else None,
            "model_config_id": "config_" + "ab" * 12,
        }
        gap = round(rng.uniform(low_ms, high_ms), 1)
        chunks.append(Chunk.from_bytes(gap, event({"data": [item], "project_id": "pr_" + "cd" * 12})))
    return Cassette(
        name=f"paced-{count}",
        request=CassetteRequest.of("humanloop", "chats_create", paced_request()),
        chunks=chunks,
        source=f"bench.measure.paced_cassette(seed={seed})",
    )


def paced_request() -> dict[str, Any]:
    return {
        "project": "bench",
        "model_config": {"model": "gpt-4o-mini"},
        "messages": [{"role": "user", "content": "Count the words."}],
        "stream": True,
    }
