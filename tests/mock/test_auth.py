"""Every security scheme a contract declares is enforced: API keys in a header, the query or a
cookie, HTTP bearer and basic, schemes required together, and anonymous access (``security: []``
or an empty requirement). The credential is the tenant, and the checker reports what the fake
refuses.
"""

from __future__ import annotations

import base64
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest

from specfake.app import create_app
from specfake.contract import load_contract
from specfake.contracts.harness.conformance import RequestChecker
from specfake.contracts.harness.proxy import REDACTED, _redact_query
from specfake.pipeline import Refusal, RequestPipeline

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

OPENAI_STYLE = Path(__file__).parents[1] / "contracts" / "openai_style.yaml"
PREFIX = "/openai_style/v1"
OK = {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}


def _client(paths: list[Path | str], api_keys: list[str] | None = None) -> TestClient:
    return TestClient(create_app(paths, api_keys=api_keys))


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def _contract(tmp_path: Path, schemes: dict[str, Any], security: list[Any], **op_security: Any) -> Path:
    """A tiny contract ``auth`` (mounted at /auth/v1): GET /things under the top-level
    ``security``, GET /open under ``op_security["open"]`` when given."""
    open_op: dict[str, Any] = {"operationId": "open", "responses": OK}
    if "open" in op_security:
        open_op["security"] = op_security["open"]
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Auth", "version": "1.0.0"},
        "servers": [{"url": "https://auth.example/v1"}],
        "security": security,
        "paths": {
            "/things": {"get": {"operationId": "things", "responses": OK}},
            "/open": {"get": open_op},
        },
        "components": {"securitySchemes": schemes},
    }
    path = tmp_path / "auth.json"
    path.write_bytes(orjson.dumps(document))
    return path


# -- bearer (the openai_style contract) --------------------------------------------------------------


def test_a_bearer_token_is_required_and_checked_against_the_known_keys() -> None:
    client = _client([OPENAI_STYLE], api_keys=["t1", "t2"])
    url = PREFIX + "/vector_stores"
    missing = client.get(url)
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Not authenticated: send a bearer token in the Authorization header"}
    assert missing.headers["www-authenticate"] == "Bearer"
    assert client.get(url, headers={"Authorization": "Bearer t1"}).status_code == 200
    assert client.get(url, headers={"Authorization": "bEaReR t2"}).status_code == 200  # any case
    for malformed in ("Bearer", "Bearer   ", "Token t1", "t1", _basic("t1:x")):
        answer = client.get(url, headers={"Authorization": malformed})
        assert answer.status_code == 401, malformed
        assert answer.json()["detail"].startswith("Invalid authentication credentials"), malformed
    wrong = client.get(url, headers={"Authorization": "Bearer t3"})
    assert (wrong.status_code, wrong.json(), wrong.headers["www-authenticate"]) == (
        401,
        {"detail": "Invalid token"},
        "Bearer",
    )


def test_two_bearer_tokens_are_two_tenants() -> None:
    client = _client([OPENAI_STYLE])  # any token, each its own tenant
    one, two = {"Authorization": "Bearer one"}, {"Authorization": "Bearer two"}
    created = client.post(PREFIX + "/vector_stores", json={"name": "mine"}, headers=one)
    assert created.status_code == 200, created.text
    url = f"{PREFIX}/vector_stores/{created.json()['id']}"
    assert client.get(url, headers=one).json()["name"] == "mine"
    assert client.get(url, headers=two).status_code == 404


