"""The official SDKs' stream helpers consume the fake's streams: all eight async helpers of
``humanloop==0.7.30`` and the TypeScript SDK's eight stream calls. Text concatenates to the
sample's output; only the last chunk of a sample has a finish_reason."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from humanloop import Humanloop

from specfake.streaming.cassette import CassetteLibrary
from tests.sdk.test_typescript_sdk import ensure_installed as ensure_ts_sdk
from tests.streaming.helpers import KEY, generation_handler, sample, served

pytestmark = pytest.mark.sdk

CHAT = "A streamed answer, long enough to need several chunks: one, two, three, four, five."
COMPLETION = "Once upon a time, a fake server streamed a story, token by token, to a patient client."
MESSAGES = [{"role": "user", "content": "Tell me something."}]
INPUTS = {"topic": "streams"}
PY_CALLS: dict[str, dict[str, Any]] = {
    "chat_stream": {"project": "demo", "messages": MESSAGES, "model_config": {"model": "gpt-4o-mini"}},
    "chat_deployed_stream": {"project": "demo", "messages": MESSAGES},
    "chat_experiment_stream": {"experiment_id": "exp_1", "messages": MESSAGES},
    "chat_model_config_stream": {"model_config_id": "config_1", "messages": MESSAGES},
    "complete_stream": {
        "project": "demo",
        "model_config": {"model": "gpt-3.5-turbo-instruct", "prompt_template": "About {{topic}}"},
        "inputs": INPUTS,
    },
    "complete_deployed_stream": {"project": "demo", "inputs": INPUTS},
    "complete_experiment_stream": {"experiment_id": "exp_1", "inputs": INPUTS},
    "complete_model_config_stream": {"model_config_id": "config_1", "inputs": INPUTS},
}
TS_METHODS = {  # Python helper -> TypeScript method
    "chat_stream": "chatStream",
    "chat_deployed_stream": "chatDeployedStream",
    "chat_experiment_stream": "chatExperimentStream",
    "chat_model_config_stream": "chatModelConfigurationStream",
    "complete_stream": "completeStream",
    "complete_deployed_stream": "completeDeployedStream",
    "complete_experiment_stream": "completeExperimentStream",
    "complete_model_config_stream": "completeModelConfigurationStream",
}
TS_SCRIPT = Path(__file__).with_name("ts_streams.mjs")


def _handlers() -> dict[str, Any]:
    chat = generation_handler([sample(0, CHAT)])
    completion = generation_handler([sample(0, COMPLETION, chat=False)])
    operations = ("", "_deployed", "_experiment", "_model_config")
    return {
        **{f"chats_create{s}": chat for s in operations},
        **{f"completions_create{s}": completion for s in operations},
    }


def _check(chunks: list[dict[str, Any]], expected: dict[int, str]) -> None:
    assert chunks, "the SDK read no chunk"
    for index, text in expected.items():
        mine = [c for c in chunks if c["index"] == index]
        assert "".join(c["output"] for c in mine) == text
        assert mine[-1]["finish_reason"] == "stop"
        assert all(c["finish_reason"] is None for c in mine[:-1])
        assert len({c["id"] for c in mine}) == 1
        assert all(c["project_id"] == "pr_" + "cd" * 12 for c in mine)


async def _read(client: Humanloop, helper: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    response = await getattr(client, helper)(**params)
    assert response.status == 200
    return [chunk async for chunk in response.content]


def test_python_sdk_stream_helpers_read_every_generation_stream() -> None:
    with served(_handlers()) as base:
        client = Humanloop(api_key=KEY["X-API-KEY"], host=base)

        async def run() -> dict[str, list[dict[str, Any]]]:
            return {helper: await _read(client, helper, params) for helper, params in PY_CALLS.items()}

        results = asyncio.run(run())
    for helper, chunks in results.items():
        _check(chunks, {0: COMPLETION if helper.startswith("complete") else CHAT})
        if helper.startswith("chat"):
            assert chunks[-1]["output_message"]["role"] == "assistant"


def test_python_sdk_reads_two_interleaved_samples_from_a_cassette() -> None:
    cassette = CassetteLibrary.builtin().get("two-samples")
    body = {
        "project": "specfake-demo",
        "num_samples": 2,
        "model_config": {"model": "gpt-4o-mini", "temperature": 0.9},
    }
    body["messages"] = cassette.request.subject["messages"]  # type: ignore[index]
    samples = cassette.samples()
    handler = generation_handler(samples, cassette=cassette)
    with served({"chats_create": handler}) as base:
        client = Humanloop(api_key=KEY["X-API-KEY"], host=base)
        chunks = asyncio.run(_read(client, "chat_stream", body))
    assert len(chunks) == len(cassette.chunks)
    indexes = [c["index"] for c in chunks]
    assert indexes != sorted(indexes)  # interleaved
    finals = {item["index"]: item["output"] for item in cassette.final["data"]}
    for index, text in finals.items():
        mine = [c for c in chunks if c["index"] == index]
        assert "".join(c["output"] for c in mine) == text
        assert mine[-1]["finish_reason"] == "stop"


def _run_ts(base: str, calls: list[list[Any]]) -> list[dict[str, Any]]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the TypeScript SDK's streams (tests/sdk_ts)")
    ensure_ts_sdk(npm)  # `npm ci` from the committed lockfile when missing or stale; fails loudly
    env = {**os.environ, "SPECFAKE_URL": base, "SPECFAKE_API_KEY": KEY["X-API-KEY"]}
    env["SPECFAKE_CALLS"] = json.dumps(calls)
    done = subprocess.run(
        [node, str(TS_SCRIPT)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_typescript_sdk_stream_calls_read_every_generation_stream() -> None:
    calls = [[TS_METHODS[helper], params] for helper, params in PY_CALLS.items()]
    with served(_handlers()) as base:
        results = _run_ts(base, calls)
    assert [r["method"] for r in results] == list(TS_METHODS.values())
    for result in results:
        assert "error" not in result, result
        _check(result["events"], {0: COMPLETION if result["method"].startswith("complete") else CHAT})


def test_typescript_sdk_reads_two_interleaved_samples_from_a_cassette() -> None:
    cassette = CassetteLibrary.builtin().get("two-samples")
    params = {"project": "specfake-demo", "num_samples": 2, "model_config": {"model": "gpt-4o-mini"}}
    params["messages"] = cassette.request.subject["messages"]  # type: ignore[index]
    with served({"chats_create": generation_handler(cassette.samples(), cassette=cassette)}) as base:
        (result,) = _run_ts(base, [["chatStream", params]])
    events = result["events"]
    assert len(events) == len(cassette.chunks)
    for item in cassette.final["data"]:
        mine = [e for e in events if e["index"] == item["index"]]
        assert "".join(e["output"] for e in mine) == item["output"]
        assert mine[-1]["finish_reason"] == "stop"
