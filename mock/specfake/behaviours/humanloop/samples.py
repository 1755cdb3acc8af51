"""What the fake model says: templates rendered from inputs, then one seeded sample per index.

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
- ``count_tokens(text)``: the fake's token count.
"""

from __future__ import annotations

import hashlib
import random
import re
from typing import Any

import orjson
from faker import Faker

from specfake.behaviours.humanloop.common import HumanloopState, json_object
from specfake.behaviours.humanloop.exceptions import unprocessable
from specfake.calls import Call
from specfake.generate import GenContext

_FAKER = Faker("en_US")
_VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_TOKEN = re.compile(r"\w+|[^\w\s]")


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
