"""An SDK test suite in Prism's style, run against both modes of the fake mounted at the root.

Stainless- and Konfig-generated SDKs test themselves against ``prism mock spec.yaml`` on
``http://127.0.0.1:4010`` with made-up ids (``client.evaluations.retrieve("evaluation_id")``).
The same calls run here against ``create_app([contract], root=True)`` in both modes, each held to
its own semantics: stateless (Prism's: any id reads back, any write is answered and forgotten)
and stateful (unknown ids are 404s; what the suite created reads back until it deletes it).
Prism's ``Prefer: code=`` and ``__code`` controls answer the contract's response in both modes.
The two places Prism fails (self-referencing schemas: a 500; streams: none) pass in stateless
mode. One case starts ``specfake mock`` itself, as a Prism user's script would.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import scale_gp
from humanloop import Humanloop
from humanloop.exceptions import ApiException
from scale_gp import SGPClient
from scale_gp.types import EvaluationRetrieveResponse

from specfake.app import create_app
from specfake.contracts.harness.pytest_plugin import contract as cached_contract
from specfake.server import LiveServer, free_port
from tests.spawned import answering

pytestmark = pytest.mark.sdk

KEY = "My API Key"  # what the generated suites send
SPECFAKE = str(Path(sys.executable).with_name("specfake"))
MODES = ["stateless", "stateful"]


@contextmanager
def prism_like(name: str, mode: str, **extra: Any) -> Iterator[str]:
    """The fake for ``name`` at the root (as ``specfake mock`` serves it); yields its root URL."""
    app = create_app(
        [cached_contract(name)],
        root=True,
        stateless=mode == "stateless",
        seed=0,
        options={"stream_speed": "0"},
        **extra,
    )
    with LiveServer(app) as server:
        yield server.url


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sgp_url(mode: str) -> Iterator[str]:
    with prism_like("sgp", mode) as url:
        yield url


@pytest.fixture
def hl_url(mode: str) -> Iterator[str]:
    with prism_like("humanloop", mode) as url:
        yield url


def sgp(url: str) -> SGPClient:
    return SGPClient(api_key=KEY, base_url=url, _strict_response_validation=True, max_retries=0)


def hl(url: str) -> Humanloop:
    return Humanloop(api_key=KEY, host=url + "/v4")


def evaluation_params(name: str) -> dict[str, Any]:
    return {
        "account_id": "account_id",
        "application_spec_id": "application_spec_id",
        "name": name,
        "description": "description",
    }


# --- SGP (Stainless): the generated tests' calls ------------------------------------------------


def test_sgp_retrieve_unknown_id(sgp_url: str, mode: str) -> None:
    client = sgp(sgp_url)
    if mode == "stateless":
        evaluation = client.evaluations.retrieve("evaluation_id")
        assert isinstance(evaluation, EvaluationRetrieveResponse)
        assert evaluation.id == "evaluation_id"
    else:
        with pytest.raises(scale_gp.NotFoundError):
            client.evaluations.retrieve("evaluation_id")


def test_sgp_update_and_delete_unknown_id(sgp_url: str, mode: str) -> None:
    client = sgp(sgp_url)
    if mode == "stateless":
        updated = client.evaluations.update("evaluation_id", name="renamed")
        assert updated.id == "evaluation_id"
        deleted = client.evaluations.delete("evaluation_id")
        assert deleted is not None
        # Nothing was stored: the same id still reads back.
        assert client.evaluations.retrieve("evaluation_id").id == "evaluation_id"
    else:
        with pytest.raises(scale_gp.NotFoundError):
            client.evaluations.update("evaluation_id", name="renamed")
        with pytest.raises(scale_gp.NotFoundError):
            client.evaluations.delete("evaluation_id")


def test_sgp_create_read_delete(sgp_url: str, mode: str) -> None:
    client = sgp(sgp_url)
    created = client.evaluations.create(**evaluation_params("flow"))
    assert created.name == "flow" and created.account_id == "account_id"  # echoed in both modes
    page = client.evaluations.list()
    assert isinstance(page.items, list)
    read = client.evaluations.retrieve(created.id)
    assert read.id == created.id
    client.evaluations.delete(created.id)
    if mode == "stateless":
        assert client.evaluations.retrieve(created.id).id == created.id  # deletes are forgotten
        assert created.id not in {e.id for e in page.items}  # so are creates
    else:
        assert read.name == "flow"
        assert created.id in {e.id for e in page.items}
        with pytest.raises(scale_gp.NotFoundError):
            client.evaluations.retrieve(created.id)


def test_sgp_prefer_code_answers_the_contracts_error(sgp_url: str, mode: str) -> None:
    headers = {"x-api-key": KEY}
    with httpx.Client(base_url=sgp_url, headers=headers) as raw:
        answer = raw.get("/v4/evaluations/evaluation_id", headers={"Prefer": "code=404"})
        assert answer.status_code == 404
        assert isinstance(answer.json()["detail"], str)  # the contract's error shape
        assert raw.get("/v4/evaluations/evaluation_id", params={"__code": "404"}).status_code == 404
        unknown = raw.get("/v4/evaluations/evaluation_id", headers={"Prefer": "code=418"})
        assert unknown.status_code == 422
        assert unknown.json()["detail"][0]["loc"] == ["header", "prefer"]
        if mode == "stateful":  # code= touches no state: the evaluation outlives a forced 404
            created = sgp(sgp_url).evaluations.create(**evaluation_params("kept"))
            forced = raw.delete(f"/v4/evaluations/{created.id}", headers={"Prefer": "code=404"})
            assert forced.status_code == 404
            assert raw.get(f"/v4/evaluations/{created.id}").json()["name"] == "kept"


def test_sgp_missing_key_and_invalid_body_are_refused(sgp_url: str) -> None:
    """Prism's default checks stay on in both modes: 401 on security, 422 on a bad body."""
    with httpx.Client(base_url=sgp_url) as raw:
        assert raw.get("/v4/evaluations/evaluation_id").status_code == 401
        bad = raw.post("/v4/evaluations", headers={"x-api-key": KEY}, json={"name": 3})
        assert bad.status_code == 422
        assert ["body", "name"] in [entry["loc"] for entry in bad.json()["detail"]]


