"""Coverage of a client's run: a small SGP SDK client (a few operations, one injected 429) is
reported with the operations it never called and the faults it never met; the gate fails below
the threshold and passes above it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from specfake.cli import main
from specfake.contract import load_contract
from specfake.contracts.harness.coverage import Answer, Coverage, Observation, faults_met

CLIENT = Path(__file__).parent / "clients" / "sgp_coverage_client.py"
SGP = load_contract("sgp")
LIST = "GET /v4/evaluations"


def run(tmp_path: Path, minimum: float) -> tuple[int, dict[str, Any]]:
    out = tmp_path / f"coverage-{minimum:g}.json"
    code = main(
        [
            "check",
            "client",
            "--contract",
            "sgp",
            "--empty",
            "--coverage",
            str(out),
            "--min-coverage",
            str(minimum),
            "--",
            sys.executable,
            str(CLIENT),
        ]
    )
    return code, json.loads(out.read_text())


def test_sample_client_run_names_gaps_and_gates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run(tmp_path, 60)
    err = capsys.readouterr().err
    assert code == 4, err
    never = {
        "DELETE /v4/evaluations/{evaluation_id}",
        "PATCH /v4/evaluations/{evaluation_id}",
        "POST /v4/evaluations/{evaluation_id}/claim-task",
    }
    assert set(report["never_called"]) == never
    assert report["percent"] == 50.0 and report["totals"]["operations"] == {
        "met": 3,
        "of": 6,
        "percent": 50.0,
    }
    assert "429" not in report["faults_never_met"]
    assert {"5xx", "reset", "latency", "malformed"} <= set(report["faults_never_met"])
    ops = {o["operation"]: o for o in report["operations"]}
    listed = ops[LIST]
    assert listed["faults"]["met"] == ["429"]
    assert {200, 429} == set(listed["statuses"]["met"])
    assert {"empty_list", "page_with_items", "last_page", "error_body"} <= set(listed["variants"]["met"])
    assert "more_pages" in listed["variants"]["missed"]
    assert ops["DELETE /v4/evaluations/{evaluation_id}"]["called"] == 0
    assert "below --min-coverage 60%" in err
    assert "never called: DELETE /v4/evaluations/{evaluation_id}" in err
    assert "faults never met: 5xx" in err

    code, _ = run(tmp_path, 40)
    assert code == 0, capsys.readouterr().err


def observed(operation: str, status: int, **extra: Any) -> Observation:
    method, path = operation.split(" ", 1)
    op = next(o for o in SGP.operations if o.method == method and o.path == path)
    return Observation(op, status, **extra)


def test_faults_are_read_from_what_shaped_the_answer() -> None:
    assert faults_met(observed(LIST, 503, shaped_by="rule r1: status=503")) == {"5xx"}
    assert faults_met(observed(LIST, 0, shaped_by="header x-specfake-fault: reset")) == {"reset"}
    assert faults_met(observed(LIST, 200, shaped_by="header x-specfake-fault: latency=0.3s; malformed")) == {
        "latency",
        "malformed",
    }
    assert faults_met(observed(LIST, 200, stream_fault="cut-after=2; malformed-at=1")) == {
        "cut-after",
        "malformed-at",
    }
    assert faults_met(observed(LIST, 200, shaped_by="prefer code=200")) == set()


def test_page_variants_follow_the_paging_fields() -> None:
    def body(items: int, page: int, total: int) -> Answer:
        data = {
            "items": [{"id": str(i)} for i in range(items)],
            "current_page": page,
            "total_item_count": total,
        }
        return Answer(200, "application/json", json.dumps(data).encode(), True)

    coverage = Coverage(SGP)
    coverage.add(observed(LIST, 200, query={"limit": "2", "page": "1"}, answer=body(2, 1, 3)))
    assert coverage.ops[LIST].variants >= {"page_with_items", "more_pages"}
    assert "last_page" not in coverage.ops[LIST].variants
    coverage.add(observed(LIST, 200, query={"limit": "2", "page": "2"}, answer=body(1, 2, 3)))
    assert "last_page" in coverage.ops[LIST].variants
    assert coverage.ops[LIST].calls == 2 and coverage.never_called()[0] != LIST
    assert coverage.gate(10) is None and coverage.gate(50) is not None


@pytest.mark.specfake("sgp")
def test_pytest_plugin_reports_coverage(specfake: Any) -> None:
    import httpx

    headers = specfake.headers("sgp")
    base = specfake.base_url("sgp")
    assert httpx.get(f"{base}/v4/evaluations", headers=headers).status_code == 200
    faulty = {**headers, "X-Specfake-Fault": "status=503"}
    assert httpx.get(f"{base}/v4/evaluations", headers=faulty).status_code == 503
    coverage = specfake.coverage("sgp")
    assert coverage.ops[LIST].faults == {"5xx"} and coverage.ops[LIST].statuses == {200, 503}
    assert len(coverage.never_called()) == 5 and "429" in coverage.faults_never_met()
