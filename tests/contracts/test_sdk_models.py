"""A response a real client would reject is a bug: every answer the fake can give for an
operation (its example, and generated data for many seeds) must pass the official SDK's own
pydantic models, which the SDKs use to validate responses."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from pydantic import TypeAdapter

from specfake.answers import ContractAnswers
from specfake.contract import Contract, load_contract
from specfake.generate import GenContext

SAMPLES = 25


def ts_only_tags() -> set[str]:
    """Tags of the operations only the TypeScript SDK has: no Python model to check them with (that
    SDK never validates responses; their schemas are the TS models, transcribed)."""
    tools = Path(__file__).resolve().parents[2] / "contracts" / "tools"
    return set(yaml.safe_load((tools / "humanloop_ts_only.yaml").read_text())["tags"].values())


def humanloop_namespace() -> dict[str, Any]:
    """The SDK's pydantic names, rebuilt, exactly as the contract generator loads them."""
    path = Path(__file__).resolve().parents[2] / "contracts" / "tools"
    sys.path.insert(0, str(path))
    try:
        return importlib.import_module("build_humanloop").sdk_namespace()
    finally:
        sys.path.remove(str(path))


def sgp_types() -> dict[str, Any]:
    from scale_gp.pagination import SyncPageResponse
    from scale_gp.types import (
        EvaluationCreateResponse,
        EvaluationListResponse,
        EvaluationRetrieveResponse,
        EvaluationUpdateResponse,
    )
    from scale_gp.types.shared.generic_delete_response import GenericDeleteResponse
    from scale_gp.types.task import Task

    return {
        "evaluations_create": EvaluationCreateResponse,
        "evaluations_retrieve": EvaluationRetrieveResponse,
        "evaluations_update": EvaluationUpdateResponse,
        "evaluations_delete": GenericDeleteResponse,
        "evaluations_list": SyncPageResponse[EvaluationListResponse],
        "evaluations_claim_task": Task | None,
    }


def samples(contract: Contract, answers: ContractAnswers, schema: dict[str, Any], example: Any) -> list[Any]:
    maker = answers.maker_for(schema)
    out = [example] if example is not None else []
    for seed in range(SAMPLES):
        # From everything filled (the fake's default) to every optional field absent and null.
        rate = seed / SAMPLES
        out.append(maker(GenContext(f"sdk:{seed}", optional_rate=1 - rate, null_rate=rate)))
    return out


def test_humanloop_sdk_models_accept_every_success_answer() -> None:
    contract = load_contract("humanloop")
    answers = ContractAnswers(contract)
    namespace = humanloop_namespace()
    skip = ts_only_tags()
    checked = 0
    for op in contract.operations:
        if skip.intersection(op.tags):
            continue
        success = op.success
        assert success is not None
        schema = success.content.get("application/json")
        if schema is None or "$ref" not in schema:
            continue
        adapter = TypeAdapter(namespace[schema["$ref"].rsplit("/", 1)[1]])
        for body in samples(contract, answers, schema, success.examples.get("application/json")):
            adapter.validate_json(orjson.dumps(body))
            checked += 1
    assert checked > 50 * SAMPLES


@pytest.mark.parametrize("operation_id", sorted(sgp_types()))
def test_sgp_sdk_models_accept_every_success_answer(operation_id: str) -> None:
    contract = load_contract("sgp")
    answers = ContractAnswers(contract)
    op = contract.operation(operation_id)
    model = TypeAdapter(sgp_types()[operation_id])  # claim_task answers Optional[Task]
    schema = op.success.content["application/json"] if op.success else {}
    for body in samples(contract, answers, schema, op.success.examples.get("application/json")):
        model.validate_python(body)  # Stainless models validate strictly with construct disabled


def test_sgp_strict_client_parses_the_fakes_answers(specfake: Any) -> None:
    """The SDK itself, strict response validation on, against a live fake."""
    from scale_gp import SGPClient

    client = SGPClient(
        base_url=specfake.base_url("sgp"), api_key="k", _strict_response_validation=True, max_retries=0
    )
    created = client.evaluations.create(
        application_spec_id="spec",
        description="d",
        evaluation_config_id="cfg",
        name="first",
        account_id="acc",
    )
    assert client.evaluations.retrieve(created.id).id == created.id
    names = [e.id for e in client.evaluations.list(limit=1)]
    assert names == [created.id]
    client.evaluations.delete(created.id)
