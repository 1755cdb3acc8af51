"""``--stateless``: Prism's semantics. Every operation answers from its contract (path ids and
request fields echoed), nothing is stored, unknown ids read back, and auth, request validation,
streams and self-referencing schemas still work."""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from specfake.api import MountedApi
from specfake.app import SpecfakeApp, create_app
from specfake.cli import build_parser
from specfake.server import LiveServer
from tests.contracts.test_sdk_models import humanloop_namespace
from tests.mock.prism_pets import KEY, PREFIX, write_pets

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

HL = "/humanloop/v4"
HL_KEY = {"X-API-KEY": "k"}
CHAT = {
    "project": "stateless",
    "model_config": {"model": "gpt-4o", "provider": "openai"},
    "messages": [{"role": "user", "content": "stream please"}],
}


@pytest.fixture(scope="module")
def humanloop() -> SpecfakeApp:
    return create_app(["humanloop"], stateless=True, options={"stream_speed": "0"})


@pytest.fixture(scope="module")
def client(humanloop: SpecfakeApp) -> Iterator[TestClient]:
    with TestClient(humanloop) as client:
        yield client


def valid(api: MountedApi, operation_id: str, status: int, body: Any) -> bool:
    schema = api.contract.operation(operation_id).responses[status].content["application/json"]
    return api.compiled.validator(schema).is_valid(body)


def events(text: str) -> list[Any]:
    """The JSON payloads of an SSE body (``[DONE]`` and other non-JSON data left out)."""
    out = []
    for line in text.splitlines():
        if line.startswith("data:") and line[5:].strip().startswith("{"):
            out.append(orjson.loads(line[5:]))
    return out


def test_the_flag_reaches_create_app() -> None:
    assert build_parser().parse_args(["serve", "--stateless"]).stateless is True
    assert build_parser().parse_args(["serve"]).stateless is False
    with pytest.raises(ValueError, match="stores nothing"):
        create_app(["humanloop"], stateless=True, state="x.db")


def test_every_read_of_an_unknown_id_answers_200_and_is_contract_valid(
    humanloop: SpecfakeApp, client: TestClient
) -> None:
    api = humanloop.api("humanloop")
    reads = [op for op in api.contract.operations if op.method == "GET" and "{" in op.path]
    assert len(reads) > 10
    for op in reads:
        answer = client.get(HL + re.sub(r"\{[^}]+\}", "test", op.path), headers=HL_KEY)
        assert answer.status_code == 200, (op.path, answer.text)
        assert op.success is not None
        assert valid(api, op.operation_id, op.success.status, answer.json()), (op.path, answer.text)
    assert client.get(f"{HL}/projects/test", headers=HL_KEY).json()["id"] == "test"


def test_the_stateful_mode_still_answers_404_for_an_unknown_id(tmp_path: Path) -> None:
    with TestClient(create_app(["humanloop"])) as stateful:
        assert stateful.get(f"{HL}/projects/test", headers=HL_KEY).status_code == 404
    with TestClient(create_app([write_pets(tmp_path)])) as stateful:
        assert stateful.get(f"{PREFIX}/pets/test", headers=KEY).status_code == 404


def test_writes_are_answered_and_echoed_but_not_stored(humanloop: SpecfakeApp, client: TestClient) -> None:
    api = humanloop.api("humanloop")
    created = client.post(f"{HL}/projects", json={"name": "never-kept"}, headers=HL_KEY)
    assert created.status_code == 201
    project = created.json()
    assert project["name"] == "never-kept"  # the request's field, echoed where the answer names it
    assert valid(api, "projects_create", 201, project)
    read = client.get(f"{HL}/projects/{project['id']}", headers=HL_KEY)
    assert read.status_code == 200 and read.json()["id"] == project["id"]
    assert read.json() != project  # generated afresh: nothing was stored
    deleted = client.delete(f"{HL}/projects/{project['id']}", headers=HL_KEY)
    assert deleted.status_code < 300
    assert client.get(f"{HL}/projects/{project['id']}", headers=HL_KEY).status_code == 200
    assert all(a.store.export()["tenants"] == {} for a in humanloop.apis)


def test_answers_are_deterministic_per_seed_and_request(tmp_path: Path) -> None:
    pets = write_pets(tmp_path)
    with (
        TestClient(create_app([pets], stateless=True, seed=3)) as one,
        TestClient(create_app([pets], stateless=True, seed=3)) as two,
    ):
        first = one.get(f"{PREFIX}/nodes/a", headers=KEY).json()
        assert two.get(f"{PREFIX}/nodes/a", headers=KEY).json() == first
        assert one.get(f"{PREFIX}/nodes/a", headers=KEY).json() == first
        assert one.get(f"{PREFIX}/nodes/b", headers=KEY).json()["id"] == "b"


