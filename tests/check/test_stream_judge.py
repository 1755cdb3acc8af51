"""One judgement of a stream: ``check server`` (schemathesis) and the response checker behind
``check client --proxy`` find the same problems in the same stream."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from specfake.app import create_app
from specfake.contract import load_contract
from specfake.contracts.harness import streams
from specfake.contracts.harness.conformance import ResponseChecker
from specfake.contracts.harness.server_check import check_server
from specfake.server import LiveServer

HUMANLOOP = load_contract("humanloop")
CHAT = HUMANLOOP.operation("chats_create")
SSE = {"content-type": "text/event-stream"}


def _event(output: str, finish: str | None = None) -> str:
    item = {"id": "d1", "index": 0, "output": output, "finish_reason": finish, "model_config_id": "c1"}
    return "data: " + json.dumps({"data": [item], "project_id": "p1"}) + "\n\n"


@pytest.mark.parametrize(
    ("body", "kinds"),
    [
        (_event("Hi") + _event("!", "stop"), set()),
        ("", {"framing:empty-stream"}),
        (_event("Hi") + _event("!"), {"framing:no-final"}),
        (_event("Hi") + "data: {not json}\n\n", {"framing:not-json"}),  # the broken last event, once
        ("data:" + json.dumps({"data": []}) + "\n\n" + _event("!", "stop"), {"framing:no-data-prefix"}),
        (_event("Hi").replace('"index": 0', '"index": "zero"') + _event("!", "stop"), {"schema"}),
    ],
    ids=["good", "empty", "no-final", "malformed-last", "no-data-prefix", "schema"],
)
def test_check_server_and_the_proxy_judge_a_stream_alike(body: str, kinds: set[str]) -> None:
    rule = streams.stream_rules(HUMANLOOP)["POST /chat"]
    server_side = streams.stream_problems(rule, body.encode())
    assert {p.kind for p in server_side} == kinds
    proxied = ResponseChecker(HUMANLOOP).check(CHAT, 200, SSE, body.encode())
    checks = {"sse_chunk_schema" if kind == "schema" else "sse_framing" for kind in kinds}
    assert {f.check for f in proxied} == checks
    # Every problem check server names is among what the proxy reports, with the same message.
    assert {p.message for p in server_side} <= {f.message for f in proxied}


def test_a_stream_the_connection_cut_is_not_judged_on_its_end() -> None:
    body = (_event("Hi") + 'data: {"da').encode()
    assert ResponseChecker(HUMANLOOP).check(CHAT, 200, SSE, body, cut_short=True) == []
    assert {f.field for f in ResponseChecker(HUMANLOOP).check(CHAT, 200, SSE, body)} == {"event[2]"}


OPENAI = load_contract(Path(__file__).parents[1] / "contracts" / "openai_style.yaml")
COMPLETION = OPENAI.operation("chat_completions_create")
DONE = "data: [DONE]\n\n"


def _chunk(content: str, finish: str | None = None) -> str:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
    return "data: " + json.dumps(chunk) + "\n\n"


@pytest.mark.parametrize(
    ("body", "kinds"),
    [
        (_chunk("Hi") + _chunk("!", "stop") + DONE, set()),
        (_chunk("Hi") + _chunk("!", "stop"), {"terminator"}),
        (_chunk("Hi") + _chunk("!") + DONE, {"framing:no-final"}),  # the chunk before [DONE] is final
        (_chunk("Hi") + DONE + _chunk("!", "stop"), {"terminator"}),
        (_chunk("Hi", "stop") + "data: [NOPE]\n\n", {"framing:not-json", "terminator"}),
    ],
    ids=["terminated", "no-terminator", "no-final", "after-terminator", "other-non-json"],
)
def test_the_terminator_the_example_shows_is_judged(body: str, kinds: set[str]) -> None:
    rule = streams.stream_rules(OPENAI)["POST /chat/completions"]
    server_side = streams.stream_problems(rule, body.encode())
    assert {p.kind for p in server_side} == kinds
    proxied = ResponseChecker(OPENAI).check(COMPLETION, 200, SSE, body.encode())
    names = {"terminator": "sse_terminator", "schema": "sse_chunk_schema"}
    assert {f.check for f in proxied} == {names.get(kind, "sse_framing") for kind in kinds}
    assert {p.message for p in server_side} <= {f.message for f in proxied}


def test_a_cut_stream_is_not_judged_on_its_terminator() -> None:
    body = (_chunk("Hi") + _chunk("!")).encode()
    assert ResponseChecker(OPENAI).check(COMPLETION, 200, SSE, body, cut_short=True) == []


def test_without_a_declared_terminator_done_is_a_malformed_event() -> None:
    body = _event("Hi") + _event("!", "stop") + DONE
    kinds = {
        p.kind for p in streams.stream_problems(streams.stream_rules(HUMANLOOP)["POST /chat"], body.encode())
    }
    assert kinds == {"framing:not-json"}


@pytest.mark.parametrize("terminated", [True, False], ids=["with-done", "without-done"])
def test_check_server_requires_the_declared_terminator(tmp_path: Path, terminated: bool) -> None:
    """schemathesis reads the terminator as an event too: the harness lets it be one, and
    ``sse_terminator`` reports a server that leaves it out (here: a fake of the contract whose
    example shows none)."""
    served = OPENAI.source
    assert served is not None
    if not terminated:
        text = served.read_text(encoding="utf-8")
        served = tmp_path / "openai_style.yaml"
        served.write_text(re.sub(r"\n *data: \[DONE\]\n", "\n", text), encoding="utf-8")
    with LiveServer(create_app([served], api_keys=["k1"])) as server:
        report = check_server(
            OPENAI, server.url + OPENAI.prefix, api_key="k1", profile="quick",
            include=["chat_completions_create"], invariants=False,
        )  # fmt: skip
    assert {f.check for f in report.findings} == (set() if terminated else {"sse_terminator"})