def test_auth_headers_carry_a_key_in_the_contracts_scheme(tmp_path: Path) -> None:
    bearer = load_contract(OPENAI_STYLE).compiled
    assert bearer.auth_headers("sk-1") == {"Authorization": "Bearer sk-1"}
    assert bearer.secret_headers == {"authorization"}
    assert bearer.api_key_headers == {}
    basic = load_contract(
        _contract(tmp_path, {"B": {"type": "http", "scheme": "basic"}}, [{"B": []}])
    ).compiled
    assert basic.auth_headers("ann:pw") == {"Authorization": _basic("ann:pw")}
    query = {"Q": {"type": "apiKey", "in": "query", "name": "api_key"}}
    compiled = load_contract(_contract(tmp_path, query, [{"Q": []}])).compiled
    assert (compiled.auth_headers("k"), compiled.auth_query("k")) == ({}, {"api_key": "k"})
    keyed = load_contract("sgp").compiled
    assert keyed.auth_headers("k") == {"x-api-key": "k"}
    assert keyed.auth_query("k") == {}
    assert keyed.api_key_headers == {"ApiKeyAuth": "x-api-key"}


def test_the_checker_reports_a_missing_bearer_token_as_it_does_a_missing_api_key() -> None:
    contract = load_contract(OPENAI_STYLE)
    found = RequestPipeline(contract.compiled).judge("GET", "/vector_stores")
    assert [(v.status, v.rule, v.loc, v.type) for v in found] == [
        (401, "auth", ("header", "authorization"), "missing")
    ]
    checker = RequestChecker(contract)
    (finding,) = checker.check("GET", "/vector_stores", headers={"Accept": "application/json"})
    assert (finding.check, finding.field) == ("auth", "header.authorization")
    assert "bearer token" in finding.message and "is missing" in finding.message
    assert checker.check("GET", "/vector_stores", headers={"authorization": "Bearer x"}) == []
    (malformed,) = checker.check("GET", "/vector_stores", headers={"Authorization": "Basic x"})
    assert malformed.check == "auth" and "Bearer <token>" in malformed.message


def test_a_refused_bearer_carries_its_challenge_but_an_api_key_none() -> None:
    contract = load_contract(OPENAI_STYLE)
    with pytest.raises(Refusal) as refused:
        RequestPipeline(contract.compiled).authenticate(contract.compiled.operation("vector_stores_list"), {})
    assert refused.value.headers == {"www-authenticate": "Bearer"}
    keyed = load_contract("sgp").compiled
    op = next(iter(keyed.operations.values()))
    with pytest.raises(Refusal) as refused:
        RequestPipeline(keyed).authenticate(op, {})
    assert refused.value.headers == {}


# -- basic, query and cookie keys, schemes together, anonymous access ---------------------------------


def test_basic_credentials_are_user_and_password_and_the_pair_is_the_tenant(tmp_path: Path) -> None:
    path = _contract(tmp_path, {"B": {"type": "http", "scheme": "basic"}}, [{"B": []}])
    client = _client([path], api_keys=["ann:pw"])
    assert client.get("/auth/v1/things", headers={"Authorization": _basic("ann:pw")}).status_code == 200
    missing = client.get("/auth/v1/things")
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Basic")
    assert "basic credentials" in missing.json()["detail"]
    for malformed in ("Basic !!!", "Basic", _basic("no-colon"), "Bearer ann:pw"):
        answer = client.get("/auth/v1/things", headers={"Authorization": malformed})
        assert answer.status_code == 401, malformed
        assert answer.json()["detail"].startswith("Invalid authentication credentials"), malformed
    wrong = client.get("/auth/v1/things", headers={"Authorization": _basic("ann:nope")})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid credentials"})
    compiled = load_contract(path).compiled
    tenant = RequestPipeline(compiled).authenticate(
        compiled.operation("things"), {"authorization": _basic("bob:secret")}
    )
    assert tenant == "bob:secret"


