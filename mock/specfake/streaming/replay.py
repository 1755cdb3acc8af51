"""Sending a stream at its pace: recorded cassettes, or a synthetic stream from generated text.

``speed`` is a factor on the gaps, as ``--stream-speed`` is: 0 sends everything at once, 1 keeps
the recorded (or synthetic) timing, 0.5 halves every gap, 2 doubles it. Each chunk is scheduled
against one monotonic start time (the moment the body starts, right after the headers), so an
oversleep on one chunk is taken back on the next instead of accumulating.

Client disconnects: uvicorn gives a streamed body no signal when the client goes away (its
``send`` just returns), so the stream runs its schedule to the end and ``on_complete`` runs: a
streamed generation whose client hung up is stored complete. That is our choice, not an observed
fact: we take the real service to generate upstream with the model provider independently of its
client's socket and to log the generation once the provider finishes, so a client cutting the
stream does not cancel it (storing a partial log would invent a state the real service has no
reason to have). A stream the *fake* cuts or ends with an error event (faults, or a recording
whose upstream connection dropped) stands for a failed generation: it is not complete, and
stores nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from specfake.streaming.cassette import Cassette
from specfake.streaming.faults import Plan, StreamCut, StreamFaults, build_plan
from specfake.streaming.shape import ChunkShape
from specfake.streaming.sse import event

TTFT_MS = (200.0, 600.0)  # time to first token, drawn uniformly
TOKENS_PER_S = (30.0, 80.0)
_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]{1,3}|\s+")
_LONG_WORD = 8  # characters (with leading space) past which a word is several tokens


async def play(
    plan: Plan, speed: float, on_complete: Callable[[], None] | None = None
) -> AsyncIterator[bytes]:
    """Yield each step's bytes at ``start + at * speed + stalls so far``; cut by raising."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    stalled = 0.0
    for step in plan.steps:
        stalled += step.stall
        delay = start + step.at * speed + stalled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if step.payload is None:
            raise StreamCut("specfake dropped the connection mid-stream (stream fault or recorded cut)")
        if step.payload:
            yield step.payload
    if plan.complete and on_complete is not None:
        on_complete()


def _check_speed(speed: float) -> float:
    if not speed >= 0:  # also rejects NaN
        raise ValueError(f"stream speed must be >= 0 (0 = no waiting, 1 = real time), got {speed}")
    return float(speed)


