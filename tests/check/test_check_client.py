"""``specfake check client``: the official SDKs run clean; planted client mistakes are named.

The CLI runs are real: the fake on a free port, the client a subprocess finding it through the
environment the checker sets, reports written as JUnit and JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from specfake.cli import main
from specfake.contract import load_contract
from specfake.contracts.harness.client_check import ClientCheck, client_env
from specfake.contracts.harness.conformance import RequestChecker, ResponseChecker, closest

CLIENTS = Path(__file__).parent / "clients"
HUMANLOOP = load_contract("humanloop")
KEY = {"x-api-key": "k", "content-type": "application/json"}


def check_client(
    tmp_path: Path, contract: str, *command: str, extra: tuple[str, ...] = ()
) -> tuple[int, Any]:
    """Run ``specfake check client`` as a user would; (exit code, JSON report)."""
    report = tmp_path / "report.json"
    code = main(
        [
            "check",
            "client",
            "--contract",
            contract,
            "--report",
            str(report),
            "--junit",
            str(tmp_path / "junit.xml"),
            *extra,
            "--",
            *command,
        ]
    )
    return code, json.loads(report.read_text()) if report.exists() else None


def findings(report: Any) -> list[tuple[str, str, str | None]]:
    return [(f["operation"], f["check"], f["field"]) for f in report["findings"]]


@pytest.mark.sdk
def test_humanloop_sdk_realistic_flow_has_no_violations(tmp_path: Path) -> None:
    code, report = check_client(tmp_path, "humanloop", sys.executable, str(CLIENTS / "humanloop_flow.py"))
    assert code == 0, report["findings"]
    assert report["ok"] and report["stats"]["command exit"] == 0
    # projects, configs, chat, completion, logs, feedback, datasets, datapoints, and one stream
    assert len(report["operations"]) >= 12 and "POST /chat" in report["operations"]
    suite = ElementTree.parse(tmp_path / "junit.xml").getroot()[0]
    assert suite.get("failures") == "0" and int(suite.get("tests")) == len(report["operations"])


@pytest.mark.sdk
def test_sgp_sdk_finds_the_fake_through_its_own_variables(tmp_path: Path) -> None:
    code, report = check_client(
        tmp_path, "sgp", sys.executable, str(CLIENTS / "sgp_flow.py"), extra=("--empty",)
    )
    assert code == 0, report["findings"]
    assert {"POST /v4/evaluations", "GET /v4/evaluations", "DELETE /v4/evaluations/{evaluation_id}"} <= set(
        report["operations"]
    )


def test_wrong_typed_field_is_named_with_its_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = check_client(
        tmp_path, "humanloop", sys.executable, str(CLIENTS / "raw_client.py"), "wrong-type"
    )
    assert code == 1
    assert findings(report) == [("POST /chat", "type", "body.num_samples")]
    finding = report["findings"][0]
    assert finding["side"] == "client" and "integer" in finding["message"]
    assert finding["curl"].startswith("curl -sS -X POST") and '"num_samples":"two"' in finding["curl"]
    out = capsys.readouterr().out
    assert "POST /chat" in out and "[body.num_samples]" in out and "1 contract violation" in out
    failure = ElementTree.parse(tmp_path / "junit.xml").getroot()[0].find("testcase/failure")
    assert failure is not None and "body.num_samples" in (failure.text or "")


def test_forgotten_api_key_is_flagged(tmp_path: Path) -> None:
    code, report = check_client(
        tmp_path, "humanloop", sys.executable, str(CLIENTS / "raw_client.py"), "no-key"
    )
    assert code == 1
    assert findings(report) == [("GET /projects", "auth", "header.x-api-key")]
    assert "x-api-key is missing" in report["findings"][0]["message"]


def test_misspelled_field_gets_the_closest_known_name(tmp_path: Path) -> None:
    command = (sys.executable, str(CLIENTS / "raw_client.py"), "misspelled")
    code, report = check_client(tmp_path, "humanloop", *command)
    assert code == 1
    assert findings(report) == [("POST /chat", "unknown_field", "body.model_config.temprature")]
    assert "did you mean 'temperature'" in report["findings"][0]["message"]
    code, report = check_client(tmp_path, "humanloop", *command, extra=("--allow-extra-fields",))
    assert code == 0 and report["ok"]


def test_a_failing_command_and_a_missing_one_have_their_own_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = check_client(tmp_path, "humanloop", sys.executable, "-c", "raise SystemExit(4)")
    assert code == 3 and report["ok"] and report["stats"]["command exit"] == 4
    assert "failed with exit status 4" in capsys.readouterr().err
    assert main(["check", "client", "--contract", "humanloop"]) == 2
    assert "give the client command" in capsys.readouterr().err
    code, _ = check_client(tmp_path, "humanloop", "no-such-command-h3")
    assert code == 3 and "command not found" in capsys.readouterr().err


def test_environment_names_the_fake_for_every_sdk() -> None:
    env = client_env(
        "http://127.0.0.1:9", {"sgp": "http://127.0.0.1:9/sgp", "humanloop": "http://127.0.0.1:9/hl"}
    )
    assert env["SPECFAKE_URL"] == "http://127.0.0.1:9" and env["SPECFAKE_HUMANLOOP_URL"].endswith("/hl")
    assert (
        env["SGP_CLIENT_BASE_URL"] == env["SPECFAKE_SGP_URL"]
        and env["SGP_API_KEY"] == env["SPECFAKE_API_KEY"]
    )
    assert "SGP_API_KEY" not in client_env("u", {"sgp": "u/sgp"}, None)  # a proxy keeps the user's keys


def test_python_api_checks_an_in_process_client() -> None:
    import httpx

    with ClientCheck("humanloop", fixtures=None) as check:
        with httpx.Client(base_url=check.base_url, headers={"x-api-key": "k"}) as http:
            assert http.get("/projects", params={"page": 0}).status_code == 200
            http.post("/projects", json={"name": 3})
            http.get("/v4/projects")  # a base URL doubled: outside every operation
    report = check.report()
    assert findings(report.to_json()) == [
        ("POST /projects", "type", "body.name"),
        ("-", "unknown_path", None),
    ]


# -- the request checker itself --------------------------------------------------------------------


@pytest.fixture(scope="module")
def checker() -> RequestChecker:
    return RequestChecker(HUMANLOOP)


def checks(checker: RequestChecker, *args: Any, **kwargs: Any) -> list[tuple[str, str | None]]:
    return [(f.check, f.field) for f in checker.check(*args, **kwargs)]


def test_routing_rules_method_and_path(checker: RequestChecker) -> None:
    assert checks(checker, "PUT", "/chat", b"", KEY, b"") == [("method_not_allowed", None)]
    assert checks(checker, "GET", "/chats", b"", KEY, b"") == [("unknown_path", None)]
    assert checks(checker, "GET", "/projects", b"page=0&size=5", KEY, b"") == []


def test_body_encoding_rules(checker: RequestChecker) -> None:
    form = {"x-api-key": "k", "content-type": "application/x-www-form-urlencoded"}
    assert checks(checker, "POST", "/projects", b"", form, b"name=x") == [
        ("content_type", "header.content-type")
    ]
    assert checks(checker, "POST", "/projects", b"", KEY, b'{"name":') == [("json", "body")]
    assert checks(checker, "POST", "/projects", b"", KEY, b"") == [("required", "body")]
    assert checks(checker, "POST", "/projects", b"", {"x-api-key": " "}, b'{"name":"x"}') == [
        ("auth", "header.x-api-key"),
        ("content_type", "header.content-type"),
    ]


def test_schema_errors_name_nested_fields(checker: RequestChecker) -> None:
    body = {"project_id": "p", "messages": [{"role": "robot", "content": "hi"}], "model_config": {}}
    found = checks(checker, "POST", "/chat", b"", KEY, json.dumps(body))
    assert ("enum", "body.messages[0].role") in found and ("required", "body.model_config.model") in found


def test_unknown_fields_through_unions_maps_and_queries(checker: RequestChecker) -> None:
    body = {
        "project_id": "p",
        "messages": [{"role": "user", "content": "hi", "nmae": "x"}],
        "model_config": {"model": "m", "tools": [{"name": "t", "parameters": {"anything": 1}}]},
        "inputs": {"free": "form"},  # a map: any key is fine
        "projectId": "p",
    }
    found = checker.check("POST", "/chat", "pagee=1", KEY, json.dumps(body))
    named = {
        (f.field, f.message.split("did you mean ")[-1] if "did you mean" in f.message else None)
        for f in found
    }
    assert named == {
        ("body.messages[0].nmae", "'name'?"),
        ("body.projectId", "'project_id'?"),
        ("query.pagee", None),  # POST /chat takes no query parameters
    }
    assert all(f.check == "unknown_field" and f.side == "client" for f in found)
    assert (
        RequestChecker(HUMANLOOP, allow_extra_fields=True).check("POST", "/chat", "", KEY, json.dumps(body))
        == []
    )


def test_closest_name() -> None:
    known = frozenset({"project_id", "temperature", "max_tokens"})
    assert closest("projectId", known) == "project_id"
    assert closest("temprature", known) == "temperature"
    assert closest("zzz", known) is None


# -- the response checker ----------------------------------------------------------------------------


def test_response_checker_rules() -> None:
    responses = ResponseChecker(HUMANLOOP)
    get = HUMANLOOP.operation("projects_get")
    json_type = {"content-type": "application/json"}
    assert [f.check for f in responses.check(get, 418, json_type, b"{}")] == ["status_code_conformance"]
    assert [f.check for f in responses.check(get, 200, {"content-type": "text/plain"}, b"{}")] == [
        "content_type_conformance"
    ]
    wrong = responses.check(get, 200, json_type, b'{"id": 1}')
    assert {f.field for f in wrong} >= {"body.id", "body.name"} and all(f.side == "server" for f in wrong)
    chat = HUMANLOOP.operation("chats_create")
    stream = b'data: {"data": [{"id": "d", "index": 0, "output": "x"}]}\n\ndata {}\n\n'
    found = [
        (f.check, f.field) for f in responses.check(chat, 200, {"content-type": "text/event-stream"}, stream)
    ]
    assert ("sse_framing", "event[2]") in found and (
        "sse_chunk_schema",
        "event[1].data[0].finish_reason",
    ) in found
