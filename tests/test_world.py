"""Fixture worlds: seeded, byte-identical for a seed, copied per tenant, and clear when broken."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from specfake.app import create_app
from specfake.scenario import ScenarioError
from specfake.world import builtin_fixtures


def world_bytes(seed: int) -> bytes:
    app = create_app(seed=seed, fixtures="builtin")
    return orjson.dumps({api.contract.name: api.store.export()["template"] for api in app.apis})


def test_same_seed_gives_a_byte_identical_world() -> None:
    first, second = world_bytes(3), world_bytes(3)
    assert first == second
    assert world_bytes(4) != first
    shipped = {p.stem for p in builtin_fixtures().glob("*.yaml")}
    assert {"humanloop", "sgp"} <= shipped
    for name in shipped:
        assert orjson.loads(first)[name], f"the {name} world is empty"


def test_every_key_starts_from_its_own_copy_of_the_world() -> None:
    client = TestClient(create_app(["sgp"], fixtures="builtin"))
    alice, bob = {"x-api-key": "alice"}, {"x-api-key": "bob"}
    listed = client.get("/sgp/v4/evaluations", headers=alice).json()["items"]
    assert listed and listed == client.get("/sgp/v4/evaluations", headers=bob).json()["items"]
    gone = listed[0]["id"]
    assert client.delete(f"/sgp/v4/evaluations/{gone}", headers=alice).status_code == 200
    assert gone not in [e["id"] for e in client.get("/sgp/v4/evaluations", headers=alice).json()["items"]]
    assert gone in [e["id"] for e in client.get("/sgp/v4/evaluations", headers=bob).json()["items"]]


def test_empty_start_has_no_world() -> None:
    client = TestClient(create_app(["sgp"]))
    assert client.get("/sgp/v4/evaluations", headers={"x-api-key": "k"}).json()["items"] == []


def test_a_broken_scenario_says_which_step_and_why(tmp_path: Path) -> None:
    (tmp_path / "sgp.yaml").write_text("- op: evaluations_create\n  body: {name: 3}\n")
    with pytest.raises(ScenarioError, match=r"step 1 \(evaluations_create\): answered 422"):
        create_app(["sgp"], fixtures=tmp_path)
    (tmp_path / "sgp.yaml").write_text("- op: evaluations_retrieve\n  path: {evaluation_id: '${nope.id}'}\n")
    with pytest.raises(ScenarioError, match="names nothing remembered"):
        create_app(["sgp"], fixtures=tmp_path)


def test_a_state_export_is_a_fixture_too(tmp_path: Path) -> None:
    source = create_app(["sgp"], fixtures="builtin")
    (tmp_path / "sgp.json").write_bytes(orjson.dumps(source.api("sgp").store.export()))
    copy = create_app(["sgp"], fixtures=tmp_path)
    assert copy.api("sgp").store.export()["template"] == source.api("sgp").store.export()["template"]
