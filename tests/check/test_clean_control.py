"""The clean control: `check server` on the fake, started with an API-key list, reports nothing for
both built-in contracts, empty and with the demo world (``fixtures="builtin"``).

The quick profile runs here (about 45 s for the four on two idle cores); the thorough profile of
the demo world takes minutes, so it is marked ``thorough``: ``make test`` deselects it and ``make
check`` runs it (``pytest -m thorough``). The finetune 422 that the thorough run met (a dataset of
another project) has its own quick test: the fake answers it, the contract declares it, and the
harness allows it.
"""

from __future__ import annotations

import time
import warnings

import pytest

from specfake.app import create_app
from specfake.contract import load_contract
from specfake.contracts.harness import profiles
from specfake.contracts.harness.server_check import check_server, schemathesis_config
from specfake.server import LiveServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

KEYS = ["control-k1", "control-k2"]
MIN_REQUESTS = {"humanloop": 1000, "sgp": 100}  # the run really exercised the server
BASE = "/humanloop/v4"


def control(name: str, fixtures: str | None, profile: str) -> None:
    contract = load_contract(name)
    app = create_app([name], api_keys=KEYS, fixtures=fixtures, options={"stream_speed": "0"})
    started = time.monotonic()
    with LiveServer(app) as live:
        report = check_server(contract, live.url + contract.prefix, api_key=KEYS[0], profile=profile)
    assert report.findings == [], report.summary(verbose=True)
    assert report.exit_code == 0
    assert report.stats["requests"] > MIN_REQUESTS[name], report.stats
    assert report.stats["invariants"] == "run"
    print(f"clean control {name} {fixtures or 'empty'} {profile}: {time.monotonic() - started:.1f}s")


@pytest.mark.parametrize("fixtures", [None, "builtin"], ids=["empty", "demo"])
@pytest.mark.parametrize("name", ["humanloop", "sgp"])
def test_check_server_finds_nothing_on_the_fake(name: str, fixtures: str | None) -> None:
    control(name, fixtures, "quick")


@pytest.mark.thorough
@pytest.mark.parametrize("name", ["humanloop", "sgp"])
def test_check_server_thorough_finds_nothing_on_the_demo_world(name: str) -> None:
    control(name, "builtin", "thorough")


def test_a_finetune_on_another_projects_dataset_is_a_declared_and_allowed_422() -> None:
    """What the thorough demo-world run met: the fake's 422 names ``body.dataset_id``, the contract
    declares 422 for both operations, and the harness's one list lets positive data get it."""
    client = TestClient(create_app(["humanloop"], api_keys=KEYS, fixtures="builtin"))
    key = {"X-API-KEY": KEYS[0]}
    mine, other = (client.post(f"{BASE}/projects", json={"name": n}, headers=key).json() for n in "ab")
    dataset = client.post(
        f"{BASE}/projects/{other['id']}/datasets", json={"name": "d", "description": "x"}, headers=key
    ).json()
    request = {"name": "ft", "dataset_id": dataset["id"], "config": {"base_model": "gpt-3.5-turbo"}}
    contract = load_contract("humanloop")
    config = schemathesis_config(
        contract, "http://x", {}, seed=0, profile=profiles.get_profile("quick"), max_examples=None, workers=1
    )
    allowed = {
        op_id: rule["checks"]["positive_data_acceptance"]["expected-statuses"]
        for rule in config["operations"]
        for op_id in rule["include-operation-id"]
    }
    for op_id, path in (("finetunes_create", "finetunes"), ("finetunes_summary", "finetunes/summary")):
        answer = client.post(f"{BASE}/projects/{mine['id']}/{path}", json=request, headers=key)
        assert answer.status_code == 422, answer.text
        assert [e["loc"] for e in answer.json()["detail"]] == [["body", "dataset_id"]]
        assert 422 in contract.operation(op_id).responses
        assert "422" in allowed[op_id]
        # The same request on the dataset's own project is accepted.
        own = client.post(f"{BASE}/projects/{other['id']}/{path}", json=request, headers=key)
        assert own.status_code == 200, own.text
    assert "422" not in allowed.get("finetunes_update", [])  # the list, not every operation