def test_an_api_key_in_the_query(tmp_path: Path) -> None:
    path = _contract(tmp_path, {"Q": {"type": "apiKey", "in": "query", "name": "api_key"}}, [{"Q": []}])
    client = _client([path], api_keys=["k1"])
    assert client.get("/auth/v1/things?api_key=k1").status_code == 200
    missing = client.get("/auth/v1/things", headers={"api_key": "k1"})
    assert (missing.status_code, missing.json()) == (
        401,
        {"detail": "Not authenticated: send an API key in the api_key query parameter"},
    )
    assert "www-authenticate" not in missing.headers
    assert client.get("/auth/v1/things?api_key=").status_code == 401
    wrong = client.get("/auth/v1/things?api_key=k2")
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid API key"})
    found = RequestPipeline(load_contract(path).compiled).judge("GET", "/things")
    assert [(v.rule, v.loc) for v in found] == [("auth", ("query", "api_key"))]
    assert RequestPipeline(load_contract(path).compiled).judge("GET", "/things", "api_key=x") == []


def test_an_api_key_in_a_cookie(tmp_path: Path) -> None:
    path = _contract(tmp_path, {"C": {"type": "apiKey", "in": "cookie", "name": "session"}}, [{"C": []}])
    client = _client([path], api_keys=["s1"])
    compiled = load_contract(path).compiled
    assert compiled.auth_headers("s1") == {"Cookie": "session=s1"}
    assert client.get("/auth/v1/things", headers={"Cookie": "a=b; session=s1"}).status_code == 200
    assert client.get("/auth/v1/things", headers={"Cookie": "a=b"}).status_code == 401
    assert client.get("/auth/v1/things", headers={"Cookie": "session=s2"}).status_code == 401


def test_schemes_required_together_and_alternatives(tmp_path: Path) -> None:
    schemes = {
        "Key": {"type": "apiKey", "in": "header", "name": "X-Key"},
        "Org": {"type": "apiKey", "in": "header", "name": "X-Org"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    compiled = load_contract(_contract(tmp_path, schemes, [{"Key": [], "Org": []}, {"Bearer": []}])).compiled
    op, pipeline = compiled.operation("things"), RequestPipeline(compiled)
    assert pipeline.authenticate(op, {"x-key": "k", "x-org": "o"}) == "k&o"
    assert pipeline.authenticate(op, {"authorization": "Bearer t"}) == "t"
    with pytest.raises(Refusal) as refused:
        pipeline.authenticate(op, {"x-key": "k"})
    assert refused.value.violations[0].loc == ("header", "x-org")
    with pytest.raises(Refusal) as refused:  # a malformed credential is named before a missing one
        pipeline.authenticate(op, {"authorization": "Bearer"})
    assert refused.value.violations[0].type != "missing"


@pytest.mark.parametrize("open_security", [[], [{}]])
def test_an_operation_without_security_needs_nothing(tmp_path: Path, open_security: list[Any]) -> None:
    schemes = {"Bearer": {"type": "http", "scheme": "bearer"}}
    path = _contract(tmp_path, schemes, [{"Bearer": []}], open=open_security)
    client = _client([path], api_keys=["t1"])
    assert client.get("/auth/v1/open").status_code == 200
    assert client.get("/auth/v1/things").status_code == 401
    assert RequestPipeline(load_contract(path).compiled).judge("GET", "/open") == []


def test_optional_auth_takes_a_token_as_the_tenant_and_none_as_anonymous(tmp_path: Path) -> None:
    schemes = {"Bearer": {"type": "http", "scheme": "bearer"}}
    compiled = load_contract(_contract(tmp_path, schemes, [{}, {"Bearer": []}])).compiled
    op = compiled.operation("things")
    pipeline = RequestPipeline(compiled, api_keys=frozenset({"t1"}))
    assert pipeline.authenticate(op, {}) == ""
    assert pipeline.authenticate(op, {"authorization": "Bearer t1"}) == "t1"
    with pytest.raises(Refusal):
        pipeline.authenticate(op, {"authorization": "Bearer t2"})


def test_the_proxy_report_redacts_query_keys() -> None:
    secrets = {"api_key": REDACTED}
    assert _redact_query("a=1&api_key=sk-1&b", secrets) == f"a=1&api_key={REDACTED}&b"
    assert _redact_query("a=1", {}) == "a=1"
