"""Streamed generations end to end: the eight async stream helpers of ``humanloop==0.7.30``
against the served fake (the real generation behaviour, ``stream_speed`` 0), checked against the
logs the fake stores once each stream completes.

(tests/streaming/ drives the engine through injected handlers; this file drives the behaviour.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from humanloop import Humanloop

from specfake.app import create_app
from specfake.server import LiveServer
from specfake.streaming import FAULT_HEADER, Cassette, CassetteLibrary, Chunk
from specfake.streaming.cassette import CassetteRequest

pytestmark = pytest.mark.sdk

KEY = "stream-key"
MESSAGES = [{"role": "user", "content": "Tell me about streams."}]
INPUTS = {"topic": "rivers"}
CONFIG = {
    "model": "gpt-4o-mini",
    "provider": "openai",
    "prompt_template": "Write about {{topic}}.",
    "chat_template": [{"role": "system", "content": "You like {{topic}}."}],
}
CASSETTES = CassetteLibrary.builtin()


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with LiveServer(create_app(["humanloop"], seed=5, options={"stream_speed": "0"})) as server:
        yield server.url + "/humanloop/v4"


def _client(base: str) -> Humanloop:
    return Humanloop(api_key=KEY, host=base)


async def _chunks(client: Humanloop, helper: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    response = await getattr(client, helper)(**params)
    assert response.status == 200
    return [chunk async for chunk in response.content]


def _read(client: Humanloop, helper: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return asyncio.run(_chunks(client, helper, params))


def _subject(cassette: Cassette) -> dict[str, Any]:
    """The normalised request a cassette answers (messages, prompt, inputs)."""
    assert cassette.request.subject is not None
    return cassette.request.subject


def _replay_chat(client: Humanloop, cassette: Cassette) -> list[dict[str, Any]]:
    """chat_stream with the request a chat cassette recorded (its messages, model, sample count)."""
    params = {
        "project": "replayed",
        "model_config": {"model": cassette.request.model},
        "messages": _subject(cassette)["messages"],
        "num_samples": cassette.request.num_samples,
    }
    return _read(client, "chat_stream", params)


def _by_sample(chunks: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for chunk in chunks:
        out.setdefault(chunk["index"], []).append(chunk)
    return out


def _check_stored(client: Humanloop, chunks: list[dict[str, Any]]) -> dict[int, Any]:
    """Each sample: one id, finish_reason on its last chunk only, text equal to its stored log."""
    assert chunks, "the SDK read no chunk"
    logs = {}
    for index, mine in _by_sample(chunks).items():
        assert mine[-1]["finish_reason"] is not None
        assert all(c["finish_reason"] is None for c in mine[:-1])
        assert len({c["id"] for c in mine}) == 1
        log = client.logs.get(id=mine[0]["id"], validate=True)
        assert log.output == "".join(c["output"] for c in mine)
        assert log.project_id == mine[0]["project_id"]
        logs[index] = log
    return logs


def test_all_eight_stream_helpers_store_what_they_streamed(base: str) -> None:
    hl = _client(base)
    project = hl.projects.create(name="streams-eight")
    config = hl.model_configs.register(project_id=project.id, **CONFIG).config  # auto-deployed
    experiment = hl.experiments.create(
        project_id=project.id, name="one", positive_labels=[], config_ids=[config.id]
    )
    common = {"inputs": INPUTS}
    calls: dict[str, dict[str, Any]] = {
        "chat_stream": {"project_id": project.id, "model_config": CONFIG, "messages": MESSAGES},
        "chat_deployed_stream": {"project_id": project.id, "messages": MESSAGES},
        "chat_experiment_stream": {"experiment_id": experiment.id, "messages": MESSAGES},
        "chat_model_config_stream": {"model_config_id": config.id, "messages": MESSAGES},
        "complete_stream": {"project_id": project.id, "model_config": CONFIG},
        "complete_deployed_stream": {"project_id": project.id},
        "complete_experiment_stream": {"experiment_id": experiment.id},
        "complete_model_config_stream": {"model_config_id": config.id},
    }
    for helper, params in calls.items():
        chunks = _read(hl, helper, {**params, **common})
        (log,) = _check_stored(hl, chunks).values()
        if "model_config" not in params:  # an inline config is registered per endpoint
            assert log.config.id == config.id, helper
        assert len(chunks) > 3, f"{helper}: a synthetic stream comes in token-sized pieces"
        if helper.startswith("chat"):
            assert chunks[-1]["output_message"]["role"] == "assistant"
            assert log.output_message.content == log.output
    assert hl.logs.list(project_id=project.id, size=50).total == len(calls)


def test_a_request_matching_a_shipped_cassette_replays_it_and_stores_its_text(base: str) -> None:
    hl = _client(base)
    chat = CASSETTES.get("short-chat")
    chunks = _replay_chat(hl, chat)
    assert len(chunks) == len(chat.chunks)
    assert [c["output"] for c in chunks] == [item["output"] for _, item, _ in chat.items()]
    _check_stored(hl, chunks)

    completion = CASSETTES.get("long-completion")
    subject = _subject(completion)
    chunks = _read(
        hl,
        "complete_stream",
        {
            "project": "replayed",
            "model_config": {"model": "gpt-3.5-turbo-instruct", "prompt_template": subject["prompt"]},
            "inputs": subject["inputs"],
        },
    )
    (log,) = _check_stored(hl, chunks).values()
    assert log.output == completion.outputs()[0]

    tool = CASSETTES.get("tool-call")
    chunks = _replay_chat(hl, tool)
    (log,) = _check_stored(hl, chunks).values()
    recorded = tool.samples()[0]
    assert log.finish_reason == recorded["finish_reason"]
    assert log.output_message.tool_calls[0].function.name == recorded["tool_calls"][0]["function"]["name"]


def test_two_samples_interleave_and_each_is_stored(base: str) -> None:
    hl = _client(base)
    synthetic = _read(
        hl,
        "chat_stream",
        {"project": "two", "model_config": {"model": "gpt-4o"}, "messages": MESSAGES, "num_samples": 2},
    )
    pair = CASSETTES.get("two-samples")
    replayed = _replay_chat(hl, pair)
    for chunks in (synthetic, replayed):
        indexes = [c["index"] for c in chunks]
        assert set(indexes) == {0, 1} and indexes != sorted(indexes)  # interleaved
        logs = _check_stored(hl, chunks)
        assert logs[0].id != logs[1].id
    assert {i: log.output for i, log in _check_stored(hl, replayed).items()} == pair.outputs()


def _post(base: str, fault: str, project: str) -> httpx.Response | Exception:
    body = {"project": project, "model_config": {"model": "gpt-4o"}, "messages": MESSAGES, "stream": True}
    headers = {"X-API-KEY": KEY, FAULT_HEADER: fault}
    try:
        return httpx.post(base + "/chat", json=body, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        return exc


def _events(response: httpx.Response) -> list[dict[str, Any]]:
    lines = response.text.splitlines()
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {") and line.endswith("}")]


def test_a_stream_the_fake_cuts_or_fails_stores_no_log(base: str) -> None:
    hl = _client(base)
    cut = _post(base, "cut-after=2", "cut")
    assert isinstance(cut, httpx.RemoteProtocolError), cut
    failed = _post(base, "error-at=3", "cut")
    assert isinstance(failed, httpx.Response) and failed.status_code == 200
    assert _events(failed)[-1] == {"detail": "Stream interrupted: the model provider failed at chunk 3"}
    (project,) = [p for p in hl.projects.list(size=100).records if p.name == "cut"]
    assert hl.logs.list(project_id=project.id).total == 0

    malformed = _post(base, "malformed-at=2", "cut")  # the SDKs skip the line; the log is stored
    assert isinstance(malformed, httpx.Response)
    assert hl.logs.list(project_id=project.id).total == 1

    bad = _post(base, "cut-after=soon", "never-created")
    assert isinstance(bad, httpx.Response) and bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["header", FAULT_HEADER]
    assert "never-created" not in {p.name for p in hl.projects.list(size=100).records}


def test_recordings_from_streams_dir_come_first_and_recorded_errors_replay(tmp_path: Path) -> None:
    body = {"project": "mine", "model_config": {"model": "gpt-4o"}, "messages": MESSAGES, "stream": True}
    request = CassetteRequest.of("humanloop", "chats_create", body)
    mine = {"id": "data_1", "index": 0, "model_config_id": "config_1", "output_message": None}
    chunks = [
        Chunk(5.0, data=json.dumps({"data": [{**mine, "output": "Recorded", "finish_reason": None}]})),
        Chunk(5.0, data=json.dumps({"data": [{**mine, "output": " here.", "finish_reason": "stop"}]})),
    ]
    Cassette("mine", request, chunks=chunks).save(tmp_path / "mine.yaml")
    other = {**body, "project": "refused", "messages": [{"role": "user", "content": "Rate limited?"}]}
    refused = Cassette(
        "refused",
        CassetteRequest.of("humanloop", "chats_create", other),
        status=429,
        content_type="application/json",
        final={"detail": "Rate limit reached"},
    )
    refused.save(tmp_path / "refused.yaml")
    options = {"stream_speed": "0", "streams_dir": str(tmp_path)}
    with LiveServer(create_app(["humanloop"], options=options)) as server:
        base = server.url + "/humanloop/v4"
        streamed = httpx.post(base + "/chat", json=body, headers={"X-API-KEY": KEY})
        events = _events(streamed)
        assert "".join(e["data"][0]["output"] for e in events) == "Recorded here."
        log = _client(base).logs.get(id=events[0]["data"][0]["id"], validate=True)
        assert log.output == "Recorded here." and log.finish_reason == "stop"
        error = httpx.post(base + "/chat", json=other, headers={"X-API-KEY": KEY})
        assert (error.status_code, error.json()) == (429, {"detail": "Rate limit reached"})
        names = [p.name for p in _client(base).projects.list().records]
        assert names == ["mine"]  # the refused request created nothing


def test_a_bad_stream_speed_or_streams_dir_fails_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="stream speed must be a number >= 0"):
        create_app(["humanloop"], options={"stream_speed": "-1"})
    with pytest.raises(ValueError, match="no such cassette directory"):
        create_app(["humanloop"], options={"streams_dir": str(tmp_path / "missing")})


def test_an_admin_fault_rule_applies_to_every_stream_until_unset() -> None:
    """No header needed: reproduce a flaky provider for an unmodified client, then heal it."""
    with LiveServer(create_app(["humanloop"], options={"stream_speed": "0"})) as server:
        admin = server.url + "/__admin/options?contract=humanloop"
        base = server.url + "/humanloop/v4"
        bad = httpx.put(admin, json={"stream_faults": "cut-after=soon"})
        assert bad.status_code == 422 and "stream_faults" in bad.json()["detail"]
        assert httpx.put(admin, json={"stream_faults": "cut-after=1"}).json() == {
            "stream_speed": "0",
            "stream_faults": "cut-after=1",
        }
        assert isinstance(_post(base, "", "ruled"), httpx.RemoteProtocolError)
        own = _post(base, "error-at=99", "ruled")  # a request's own header wins over the rule
        assert isinstance(own, httpx.Response) and own.status_code == 200
        assert httpx.put(admin, json={"stream_faults": ""}).json() == {"stream_speed": "0"}
        again = _post(base, "", "ruled")
        assert isinstance(again, httpx.Response) and _events(again)[-1]["data"][0]["finish_reason"]
