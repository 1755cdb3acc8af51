"""The pytest plugin as users meet it: fixture options, fresh state per test, the journal, and the
assertion helper naming every field a client got wrong (inner pytest runs via pytester)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from specfake.contracts.harness.pytest_plugin import RunningFake, serve

pytest_plugins = ["pytester"]


def test_fixture_keeps_its_old_surface_and_adds_journal_and_violations(specfake: RunningFake) -> None:
    assert specfake.url.startswith("http://127.0.0.1:")
    assert specfake.base_url("sgp") == specfake.url + "/sgp" and specfake.app.api("humanloop")
    with httpx.Client(base_url=specfake.base_url("humanloop"), headers=specfake.headers("humanloop")) as http:
        assert http.get("/projects").json()["records"] == []  # empty by default
        http.post("/projects", json={"name": "p", "nmae": "typo"})
        http.get("/projects", headers={"x-api-key": ""})
    seen = specfake.journal("humanloop")
    assert [(s.method, s.path, s.status) for s in seen] == [
        ("GET", "/humanloop/v4/projects", 200),
        ("POST", "/humanloop/v4/projects", 201),
        ("GET", "/humanloop/v4/projects", 401),
    ]
    assert seen[1].json == {"name": "p", "nmae": "typo"} and seen[0].headers["x-api-key"] == "REDACTED"
    assert specfake.app.journal.entries(raw=True)[0].headers["x-api-key"] == specfake.api_key  # the checker's
    assert [(v.check, v.field) for v in specfake.violations()] == [
        ("unknown_field", "body.nmae"),
        ("auth", "header.x-api-key"),
    ]
    specfake.clear_journal()
    specfake.assert_no_violations()


@pytest.mark.specfake("humanloop", fixtures="builtin", seed=3)
def test_marker_options_choose_contracts_fixtures_and_seed(specfake: RunningFake) -> None:
    with pytest.raises(KeyError):
        specfake.app.api("sgp")
    answer = httpx.get(specfake.base_url("humanloop") + "/projects", headers=specfake.headers("humanloop"))
    assert answer.json()["total"] >= 2  # the demo world


def test_serve_helper_runs_a_scenario_on_its_own_server(tmp_path: Any) -> None:
    scenario = tmp_path / "seed.yaml"
    scenario.write_text("- as: proj\n  op: projects_create\n  body: {name: seeded}\n  expect: 201\n")
    with serve(contracts=["humanloop"], scenario=str(scenario), api_key="k9") as fake:
        assert fake.scenario["humanloop"]["proj"]["name"] == "seeded"
        mine = httpx.get(fake.base_url("humanloop") + "/projects", headers={"x-api-key": "k9"}).json()
        other = httpx.get(fake.base_url("humanloop") + "/projects", headers={"x-api-key": "k1"}).json()
        assert [p["name"] for p in mine["records"]] == ["seeded"] and other["records"] == []
    assert len(fake.journal()) == 2  # the scenario ran in process: only the two reads went over HTTP


INNER = """
import httpx, pytest

def post(fake, body):
    return httpx.post(fake.base_url("humanloop") + "/chat", json=body, headers=fake.headers("humanloop"))

BAD = {"project_id": "p", "messages": [{"role": "user", "content": 5}], "model_config": {"model": "m"}}

def test_state_one(specfake):
    url = specfake.base_url("humanloop") + "/projects"
    httpx.post(url, json={"name": "a"}, headers=specfake.headers("humanloop"))

def test_state_is_fresh(specfake):
    got = httpx.get(specfake.base_url("humanloop") + "/projects", headers=specfake.headers("humanloop"))
    assert got.json()["records"] == []

def test_helper_fails_naming_the_field(specfake):
    post(specfake, BAD)
    specfake.assert_no_violations()

@pytest.mark.specfake("humanloop", strict=True)
def test_strict_fails_at_teardown(specfake):
    post(specfake, BAD)

@pytest.mark.specfake(strict=True, allow_extra_fields=True)
def test_extra_fields_allowed(specfake):
    post(specfake, {"project_id": "p", "messages": [], "model_config": {"model": "m"}, "extra": 1})

def test_options_fixture_applies(specfake):
    assert specfake.app.api("sgp") and specfake.api_key == "from-conftest"
    with pytest.raises(KeyError):
        specfake.app.api("humanloop")
"""


def test_inner_suite_state_assertions_and_options(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest

@pytest.fixture
def specfake_options(request):
    if request.node.name == "test_options_fixture_applies":
        return {"contracts": ["sgp"], "api_key": "from-conftest"}
    return {}
"""
    )
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess("-q")
    result.assert_outcomes(passed=5, failed=1, errors=1)
    text = result.stdout.str()
    assert "1 contract violation(s) in the requests the client sent" in text
    assert "POST /chat: type [body.messages[0].content]: Input should be a valid string" in text
    assert "ERROR at teardown of test_strict_fails_at_teardown" in text


def test_unknown_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.specfake(sed=1)
def test_x(specfake):
    pass
"""
    )
    result = pytester.runpytest_inprocess("-q")
    assert "unknown option(s) ['sed']" in result.stdout.str() + result.stderr.str()


def test_ini_and_command_line_options(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nspecfake_contracts = sgp\nspecfake_seed = 5\n")
    pytester.makepyfile(
        test_ini="""
def test_ini(specfake):
    assert [a.contract.name for a in specfake.app.apis] == ["sgp"]
    assert specfake.app.api("sgp").seed == 11
"""
    )
    pytester.runpytest_inprocess("-q", "--specfake-seed", "11").assert_outcomes(passed=1)


def test_the_serve_helper_starts_scenarios_and_fault_rules(tmp_path: Any) -> None:
    rules = tmp_path / "faults.yaml"
    rules.write_text("- operation: evaluations_retrieve\n  fault: status=418\n")
    with serve(contracts=["sgp"], scenarios="flaky-5xx", faults=str(rules)) as fake:
        url = fake.base_url("sgp") + "/v4/evaluations"
        statuses = [httpx.get(url, headers=fake.headers("sgp")).status_code for _ in range(3)]
        assert statuses == [503, 503, 200]
        assert httpx.get(url + "/e1", headers=fake.headers("sgp")).status_code == 418