# --- Humanloop (Konfig) ------------------------------------------------------------------------


def test_humanloop_get_unknown_id(hl_url: str, mode: str) -> None:
    client = hl(hl_url)
    if mode == "stateless":
        project = client.projects.get(id="id", validate=True)
        assert project.id == "id"
    else:
        with pytest.raises(ApiException) as caught:
            client.projects.get(id="id")
        assert caught.value.status == 404


def test_humanloop_update_and_delete_unknown_id(hl_url: str, mode: str) -> None:
    client = hl(hl_url)
    if mode == "stateless":
        assert client.projects.update(id="id", name="renamed", validate=True).id == "id"
        client.projects.delete(id="id")
        assert client.projects.get(id="id", validate=True).id == "id"
    else:
        for call in (
            lambda: client.projects.update(id="id", name="renamed"),
            lambda: client.projects.delete(id="id"),
        ):
            with pytest.raises(ApiException) as caught:
                call()
            assert caught.value.status == 404


def test_humanloop_create_read_delete(hl_url: str, mode: str) -> None:
    client = hl(hl_url)
    created = client.projects.create(name="prism-style", validate=True)
    assert created.name == "prism-style"
    read = client.projects.get(id=created.id, validate=True)
    assert read.id == created.id
    client.projects.delete(id=created.id)
    if mode == "stateless":
        assert client.projects.get(id=created.id, validate=True).id == created.id
    else:
        assert read.name == "prism-style"
        with pytest.raises(ApiException) as caught:
            client.projects.get(id=created.id)
        assert caught.value.status == 404


