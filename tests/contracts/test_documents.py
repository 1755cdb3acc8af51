"""The built-in contracts are valid OpenAPI 3.1, complete, and internally consistent."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from specfake.contract import HTTP_METHODS, builtin_contracts, check_refs, load_contract, read_document
from specfake.validation import SchemaValidator, registry_for

CONTRACTS = sorted(builtin_contracts())


@pytest.fixture(scope="module", params=CONTRACTS)
def document(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, read_document(builtin_contracts()[request.param])


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, m, item[m]) for path, item in doc["paths"].items() for m in HTTP_METHODS if m in item]


def test_valid_openapi_31_and_refs_resolve(document: tuple[str, dict[str, Any]]) -> None:
    _, doc = document
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    check_refs(doc)


def test_humanloop_has_every_sdk_operation() -> None:
    doc = read_document(builtin_contracts()["humanloop"])
    assert len(doc["paths"]) == 50
    assert len(operations(doc)) == 72
    streaming = {op["operationId"] for _, _, op in operations(doc) if "x-specfake-stream" in op}
    assert len(streaming) == 8
    for _, _, op in operations(doc):
        if op["operationId"] in streaming:
            assert "text/event-stream" in op["responses"]["200"]["content"]


def test_sgp_has_the_evaluation_operations() -> None:
    doc = read_document(builtin_contracts()["sgp"])
    ids = {op["operationId"] for _, _, op in operations(doc)}
    verbs = ("create", "retrieve", "update", "delete", "list", "claim_task")
    assert ids == {f"evaluations_{v}" for v in verbs}


@pytest.mark.parametrize(
    ("operation_id", "status"),
    [
        ("projects_create", "201"),
        ("datasets_create", "201"),
        ("datasets_create_datapoint", "201"),
        ("evaluators_create", "201"),
        ("evaluations_create", "201"),
        ("evaluations_log", "201"),
        ("evaluations_result", "201"),
        ("sessions_create", "201"),
        ("projects_create_feedback_type", "201"),
        ("chats_create", "200"),
        ("logs_log", "200"),
        ("experiments_create", "200"),
        ("model_configs_register", "200"),
        ("projects_delete", "204"),
        ("evaluators_delete", "204"),
        ("experiments_delete", "204"),
        ("logs_delete", "204"),
        ("datapoints_delete", "204"),
        ("datasets_delete", "200"),
        ("projects_delete_deployed_config", "200"),
        ("projects_deactivate_config", "200"),
    ],
)
def test_humanloop_success_codes_match_the_sdk(operation_id: str, status: str) -> None:
    doc = read_document(builtin_contracts()["humanloop"])
    op = next(op for _, _, op in operations(doc) if op["operationId"] == operation_id)
    assert min(c for c in op["responses"] if c.startswith("2")) == status


def test_operation_ids_unique_and_errors_documented(document: tuple[str, dict[str, Any]]) -> None:
    _, doc = document
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    for _, _, op in operations(doc):
        assert {"401", "404", "422"} <= set(op["responses"]), op["operationId"]
        if "requestBody" in op:
            assert "413" in op["responses"], op["operationId"]


def test_links_name_real_operations_and_parameters(document: tuple[str, dict[str, Any]]) -> None:
    _, doc = document
    by_id = {op["operationId"]: op for _, _, op in operations(doc)}
    links = 0
    for _, _, op in operations(doc):
        for response in op["responses"].values():
            for link in (response.get("links") or {}).values():
                target = by_id[link["operationId"]]
                names = {p["name"] for p in target.get("parameters", [])}
                assert set(link["parameters"]) <= names
                links += 1
    assert links > 0


def test_every_response_example_is_valid(document: tuple[str, dict[str, Any]]) -> None:
    name, _ = document
    contract = load_contract(name)
    registry = registry_for(contract)
    checked = 0
    for op in contract.operations:
        for response in op.responses.values():
            for media_type, schema in response.content.items():
                assert media_type in response.examples, f"{op.operation_id} {response.status} has no example"
                validator = SchemaValidator(contract, schema, registry)
                example = response.examples[media_type]
                assert validator.is_valid(example), validator.errors(example, [])[:3]
                checked += 1
    assert checked > 0
