"""Faults on any operation: the header's syntax, what each fault does to an answer, and that a
fault never runs an operation it answers for (``status``, ``reset``)."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator

import httpx
import pytest

from specfake.app import SpecfakeApp, create_app
from specfake.faults import Fault
from specfake.server import LiveServer
from specfake.streaming.faults import StreamFaults
from tests.state.helpers import NOTES, PREFIX

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

HEADERS = {"x-api-key": "k"}


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("status=429; retry-after=2", Fault(status=429, retry_after=2.0)),
        ("status=503", Fault(status=503)),
        ("latency=300ms", Fault(latency=(0.3, 0.3))),
        ("latency=200..800ms", Fault(latency=(0.2, 0.8))),
        ("latency=1..2s", Fault(latency=(1.0, 2.0))),
        ("reset", Fault(reset=True)),
        ("empty", Fault(empty=True)),
        ("truncate=120", Fault(truncate=120)),
        ("malformed", Fault(malformed=True)),
        ("dribble=2s", Fault(dribble=2.0)),
        ("stall=3:2.5; cut-after=10", Fault(stream=StreamFaults(cut_after=10, stalls=((3, 2.5),)))),
        ("latency=50ms; error-at=2", Fault(latency=(0.05, 0.05), stream=StreamFaults(error_at=2))),
    ],
)
def test_the_readme_forms_parse(text: str, fault: Fault) -> None:
    assert Fault.parse(text) == fault


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("status=42", "HTTP status from 100 to 599"),
        ("latency=soon", "duration"),
        ("latency=800..200ms", "must go up"),
        ("truncate=-1", "whole number"),
        ("retry-after=2", "needs a status"),
        ("latency=10m", "duration"),
        ("dribble=1000s", "at most 300s"),
        ("explode", "cannot read 'explode'"),
    ],
)
def test_a_fault_that_cannot_be_read_names_the_entry(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Fault.parse(text)


def test_a_seeded_latency_is_the_same_for_the_same_request() -> None:
    fault = Fault.parse("latency=200..800ms")
    assert fault.delay(7) == fault.delay(7) and 0.2 <= fault.delay(7) <= 0.8
    assert len({fault.delay(seed) for seed in range(20)}) > 10


@pytest.fixture
def app() -> SpecfakeApp:
    return create_app([NOTES, "sgp"], seed=1)


def test_a_status_fault_answers_the_apis_error_shape_and_runs_nothing(app: SpecfakeApp) -> None:
    with TestClient(app) as client:
        body = {"title": "t", "body": "b"}
        refused = client.post(
            f"{PREFIX}/notes", json=body, headers={**HEADERS, "X-Specfake-Fault": "status=429; retry-after=3"}
        )
        assert refused.status_code == 429 and refused.headers["retry-after"] == "3"
        assert refused.json() == {"detail": "Too Many Requests (specfake fault)"}
        assert client.get(f"{PREFIX}/notes", headers=HEADERS).json()["items"] == []  # nothing stored
        teapot = client.get("/sgp/v4/evaluations", headers={**HEADERS, "X-Specfake-Fault": "status=418"})
        assert teapot.status_code == 418 and "retry-after" not in teapot.headers


def test_a_bad_header_is_a_422_naming_it_and_an_invalid_request_keeps_its_own_answer(
    app: SpecfakeApp,
) -> None:
    with TestClient(app) as client:
        bad = client.get("/sgp/v4/evaluations", headers={**HEADERS, "X-Specfake-Fault": "status=9"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["header", "x-specfake-fault"]
        invalid = client.get(
            "/sgp/v4/evaluations",
            params={"limit": "x"},
            headers={**HEADERS, "X-Specfake-Fault": "status=503"},
        )
        assert invalid.status_code == 422  # the contract refuses it first


def test_every_answer_carries_a_request_id_the_journal_keeps(app: SpecfakeApp) -> None:
    with TestClient(app) as client:
        ids = [client.get("/sgp/v4/evaluations", headers=HEADERS).headers["x-request-id"] for _ in range(2)]
        missing = client.get("/sgp/v4/evaluations/nope", headers=HEADERS)
    assert ids == ["req_00000001", "req_00000002"] and missing.headers["x-request-id"] == "req_00000003"
    assert [e.request_id for e in app.journal.entries()] == [*ids, "req_00000003"]


@pytest.fixture
def served() -> Iterator[tuple[SpecfakeApp, str]]:
    app = create_app(["sgp"], seed=1)
    with LiveServer(app) as server:
        yield app, server.url + "/sgp/v4/evaluations"


def _get(url: str, fault: str) -> httpx.Response:
    return httpx.get(url, headers={**HEADERS, "X-Specfake-Fault": fault})


def test_faults_shape_the_answer_on_the_wire(served: tuple[SpecfakeApp, str]) -> None:
    app, url = served
    whole = httpx.get(url, headers=HEADERS).content
    started = time.monotonic()
    assert _get(url, "latency=300ms").content == whole and time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert _get(url, "dribble=500ms").content == whole and time.monotonic() - started >= 0.45
    malformed = _get(url, "malformed")
    assert malformed.status_code == 200 and malformed.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        malformed.json()
    with pytest.raises(httpx.RemoteProtocolError, match="received 20 bytes"):
        _get(url, "truncate=20")
    with pytest.raises(httpx.RemoteProtocolError, match="received 0 bytes"):
        _get(url, "empty")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        _get(url, "reset")
    shaped = [(e.status, e.shaped_by) for e in app.journal.entries()][-3:]
    assert shaped == [
        (200, "header x-specfake-fault: truncate=20"),
        (200, "header x-specfake-fault: empty"),
        (0, "header x-specfake-fault: reset"),
    ]


def test_a_reset_create_stores_nothing_but_an_empty_one_does(served: tuple[SpecfakeApp, str]) -> None:
    _, url = served
    body = {"account_id": "a", "application_spec_id": "s", "name": "n", "description": "d"}
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.post(url, json=body, headers={**HEADERS, "X-Specfake-Fault": "reset"})
    assert httpx.get(url, headers=HEADERS).json()["items"] == []
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, json=body, headers={**HEADERS, "X-Specfake-Fault": "empty"})
    assert len(httpx.get(url, headers=HEADERS).json()["items"]) == 1  # processed, answer lost
