"""Prism's per-request controls in both modes: ``Prefer: code=, example=, dynamic=`` and the
``__code`` / ``__example`` / ``__dynamic`` query parameters. A chosen answer comes from the
contract, runs no behaviour and stores nothing; what cannot be honoured is a 422 naming it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from specfake.app import SpecfakeApp, create_app
from specfake.contract import load_contract
from specfake.pipeline import RequestPipeline
from specfake.tenants import fingerprint
from tests.mock.prism_pets import KEY, PREFIX, write_pets

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

MODES = [pytest.param(False, id="stateful"), pytest.param(True, id="stateless")]
HL = "/humanloop/v4"
HL_KEY = {"X-API-KEY": "k"}
NOT_FOUND = {"detail": "No such pet"}


@pytest.fixture
def pets(tmp_path: Path) -> Path:
    return write_pets(tmp_path)


def serve(contract: Path | str, stateless: bool) -> tuple[SpecfakeApp, TestClient]:
    app = create_app([contract], stateless=stateless)
    return app, TestClient(app)


def count(client: TestClient) -> int:
    return len(client.get(f"{PREFIX}/pets", headers=KEY).json())


def locs(answer: Any) -> list[list[Any]]:
    return [entry["loc"] for entry in answer.json()["detail"]]


@pytest.mark.parametrize("stateless", MODES)
@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Prefer": "code=404"}, {}),
        ({"Prefer": "code=404, example=notFound"}, {}),
        ({"Prefer": "code=404; example=notFound"}, {}),
        ({}, {"__code": "404"}),
        ({"Prefer": "code=200"}, {"__code": "404"}),  # the query wins, as in Prism
    ],
)
def test_code_answers_the_contracts_response(
    pets: Path, stateless: bool, headers: dict[str, str], query: dict[str, str]
) -> None:
    _, client = serve(pets, stateless)
    with client:
        answer = client.get(f"{PREFIX}/pets/p1", headers={**KEY, **headers}, params=query)
    assert answer.status_code == 404
    assert answer.json() == NOT_FOUND


@pytest.mark.parametrize("stateless", MODES)
def test_code_touches_no_state(pets: Path, stateless: bool) -> None:
    app, client = serve(pets, stateless)
    with client:
        body = {"name": "Tom", "kind": "cat"}
        refused = client.post(f"{PREFIX}/pets", json=body, headers={**KEY, "Prefer": "code=422"})
        assert refused.status_code == 422 and refused.json() == {"detail": "Invalid pet"}
        made = client.post(f"{PREFIX}/pets", json=body, headers=KEY, params={"__code": "201"})
        assert made.status_code == 201
        assert stateless or count(client) == 0  # a stateless list is generated, whatever is stored
        assert all(api.store.export()["tenants"].get(fingerprint("k")) in (None, {}) for api in app.apis)
        if not stateless:  # a plain create is stored, and a forced 404 leaves it alone
            pet = client.post(f"{PREFIX}/pets", json=body, headers=KEY).json()
            assert count(client) == 1
            assert (
                client.get(f"{PREFIX}/pets/{pet['id']}", headers={**KEY, "Prefer": "code=404"}).status_code
                == 404
            )
            assert client.get(f"{PREFIX}/pets/{pet['id']}", headers=KEY).json() == pet


@pytest.mark.parametrize("stateless", MODES)
def test_humanloop_code_404_in_both_modes(stateless: bool) -> None:
    app, client = serve("humanloop", stateless)
    api = app.api("humanloop")
    spec = api.contract.operation("projects_get").responses[404]
    with client:
        answer = client.get(f"{HL}/projects/test", headers={**HL_KEY, "Prefer": "code=404"})
        by_query = client.get(f"{HL}/projects/test", headers=HL_KEY, params={"__code": "404"})
    assert answer.status_code == by_query.status_code == 404
    assert api.compiled.validator(spec.content["application/json"]).is_valid(answer.json())
    if "application/json" in spec.examples:
        assert answer.json() == spec.examples["application/json"]


@pytest.mark.parametrize("stateless", MODES)
def test_example_picks_the_named_example(pets: Path, stateless: bool) -> None:
    _, client = serve(pets, stateless)
    with client:
        dog = client.get(f"{PREFIX}/pets/p7", headers={**KEY, "Prefer": "example=dog"})
        cat = client.get(f"{PREFIX}/pets/p7", headers=KEY, params={"__example": "cat"})
        gone = client.get(f"{PREFIX}/pets/p7", headers={**KEY, "Prefer": 'code=404, example="gone"'})
    assert dog.status_code == cat.status_code == 200
    # the path's id is echoed into the success answer, as every stateless answer does
    assert dog.json() == {"id": "p7", "name": "Rex", "kind": "dog"}
    assert cat.json() == {"id": "p7", "name": "Tom", "kind": "cat"}
    assert gone.status_code == 404 and gone.json() == {"detail": "That pet has gone"}


@pytest.mark.parametrize("stateless", MODES)
def test_dynamic_generates_from_the_schema(pets: Path, stateless: bool) -> None:
    app, client = serve(pets, stateless)
    with client:
        dynamic = client.get(f"{PREFIX}/pets/p1", headers={**KEY, "Prefer": "dynamic=true"})
        by_query = client.get(f"{PREFIX}/pets/p1", headers=KEY, params={"__dynamic": "true"})
        error = client.get(f"{PREFIX}/pets/p1", headers={**KEY, "Prefer": "code=404, dynamic=true"})
    schema = app.api("pets").contract.operation("getPet").responses[200].content["application/json"]
    validator = app.api("pets").compiled.validator(schema)
    for answer in (dynamic, by_query):
        assert answer.status_code == 200 and validator.is_valid(answer.json())
        assert answer.json()["id"] == "p1"
        assert answer.json() not in (
            {"id": "p1", "name": "Tom", "kind": "cat"},
            {"id": "p1", "name": "Rex", "kind": "dog"},
        )
    assert error.status_code == 404 and error.json() != NOT_FOUND and isinstance(error.json()["detail"], str)


@pytest.mark.parametrize("stateless", MODES)
def test_an_undeclared_code_is_a_422_listing_the_declared_ones(pets: Path, stateless: bool) -> None:
    _, client = serve(pets, stateless)
    with client:
        by_header = client.get(f"{PREFIX}/pets/p1", headers={**KEY, "Prefer": "code=418"})
        by_query = client.get(f"{PREFIX}/pets/p1", headers=KEY, params={"__code": "418"})
        nonsense = client.get(f"{PREFIX}/pets/p1", headers={**KEY, "Prefer": "code=abc"})
    assert by_header.status_code == by_query.status_code == nonsense.status_code == 422
    assert locs(by_header) == [["header", "prefer"]]
    assert locs(by_query) == [["query", "__code"]]
    message = by_header.json()["detail"][0]["msg"]
    assert "418" in message and "200, 404" in message
    assert "HTTP status" in nonsense.json()["detail"][0]["msg"]


@pytest.mark.parametrize("stateless", MODES)
def test_an_unknown_example_is_a_422_listing_the_known_ones(pets: Path, stateless: bool) -> None:
    _, client = serve(pets, stateless)
    with client:
        unknown = client.get(f"{PREFIX}/pets/p1", headers={**KEY, "Prefer": "example=fish"})
        by_query = client.get(f"{PREFIX}/pets/p1", headers=KEY, params={"__example": "fish"})
        none_named = client.get(f"{PREFIX}/nodes/n", headers={**KEY, "Prefer": "example=leaf"})
    assert unknown.status_code == by_query.status_code == none_named.status_code == 422
    assert locs(unknown) == [["header", "prefer"]] and locs(by_query) == [["query", "__example"]]
    message = unknown.json()["detail"][0]["msg"]
    assert "fish" in message and "cat, dog" in message
    assert "no named examples" in none_named.json()["detail"][0]["msg"]


@pytest.mark.parametrize("stateless", MODES)
def test_controls_come_after_auth_and_beside_the_requests_own_422(pets: Path, stateless: bool) -> None:
    _, client = serve(pets, stateless)
    with client:
        assert client.get(f"{PREFIX}/pets/p1", headers={"Prefer": "code=404"}).status_code == 401
        both = client.post(
            f"{PREFIX}/pets", json={"name": 5, "kind": "cat"}, headers={**KEY, "Prefer": "code=418"}
        )
        bad_dynamic = client.get(f"{PREFIX}/pets/p1", headers={**KEY, "Prefer": "dynamic=maybe"})
    assert both.status_code == 422
    assert ["body", "name"] in locs(both) and ["header", "prefer"] in locs(both)
    assert bad_dynamic.status_code == 422 and locs(bad_dynamic) == [["header", "prefer"]]


def test_other_preferences_are_ignored(pets: Path) -> None:
    """``Prefer: return=minimal`` (RFC 7240) and ``dynamic=false`` ask Prism's controls nothing."""
    _, client = serve(pets, False)
    with client:
        for prefer in ("return=minimal", "dynamic=false", "respond-async"):
            assert client.get(f"{PREFIX}/pets/p1", headers={**KEY, "Prefer": prefer}).status_code == 404
        assert client.get(f"{PREFIX}/pets", headers=KEY, params={"__other": "1"}).status_code == 200


