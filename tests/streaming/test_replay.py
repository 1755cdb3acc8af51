"""Synthetic streams and generation streams, consumed in-process (timing is in test_timing)."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import statistics
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from specfake.behaviours.humanloop.streams import generation_stream
from specfake.contract import load_contract
from specfake.streaming.cassette import CassetteLibrary
from specfake.streaming.faults import StreamCut, StreamFaults
from specfake.streaming.replay import replay, split_tokens, synthetic_chunks
from specfake.streaming.sse import payloads
from specfake.validation import SchemaValidator, registry_for
from tests.streaming.helpers import sample


def collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    async def run() -> list[bytes]:
        return [chunk async for chunk in stream]

    return asyncio.run(run())


def items(chunks: list[bytes]) -> list[dict[str, Any]]:
    return [p["data"][0] for p in payloads(b"".join(chunks))]


@given(st.text(max_size=300))
def test_token_pieces_join_back_to_the_text(text: str) -> None:
    pieces = split_tokens(text)
    assert "".join(pieces) == text
    assert all(len(p.strip()) <= 8 for p in pieces)


def test_token_pieces_look_like_tokens() -> None:
    assert split_tokens("Hello, world! Internationalisation...") == (
        ["Hello", ",", " world", "!", " Inte", "rnat", "iona", "lisa", "tion", "..."]
    )
    assert split_tokens("") == [""]


def test_synthetic_pace_is_seeded_and_realistic() -> None:
    text = " ".join(f"word{n}" for n in range(400))
    one = synthetic_chunks(text, random.Random(5))
    assert one == synthetic_chunks(text, random.Random(5))
    assert one != synthetic_chunks(text, random.Random(6))
    assert 200 <= one[0][0] <= 600
    rate = 1000.0 / statistics.median(g for g, _ in one[1:])
    assert 25 <= rate <= 95
    fixed = synthetic_chunks("a b c", random.Random(1), ttft_ms=250, tokens_per_s=50)
    assert fixed[0][0] == 250


def test_generation_stream_interleaves_samples_by_index() -> None:
    samples = [sample(0, "The first sample says this. " * 4), sample(1, "And the second says that. " * 4)]
    got = items(collect(generation_stream(samples, {"project_id": "pr_1"}, seed=3, speed=0, faults=None)))
    indexes = [i["index"] for i in got]
    assert sum(a != b for a, b in itertools.pairwise(indexes)) > 2  # interleaved
    for s in samples:
        mine = [i for i in got if i["index"] == s["index"]]
        assert "".join(i["output"] for i in mine) == s["output"]
        assert [i["finish_reason"] for i in mine] == [None] * (len(mine) - 1) + ["stop"]
        assert {i["id"] for i in mine} == {s["id"]}
        assert mine[-1]["output_message"] == {"role": "assistant", "content": mine[-1]["output"]}
    assert all(
        p["project_id"] == "pr_1"
        for p in payloads(
            b"".join(
                collect(generation_stream(samples, {"project_id": "pr_1"}, seed=3, speed=0, faults=None))
            )
        )
    )
    again = collect(generation_stream(samples, {"project_id": "pr_1"}, seed=3, speed=0, faults=None))
    assert items(again) == got  # seeded


def test_every_generated_event_is_a_valid_stream_chunk() -> None:
    contract = load_contract("humanloop")
    chunk = SchemaValidator(
        contract, {"$ref": "#/components/schemas/GenerationStreamChunk"}, registry_for(contract)
    )
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tool = {**sample(2, "", finish="tool_call"), "tool_calls": [call]}
    samples = [sample(0, "Chat text, in pieces."), sample(1, "Completion text.", chat=False), tool]
    events = payloads(
        b"".join(collect(generation_stream(samples, {"project_id": "pr_1"}, seed=1, speed=0, faults=None)))
    )
    assert len(events) > 5
    for event in events:
        assert chunk.errors(event, []) == [], event


def test_tool_calls_and_completions() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tool = sample(0, "", finish="tool_call")
    tool["tool_calls"] = [call]
    (only,) = items(collect(generation_stream([tool], {}, seed=0, speed=0, faults=None)))
    assert only["output"] == "" and only["finish_reason"] == "tool_call"
    assert only["tool_calls"] == [call] and only["output_message"]["tool_calls"] == [call]
    completion = items(
        collect(generation_stream([sample(0, "Hi there", chat=False)], {}, seed=0, speed=0, faults=None))
    )
    assert "output_message" not in completion[0] and completion[-1]["finish_reason"] == "stop"


def test_on_complete_runs_once_after_the_last_chunk_and_never_for_a_cut_or_error() -> None:
    calls: list[int] = []

    def stream(faults: StreamFaults | None) -> AsyncIterator[bytes]:
        return generation_stream(
            [sample(0, "one two three four")],
            {},
            seed=0,
            speed=0,
            faults=faults,
            on_complete=lambda: calls.append(len(seen)),
        )

    seen: list[bytes] = []

    async def run(faults: StreamFaults | None) -> None:
        async for chunk in stream(faults):
            seen.append(chunk)

    asyncio.run(run(None))
    assert calls == [len(seen)] == [4]
    calls.clear()
    with pytest.raises(StreamCut):
        asyncio.run(run(StreamFaults.parse("cut-after=2")))
    asyncio.run(run(StreamFaults.parse("error-at=2")))
    assert calls == []
    asyncio.run(run(StreamFaults.parse("malformed-at=2;stall=3:0.01")))
    assert len(calls) == 1


def test_a_cassette_drives_the_stream_with_the_samples_ids() -> None:
    cassette = CassetteLibrary.builtin().get("two-samples")
    samples = cassette.samples()
    for s in samples:
        s["id"] = f"data_new{s['index']}"
    chunks = collect(
        generation_stream(samples, {"project_id": "pr_new"}, seed=0, speed=0, faults=None, cassette=cassette)
    )
    assert len(chunks) == len(cassette.chunks)
    got = items(chunks)
    assert [i["index"] for i in got] == [i["index"] for _, i, _ in cassette.items()]
    assert {i["id"] for i in got} == {"data_new0", "data_new1"}
    assert all(json.loads(c[6:])["project_id"] == "pr_new" for c in chunks)
    # With the recorded ids, the bytes are the recording's.
    same = collect(
        generation_stream(
            cassette.samples(), cassette.envelope(), seed=0, speed=0, faults=None, cassette=cassette
        )
    )
    assert same == cassette.events() == collect(replay(cassette, 0))
    wrong = cassette.samples()
    wrong[0]["output"] = "something else"
    with pytest.raises(ValueError, match="recorded text"):
        generation_stream(wrong, {}, seed=0, speed=0, faults=None, cassette=cassette)


def test_speed_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="speed"):
        generation_stream([sample(0, "x")], {}, seed=0, speed=-1, faults=None)
