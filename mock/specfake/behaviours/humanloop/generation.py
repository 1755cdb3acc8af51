"""Chat and completion generations: templates rendered from inputs, seeded fake model output.

Public helpers other modules use:

- ``render(text, inputs, loc)``: ``{{variable}}`` substitution; a missing variable is a 422
  naming it under ``loc`` (``["body", "inputs", name]`` for requests).
- ``generate_output(hl, call, config, inputs, messages, sample_index) -> dict``: one sample for a
  model config. ``messages`` None means a completion (the config's ``prompt_template``), a list
  means a chat (the config's ``chat_template`` then ``messages``). Returns ``output``,
  ``raw_output``, ``output_message``, ``finish_reason``, ``tool_calls``, ``tool_call``,
  ``prompt_tokens``, ``output_tokens``, ``messages`` (what the model was sent, for chats) and
  ``prompt`` (for completions). Deterministic for the call's seed, the sample index and the
  rendered prompt. The call's body may carry ``tool_choice``/``tool_call``/``response_format``.
- ``stream_samples(...)``: the SSE answer of a ``"stream": true`` request.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from faker import Faker

from specfake.behaviours.humanloop import logs, sessions
from specfake.behaviours.humanloop.common import LOGS, PROJECTS, HumanloopState, unprocessable
from specfake.behaviours.humanloop.configs import (
    public,
    register_config,
    require_config,
    require_deployment,
)
from specfake.behaviours.humanloop.experiments import count_trial, require_experiment, sample_config
from specfake.calls import Call, Handler
from specfake.errors import ApiError
from specfake.generate import GenContext
from specfake.http import Reply

_FAKER = Faker("en_US")
_VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_TOKEN = re.compile(r"\w+|[^\w\s]")
MAX_SAMPLES = 64  # a fake has no reason to produce more; larger requests are clamped


# -- templates -----------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def render(text: str, inputs: dict[str, Any], loc: list[Any]) -> str:
    """Substitute ``{{name}}`` from ``inputs``; a name with no input is a 422 at ``loc + [name]``."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in inputs:
            raise unprocessable(
                [*loc, name], f"Missing input variable {name!r} used by the template", "missing"
            )
        return _as_text(inputs[name])

    return _VARIABLE.sub(substitute, text)