def test_humanloop_prefer_code(hl_url: str) -> None:
    with httpx.Client(base_url=hl_url + "/v4", headers={"X-API-KEY": KEY}) as raw:
        answer = raw.get("/projects/id", headers={"Prefer": "code=422"})
        assert answer.status_code == 422
        assert isinstance(answer.json()["detail"], list)  # the contract's HTTPValidationError
        assert raw.get("/projects/id", params={"__code": "422"}).status_code == 422


# --- Where Prism fails: self-referencing schemas and streams (stateless) -----------------------


@pytest.mark.parametrize("dynamic", [False, True], ids=["examples", "dynamic"])
def test_self_referencing_schemas_answer(dynamic: bool) -> None:
    """LogResponse and EvaluationResultResponse refer to each other, as do ProjectResponse and
    EvaluatorResponse: Prism answers these with a 500; the SDK's own models accept the fake's."""
    with prism_like("humanloop", "stateless", dynamic=dynamic) as url:
        client = hl(url)
        assert client.logs.get(id="id", validate=True).id == "id"
        # ProjectResponse <-> EvaluatorResponse (the SDK's own EvaluatorResponse model cannot be
        # built: its forward reference is never resolved, so it is read through a project).
        assert client.projects.get(id="id", validate=True).id == "id"
        with httpx.Client(base_url=url + "/v4", headers={"X-API-KEY": KEY}) as raw:
            asked = raw.get("/logs/id", headers={"Prefer": "dynamic=true"})
            assert asked.status_code == 200 and asked.json()["id"] == "id"


def test_stream_in_stateless_mode() -> None:
    """``chat_stream`` reads chunks (Prism cannot stream), and the raw answer is an event stream."""
    params = {
        "project": "prism-style",
        "model_config": {"model": "gpt-4o-mini"},
        "messages": [{"role": "user", "content": "Hello"}],
    }
    with prism_like("humanloop", "stateless") as url:

        async def read() -> list[dict[str, Any]]:
            response = await hl(url).chat_stream(**params)
            assert response.status == 200
            return [chunk async for chunk in response.content]

        chunks = asyncio.run(read())
        assert chunks, "the SDK read no chunk"
        assert chunks[-1]["finish_reason"] is not None
        assert len({chunk["id"] for chunk in chunks}) == 1
        with httpx.Client(base_url=url + "/v4", headers={"X-API-KEY": KEY}) as raw:
            with raw.stream("POST", "/chat", json={**params, "stream": True}) as answer:
                assert answer.status_code == 200
                assert answer.headers["content-type"].startswith("text/event-stream")
                assert any(line.startswith("data:") for line in answer.iter_lines())


# --- The mount and the command line ------------------------------------------------------------


def test_root_mount_keeps_admin_and_index_and_shared_contract() -> None:
    with prism_like("sgp", "stateless") as url:
        assert httpx.get(url + "/").json()["contracts"][0]["prefix"] == ""
        assert httpx.get(url + "/openapi.json").json()["openapi"].startswith("3.")
        httpx.get(url + "/v4/evaluations/evaluation_id", headers={"x-api-key": KEY})
        journal = httpx.get(url + "/__admin/journal").json()
        entries = journal["entries"] if isinstance(journal, dict) else journal
        assert any(e["path"] == "/v4/evaluations/evaluation_id" for e in entries)
    assert cached_contract("sgp").prefix == "/sgp"  # the shared, parsed-once contract is untouched
    with pytest.raises(ValueError, match="root=True"):
        create_app(["sgp", "humanloop"], root=True)


def test_serve_root_with_several_contracts_is_a_start_up_error() -> None:
    done = subprocess.run([SPECFAKE, "serve", "--root"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--root" in done.stderr


def test_specfake_mock_runs_as_prism_mock() -> None:
    """``specfake mock sgp -p PORT -h 127.0.0.1``: the generated suite's call, as with Prism."""
    port = free_port()
    proc = subprocess.Popen(
        [SPECFAKE, "mock", "sgp", "-p", str(port), "-h", "127.0.0.1", "--errors"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        answering(url, proc)
        assert sgp(url).evaluations.retrieve("evaluation_id").id == "evaluation_id"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}" in out and "stateless" in out
