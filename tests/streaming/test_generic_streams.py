"""Streams of a contract with no behaviour: the compiled `StreamSpec` reads OpenAPI 3.2's
``itemSchema`` as well as specfake's ``schema`` convention, a nullable boolean ``stream`` flag and
the terminator the example ends with; the synthetic stream keeps one id, ends on a final chunk and
then sends that terminator (and none where the example shows none)."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from specfake.app import create_app
from specfake.contract import load_contract
from specfake.streaming.sse import parse_events

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

OPENAI = Path(__file__).parents[1] / "contracts" / "openai_style.yaml"
CHAT = "chat_completions_create"
URL = "/openai_style/v1/chat/completions"
AUTH = {"Authorization": "Bearer k1"}
CHUNK = {"$ref": "#/components/schemas/ChatCompletionChunk"}


def _document() -> dict[str, Any]:
    return yaml.safe_load(OPENAI.read_text(encoding="utf-8"))


def _written(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / "openai_style.yaml"  # the same name: the same mount prefix
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _sse_media(document: dict[str, Any]) -> dict[str, Any]:
    return document["paths"]["/chat/completions"]["post"]["responses"]["200"]["content"]["text/event-stream"]


def _stream(contract: str | Path, body: dict[str, Any] | None = None) -> bytes:
    client = TestClient(create_app([str(contract)]))
    asked = body or {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = client.post(URL, json=asked, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return response.content


def test_the_chunk_schema_is_read_from_item_schema() -> None:
    spec = load_contract(OPENAI).compiled.operation(CHAT).stream
    assert spec is not None
    assert spec.chunk_schema == CHUNK
    assert spec.final_path == ("choices", "*", "finish_reason")
    assert spec.text_path == ("choices", "*", "delta", "content")
    assert spec.steady == (("id",), ("object",), ("created",), ("model",))


def test_item_schema_and_schema_give_the_same_stream_spec(tmp_path: Path) -> None:
    document = _document()
    media = _sse_media(document)
    media["schema"] = media.pop("itemSchema")  # specfake's OpenAPI 3.1 convention
    as_schema = load_contract(_written(tmp_path, document)).compiled.operation(CHAT).stream
    assert as_schema == load_contract(OPENAI).compiled.operation(CHAT).stream


@pytest.mark.parametrize(
    ("flag", "streams"),
    [
        ({"type": "boolean"}, True),
        ({"type": ["boolean", "null"]}, True),
        ({"anyOf": [{"type": "boolean"}, {"type": "null"}]}, True),
        ({"oneOf": [{"type": "null"}, {"type": ["boolean"]}]}, True),
        ({"type": ["string", "null"]}, False),
        ({"anyOf": [{"type": "boolean"}, {"type": "string"}]}, False),
    ],
)
def test_a_nullable_boolean_stream_property_is_the_flag(
    tmp_path: Path, flag: dict[str, Any], streams: bool
) -> None:
    document = _document()
    document["components"]["schemas"]["ChatCompletionCreate"]["properties"]["stream"] = flag
    spec = load_contract(_written(tmp_path, document)).compiled.operation(CHAT).stream
    assert spec is not None and spec.flag == ("stream" if streams else None)


def test_the_terminator_is_the_examples_last_event_when_it_is_not_json(tmp_path: Path) -> None:
    declared = load_contract(OPENAI).compiled.operation(CHAT).stream
    assert declared is not None and declared.terminator == "[DONE]"
    document = _document()
    media = _sse_media(document)
    media["example"] = media["example"].replace("data: [DONE]\n\n", "")
    spec = load_contract(_written(tmp_path, document)).compiled.operation(CHAT).stream
    assert spec is not None and spec.terminator is None
    chats = load_contract("humanloop").compiled.operation("chats_create").stream
    assert chats is not None and chats.terminator is None  # Humanloop's streams end on their last chunk


def test_a_synthetic_stream_is_one_stream_ended_by_the_terminator() -> None:
    body = _stream(OPENAI)
    events = parse_events(body)
    assert body.endswith(b"\n\ndata: [DONE]\n\n")
    assert events[-1].raw == "data: [DONE]" and events[-1].kind == "not-json"
    chunks = [ev.payload for ev in events[:-1]]
    assert len(chunks) >= 3 and all(ev.ok for ev in events[:-1])
    for field in ("id", "created", "model", "object"):
        assert len({json.dumps(chunk[field]) for chunk in chunks}) == 1, field
    finishes = [[c.get("finish_reason") for c in chunk["choices"]] for chunk in chunks]
    assert all(f is None for finish in finishes[:-1] for f in finish)
    assert any(f is not None for f in finishes[-1])
    texts = ["".join({c["delta"]["content"] for c in chunk["choices"]}) for chunk in chunks]
    assert all(texts) and "".join(texts).strip()
    validator = load_contract(OPENAI).compiled
    chunk_validator = validator.validator(CHUNK)
    assert all(chunk_validator.is_valid(chunk) for chunk in chunks)


def test_streams_differ_by_request_and_repeat_for_the_same_one() -> None:
    first = _stream(OPENAI)
    assert _stream(OPENAI) == first
    other = _stream(OPENAI, {"model": "m", "messages": [{"role": "user", "content": "bye"}], "stream": True})
    assert parse_events(other)[0].payload["id"] != parse_events(first)[0].payload["id"]


def test_no_terminator_when_the_example_shows_none(tmp_path: Path) -> None:
    document = copy.deepcopy(_document())
    media = _sse_media(document)
    media["example"] = media["example"].replace("data: [DONE]\n\n", "")
    events = parse_events(_stream(_written(tmp_path, document)))
    assert events and all(ev.ok for ev in events)
    assert any(c["finish_reason"] is not None for c in events[-1].payload["choices"])


def test_the_openai_sdk_reads_the_stream() -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(
        api_key="k1",
        base_url="http://testserver/openai_style/v1",
        http_client=TestClient(create_app([str(OPENAI)])),
        max_retries=0,
    )
    messages = [{"role": "user", "content": "hi"}]
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))
    assert len(chunks) >= 3
    assert len({chunk.id for chunk in chunks}) == 1
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices).strip()
    assert any(choice.finish_reason for choice in chunks[-1].choices)
