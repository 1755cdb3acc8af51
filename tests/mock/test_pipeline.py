"""One request pipeline: the fake answers exactly what the checker finds, for any request.

The fake answers the first violation `RequestPipeline.judge` finds (a 422 lists every field of a
request's 422s), and answers no validation error when the judge finds none. Requests are drawn
valid and broken: contract-valid bodies and parameters, junk in one field, wrong methods, missing
and whitespace keys, wrong content types, bodies that are not JSON.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.profile import call
from specfake.app import create_app
from specfake.http import dump_json
from specfake.pipeline import RequestPipeline, Violation
from specfake.strategies import Request, requests
from tests.state.helpers import NOTES

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
KEYS = ["k1", "k2"]
APP = create_app(["sgp", NOTES], api_keys=KEYS)
JUNK = st.one_of(st.integers(), st.text(max_size=4), st.none(), st.lists(st.integers(), max_size=2))


def _call(method: str, path: str, query: bytes, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    status, payload = asyncio.run(call(APP, method, path, query, body, headers))
    return status, orjson.loads(payload) if payload.startswith((b"{", b"[")) else None


@st.composite
def exchanges(draw: st.DrawFn, name: str) -> tuple[str, str, bytes, dict[str, str], bytes]:
    """(method, path below the prefix, query, headers, body): valid, then perhaps broken once."""
    contract = APP.api(name).contract
    operation_id = draw(st.sampled_from([op.operation_id for op in contract.operations]))
    request: Request = draw(requests(contract, operation_id))
    method, path, body = request.method, request.path, request.body
    query = urlencode(request.query_pairs()).encode()
    headers = {"x-api-key": draw(st.sampled_from(KEYS)), "content-type": "application/json"}
    raw = dump_json(body) if body is not None else b""
    twist = draw(st.sampled_from(["none", "field", "method", "key", "content-type", "not-json", "path"]))
    if twist == "field" and isinstance(body, dict) and body:
        body = {**body, draw(st.sampled_from(sorted(body))): draw(JUNK)}
        raw = dump_json(body)
    elif twist == "method":
        method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]))
    elif twist == "key":
        headers["x-api-key"] = draw(st.sampled_from(["", " ", "unknown-key"]))
    elif twist == "content-type":
        headers["content-type"] = draw(st.sampled_from(["text/plain", "application/x-www-form-urlencoded"]))
    elif twist == "not-json":
        raw = b'{"unterminated": '
    elif twist == "path":
        path = path + "/nowhere"
    return method, path, query, headers, raw


def _agree(name: str, exchange: tuple[str, str, bytes, dict[str, str], bytes]) -> None:
    method, path, query, headers, raw = exchange
    api = APP.api(name)
    judged = RequestPipeline(api.compiled, api_keys=frozenset(KEYS)).judge(method, path, query, headers, raw)
    enforced = [v for v in judged if v.status is not None]
    status, answer = _call(method, api.prefix + path, query, headers, raw)
    if enforced:
        assert status == enforced[0].status, (exchange, enforced, answer)
        if status == 422:
            assert [e["loc"] for e in answer["detail"]] == [list(v.loc) for v in enforced], answer
    else:
        assert status < 500 and status not in (401, 405, 413), (exchange, status, answer)
        if name == "sgp":  # SGP has no rule a schema cannot state: no 422 without a violation
            assert status != 422, (exchange, answer)


@SETTINGS
@given(data=st.data())
def test_the_fake_answers_what_the_checker_finds_sgp(data: st.DataObject) -> None:
    _agree("sgp", data.draw(exchanges("sgp")))


@SETTINGS
@given(data=st.data())
def test_the_fake_answers_what_the_checker_finds_for_a_contract_without_behaviour(
    data: st.DataObject,
) -> None:
    _agree("notes", data.draw(exchanges("notes")))


def test_advisories_are_reported_but_never_enforced() -> None:
    api = APP.api("notes")
    pipeline = RequestPipeline(api.compiled)
    headers = {"x-api-key": "k1"}
    found = pipeline.judge("POST", "/notes", "sort=up", headers, b'{"title": "t", "body": "b", "titel": 1}')
    assert [(v.status, v.rule, v.loc, v.suggestion) for v in found] == [
        (None, "unknown_field", ("query", "sort"), None),
        (None, "content_type", ("header", "content-type"), None),
        (None, "unknown_field", ("body", "titel"), "title"),
    ]
    assert all(isinstance(v, Violation) for v in found)
    body = b'{"title": "t", "body": "b", "titel": 1}'
    status, _ = _call("POST", api.prefix + "/notes", b"sort=up", headers, body)
    assert status == 201  # what the fake ignores, it ignores


def test_a_key_the_fake_does_not_accept_is_refused_but_the_checker_knows_no_keys() -> None:
    api = APP.api("sgp")
    headers = {"x-api-key": "stranger"}
    assert RequestPipeline(api.compiled).judge("GET", "/v4/evaluations", b"", headers) == []
    refused = RequestPipeline(api.compiled, api_keys=frozenset(KEYS)).judge(
        "GET", "/v4/evaluations", b"", headers
    )
    assert [(v.status, v.rule, v.msg) for v in refused] == [(401, "auth", "Invalid API key")]
