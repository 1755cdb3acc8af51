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
- ``stream_settings(options) -> Streams``: ``stream_speed`` and the cassettes (built-in plus
  ``streams_dir``) streamed generations use. A ``"stream": true`` request is answered by
  ``specfake.streaming.generation_stream``: a matching cassette's chunks at their recorded gaps
  (its text, finish_reason and tool calls are then what is stored), otherwise the generated text
  on a seeded pace; the logs are stored once the last chunk is sent (never for a stream a fault
  cut or ended with an error; see specfake.streaming.replay for a client that hangs up).
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from faker import Faker

from specfake.behaviours import Options
from specfake.behaviours.humanloop import logs, sessions
from specfake.behaviours.humanloop.common import LOGS, PROJECTS, HumanloopState, json_object, unprocessable
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
from specfake.streaming import Cassette, CassetteLibrary, StreamFaults, generation_stream
from specfake.streaming.handler import cassette_reply

_FAKER = Faker("en_US")
_VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_TOKEN = re.compile(r"\w+|[^\w\s]")
# The fake's bound on num_samples: a larger request is a 422 naming the field (as a service that
# cannot serve it would answer), never silently fewer samples than asked for.
MAX_SAMPLES = 64


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
    body = json_object(call.body)
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
    body = json_object(call.body)
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
    if n > MAX_SAMPLES:
        raise unprocessable(
            ["body", "num_samples"], f"num_samples must be at most {MAX_SAMPLES}", "less_than_equal"
        )
    return int(n)


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


def _generation(hl: HumanloopState, chat: bool, source: str, streams: Streams) -> Handler:
    def handle(call: Call) -> Reply:
        body = call.body
        stream = body.get("stream") is True
        # a bad fault header is a 422 before anything is written (registering the config writes)
        faults = _faults(hl, call) if stream else None
        cassette = streams.library.match(call.operation.operation_id, body) if stream else None
        if cassette is not None and not cassette.is_stream:  # a recorded error answer: as recorded
            return cassette_reply(cassette, call, streams.speed)
        n = _num_samples(body)  # before _config_source, which may register a config
        project, config, trial, environment = _config_source(hl, call, chat, source)
        session_id = sessions.resolve_session(hl, call, body, ["body"])
        parent_id = logs.resolve_parent(hl, call, body, ["body"])
        messages = body.get("messages") if chat else None
        if chat and messages is None:
            messages = []
        recorded = cassette.samples() if cassette is not None else None
        indexes = [int(r.get("index") or 0) for r in recorded] if recorded is not None else range(n)
        samples = [generate_output(hl, call, config, body.get("inputs"), messages, i) for i in indexes]
        if recorded is not None:
            samples = [recorded_sample(s, r) for s, r in zip(samples, recorded, strict=True)]
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
            events = generation_stream(
                items,
                {"project_id": project["id"]},
                seed=call.seed,
                speed=streams.speed,
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

    return handle


# -- streaming ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Streams:
    """How streamed generations are sent, fixed at start-up: the gap factor and the recordings."""

    speed: float
    library: CassetteLibrary


@functools.cache
def _builtin_cassettes() -> tuple[Cassette, ...]:
    """The shipped recordings, parsed once per process (every app shares them, read-only)."""
    return tuple(CassetteLibrary.builtin())


def parse_speed(text: str) -> float:
    """``--stream-speed``/``stream_speed``: a float >= 0; ValueError says what is accepted."""
    try:
        speed = float(text)
    except ValueError:
        speed = -1.0
    if not speed >= 0:  # also rejects NaN
        raise ValueError(f"stream speed must be a number >= 0 (0 = no waiting, 1 = real time), got {text!r}")
    return speed


def stream_settings(options: Options) -> Streams:
    """``stream_speed`` (float >= 0, default 1) and ``streams_dir`` (recordings that take
    precedence over the built-in fixtures/streams/); a bad value fails start-up, not a request."""
    speed = parse_speed(options.get("stream_speed", "1") or "1")
    library = CassetteLibrary()
    directory = options.get("streams_dir", "")
    for cassette in (*(CassetteLibrary(directory) if directory else ()), *_builtin_cassettes()):
        library.add(cassette)  # the first added wins a match: the user's recordings
    return Streams(speed, library)


def recorded_sample(sample: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """A generated sample carrying what a cassette streamed instead (text, finish_reason, tool
    calls), so the stored log is what the client received."""
    text = str(recorded.get("output") or "")
    message = recorded.get("output_message") if isinstance(recorded.get("output_message"), dict) else {}
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


def handlers(hl: HumanloopState) -> dict[str, Handler]:
    streams = stream_settings(hl.ctx.options)
    out: dict[str, Handler] = {}
    for suffix, source in (("", "inline"), ("_deployed", "deployed"), ("_experiment", "experiment"),
                           ("_model_config", "model_config")):  # fmt: skip
        out[f"chats_create{suffix}"] = _generation(hl, True, source, streams)
        out[f"completions_create{suffix}"] = _generation(hl, False, source, streams)
    return out


def _faults(hl: HumanloopState, call: Call) -> StreamFaults | None:
    """The request's X-Specfake-Stream-Fault header, else the admin rule (option ``stream_faults``,
    set with ``--option`` or ``PUT /__admin/options``) for every stream of this contract."""
    asked = StreamFaults.from_headers(call.headers)
    if asked is not None:
        return asked
    rule = hl.ctx.options.get("stream_faults").strip()
    return StreamFaults.parse(rule) if rule else None
