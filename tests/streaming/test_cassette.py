"""Cassettes: request normalisation and matching, the YAML round trip, and the shipped fixtures
(schema-valid events, SDK-valid final answers, realistic pace)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter

from specfake.behaviours.humanloop.streams import STREAMS
from specfake.contract import load_contract
from specfake.streaming.cassette import (
    Cassette,
    CassetteError,
    CassetteLibrary,
    CassetteRequest,
    Chunk,
    hash_subject,
    subject_of,
)
from specfake.streaming.sse import event, parse_events
from specfake.validation import SchemaValidator, registry_for
from tests.contracts.test_sdk_models import humanloop_namespace
from tests.streaming.helpers import chat_body

FIXTURES = {"short-chat", "long-completion", "tool-call", "json-mode", "two-samples"}


def _hash(body: dict[str, Any], operation: str = "chats_create") -> str:
    return hash_subject(subject_of(STREAMS.key(operation), body))


def test_normalisation_ignores_order_whitespace_nulls_keys_and_transport_fields() -> None:
    body = chat_body("What is 2 + 2?", inputs={"a": 1, "b": "x"})
    same = {
        "messages": [{"content": "  What is 2 + 2?\n", "role": "user", "name": None}],
        "model_config": {"model": "gpt-4o-mini"},
        "inputs": {"b": " x ", "a": 1, "openai_api_key": "sk-1"},
        "provider_api_keys": {"openai": "sk-2"},
        "stream": False,
        "user": "someone",
        "project": "elsewhere",
    }
    assert _hash(body) == _hash(same)
    assert _hash(body) != _hash(chat_body("What is 2 + 3?", inputs={"a": 1, "b": "x"}))
    assert _hash(body) != _hash(chat_body("What is 2 + 2?", inputs={"a": 2, "b": "x"}))
    assert _hash(chat_body("hi")) == _hash(chat_body("hi", inputs=None))  # null inputs = no inputs


def test_completions_hash_the_prompt_template() -> None:
    body = {"model_config": {"model": "m", "prompt_template": "Say {{x}}"}, "inputs": {"x": "hi"}}
    other = {"model_config": {"model": "m", "prompt_template": "Shout {{x}}"}, "inputs": {"x": "hi"}}
    assert _hash(body, "completions_create") != _hash(other, "completions_create")


def test_other_operations_hash_path_query_and_body() -> None:
    one = hash_subject(subject_of(STREAMS.key("projects_get"), None, "/projects/pr_1", {"page": ["0"]}))
    two = hash_subject(subject_of(STREAMS.key("projects_get"), None, "/projects/pr_2", {"page": ["0"]}))
    assert one != two


def _cassette(body: dict[str, Any], name: str = "c", model: str | None = "gpt-4o-mini") -> Cassette:
    request = CassetteRequest.of("humanloop", "chats_create", body)
    request.model = model
    item = {
        "id": "data_1",
        "index": 0,
        "output": "ok",
        "finish_reason": "stop",
        "model_config_id": "config_1",
    }
    return Cassette(name=name, request=request, chunks=[Chunk.from_bytes(300.0, event({"data": [item]}))])


def test_library_matches_on_operation_hash_samples_and_model() -> None:
    library = CassetteLibrary()
    library.add(_cassette(chat_body("hi")))
    assert library.match("chats_create", chat_body(" hi ", stream=False)) is not None
    assert library.match("chats_create", chat_body("hello")) is None
    assert library.match("completions_create", chat_body("hi")) is None
    assert library.match("chats_create", chat_body("hi", num_samples=2)) is None
    other_model = chat_body("hi")
    other_model["model_config"] = {"model": "claude-3-haiku"}
    assert library.match("chats_create", other_model) is None
    library.add(_cassette(chat_body("hi"), name="any-model", model=None))
    assert library.match("chats_create", other_model).name == "any-model"  # type: ignore[union-attr]


def test_yaml_round_trip_keeps_every_byte_and_gap(tmp_path: Path) -> None:
    odd = Chunk.from_bytes(12.3, b'event: ping\ndata: {"x": 1}\n\n')
    spaced = Chunk.from_bytes(45.6, b'data: {"data": [{"output": "caf\xc3\xa9 \\u00e9"}]}\n\n')
    cassette = _cassette(chat_body("hi"))
    cassette.chunks += [odd, spaced]
    cassette.final = {"data": [{"output": "ok"}]}
    path = cassette.save(tmp_path / "c.yaml")
    loaded = Cassette.load(path)
    assert loaded.events() == cassette.events()
    assert [c.gap_ms for c in loaded.chunks] == [300.0, 12.3, 45.6]
    assert odd.raw is not None and spaced.data is not None  # kept as received, not re-serialised
    assert loaded.final == cassette.final and loaded.request == cassette.request
    text = path.read_text()
    assert "\n  - {gap_ms: 12.3, raw: " in text  # one chunk per line


def test_hand_written_cassettes_may_omit_the_hash_and_use_structured_data() -> None:
    data = {
        "format": "specfake-cassette/1",
        "name": "hand",
        "request": {
            "operation": "chats_create",
            "subject": {"messages": [{"role": "user", "content": "hi"}]},
        },
        "response": {"chunks": [{"gap_ms": 250, "data": {"data": [{"output": "Hi", "index": 0}]}}]},
    }
    cassette = Cassette.from_dict(data)
    assert cassette.request.hash == _hash(chat_body("hi"))
    assert cassette.events() == [b'data: {"data":[{"output":"Hi","index":0}]}\n\n']
    data["request"]["hash"] = "0" * 16
    with pytest.raises(CassetteError, match=r"does not match request\.subject"):
        Cassette.from_dict(data)
    with pytest.raises(CassetteError, match="gap_ms"):
        Cassette.from_dict({**data, "request": {"subject": {}}, "response": {"chunks": [{"data": "{}"}]}})
    with pytest.raises(CassetteError, match="not a cassette"):
        Cassette.from_dict({"name": "x"})


# -- the shipped fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builtin() -> CassetteLibrary:
    return CassetteLibrary.builtin()


def test_fixture_set_is_complete(builtin: CassetteLibrary) -> None:
    assert {c.name for c in builtin} == FIXTURES


def test_fixture_files_are_what_the_build_script_writes(builtin: CassetteLibrary) -> None:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "fixtures" / "streams" / "build_cassettes.py"
    spec = importlib.util.spec_from_file_location("build_cassettes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for cassette in module.cassettes():
        assert cassette.dumps() == builtin.get(cassette.name).dumps()


def test_fixture_events_are_valid_stream_chunks(builtin: CassetteLibrary) -> None:
    contract = load_contract("humanloop")
    chunk = SchemaValidator(
        contract, {"$ref": "#/components/schemas/GenerationStreamChunk"}, registry_for(contract)
    )
    for cassette in builtin:
        events = parse_events(b"".join(cassette.events()))
        assert events and all(ev.ok for ev in events), cassette.name
        for ev in events:
            assert chunk.errors(ev.payload, []) == [], (cassette.name, ev.raw)


def test_fixture_finals_pass_the_sdk_models_and_match_the_stream(builtin: CassetteLibrary) -> None:
    namespace = humanloop_namespace()
    for cassette in builtin:
        model = "ChatResponse" if cassette.request.operation.startswith("chats") else "CompletionResponse"
        TypeAdapter(namespace[model]).validate_json(orjson.dumps(cassette.final))
        finals = {item["index"]: item for item in cassette.final["data"]}
        assert cassette.request.num_samples == len(finals)
        for sample in cassette.samples():
            assert sample["output"] == finals[sample["index"]]["output"], cassette.name
            assert sample["finish_reason"] == finals[sample["index"]]["finish_reason"]
        last_reasons = [item["finish_reason"] for _, item, _ in cassette.items()]
        assert last_reasons[-1] is not None
        assert sum(r is not None for r in last_reasons) == len(finals)  # one per sample, on its last chunk


def test_fixture_pace_is_realistic(builtin: CassetteLibrary) -> None:
    for cassette in builtin:
        gaps = [c.gap_ms for c in cassette.chunks]
        assert 200 <= gaps[0] <= 600, cassette.name  # time to first token
        later = sorted(gaps[1:])
        if later:
            median = later[len(later) // 2]
            assert 8 <= median <= 40, (cassette.name, median)  # 25-125 chunks a second
            assert later[-1] < 400


def test_two_samples_interleave(builtin: CassetteLibrary) -> None:
    indexes = [item["index"] for _, item, _ in builtin.get("two-samples").items()]
    switches = sum(a != b for a, b in itertools.pairwise(indexes))
    assert set(indexes) == {0, 1} and switches > 5
