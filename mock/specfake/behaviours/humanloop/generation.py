"""Chat and completion generations: the eight endpoints, one handler.

chat|completion x inline ``model_config`` | ``_deployed`` | ``_experiment`` | ``_model_config``:
the operation id says which, and where the config comes from. Each sample (samples.py) is stored
as a log (logs.store_log) unless ``save`` is false.

A ``"stream": true`` request is answered by ``ctx.streams.generation`` (Humanloop's chunk shape,
streams.py): a matching cassette's chunks at their recorded gaps (its text, finish_reason and
tool calls are then what is stored, see ``recorded_sample``), otherwise the generated text on a
seeded pace; the logs are stored once the last chunk is sent (never for a stream a fault cut or
ended with an error; see specfake.streaming.replay for a client that hangs up). A cassette that
recorded an error answer is replayed as it is.

Public helpers other modules use:

- ``recorded_sample(sample, recorded) -> dict``: a generated sample carrying what a cassette
  streamed instead.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop import logs, sessions
from specfake.behaviours.humanloop.common import LOGS, PROJECTS, HumanloopState
from specfake.behaviours.humanloop.configs import public, register_config, require_config
from specfake.behaviours.humanloop.deployments import require_deployment
from specfake.behaviours.humanloop.exceptions import unprocessable
from specfake.behaviours.humanloop.experiments import count_trial, require_experiment, sample_config
from specfake.behaviours.humanloop.samples import count_tokens, generate_output
from specfake.behaviours.humanloop.streams import GENERATIONS
from specfake.calls import Call
from specfake.errors import ApiError
from specfake.http import Reply

# The fake's bound on num_samples: a larger request is a 422 naming the field (as a service that
# cannot serve it would answer), never silently fewer samples than asked for.
MAX_SAMPLES = 64
# operation id -> (chat?, where the config comes from: inline, deployed, experiment, model_config)
ROUTES: dict[str, tuple[bool, str]] = {
    op: (op.startswith("chats_"), op.partition("_create")[2].lstrip("_") or "inline") for op in GENERATIONS
}
_PROVIDER_PARAMS = (
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
)


def _config_source(
    hl: HumanloopState, call: Call, chat: bool, source: str
) -> tuple[dict[str, Any], dict[str, Any], str | None, str | None]:
    """(project, config, trial id, environment name) for the request."""
    body = call.body
    if source == "inline":
        project = hl.resolve_project(call, body)
        config = register_config(
            hl, call, project, body["model_config"], endpoint="chat" if chat else "complete"
        )
        return project, config, None, None
    if source == "model_config":
        stored = require_config(hl, call, body["model_config_id"])
        if body.get("project") or body.get("project_id"):
            project = hl.resolve_project(call, body)
        else:
            project = hl.require(call, PROJECTS, stored["_project_id"], "Project")
        return project, public(stored), None, None
    if source == "experiment":
        experiment = require_experiment(hl, call, body["experiment_id"])
        project = hl.require(call, PROJECTS, experiment["project_id"], "Project")
        config, trial = sample_config(hl, call, experiment)
        return project, config, trial, None
    project = hl.resolve_project(call, body)
    env, dep = require_deployment(hl, call, project, body.get("environment"))
    if dep.get("experiment_id"):
        experiment = require_experiment(hl, call, dep["experiment_id"])
        config, trial = sample_config(hl, call, experiment)
        return project, config, trial, env["name"]
    return project, public(require_config(hl, call, dep["config_id"])), None, env["name"]


def _num_samples(body: dict[str, Any]) -> int:
    n = body.get("num_samples")
    if n is None:
        return 1
    if n < 1:
        raise unprocessable(["body", "num_samples"], "num_samples must be at least 1")
    if n > MAX_SAMPLES:
        raise unprocessable(
            ["body", "num_samples"], f"num_samples must be at most {MAX_SAMPLES}", "less_than_equal"
        )
    return int(n)


def _provider_request(config: dict[str, Any], sample: dict[str, Any], n: int) -> dict[str, Any]:
    request: dict[str, Any] = {"model": config.get("model"), "n": n}
    for key in _PROVIDER_PARAMS:
        if config.get(key) is not None:
            request[key] = config[key]
    if sample["messages"] is not None:
        request["messages"] = sample["messages"]
    else:
        request["prompt"] = sample["prompt"]
    return request


def _provider_response(call: Call, config: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """What an OpenAI-style provider would have answered, as Humanloop passes it through."""
    chat = samples[0]["messages"] is not None
    choices = []
    for i, s in enumerate(samples):
        choice: dict[str, Any] = {"index": i, "finish_reason": s["finish_reason"]}
        if chat:
            choice["message"] = {k: v for k, v in s["output_message"].items() if v is not None}
        else:
            choice["text"] = s["output"]
        choices.append(choice)
    prompt_tokens = samples[0]["prompt_tokens"]
    output_tokens = sum(s["output_tokens"] for s in samples)
    return {
        "id": f"{'chatcmpl' if chat else 'cmpl'}-{call.seed:016x}",
        "object": "chat.completion" if chat else "text_completion",
        "model": config.get("model"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
        },
    }


def _item(
    chat: bool, body: dict[str, Any], log_id: str, index: int, config_id: str, sample: dict[str, Any]
) -> dict[str, Any]:
    """One ``data`` entry of the answer (and the sample a stream sends in pieces)."""
    inputs = body.get("inputs") or {}
    show_inputs = body.get("return_inputs") is not False
    item: dict[str, Any] = {
        "id": log_id,
        "index": index,
        "output": sample["output"],
        "raw_output": sample["raw_output"],
        "model_config_id": config_id,
        "finish_reason": sample["finish_reason"],
        "tool_results": None,
    }
    if chat:
        item.update(
            inputs=inputs if show_inputs else None,
            output_message=sample["output_message"],
            messages=body.get("messages"),
            tool_call=sample["tool_call"],
            tool_calls=sample["tool_calls"],
        )
    else:
        item["inputs"] = inputs if show_inputs else {}
    return item


def recorded_sample(sample: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """A generated sample carrying what a cassette streamed instead (text, finish_reason, tool
    calls), so the stored log is what the client received."""
    text = str(recorded.get("output") or "")
    message = recorded.get("output_message")
    if not isinstance(message, dict):
        message = {}
    tool_calls = recorded.get("tool_calls") or message.get("tool_calls") or None
    function = (tool_calls[0].get("function") or {}) if tool_calls else {}
    tool_call = {"name": function["name"], "arguments": function.get("arguments")} if function else None
    out = {
        **sample,
        "output": text,
        "raw_output": text,
        "finish_reason": recorded.get("finish_reason") or "stop",
        "tool_calls": tool_calls,
        "tool_call": tool_call,
        "output_tokens": count_tokens(text or (tool_call or {}).get("arguments") or ""),
    }
    if sample["output_message"] is not None:
        out["output_message"] = {
            **sample["output_message"],
            "content": text if text or not tool_calls else None,
            "tool_calls": tool_calls,
            "tool_call": tool_call,
        }
    return out


def _commit_after(hl: HumanloopState, save: Callable[[], None]) -> Callable[[], None]:
    """What a stream runs once its last chunk is sent: ``save()`` and a commit (the engine
    committed before the body started). A project deleted meanwhile leaves the logs nowhere to go:
    nothing is stored, rather than failing a stream the client has already read."""

    def complete() -> None:
        try:
            save()
        except ApiError:
            hl.store.rollback()
            return
        hl.store.commit()

    return complete


# -- the endpoint ---------------------------------------------------------------------------------

ops: Operations[HumanloopState] = Operations()


@ops(*GENERATIONS)
def generate(hl: HumanloopState, call: Call) -> Reply:
    chat, source = ROUTES[call.operation.operation_id]
    body = call.body
    streams = hl.ctx.streams
    stream = body.get("stream") is True
    faults = call.stream_faults if stream else None  # the engine read them (a bad header: 422)
    cassette = streams.match(call) if stream else None
    if cassette is not None and not cassette.is_stream:  # a recorded error answer: as recorded
        return streams.replay(cassette, call)
    n = _num_samples(body)  # before _config_source, which may register a config
    project, config, trial, environment = _config_source(hl, call, chat, source)
    session_id = sessions.resolve_session(hl, call, body, ["body"])
    parent_id = logs.resolve_parent(hl, call, body, ["body"])
    messages = body.get("messages") if chat else None
    if chat and messages is None:
        messages = []
    recorded = cassette.samples() if cassette is not None else None
    indexes: Sequence[int] = (
        [int(r.get("index") or 0) for r in recorded] if recorded is not None else range(n)
    )
    samples = [generate_output(hl, call, config, body.get("inputs"), messages, i) for i in indexes]
    if recorded is not None:
        samples = [recorded_sample(s, r) for s, r in zip(samples, recorded, strict=True)]
    call.tokens = sum(s["output_tokens"] for s in samples)  # what the token quota counts
    provider_request = _provider_request(config, samples[0], n)
    provider_latency = round(0.2 + random.Random(call.seed).random() * 1.3, 3)
    saved = body.get("save") is not False
    fields = [
        {
            "id": hl.new_id(LOGS),
            "project_id": project["id"],
            "config": config,
            "inputs": body.get("inputs") or {},
            "messages": body.get("messages") if chat else None,
            "output": sample["output"],
            "raw_output": sample["raw_output"],
            "output_message": sample["output_message"],
            "finish_reason": sample["finish_reason"],
            "prompt_tokens": sample["prompt_tokens"],
            "output_tokens": sample["output_tokens"],
            "source": body.get("source"),
            "metadata": body.get("metadata"),
            "session_id": session_id,
            "parent_id": parent_id,
            "source_datapoint_id": body.get("source_datapoint_id"),
            "user": body.get("user"),
            "environment": environment,
            "trial_id": trial,
            "save": saved,
            "tool_choice": body.get("tool_choice") if chat else None,
            "provider_request": provider_request,
            "provider_latency": provider_latency,
        }
        for sample in samples
    ]
    items = [
        _item(chat, body, f["id"], i, config["id"], s)
        for i, f, s in zip(indexes, fields, samples, strict=True)
    ]

    def save() -> None:
        if not saved:
            return
        for f in fields:
            logs.store_log(hl, call, f)
        if trial is not None:
            count_trial(hl, call, trial, len(fields))

    if stream:
        events = streams.generation(
            items,
            {"project_id": project["id"]},
            seed=call.seed,
            faults=faults,
            cassette=cassette,
            on_complete=_commit_after(hl, save),
        )
        return Reply(200, stream=events)
    save()
    prompt_tokens = samples[0]["prompt_tokens"]
    output_tokens = sum(s["output_tokens"] for s in samples)
    answer: dict[str, Any] = {
        "data": items,
        "provider_responses": [_provider_response(call, config, samples)],
        "project_id": project["id"],
        "num_samples": n,
        "logprobs": body.get("logprobs"),
        "suffix": body.get("suffix"),
        "user": body.get("user"),
        "usage": {
            "prompt_tokens": prompt_tokens,
            "generation_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
        },
        "metadata": body.get("metadata"),
        "provider_request": provider_request,
        "session_id": session_id,
    }
    if chat:
        answer["tool_choice"] = body.get("tool_choice")
    return Reply(200, answer)
