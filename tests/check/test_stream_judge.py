"""One judgement of a stream: ``check server`` (schemathesis) and the response checker behind
``check client --proxy`` find the same problems in the same stream."""

from __future__ import annotations

import json

import pytest

from specfake.contract import load_contract
from specfake.contracts.harness import streams
from specfake.contracts.harness.conformance import ResponseChecker

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
    checks = {"sse_event_schema" if kind == "schema" else "sse_framing" for kind in kinds}
    assert {f.check for f in proxied} == checks
    # Every problem check server names is among what the proxy reports, with the same message.
    assert {p.message for p in server_side} <= {f.message for f in proxied}


def test_a_stream_the_connection_cut_is_not_judged_on_its_end() -> None:
    body = (_event("Hi") + 'data: {"da').encode()
    assert ResponseChecker(HUMANLOOP).check(CHAT, 200, SSE, body, cut_short=True) == []
    assert {f.field for f in ResponseChecker(HUMANLOOP).check(CHAT, 200, SSE, body)} == {"event[2]"}
