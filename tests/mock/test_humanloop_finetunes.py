"""The finetunes behaviour (only the TypeScript SDK calls it), through plain HTTP: every answer is
checked against the contract's TS-derived models."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from specfake.app import create_app
from specfake.tenants import fingerprint
from specfake.validation import SchemaValidator, registry_for

BASE = "/humanloop/v4"
KEY = {"X-API-KEY": "k"}


def valid(client: TestClient, model: Any, body: Any) -> Any:
    api = client.app.api("humanloop")  # type: ignore[attr-defined]
    validator = SchemaValidator(api.contract, model, registry_for(api.contract))
    assert validator.errors(body, []) == []
    return body


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_create_list_summary_update() -> None:
    client = TestClient(create_app(["humanloop"], seed=3))
    project = client.post(f"{BASE}/projects", json={"name": "ft"}, headers=KEY).json()
    dataset = client.post(
        f"{BASE}/projects/{project['id']}/datasets", json={"name": "d", "description": "x"}, headers=KEY
    ).json()
    points = [{"inputs": {"q": "hi"}, "target": {"output": "hello"}}, {"inputs": {"q": "no target"}}]
    client.post(f"{BASE}/datasets/{dataset['id']}/datapoints", json=points, headers=KEY)
    request = {"name": "ft-1", "dataset_id": dataset["id"], "config": {"base_model": "gpt-3.5-turbo"}}

    summary = client.post(f"{BASE}/projects/{project['id']}/finetunes/summary", json=request, headers=KEY)
    assert summary.status_code == 200
    valid(client, ref("FinetuneDataSummary"), summary.json())
    assert summary.json()["data_count"] == 1
    assert summary.json()["error_count"] == 1
    assert summary.json()["token_count"] > 0
    assert summary.json()["dataset_id"] == dataset["id"]

    created = client.post(
        f"{BASE}/projects/{project['id']}/finetunes", json={**request, "metadata": {"a": 1}}, headers=KEY
    )
    assert created.status_code == 200
    finetune = valid(client, ref("FinetuneResponse"), created.json())
    assert finetune["id"].startswith("ft_")
    assert finetune["status"] == "pending"
    assert finetune["dataset"]["id"] == dataset["id"]
    assert finetune["config"] == {"base_model": "gpt-3.5-turbo"}
    assert finetune["metadata"] == {"a": 1}
    assert finetune["data_summary"] == summary.json()

    listed = client.get(f"{BASE}/projects/{project['id']}/finetunes", headers=KEY).json()
    valid(client, {"type": "array", "items": ref("FinetuneResponse")}, listed)
    assert [f["id"] for f in listed] == [finetune["id"]]
    foreign = client.get(f"{BASE}/projects/{project['id']}/finetunes", headers={"X-API-KEY": "other"})
    assert foreign.status_code == 404

    updated = client.patch(
        f"{BASE}/finetunes/{finetune['id']}",
        params={"project_id": project["id"]},
        json={"name": "renamed"},
        headers=KEY,
    )
    assert updated.status_code == 200
    assert valid(client, ref("FinetuneResponse"), updated.json())["name"] == "renamed"
    listed = client.get(f"{BASE}/projects/{project['id']}/finetunes", headers=KEY).json()
    assert listed[0]["name"] == "renamed"


def test_bad_input_names_the_field() -> None:
    client = TestClient(create_app(["humanloop"], seed=3))
    p1 = client.post(f"{BASE}/projects", json={"name": "a"}, headers=KEY).json()
    p2 = client.post(f"{BASE}/projects", json={"name": "b"}, headers=KEY).json()
    foreign = client.post(
        f"{BASE}/projects/{p2['id']}/datasets", json={"name": "d", "description": "x"}, headers=KEY
    ).json()
    config = {"base_model": "m"}
    url = f"{BASE}/projects/{p1['id']}/finetunes"

    missing = client.post(url, json={"name": "x", "dataset_id": "evts_nope", "config": config}, headers=KEY)
    assert missing.status_code == 404
    assert "dataset_id" in missing.json()["detail"]
    wrong = client.post(url, json={"name": "x", "dataset_id": foreign["id"], "config": config}, headers=KEY)
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "dataset_id"]
    no_config = client.post(url, json={"name": "x", "dataset_id": foreign["id"]}, headers=KEY)
    assert no_config.status_code == 422
    assert any(e["loc"][-1] == "config" for e in no_config.json()["detail"])

    made = client.post(
        f"{BASE}/projects/{p2['id']}/finetunes",
        json={"name": "x", "dataset_id": foreign["id"], "config": config},
        headers=KEY,
    ).json()
    other_project = client.patch(
        f"{BASE}/finetunes/{made['id']}", params={"project_id": p1["id"]}, json={"name": "y"}, headers=KEY
    )
    assert other_project.status_code == 404
    unknown = client.patch(f"{BASE}/finetunes/ft_nope", params={"project_id": p1["id"]}, json={}, headers=KEY)
    assert unknown.status_code == 404


def test_a_deleted_projects_finetunes_go_with_it() -> None:
    app = create_app(["humanloop"], seed=3)
    client = TestClient(app)
    project = client.post(f"{BASE}/projects", json={"name": "gone"}, headers=KEY).json()
    dataset = client.post(
        f"{BASE}/projects/{project['id']}/datasets", json={"name": "d", "description": "x"}, headers=KEY
    ).json()
    body = {"name": "ft", "dataset_id": dataset["id"], "config": {"base_model": "m"}}
    made = client.post(f"{BASE}/projects/{project['id']}/finetunes", json=body, headers=KEY).json()
    assert client.delete(f"{BASE}/projects/{project['id']}", headers=KEY).status_code in (200, 204)
    assert app.api("humanloop").store.get(fingerprint("k"), "finetunes", made["id"]) is None
