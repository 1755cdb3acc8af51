"""``check client --fuzz-responses``: a planted parsing bug is found and shrunk; a correct client is not
flagged; same seed, same report; the CLI end to end.

The sample clients use only the standard library and run with ``python -S`` (no site-packages),
since every example is one client run (~50 ms instead of ~140 ms with this venv's .pth files).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from specfake.contract import load_contract
from specfake.contracts.harness.fuzz import CHECK, fuzz_client

CLIENTS = Path(__file__).parent / "fuzz_clients"
SGP_CLIENT = str(CLIENTS / "sgp_first_evaluation.py")
ROOT = Path(__file__).resolve().parents[2]
SPECFAKE = str(Path(sys.executable).parent / "specfake")
FUZZ = [SPECFAKE, "check", "client", "--contract", "sgp", "--fuzz-responses"]


def _client(*flags: str) -> list[str]:
    return [sys.executable, "-S", SGP_CLIENT, *flags]


def _required(schema_name: str) -> set[str]:
    schemas = load_contract("sgp").document["components"]["schemas"]
    return set(schemas[schema_name]["required"])


def test_planted_empty_page_bug_is_found_and_shrunk() -> None:
    report = fuzz_client("sgp", _client(), seed=0, max_examples=30)

    assert report.exit_code == 1
    [finding] = report.findings
    assert (finding.side, finding.check, finding.operation) == ("client", CHECK, "GET /v4/evaluations")
    assert "IndexError" in finding.message and "items[0]" in finding.message  # the stderr tail
    assert "--fuzz-responses --contract sgp --seed 0" in (finding.curl or "")  # how to replay it
    # Shrunk: one request, answered with an empty page that carries only the required fields.
    [served] = report.minimal
    assert served.operation == "GET /v4/evaluations" and served.status == 200
    assert served.body["items"] == []
    assert set(served.body) == _required("SyncPageResponseEvaluationListResponse")
    assert json.loads(finding.exchange.response_body) == served.body  # type: ignore[union-attr]


def test_bug_only_an_unusual_answer_triggers() -> None:
    """Names are any text: only a non-ASCII one (the unusual layer's doing) breaks ``--ascii-name``."""
    report = fuzz_client("sgp", _client("--ascii-name"), seed=0, max_examples=40, shrink_seconds=5)

    [finding] = report.findings
    assert "UnicodeEncodeError" in finding.message
    assert finding.operation == "GET /v4/evaluations/{evaluation_id}"
    name = report.minimal[-1].body["name"]
    assert any(ord(ch) > 127 for ch in name)


def test_fixed_client_has_no_finding() -> None:
    report = fuzz_client("sgp", _client("--fixed"), seed=0, max_examples=25)

    assert report.ok and report.exit_code == 0, report.summary()
    assert report.stats["client runs"] >= 20
    assert report.operations == ["GET /v4/evaluations", "GET /v4/evaluations/{evaluation_id}"]


def test_streams_are_drawn_chunks_in_sse_framing() -> None:
    command = [sys.executable, "-S", str(CLIENTS / "humanloop_stream_reader.py")]
    report = fuzz_client("humanloop", command, seed=1, max_examples=8)

    assert report.ok, report.summary()
    assert report.operations == ["POST /chat"]


def test_same_seed_same_report() -> None:
    def findings(seed: int) -> list[dict[str, Any]]:
        report = fuzz_client("sgp", _client(), seed=seed, max_examples=10).to_json()
        return [{k: v for k, v in f.items() if k != "exchange"} for f in report["findings"]] + [
            report["minimal_responses"]
        ]

    assert findings(7) == findings(7)


def _fuzz_cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``specfake check client --contract sgp --fuzz-responses ARGS`` as a user would run it."""
    return subprocess.run([*FUZZ, *args], capture_output=True, text=True, timeout=120, check=False, **kwargs)


def test_a_client_failing_before_any_request_is_a_command_error() -> None:
    result = _fuzz_cli("--max-examples", "3", "--", sys.executable, "-S", "-c", "raise SystemExit(2)")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "before making any request" in result.stdout


def test_cli_end_to_end(tmp_path: Path) -> None:
    report_file, junit_file = tmp_path / "fuzz.json", tmp_path / "fuzz.xml"
    outputs = ["--report", str(report_file), "--junit", str(junit_file)]
    client = ["python", "tests/check/fuzz_clients/sgp_first_evaluation.py"]
    path = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}  # `python` is the venv's
    result = _fuzz_cli("--max-examples", "30", *outputs, "--", *client, cwd=ROOT, env=path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"✗ {CHECK} (1)" in result.stdout
    assert "IndexError: list index out of range" in result.stdout
    saved = json.loads(report_file.read_text())
    assert saved["tool"] == "check client --fuzz-responses" and not saved["ok"]
    assert saved["minimal_responses"][0]["body"]["items"] == []
    assert CHECK in junit_file.read_text()

    fixed = _fuzz_cli("--max-examples", "10", "--", sys.executable, "-S", SGP_CLIENT, "--fixed")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "no contract violations" in fixed.stdout