def _render_message(message: dict[str, Any], inputs: dict[str, Any], loc: list[Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        return {**message, "content": render(content, inputs, loc)}
    if isinstance(content, list):
        parts = [
            {**part, "text": render(part["text"], inputs, loc)} if isinstance(part.get("text"), str) else part
            for part in content
        ]
        return {**message, "content": parts}
    return dict(message)


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content or ""


def count_tokens(text: str) -> int:
    """Roughly what a BPE tokenizer gives for English: words and punctuation."""
    return len(_TOKEN.findall(text))


# -- one sample ----------------------------------------------------------------------------------


def _rng(call: Call, sample_index: int, prompt: Any) -> random.Random:
    digest = hashlib.blake2b(orjson.dumps(prompt, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()
    return random.Random(f"{call.seed}:{sample_index}:{digest}")


def _text(rng: random.Random) -> str:
    _FAKER.seed_instance(rng.getrandbits(32))
    return " ".join(_FAKER.sentences(rng.randint(1, 3)))


def _json_text(rng: random.Random) -> str:
    _FAKER.seed_instance(rng.getrandbits(32))
    value = {
        "answer": _FAKER.sentence(),
        "confidence": round(rng.random(), 2),
        "tags": _FAKER.words(rng.randint(1, 3)),
    }
    return orjson.dumps(value).decode()


def _arguments(hl: HumanloopState, parameters: Any, rng: random.Random) -> str:
    """JSON arguments valid for a tool's parameter schema (``{}`` if it cannot be generated)."""
    if not isinstance(parameters, dict) or not parameters:
        return "{}"
    try:
        value = hl.ctx.answers.maker_for(parameters)(GenContext(rng.getrandbits(64), optional_rate=1.0))
    except Exception:  # a client's schema may be anything; arguments are best effort
        return "{}"
    return orjson.dumps(value).decode() if isinstance(value, dict) else "{}"


def _forced_tool(call: Call, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The tool ``tool_choice`` (or the older ``tool_call``) forces, if any."""
    body = call.body if isinstance(call.body, dict) else {}
    choice = body.get("tool_choice")
    field = "tool_choice"
    if choice is None and body.get("tool_call") is not None:
        choice, field = body["tool_call"], "tool_call"
    if choice is None or choice in ("none", "auto"):
        return None
    if choice == "required":
        if not tools:
            raise unprocessable(["body", field], "tool_choice 'required' needs a model config with tools")
        return tools[0]
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
    else:
        name = choice
    found = next((t for t in tools if t.get("name") == name), None)
    if found is None:
        raise unprocessable(["body", field], f"Tool {name!r} is not among the model config's tools")
    return found


def _finish(text: str, config: dict[str, Any]) -> tuple[str, str]:
    """Apply ``stop`` sequences and ``max_tokens``: the text and its finish_reason."""
    stops = config.get("stop")
    for stop in [stops] if isinstance(stops, str) else stops or []:
        if stop and stop in text:
            return text[: text.index(stop)], "stop"
    limit = config.get("max_tokens")
    if isinstance(limit, int) and limit > 0:
        words = text.split(" ")
        if len(words) > limit:
            return " ".join(words[:limit]), "length"
    return text, "stop"


def generate_output(
    hl: HumanloopState,
    call: Call,
    config: dict[str, Any],
    inputs: dict[str, Any] | None,
    messages: list[dict[str, Any]] | None,
    sample_index: int,
) -> dict[str, Any]:
    """One seeded sample for ``config`` (see the module docstring for what it returns)."""
    inputs = inputs or {}
    loc = ["body", "inputs"]
    body = call.body if isinstance(call.body, dict) else {}
    prompt: str | None = None
    sent: list[dict[str, Any]] | None = None
    if messages is None:
        prompt = render(config.get("prompt_template") or "", inputs, loc)
        prompt_text = prompt
    else:
        template = [_render_message(m, inputs, loc) for m in config.get("chat_template") or []]
        sent = template + [dict(m) for m in messages]
        prompt_text = "\n".join(_message_text(m) for m in sent)
    rng = _rng(call, sample_index, [prompt, sent])
    tools = config.get("tools") or []
    tool = _forced_tool(call, tools) if messages is not None else None
    response_format = body.get("response_format") or config.get("response_format") or {}
    tool_calls = None
    tool_call = None
    if tool is not None:
        arguments = _arguments(hl, tool.get("parameters"), rng)
        tool_calls = [
            {
                "id": f"call_{rng.getrandbits(96):024x}",
                "type": "function",
                "function": {"name": tool["name"], "arguments": arguments},
            }
        ]
        tool_call = {"name": tool["name"], "arguments": arguments}
        text, finish_reason = "", "tool_calls"
        output_tokens = count_tokens(arguments)
    else:
        if response_format.get("type") == "json_object":
            text, finish_reason = _json_text(rng), "stop"
        else:
            text, finish_reason = _finish(_text(rng), config)
        output_tokens = count_tokens(text)
    output_message = None
    if messages is not None:
        output_message = {
            "role": "assistant",
            "content": text if tool_calls is None else None,
            "name": None,
            "tool_call_id": None,
            "tool_calls": tool_calls,
            "tool_call": tool_call,
        }
    return {
        "output": text,
        "raw_output": text,
        "output_message": output_message,
        "finish_reason": finish_reason,
        "tool_calls": tool_calls,
        "tool_call": tool_call,
        "prompt_tokens": count_tokens(prompt_text),
        "output_tokens": output_tokens,
        "messages": sent,
        "prompt": prompt,
    }


# -- the eight endpoints ---------------------------------------------------------------------------
# chat|completion x inline model_config | -deployed | -experiment | -model-config.


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
    return min(n, MAX_SAMPLES)


_PROVIDER_PARAMS = (
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
)


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


def _item(chat: bool, body: dict[str, Any], log_id: str, index: int, config_id: str, sample: dict[str, Any]):
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


def _generation(hl: HumanloopState, chat: bool, source: str) -> Handler:
    def handle(call: Call) -> Reply:
        body = call.body
        project, config, trial, environment = _config_source(hl, call, chat, source)
        n = _num_samples(body)
        session_id = sessions.resolve_session(hl, call, body, ["body"])
        parent_id = logs.resolve_parent(hl, call, body, ["body"])
        messages = body.get("messages") if chat else None
        if chat and messages is None:
            messages = []
        samples = [generate_output(hl, call, config, body.get("inputs"), messages, i) for i in range(n)]
        provider_request = _provider_request(config, samples[0], n)
        provider_latency = round(0.2 + random.Random(call.seed).random() * 1.3, 3)
        saved = body.get("save") is not False
        fields = []
        for sample in samples:
            fields.append(
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
            )
        items = [
            _item(chat, body, f["id"], i, config["id"], s)
            for i, (f, s) in enumerate(zip(fields, samples, strict=True))
        ]

        def save() -> None:
            if not saved:
                return
            for f in fields:
                logs.store_log(hl, call, f)
            if trial is not None:
                count_trial(hl, call, trial, len(fields))

        if body.get("stream") is True:
            return Reply(200, stream=stream_samples(hl, project["id"], items, save))
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

    return handle


# -- streaming ------------------------------------------------------------------------------------


def _pieces(text: str, words: int = 3) -> list[str]:
    """A few words per event, spaces kept, so the pieces join back into ``text``."""
    tokens = re.findall(r"\S+\s*", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)] or [""]


def stream_samples(
    hl: HumanloopState, project_id: str, items: list[dict[str, Any]], save: Callable[[], None]
) -> AsyncIterator[bytes]:
    """SSE events for already generated samples, then ``save()`` and a commit once all are sent.

    The engine commits before a stream starts, so what ``save`` writes is committed here; a
    client that disconnects early closes the generator, and nothing is stored.
    """

    async def events() -> AsyncIterator[bytes]:
        for item in items:
            pieces = _pieces(item["output"])
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                delta: dict[str, Any] = {
                    "id": item["id"],
                    "index": item["index"],
                    "output": piece,
                    "finish_reason": item["finish_reason"] if last else None,
                    "model_config_id": item["model_config_id"],
                    "tool_results": None,
                }
                if "output_message" in item:
                    message = item["output_message"]
                    delta["output_message"] = {"role": "assistant", "content": piece}
                    delta["tool_calls"] = message["tool_calls"] if last else None
                    if last and message["tool_calls"]:
                        delta["output_message"]["tool_calls"] = message["tool_calls"]
                yield b"data: " + orjson.dumps({"data": [delta], "project_id": project_id}) + b"\n\n"
        try:
            save()
        except ApiError:  # e.g. the project was deleted while streaming: the logs have nowhere to go
            hl.store.rollback()
            return
        hl.store.commit()

    return events()


def handlers(hl: HumanloopState) -> dict[str, Handler]:
    out: dict[str, Handler] = {}
    for suffix, source in (("", "inline"), ("_deployed", "deployed"), ("_experiment", "experiment"),
                           ("_model_config", "model_config")):  # fmt: skip
        out[f"chats_create{suffix}"] = _generation(hl, True, source)
        out[f"completions_create{suffix}"] = _generation(hl, False, source)
    return out
