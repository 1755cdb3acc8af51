"""The HTML report renders in headless Chromium: a real screenshot, a table row per operation, and
server-controlled text escaped."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from specfake.contract import load_contract
from specfake.contracts.harness.coverage import Coverage, Observation
from specfake.contracts.harness.findings import Exchange, Finding, Report
from specfake.contracts.harness.html_report import server_html, write_client

SGP = load_contract("sgp")
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "chromium is needed to test the HTML report: apt-get install -y --no-install-recommends chromium"
            " (.ci/run installs it)",
            pytrace=False,
        )
    return found


def headless(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sample() -> tuple[Report, Coverage]:
    report = Report("check client", "sgp", 0)
    labels = [f"{op.method} {op.path}" for op in SGP.operations]
    report.operations = labels[:2]
    report.add(
        Finding(
            labels[0],
            "request_body",
            f"unknown field {HOSTILE}",
            "client",
            field="body.na<me>",
            exchange=Exchange("GET", "http://127.0.0.1:1/sgp/v4/evaluations", {}, HOSTILE),
        )
    )
    seen = [Observation(op, 200) for op in SGP.operations[:2]] + [Observation(SGP.operations[0], 429)]
    return report, Coverage(SGP, seen)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    binary = chromium()
    report, coverage = sample()
    page = tmp_path / "report.html"
    write_client(page, report, coverage)
    text = page.read_text()
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "http://" not in text.replace("http://127.0.0.1:1/sgp", "")  # no external assets

    shot = tmp_path / "shot.png"
    done = headless(binary, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri())
    assert shot.exists(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a blank 1280x2000 page is ~10 KB

    dom = headless(binary, "--dump-dom", page.as_uri()).stdout
    for table in ("operations", "coverage"):
        found = re.search(rf'<table id="{table}">.*?</table>', dom, re.S)
        assert found is not None, f"no {table} table in the rendered DOM"
        assert len(re.findall(r'<tr class="op">', found.group(0))) == len(SGP.operations)
    assert "<script>" not in dom  # the hostile text stayed text
    assert 'class="fail"' in dom and 'class="skip"' in dom and 'class="missed"' in dom


def test_server_report_lists_field_rule_and_curl() -> None:
    report, _ = sample()
    report.tool = "check server"
    text = server_html(report)
    assert "field: body.na&lt;me&gt;" in text
    assert "request_body" in text
    assert "curl -sS -X GET" in text
    assert len(re.findall(r'<tr class="op">', text)) == 2  # the operations the server check ran
