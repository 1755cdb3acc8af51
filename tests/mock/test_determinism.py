"""Answers depend only on the seed and the requests: created ids and generated data."""

from __future__ import annotations

from starlette.testclient import TestClient

from specfake.app import create_app
from specfake.contract import load_contract
from specfake.generate import GenContext, SchemaCompiler

KEY = {"X-API-KEY": "k"}


def first_project_id(seed: int) -> str:
    client = TestClient(create_app(["humanloop"], seed=seed))
    return client.post("/humanloop/v4/projects", json={"name": "n"}, headers=KEY).json()["id"]


def test_created_ids_follow_the_seed() -> None:
    assert first_project_id(1) == first_project_id(1)
    assert first_project_id(1) != first_project_id(2)


def test_generated_data_follows_the_seed() -> None:
    contract = load_contract("humanloop")
    maker = SchemaCompiler(lambda ref: contract.resolve({"$ref": ref})).compile(
        {"$ref": "#/components/schemas/ProjectResponse"}
    )
    assert maker(GenContext(5)) == maker(GenContext(5))
    assert maker(GenContext(5)) != maker(GenContext(6))
