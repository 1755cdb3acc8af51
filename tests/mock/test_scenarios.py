"""Scenarios: their file format, how steps move on, what a step's calls see, the admin API, and that
a scenario that cannot be used is refused naming its file, line and field."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from specfake.app import create_app
from specfake.cli import main
from specfake.scenarios import ScenarioFileError, library, load_scenario
from specfake.tenants import fingerprint
from tests.state.helpers import NOTES, PREFIX, key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SHIPPED = {
    "rate-limited-then-ok",
    "flaky-5xx",
    "slow-evaluation",
    "evaluation-fails",
    "stream-drops-mid-answer",
    "deployment-switches-mid-test",
    "paging-under-concurrent-writes",
    "key-revoked-mid-run",
}


def test_the_library_ships_the_scenarios_users_want_first() -> None:
    assert {p.stem for p in library().glob("*.yaml")} == SHIPPED
    for name in SHIPPED:
        assert load_scenario(name).description  # every one says what it does


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "name: x\nsteps:\n  - fault: status=5\n",
            "x.yaml:3: steps.0.fault: status=5: expected an HTTP status",
        ),
        ("name: x\nsteps:\n  - name: a\n    nxt: {after: 1}\n", "x.yaml:4: steps.0.nxt: unknown field"),
        ("name: x\nsteps:\n  - next: {after: 0}\n", "x.yaml:3: steps.0.next: expected next: {after: N}"),
        ("name: x\nsteps: []\n", "x.yaml:2: steps: a scenario needs a list of steps"),
        ("steps:\n  - {}\n", "x.yaml: name: a scenario needs a name"),
        ("name: x\nsteps:\n  - calls: [{body: {}}]\n", "x.yaml:3: steps.0.calls: calls are a list of {op:"),
    ],
)
def test_a_bad_scenario_names_its_file_line_and_field(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioFileError) as caught:
        load_scenario(str(path))
    assert str(caught.value).startswith(f"{tmp_path}/{words}"), caught.value


def test_steps_move_on_after_their_matches_and_calls_run_before_the_answer(tmp_path: Path) -> None:
    scenario = tmp_path / "grow.yaml"
    scenario.write_text(
        "name: grow\n"
        "steps:\n"
        "  - name: quiet\n"
        "    operation: listNotes\n"
        "    next: {after: 1}\n"
        "  - name: growing\n"
        "    operation: listNotes\n"
        "    calls:\n"
        "      - op: createNote\n"
        "        body: {title: 'added by ${request.tenant}', body: b}\n"
        "    next: {after: 2}\n"
        "  - name: done\n"
    )
    app = create_app([NOTES], scenarios=[str(scenario)])
    with TestClient(app) as client:
        titles = [
            [n["title"] for n in client.get(f"{PREFIX}/notes", headers=key("a")).json()["items"]]
            for _ in range(4)
        ]
        added = f"added by {fingerprint('a')}"  # ${request.tenant}: the tenant, named by fingerprint
        assert titles == [[], [added], [added, added], [added, added]]
        state = client.get("/__admin/scenarios/grow").json()
        assert (state["step"], state["step_number"], state["seen_in_step"]) == ("done", 3, 1)
    assert len(app.journal.entries()) == 4  # the scenario's own calls are not requests received


def test_the_admin_api_starts_moves_and_stops_scenarios_and_restores_options() -> None:
    app = create_app(["humanloop"])
    with TestClient(app) as client:
        listed = client.get("/__admin/scenarios").json()
        assert {s["name"] for s in listed["scenarios"]} >= SHIPPED and listed["running"] == []
        started = client.put("/__admin/scenarios/slow-evaluation", json={})
        assert started.status_code == 200 and started.json()["step"] == "held"
        assert app.api("humanloop").options.given == {"evaluation_hold": "running"}
        assert (
            client.put("/__admin/scenarios/slow-evaluation", json={"step": "released"}).json()["step"]
            == "released"
        )
        assert app.api("humanloop").options.given == {}
        bad = client.put("/__admin/scenarios/slow-evaluation", json={"step": "nowhere"})
        assert bad.status_code == 422 and "no step 'nowhere'" in bad.json()["detail"][0]["msg"]
        client.put("/__admin/scenarios/slow-evaluation", json={"step": 0})
        assert client.delete("/__admin/scenarios/slow-evaluation").status_code == 204
        assert app.api("humanloop").options.given == {}  # back to the options it started with
        assert client.delete("/__admin/scenarios/slow-evaluation").status_code == 404
        unknown = client.put("/__admin/scenarios/no-such-scenario", json={})
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["path", "name"]


def test_a_scenario_whose_options_no_served_contract_knows_is_refused() -> None:
    with pytest.raises(ScenarioFileError, match="evaluation_hold: no served contract knows it"):
        create_app([NOTES], scenarios=["slow-evaluation"])


def test_specfake_serve_refuses_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--contract", str(NOTES), "--scenario", "nope", "--port", "0"]) == 2
    assert "no scenario 'nope'" in capsys.readouterr().err
