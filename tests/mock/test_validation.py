"""Properties of request validation: invalid input always gets a 422 naming the field; valid
input is never rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from specfake.app import create_app
from specfake.generate import GenContext
from specfake.validation import OperationValidator, registry_for

APP = create_app(["humanloop"])
CLIENT = TestClient(APP)
KEY = {"X-API-KEY": "k"}
API = APP.api("humanloop")
BODY_OPS = [op for op in API.contract.operations if op.body_schema is not None and op.body_required]
REGISTRY = registry_for(API.contract)
VALIDATORS = {op.operation_id: OperationValidator(API.contract, op, REGISTRY) for op in BODY_OPS}
# Operations whose behaviours may refuse a schema-valid body (the same list schemathesis uses).
SEMANTIC_422 = {
    op_id
    for rule in tomllib.loads((Path(__file__).parents[2] / "schemathesis.toml").read_text())["operations"]
    for op_id in rule.get("include-operation-id", [])
}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def url(path: str, **params: str) -> str:
    for name, value in params.items():
        path = path.replace("{" + name + "}", value)
    return "/humanloop/v4" + path


def path_params(op: Any) -> dict[str, str]:
    return {p.name: "x1" for p in op.parameters if p.location == "path"}


def required_query(op: Any) -> dict[str, str]:
    return {p.name: "x1" for p in op.parameters if p.location == "query" and p.required}


@SETTINGS
@given(op=st.sampled_from(BODY_OPS), seed=st.integers(0, 2**32))
def test_valid_bodies_are_never_rejected(op: Any, seed: int) -> None:
    """The validator accepts every schema-valid body; behaviours may still refuse one with a 422
    for a rule the schema cannot state (see schemathesis.toml), but never with a 500."""
    body = API.answers.maker_for(op.body_schema)(GenContext(seed))
    assert VALIDATORS[op.operation_id].body_errors(body) == []
    response = CLIENT.request(
        op.method, url(op.path, **path_params(op)), params=required_query(op), json=body, headers=KEY
    )
    assert response.status_code < 500, response.text
    if response.status_code == 422:
        assert op.operation_id in SEMANTIC_422, response.text


JUNK = st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.booleans())


@SETTINGS
@given(op=st.sampled_from(BODY_OPS), seed=st.integers(0, 2**32), junk=JUNK, data=st.data())
def test_a_wrong_typed_field_is_named_in_the_422(op: Any, seed: int, junk: Any, data: st.DataObject) -> None:
    schema = API.contract.resolve(op.body_schema)
    props = schema.get("properties") or {}
    body = API.answers.maker_for(op.body_schema)(GenContext(seed))
    if not isinstance(body, dict) or not props:
        return
    name = data.draw(st.sampled_from(sorted(props)))
    body[name] = junk
    if APP.api("humanloop").compiled.operation(op.operation_id).validator.body.is_valid(body):
        return  # the junk happened to be valid for that field
    response = CLIENT.request(
        op.method, url(op.path, **path_params(op)), params=required_query(op), json=body, headers=KEY
    )
    assert response.status_code == 422
    locs = [tuple(e["loc"][:2]) for e in response.json()["detail"]]
    assert ("body", name) in locs, response.text


@SETTINGS
@given(op=st.sampled_from(BODY_OPS), data=st.data())
def test_a_missing_required_field_is_named(op: Any, data: st.DataObject) -> None:
    schema = API.contract.resolve(op.body_schema)
    required = schema.get("required") or []
    if not required:
        return
    body = API.answers.maker_for(op.body_schema)(GenContext(1))
    name = data.draw(st.sampled_from(required))
    body.pop(name, None)
    response = CLIENT.request(
        op.method, url(op.path, **path_params(op)), params=required_query(op), json=body, headers=KEY
    )
    assert response.status_code == 422
    assert {"loc": ["body", name], "msg": "Field required", "type": "missing"} in response.json()["detail"]


@SETTINGS
@given(value=st.text(min_size=1, max_size=6).filter(lambda s: not s.strip().lstrip("-").isdigit()))
def test_bad_integer_query_parameter_is_named(value: str) -> None:
    response = CLIENT.get(url("/logs"), params={"project_id": "p", "page": value}, headers=KEY)
    assert response.status_code == 422
    assert ["query", "page"] in [e["loc"] for e in response.json()["detail"]]


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 422),
        (b"name=x", {"content-type": "application/x-www-form-urlencoded"}, 422),
        (b"x" * (9 * 1024 * 1024), {"content-type": "application/json"}, 413),
    ],
)
def test_malformed_bodies(content: bytes, headers: dict[str, str], status: int) -> None:
    response = CLIENT.post(url("/projects"), content=content, headers={**KEY, **headers})
    assert response.status_code == status
    assert "detail" in response.json()


def test_auth_and_unknown_routes() -> None:
    assert CLIENT.get(url("/projects")).status_code == 401
    assert CLIENT.get(url("/no-such-thing"), headers=KEY).status_code == 404
    response = CLIENT.put(url("/projects"), headers=KEY)
    assert response.status_code == 405 and response.headers["allow"] == "GET, POST"


def test_huge_page_numbers_are_answered_not_crashed() -> None:
    project = CLIENT.post(url("/projects"), json={"name": "huge-pages"}, headers=KEY).json()
    response = CLIENT.get(
        url("/sessions"),
        params={"project_id": project["id"], "page": "18589929571043205554299207680", "size": "-5"},
        headers=KEY,
    )
    assert response.status_code in (200, 422), response.text


def test_schemathesis_toml_and_the_harness_allow_the_same_422s() -> None:
    """schemathesis.toml (plain schemathesis runs) and the harness's profile must not drift apart."""
    from specfake.contracts.harness.profiles import HUMANLOOP_422_OPERATIONS

    assert set(HUMANLOOP_422_OPERATIONS) == SEMANTIC_422