def test_auth_body_limit_and_validation_stay_on(tmp_path: Path, client: TestClient) -> None:
    assert client.get(f"{HL}/projects/test").status_code == 401
    refused = client.post(f"{HL}/projects", json={"name": 5}, headers=HL_KEY)
    assert refused.status_code == 422
    assert ["body", "name"] in [entry["loc"] for entry in refused.json()["detail"]]
    with TestClient(create_app(["humanloop"], stateless=True, max_body=64)) as small:
        big = small.post(f"{HL}/projects", json={"name": "x" * 200}, headers=HL_KEY)
        assert big.status_code == 413
    with TestClient(create_app([write_pets(tmp_path)], stateless=True, api_keys=["only"])) as keyed:
        assert keyed.get(f"{PREFIX}/pets/p", headers=KEY).status_code == 401
        assert keyed.get(f"{PREFIX}/pets/p", headers={"X-API-Key": "only"}).status_code == 200


def test_a_self_referencing_schema_answers(tmp_path: Path) -> None:
    app = create_app([write_pets(tmp_path)], stateless=True)
    with TestClient(app) as client:
        answer = client.get(f"{PREFIX}/nodes/root", headers=KEY)
    assert answer.status_code == 200
    assert answer.json()["id"] == "root"
    assert valid(app.api("pets"), "getNode", 200, answer.json())


def test_a_synthetic_stream(humanloop: SpecfakeApp, client: TestClient) -> None:
    api = humanloop.api("humanloop")
    answer = client.post(f"{HL}/chat", json={**CHAT, "stream": True}, headers=HL_KEY)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    chunks = events(answer.text)
    assert len(chunks) >= 2
    stream = api.compiled.operation("chats_create").stream
    assert stream is not None and stream.chunk_schema is not None
    validator = api.compiled.validator(stream.chunk_schema)
    assert all(validator.is_valid(chunk) for chunk in chunks)
    assert chunks[-1]["data"][0]["finish_reason"] is not None


def test_a_recorded_stream_is_replayed(client: TestClient) -> None:
    """The shipped short-chat cassette answers its request: no behaviour runs to key it."""
    body = {
        "project": "stateless",
        "model_config": {"model": "gpt-4o-mini", "provider": "openai"},
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "What is the capital of Australia?"},
        ],
        "stream": True,
    }
    answer = client.post(f"{HL}/chat", json=body, headers=HL_KEY)
    assert answer.status_code == 200
    text = "".join(item["output"] for chunk in events(answer.text) for item in chunk["data"])
    assert text.startswith("The capital of Australia is Canberra")


def test_the_official_sdk_against_a_stateless_fake() -> None:
    from humanloop import Humanloop

    humanloop_namespace()  # rebuilds the SDK models that forward-reference missing names
    with LiveServer(create_app(["humanloop"], stateless=True, options={"stream_speed": "0"})) as live:
        hl = Humanloop(api_key="k", host=f"{live.url}{HL}")
        project = hl.projects.get(id="test", validate=True)
        assert project.id == "test"
        created = hl.projects.create(name="sdk-made", validate=True)
        assert created.name == "sdk-made"
        assert hl.projects.get(id=created.id, validate=True).id == created.id

        async def stream() -> list[Any]:
            answer = await hl.chat_stream(**CHAT)
            return [chunk async for chunk in answer.content]

        chunks = asyncio.run(stream())
    assert chunks and chunks[-1]["finish_reason"] is not None
    assert all(chunk["finish_reason"] is None for chunk in chunks[:-1])
    assert all(isinstance(chunk["output"], str) for chunk in chunks)


def test_admin_state_and_reset_work(tmp_path: Path) -> None:
    app = create_app(["humanloop", write_pets(tmp_path)], stateless=True, admin_token="t")
    admin = {"x-specfake-admin-token": "t"}
    with TestClient(app) as client:
        client.post(f"{PREFIX}/pets", json={"name": "Tom", "kind": "cat"}, headers=KEY)
        state = client.get("/__admin/state", headers=admin)
        assert state.status_code == 200
        assert all(part["tenants"] == {} for part in state.json().values())
        assert client.post("/__admin/reset", json={}, headers=admin).status_code == 200
        assert client.get(f"{PREFIX}/pets/x", headers=KEY).status_code == 200