def replay(
    cassette: Cassette,
    speed: float,
    faults: StreamFaults | None = None,
    on_complete: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """A cassette's events, byte for byte, at its recorded gaps times ``speed``.

    A cassette recorded with ``end: cut`` drops the connection after its last chunk, as the
    upstream did.
    """
    speed = _check_speed(speed)
    plan = build_plan(cassette.timeline(), faults, cut_at_end=cassette.end == "cut")
    return play(plan, speed, on_complete)


# -- synthetic streams ----------------------------------------------------------------------------


def split_tokens(text: str) -> list[str]:
    """Token-sized pieces that join back to ``text`` exactly: a word with its leading space, a
    short punctuation run, and long words in ~4-character pieces (as BPE tokenizers cut them)."""
    pieces: list[str] = []
    for token in _TOKEN.findall(text):
        if len(token) <= _LONG_WORD:
            pieces.append(token)
            continue
        stripped = token.lstrip()
        lead = token[: len(token) - len(stripped)]
        cut = [stripped[i : i + 4] for i in range(0, len(stripped), 4)]
        cut[0] = lead + cut[0]
        pieces.extend(cut)
    return pieces or [""]


def synthetic_chunks(
    text: str,
    rng: random.Random,
    ttft_ms: float | None = None,
    tokens_per_s: float | None = None,
) -> list[tuple[float, str]]:
    """(gap in ms since the previous piece, piece): the first gap is the time to first token
    (drawn from 200-600 ms when not given), then one token at 30-80 tokens/s (drawn when not
    given) with log-normal jitter and the odd network hiccup. Seeded by ``rng`` only."""
    ttft = rng.uniform(*TTFT_MS) if ttft_ms is None else ttft_ms
    rate = rng.uniform(*TOKENS_PER_S) if tokens_per_s is None else tokens_per_s
    per_token = 1000.0 / rate
    out: list[tuple[float, str]] = []
    for number, piece in enumerate(split_tokens(text)):
        if number == 0:
            gap = ttft
        else:
            gap = per_token * rng.lognormvariate(0.0, 0.3)
            if rng.random() < 0.03:
                gap += rng.uniform(60.0, 200.0)
        out.append((round(gap, 1), piece))
    return out


def synthetic_timeline(
    samples: Sequence[dict[str, Any]], envelope: dict[str, Any], seed: int, shape: ChunkShape
) -> list[tuple[float, bytes]]:
    """Every sample's text on its own seeded pace, merged by time: samples interleave, told apart
    by their index (``shape`` says where a chunk carries it)."""
    timed: list[tuple[float, int, int, bytes]] = []
    for position, sample in enumerate(samples):
        rng = random.Random(f"{seed}:stream:{shape.index(sample)}")
        pieces = synthetic_chunks(shape.text(sample), rng)
        at = 0.0
        for number, (gap_ms, piece) in enumerate(pieces):
            at += gap_ms / 1000.0
            item = shape.piece(sample, piece, number == len(pieces) - 1)
            timed.append((at, position, number, event(shape.event(item, envelope))))
    timed.sort(key=lambda t: (t[0], t[1], t[2]))
    return [(at, payload) for at, _, _, payload in timed]


def _recorded_timeline(
    cassette: Cassette, samples: Sequence[dict[str, Any]], envelope: dict[str, Any], shape: ChunkShape
) -> list[tuple[float, bytes]]:
    """The cassette's events with its ids swapped for the samples' (by index) and its envelope
    values for ``envelope``'s, textually, so everything else stays byte for byte."""
    by_index = {shape.index(s): s for s in samples}
    recorded = cassette.outputs()
    for index, text in recorded.items():
        sample = by_index.get(index)
        if sample is None or shape.text(sample).strip() != text.strip():
            raise ValueError(
                f"cassette {cassette.name!r}: sample {index} must have the recorded text as its output "
                "(build samples from cassette.samples())"
            )
    out: list[tuple[float, bytes]] = []
    items = {number: (item, payload) for number, item, payload in cassette.items()}
    for number, (at, data) in enumerate(cassette.timeline()):
        found = items.get(number)
        if found is not None:
            item, payload = found
            sample = by_index[shape.index(item)]
            recorded_envelope = shape.envelope(payload)
            text = data.decode()
            for old, new in (
                *((item.get(k), sample.get(k)) for k in shape.ids),
                *((recorded_envelope.get(k), envelope.get(k)) for k in envelope),
            ):
                if isinstance(old, str) and isinstance(new, str) and old != new:
                    text = text.replace(json.dumps(old), json.dumps(new))
            data = text.encode()
        out.append((at, data))
    return out


def generation_stream(
    samples: list[dict[str, Any]],
    envelope: dict[str, Any],
    *,
    seed: int,
    speed: float,
    faults: StreamFaults | None,
    shape: ChunkShape,
    cassette: Cassette | None = None,
    on_complete: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """The SSE body of a streamed generation, in the API's ``shape``.

    ``samples``: the final per-sample items, stored (by the behaviour) once the stream completes;
    ``envelope``: the fields every event carries besides its item. Without a cassette, each
    sample's text is cut into token-sized pieces on a seeded pace; with one, its recorded chunks
    and gaps are replayed (the samples must carry the recorded text; build them from
    ``cassette.samples()``) with ids and envelope values swapped for the samples'.
    ``on_complete`` runs once the last chunk was sent, never for a stream cut or ended by a fault.
    Argument errors raise here, before any byte is sent.
    """
    speed = _check_speed(speed)
    if cassette is not None:
        timeline = _recorded_timeline(cassette, samples, envelope, shape)
        plan = build_plan(timeline, faults, cut_at_end=cassette.end == "cut")
    else:
        plan = build_plan(synthetic_timeline(samples, envelope, seed, shape), faults)
    return play(plan, speed, on_complete)


__all__ = [
    "StreamCut",
    "generation_stream",
    "play",
    "replay",
    "split_tokens",
    "synthetic_chunks",
    "synthetic_timeline",
]