def test_a_streamed_request_still_streams(tmp_path: Path) -> None:
    with TestClient(create_app(["humanloop"], stateless=True)) as client:
        body = {
            "project": "p",
            "model_config": {"model": "gpt-4o", "provider": "openai"},
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        }
        answer = client.post(f"{HL}/chat", json=body, headers={**HL_KEY, "Prefer": "dynamic=true"})
        forced = client.post(f"{HL}/chat", json=body, headers={**HL_KEY, "Prefer": "code=404"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
    assert forced.status_code == 404


def test_the_checker_does_not_report_the_controls_as_unknown() -> None:
    pipeline = RequestPipeline(load_contract("humanloop").compiled)
    query = {"__code": ["404"], "__example": ["x"], "__dynamic": ["true"]}
    found = pipeline.judge("GET", "/projects/p", query, {"X-API-KEY": "k", "Prefer": "code=404"})
    assert found == []
    stray = pipeline.judge("GET", "/projects/p", {"__cod": ["404"]}, {"X-API-KEY": "k"})
    assert [v.rule for v in stray] == ["unknown_field"]


def test_the_journal_says_what_chose_the_answer(pets: Path) -> None:
    app, client = serve(pets, False)
    with client:
        client.get(f"{PREFIX}/pets/p1", headers={**KEY, "Prefer": "code=404, example=gone"})
    assert app.journal.entries()[-1].shaped_by == "prefer code=404, example=gone"
