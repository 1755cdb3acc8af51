"""Acceptance: `check server` finds each planted break, on the right operation with the right
check, and finds nothing wrong with the fake itself."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator

import pytest

from specfake.contract import load_contract
from specfake.contracts.harness import streams
from specfake.contracts.harness.server_check import check_server
from specfake.server import LiveServer
from tests.check.broken import API_KEY, BREAKS, OPENAI_STYLE, Bench, Break, fake

HAVE_INVARIANTS = importlib.util.find_spec("specfake.contracts.harness.invariants") is not None
PREFIX = {"sgp": "/sgp", "humanloop": "/humanloop/v4", OPENAI_STYLE: "/openai_style/v1"}


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[str, Bench]]:
    builders = {b.name: b.build for b in BREAKS}
    builders["clean-openai_style"] = lambda: fake(OPENAI_STYLE)
    served = Bench(builders)
    with LiveServer(served) as live:
        yield live.url, served


@pytest.mark.parametrize("planted", BREAKS, ids=[b.name for b in BREAKS])
def test_finds_the_planted_break(bench: tuple[str, Bench], planted: Break) -> None:
    if planted.needs_invariants and not HAVE_INVARIANTS:
        pytest.skip("needs specfake.contracts.harness.invariants")
    url, _ = bench
    report = check_server(
        planted.contract,
        f"{url}/{planted.name}{PREFIX[planted.contract]}",
        api_key=API_KEY,
        profile="quick",
        include=planted.include,
        invariants=planted.needs_invariants,
    )
    hits = [f for f in report.findings if f.operation == planted.operation and f.check in planted.checks]
    assert hits, report.summary(verbose=True)
    # One break, one place: nothing is reported on any other operation.
    assert {f.operation for f in report.findings} == {planted.operation}, report.summary(verbose=True)
    if planted.field:
        assert any(f.field == planted.field for f in hits), report.summary(verbose=True)
    for finding in report.findings:
        assert finding.seed == 0 and finding.curl and finding.curl.startswith("curl ")
    assert report.exit_code == 1


def test_the_fake_is_clean(bench: tuple[str, Bench]) -> None:
    """The control for the breaks' own contract (the built-in ones: test_clean_control.py)."""
    url, _ = bench
    base = f"{url}/clean-openai_style{PREFIX[OPENAI_STYLE]}"
    report = check_server(OPENAI_STYLE, base, api_key=API_KEY, profile="quick")
    assert report.ok, report.summary(verbose=True)
    assert report.exit_code == 0
    assert report.stats["requests"] > 25


# --- the stream checks on hand-made bodies: every framing rule, with the event's number -----------

CHUNK = {"id": "d1", "index": 0, "output": "Hi", "finish_reason": None, "model_config_id": "c1"}


def _event(payload: object) -> str:
    return "data: " + json.dumps(payload) + "\n\n"


def _chunk(**changes: object) -> dict[str, object]:
    return {"data": [{**CHUNK, **changes}], "project_id": "p1"}


GOOD = _event(_chunk()) + _event(_chunk(output="!", finish_reason="stop"))


@pytest.mark.parametrize(
    ("body", "kind", "words"),
    [
        (GOOD, None, ""),
        ("data:" + json.dumps(_chunk()) + "\n\n" + GOOD, "framing:no-data-prefix", "event 1"),
        (_event(_chunk()) + 'data: {"data":[{"output":\n\n' + GOOD, "framing:not-json", "event 2"),
        (_event(_chunk()) + _event(_chunk(output="!")), "framing:no-final", "event 2"),
        (_event(_chunk(index="zero")) + GOOD, "schema", "event 1"),
        ("", "framing:empty-stream", "without any event"),
    ],
    ids=["good", "no-data-prefix", "not-json", "no-final", "chunk-schema", "empty"],
)
def test_stream_rules(body: str, kind: str | None, words: str) -> None:
    rule = streams.stream_rules(load_contract("humanloop"))["POST /chat"]
    assert rule.spec.final_path == ("data", "*", "finish_reason") and rule.spec.flag == "stream"
    problems = streams.stream_problems(rule, body.encode())
    assert [p.kind for p in problems] == ([kind] if kind else [])
    if kind:
        assert words in problems[0].message
    if kind == "schema":
        assert problems[0].field == "data[0].index"


def test_a_stream_cut_short_by_the_reader_needs_no_final_event() -> None:
    rule = streams.stream_rules(load_contract("humanloop"))["POST /completion"]
    body = (_event(_chunk()) + 'data: {"da').encode()
    assert streams.stream_problems(rule, body, cut_short=True) == []
