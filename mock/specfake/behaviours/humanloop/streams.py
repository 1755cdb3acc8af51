"""Humanloop's streams as the official SDKs read them: the chunk shape and how recordings match.

Every event is ``{"data": [item], "project_id": ...}``; an item is one piece of one sample
(``id``, ``index``, ``output``, ``model_config_id``), with ``finish_reason`` (and tool calls and
results) on the sample's last chunk only. Chat samples also carry the piece as the assistant
message's content. With ``num_samples > 1`` the samples stream interleaved, told apart by ``index``.

A recording of one of the eight generation operations answers every request with the same
messages, prompt template and inputs, the same sample count and (when the cassette names one) the
same model: other sampling parameters (temperature...) replay the same recording.
"""

from __future__ import annotations

import functools
from typing import Any

from specfake.streaming.replay import generation_stream as engine_stream
from specfake.streaming.shape import ChunkShape, RecordingKey, StreamShape

GENERATIONS = tuple(
    f"{kind}_create{suffix}"
    for kind in ("chats", "completions")
    for suffix in ("", "_deployed", "_experiment", "_model_config")
)


class HumanloopChunks(ChunkShape):
    """``{"data": [item], **envelope}`` events (see the module docstring)."""

    ids = ("id", "model_config_id")

    def item(self, payload: Any) -> dict[str, Any] | None:
        data = payload.get("data") if isinstance(payload, dict) else None
        first = data[0] if isinstance(data, list) and data else None
        return first if isinstance(first, dict) else None

    def envelope(self, payload: Any) -> dict[str, Any]:
        return {k: v for k, v in payload.items() if k != "data"} if isinstance(payload, dict) else {}

    def event(self, item: dict[str, Any], envelope: dict[str, Any]) -> Any:
        return {"data": [item], **envelope}

    def index(self, item: dict[str, Any]) -> int:
        return int(item.get("index") or 0)

    def text(self, item: dict[str, Any]) -> str:
        return str(item.get("output") or "")

    def piece(self, sample: dict[str, Any], text: str, last: bool) -> dict[str, Any]:
        """The sample's identity, this piece as ``output``, and on its last chunk only its
        ``finish_reason``, tool calls and tool results. A chat sample (one with an
        ``output_message``) also carries the piece as the message content, as the SDKs read it."""
        item: dict[str, Any] = {
            "id": sample["id"],
            "index": sample["index"],
            "output": text,
            "finish_reason": (sample.get("finish_reason") or "stop") if last else None,
            "model_config_id": sample["model_config_id"],
        }
        message = sample.get("output_message")
        if isinstance(message, dict):
            tool_calls = sample.get("tool_calls") or message.get("tool_calls")
            streamed: dict[str, Any] = {"role": message.get("role") or "assistant", "content": text}
            if last and tool_calls:
                streamed["tool_calls"] = tool_calls
            item["output_message"] = streamed
            item["tool_calls"] = tool_calls if last else None
        item["tool_results"] = sample.get("tool_results") if last else None
        return item

    def sample(self, last: dict[str, Any], text: str) -> dict[str, Any]:
        sample = {**last, "output": text}
        message = sample.get("output_message")
        if isinstance(message, dict):
            sample["output_message"] = {**message, "content": text}
        return sample


CHUNKS = HumanloopChunks()


def _subject(body: Any) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    config = body.get("model_config") if isinstance(body.get("model_config"), dict) else {}
    prompt = config.get("prompt_template") or config.get("chat_template")
    return {"messages": body.get("messages"), "prompt": prompt, "inputs": body.get("inputs") or None}


def _model(body: Any) -> str | None:
    config = body.get("model_config") if isinstance(body, dict) else None
    model = config.get("model") if isinstance(config, dict) else None
    return model.strip() if isinstance(model, str) else None


def _samples(body: Any) -> int:
    value = body.get("num_samples") if isinstance(body, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


GENERATION_KEY = RecordingKey(subject=_subject, model=_model, samples=_samples)
STREAMS = StreamShape(chunks=CHUNKS, keys=dict.fromkeys(GENERATIONS, GENERATION_KEY))


# A streamed chat or completion: the engine's `generation_stream` in this shape.
generation_stream = functools.partial(engine_stream, shape=CHUNKS)
