"""Fault rules: what they match, when they fire, and how a rule that cannot be used is refused."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from specfake.app import create_app
from specfake.cli import main
from specfake.fault_rules import FaultRules, RuleError, load_rules, parse_rule
from specfake.tenants import fingerprint
from tests.state.helpers import NOTES, PREFIX, key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def statuses(rule: dict[str, Any], calls: int, **request: Any) -> list[int]:
    """The statuses of ``calls`` note creations with ``rule`` in place."""
    app = create_app([NOTES])
    app.fault_rules.add(rule)
    body = request.pop("body", {"title": "t", "body": "b"})
    with TestClient(app) as client:
        return [
            client.post(f"{PREFIX}/notes", json=body, headers={**key("a"), **request}).status_code
            for _ in range(calls)
        ]


@pytest.mark.parametrize(
    ("firing", "expected"),
    [
        ({}, [503, 503, 503, 503, 503, 503]),
        ({"times": 2}, [503, 503, 201, 201, 201, 201]),
        ({"every": 3}, [201, 201, 503, 201, 201, 503]),
        ({"after": 4}, [201, 201, 201, 201, 503, 503]),
        ({"after": 1, "times": 1}, [201, 503, 201, 201, 201, 201]),
    ],
)
def test_rules_fire_always_the_first_n_every_nth_or_after_n(
    firing: dict[str, Any], expected: list[int]
) -> None:
    assert statuses({"operation": "createNote", "fault": "status=503", **firing}, 6) == expected


def test_a_seeded_probability_fires_the_same_way_every_run() -> None:
    rule = {"operation": "createNote", "fault": "status=503", "probability": 0.5}
    first = statuses(rule, 20)
    assert first == statuses(rule, 20) and {201, 503} == set(first)


@pytest.mark.parametrize(
    ("match", "fires"),
    [
        ({"method": "post", "path": "/notes"}, True),
        ({"path": "/notes/{note_id}"}, False),
        ({"tenant": "a"}, True),
        ({"tenant": "b"}, False),
        ({"body": {"title": "t"}}, True),
        ({"body": {"title": "other"}}, False),
        ({"headers": {"X-Trace": "on"}}, True),
        ({"headers": {"x-trace": "off"}}, False),
        ({"contract": "sgp"}, False),
    ],
)
def test_rules_match_on_what_they_name(match: dict[str, Any], fires: bool) -> None:
    assert statuses({"fault": "status=418", **match}, 1, **{"x-trace": "on"}) == [418 if fires else 201]


def test_a_query_value_matches_as_text_or_as_its_type() -> None:
    app = create_app([NOTES])
    app.fault_rules.add({"operation": "listNotes", "query": {"page": 2}, "fault": "status=503"})
    with TestClient(app) as client:
        assert client.get(f"{PREFIX}/notes", params={"page": "2"}, headers=key("a")).status_code == 503
        assert client.get(f"{PREFIX}/notes", params={"page": "1"}, headers=key("a")).status_code == 200


def test_the_requests_own_header_wins_over_a_rule() -> None:
    assert statuses({"fault": "status=503"}, 1, **{"x-specfake-fault": "status=429"}) == [429]


@pytest.mark.parametrize(
    ("spec", "loc", "words"),
    [
        ({"operation": "x"}, ("fault",), "a fault is required"),
        ({"fault": "status=1"}, ("fault",), "HTTP status"),
        ({"fault": "reset", "times": 0}, ("times",), ">= 1"),
        ({"fault": "reset", "after": -1}, ("after",), ">= 0"),
        ({"fault": "reset", "probability": 2}, ("probability",), "from 0 to 1"),
        ({"fault": "reset", "query": ["page"]}, ("query",), "mapping"),
        ({"fault": "reset", "tenat": "a"}, ("tenat",), "unknown field"),
        ("status=503", (), "a rule is a mapping"),
    ],
)
def test_a_rule_that_cannot_be_used_names_its_field(spec: Any, loc: tuple[str, ...], words: str) -> None:
    with pytest.raises(RuleError, match=words) as caught:
        parse_rule(spec, "r1")
    assert caught.value.loc == loc


def test_the_admin_api_adds_lists_and_removes_rules_all_or_none() -> None:
    app = create_app([NOTES])
    with TestClient(app) as client:
        bad = client.post("/__admin/faults", json=[{"fault": "status=503"}, {"fault": "status=5000"}])
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", 1, "fault"]
        assert client.get("/__admin/faults").json() == {"rules": []}  # the first was not kept either
        added = client.post("/__admin/faults", json={"id": "slow", "fault": "latency=1ms", "tenant": "a"})
        assert added.status_code == 201 and added.json()["rules"][0]["id"] == "slow"
        client.get(f"{PREFIX}/notes", headers=key("a"))
        listed = client.get("/__admin/faults").json()["rules"]
        tenant = fingerprint("a")  # a rule names a key or its fingerprint, and lists the fingerprint
        assert listed == [{"id": "slow", "fault": "latency=1ms", "tenant": tenant, "matched": 1, "fired": 1}]
        assert client.post("/__admin/faults", json={"id": "slow", "fault": "reset"}).status_code == 422
        assert client.delete("/__admin/faults/slow").status_code == 204
        assert client.delete("/__admin/faults/slow").status_code == 404
        client.post("/__admin/faults", json={"fault": "reset"})
        assert client.delete("/__admin/faults").status_code == 204 and not app.fault_rules.active


def test_a_rules_file_loads_and_a_bad_one_names_its_line(tmp_path: Path) -> None:
    good = tmp_path / "faults.yaml"
    good.write_text("- id: flaky\n  operation: createNote\n  fault: status=503\n  times: 1\n")
    rules = FaultRules()
    for spec in load_rules(good):
        rules.add(spec)
    assert [r.id for r in rules.rules] == ["flaky"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- fault: reset\n- operation: createNote\n  fault: status=503\n  times: none\n")
    with pytest.raises(RuleError, match=r"bad.yaml:4: rule 2: expected a whole number"):
        load_rules(bad)


def test_specfake_serve_refuses_a_bad_rules_file_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- fault: teapot\n")
    assert main(["serve", "--contract", str(NOTES), "--faults", str(bad), "--port", "0"]) == 2
    assert f"{bad}:1: rule 1: cannot read 'teapot'" in capsys.readouterr().err
