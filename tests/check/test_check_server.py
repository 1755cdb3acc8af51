"""``specfake check server`` from the command line, as CI runs it: exit codes, JUnit XML, JSON
report; and same seed, same findings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from specfake.contracts.harness.findings import Finding
from specfake.contracts.harness.server_check import check_server
from specfake.server import LiveServer
from tests.check.broken import API_KEY, BREAKS, Bench, fake

SPECFAKE = str(Path(sys.executable).with_name("specfake"))
BROKEN = next(b for b in BREAKS if b.name == "server_error_on_edge_input")


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[str, Bench]]:
    served = Bench({"broken": BROKEN.build, "clean": lambda: fake("sgp")})
    with LiveServer(served) as live:
        yield live.url, served


def check(url: str, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    command = [SPECFAKE, "check", "server", "--contract", "sgp", "--base-url", url, "--api-key", API_KEY]
    command += ["--profile", "quick", "--seed", "3", "--junit", str(junit), "--report", str(report), *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return done, junit, report


def test_a_broken_server_fails_with_reports(bench: tuple[str, Bench], tmp_path: Path) -> None:
    url, _ = bench
    done, junit, report = check(
        f"{url}/broken/sgp", tmp_path, "--include", "evaluations_list", "--no-invariants"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "GET /v4/evaluations" in done.stdout and "not_a_server_error" in done.stdout
    assert "rerun with --seed 3" in done.stdout

    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures", "0")) >= 1
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert "GET /v4/evaluations :: not_a_server_error" in failed

    data = json.loads(report.read_text())
    assert data["ok"] is False and data["seed"] == 3 and data["tool"] == "check server"
    errors = [f for f in data["findings"] if f["check"] == "not_a_server_error"]
    assert errors and all(f["seed"] == 3 for f in errors)
    assert errors[0]["curl"].startswith("curl ") and "limit=10000" in errors[0]["curl"]
    assert "x-api-key: k1" in errors[0]["curl"].lower()  # the real header, not a masked one
    assert errors[0]["exchange"]["status"] == 500


def test_the_fake_passes(bench: tuple[str, Bench], tmp_path: Path) -> None:
    url, _ = bench
    done, junit, report = check(f"{url}/clean/sgp", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no contract violations" in done.stdout
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and int(suite.get("tests", "0")) == 6
    data = json.loads(report.read_text())
    assert data["ok"] is True and data["findings"] == [] and len(data["operations"]) == 6


def test_without_base_url_the_built_in_fake_is_checked_and_stopped(tmp_path: Path) -> None:
    report = tmp_path / "self.json"
    command = [
        SPECFAKE,
        "check",
        "server",
        "--contract",
        "sgp",
        "--profile",
        "quick",
        "--report",
        str(report),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    started = re.search(r"checking the fake at http://127\.0\.0\.1:(\d+)/sgp", done.stderr)
    assert started, done.stderr
    data = json.loads(report.read_text())
    assert data["ok"] is True and data["stats"]["cases"] > 100
    with pytest.raises(httpx.HTTPError):  # the child fake is gone with the check
        httpx.get(f"http://127.0.0.1:{started.group(1)}/sgp/openapi.json", timeout=1.0)


def test_bad_usage_exits_2(bench: tuple[str, Bench], tmp_path: Path) -> None:
    url, _ = bench
    done, _, _ = check(f"{url}/clean/sgp", tmp_path, "--include", "no_such_operation")
    assert done.returncode == 2 and "no_such_operation" in done.stderr


def _key(finding: Finding) -> tuple[object, ...]:
    exchange = finding.exchange
    return (
        finding.operation,
        finding.check,
        finding.field,
        finding.message,
        finding.curl,
        finding.seed,
        exchange.status if exchange else None,
        exchange.response_body if exchange else None,
    )


def test_same_seed_same_findings(bench: tuple[str, Bench]) -> None:
    """Two runs with one seed against the same (freshly started) broken server report the same."""
    url, served = bench
    runs = []
    for _ in range(2):
        served.reset("broken")
        report = check_server("sgp", f"{url}/broken/sgp", api_key=API_KEY, profile="quick", seed=11)
        runs.append([_key(f) for f in report.findings])
    assert runs[0], "the broken server should have findings"
    assert runs[0] == runs[1]
