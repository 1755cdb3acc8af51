"""A body that fails an ``anyOf``/``oneOf`` gets a 422 naming the offending field(s) of the
member it was closest to, as pydantic reports unions, never a bare ``["body"]`` "not valid under
any of the schemas"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from specfake.app import create_app
from specfake.generate import GenContext

CAT = {
    "type": "object",
    "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer"}},
    "required": ["kind", "lives"],
}
DOG = {
    "type": "object",
    "properties": {"kind": {"const": "dog"}, "bark": {"type": "string"}, "tricks": {"type": "array"}},
    "required": ["kind", "bark"],
}
PET = {"anyOf": [{"$ref": "#/components/schemas/Cat"}, {"$ref": "#/components/schemas/Dog"}]}
DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "unions", "version": "1"},
    "paths": {
        "/pets": {
            "post": {
                "operationId": "pets_create",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Owner"}}},
                },
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/one": {
            "post": {
                "operationId": "one_create",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"oneOf": [{"type": "integer"}, CAT]}}},
                },
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
    "components": {
        "schemas": {
            "Cat": CAT,
            "Dog": DOG,
            "Owner": {
                "type": "object",
                "properties": {
                    "pet": PET,
                    "address": {"anyOf": [{"$ref": "#/components/schemas/Address"}, {"type": "null"}]},
                },
            },
            "Address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "unit": {"anyOf": [{"type": "integer"}, PET]}},
                "required": ["street"],
            },
        }
    },
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    path: Path = tmp_path_factory.mktemp("contract") / "unions.json"
    path.write_bytes(orjson.dumps(DOCUMENT))
    return TestClient(create_app([path]))


def detail(client: TestClient, path: str, body: Any) -> list[dict[str, Any]]:
    response = client.post(f"/unions{path}", json=body)
    assert response.status_code == 422, response.text
    return response.json()["detail"]


def test_the_member_named_by_its_tag_reports_its_own_fields(client: TestClient) -> None:
    assert detail(client, "/pets", {"pet": {"kind": "dog", "bark": 3}}) == [
        {"loc": ["body", "pet", "bark"], "msg": "Input should be a valid string", "type": "string_type"}
    ]
    assert detail(client, "/pets", {"pet": {"kind": "cat"}}) == [
        {"loc": ["body", "pet", "lives"], "msg": "Field required", "type": "missing"}
    ]


def test_an_unknown_tag_says_which_values_would_do(client: TestClient) -> None:
    assert detail(client, "/pets", {"pet": {"kind": "cow", "lives": 1}}) == [
        {"loc": ["body", "pet", "kind"], "msg": "Input should be 'cat' or 'dog'", "type": "literal_error"}
    ]


def test_an_optional_object_of_the_wrong_type_is_not_reported_as_not_null(client: TestClient) -> None:
    assert detail(client, "/pets", {"address": "Main St"}) == [
        {"loc": ["body", "address"], "msg": "Input should be a valid dictionary", "type": "dict_type"}
    ]


def test_nested_unions_name_the_deepest_field(client: TestClient) -> None:
    body = {"address": {"street": "Main", "unit": {"kind": "dog", "bark": "woof", "tricks": "sit"}}}
    assert [e["loc"] for e in detail(client, "/pets", body)] == [["body", "address", "unit", "tricks"]]


def test_one_of_is_explained_the_same_way(client: TestClient) -> None:
    assert [e["loc"] for e in detail(client, "/one", {"kind": "cat", "lives": "nine"})] == [["body", "lives"]]


def test_the_member_with_fewest_errors_wins_without_a_tag() -> None:
    app = create_app(["sgp"])
    http = TestClient(app)
    response = http.post("/sgp/v4/evaluations", json={}, headers={"x-api-key": "k"})
    # The default request needs four fields, the builder six: the default one is reported.
    assert [e["loc"] for e in response.json()["detail"]] == [
        ["body", "account_id"],
        ["body", "application_spec_id"],
        ["body", "description"],
        ["body", "name"],
    ]


SGP = create_app(["sgp"])
SGP_HTTP = TestClient(SGP)
CREATE = next(op for op in SGP.api("sgp").contract.operations if op.operation_id == "evaluations_create")
CREATE_BODY = SGP.api("sgp").compiled.operation(CREATE.operation_id).validator.body
JUNK = st.one_of(st.integers(), st.lists(st.integers(), min_size=1, max_size=2), st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), junk=JUNK, data=st.data())
def test_a_corrupted_field_of_a_union_body_is_named(seed: int, junk: Any, data: st.DataObject) -> None:
    body = SGP.api("sgp").answers.maker_for(CREATE.body_schema)(GenContext(seed))
    name = data.draw(st.sampled_from(sorted(body)))
    body[name] = junk
    if CREATE_BODY.is_valid(body):
        return  # the junk fitted the field, or the other member accepts the body
    response = SGP_HTTP.post("/sgp/v4/evaluations", json=body, headers={"x-api-key": "k"})
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["detail"]]
    assert ["body", name] in [loc[:2] for loc in locs], (body, locs)
    assert ["body"] not in locs
