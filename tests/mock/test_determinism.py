"""Answers depend only on the seed and the requests: created ids and generated data."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import httpx

from specfake.app import create_app
from specfake.contract import load_contract
from specfake.generate import GenContext, SchemaCompiler
from specfake.server import free_port
from tests.spawned import answering

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx: the test client works
    from starlette.testclient import TestClient

KEY = {"X-API-KEY": "k"}


def first_project_id(seed: int) -> str:
    client = TestClient(create_app(["humanloop"], seed=seed))
    return client.post("/humanloop/v4/projects", json={"name": "n"}, headers=KEY).json()["id"]


def test_created_ids_follow_the_seed() -> None:
    assert first_project_id(1) == first_project_id(1)
    assert first_project_id(1) != first_project_id(2)


def test_generated_data_follows_the_seed() -> None:
    contract = load_contract("humanloop")
    maker = SchemaCompiler(lambda ref: contract.resolve({"$ref": ref})).compile(
        {"$ref": "#/components/schemas/ProjectResponse"}
    )
    assert maker(GenContext(5)) == maker(GenContext(5))
    assert maker(GenContext(5)) != maker(GenContext(6))


# -- a whole run, twice: byte-identical ----------------------------------------------------------

RULES = """
- id: sometimes
  operation: evaluations_retrieve
  fault: status=503
  probability: 0.5
- id: slowly
  operation: logs_get
  fault: latency=1..30ms
"""
KEYS = {"x-api-key": "k1"}


def _served(port: int, rules: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "specfake.cli", "serve", "--port", str(port), "--seed", "7",
        "--clock", "stepping:2026-03-01T09:00:00Z/0.25", "--api-key", "k1", "--api-key", "k2",
        "--faults", str(rules), "--scenario", "paging-under-concurrent-writes",
        "--rate-limit", "40/min", "--stream-speed", "0",
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _session(base: str) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    """One fixed sequence of requests across both contracts: every answer's status, headers, bytes."""
    out: list[tuple[int, list[tuple[str, str]], bytes]] = []
    with httpx.Client(base_url=base, headers=KEYS, timeout=10) as http:

        def send(method: str, path: str, **kwargs: Any) -> Any:
            answer = http.request(method, path, **kwargs)
            out.append((answer.status_code, sorted(answer.headers.items()), answer.content))
            return answer.json() if answer.headers.get("content-type") == "application/json" else None

        project = send("POST", "/humanloop/v4/projects", json={"name": "rerun"})
        config = {"model": "gpt-4o", "prompt_template": "Say {{what}}"}
        log = {"project": "rerun", "config": config, "output": "o"}
        logged = send("POST", "/humanloop/v4/logs", json=log)
        send("GET", f"/humanloop/v4/logs/{logged['id']}")
        chat = {"project": "rerun", "model_config": config, "inputs": {"what": "hi"}, "messages": []}
        send("POST", "/humanloop/v4/chat", json=chat)
        send("POST", "/humanloop/v4/chat", json={**chat, "stream": True, "num_samples": 2})
        send("GET", "/humanloop/v4/logs", params={"project_id": project["id"]})
        send("GET", "/humanloop/v4/projects", headers={"X-Specfake-Fault": "latency=5..20ms"})
        body = {"account_id": "acc", "application_spec_id": "spec", "name": "n", "description": "d"}
        created = send("POST", "/sgp/v4/evaluations", json=body)
        for _ in range(6):
            send("GET", f"/sgp/v4/evaluations/{created['id']}")
        send("GET", "/sgp/v4/evaluations", params={"limit": 2, "page": 2})
        send("DELETE", f"/sgp/v4/evaluations/{created['id']}")
        send("GET", "/sgp/v4/evaluations/missing")
    return out


def test_a_run_replayed_on_a_fresh_server_answers_the_same_bytes(tmp_path: Path) -> None:
    """Same seed, clock, fixtures, rules and scenario, same requests: the same bytes, in two
    processes (so with two hash seeds), faults drawn with a probability included."""
    rules = tmp_path / "faults.yaml"
    rules.write_text(RULES)
    runs = []
    for _ in range(2):
        port = free_port()
        process = _served(port, rules)
        try:
            base = f"http://127.0.0.1:{port}"
            answering(base, process)
            runs.append(_session(base))
        finally:
            process.terminate()
            process.wait(timeout=10)
    first, second = runs
    assert [status for status, _, _ in first].count(503) not in (0, 6)  # the probability did draw
    assert len(first) == len(second) == 17
    for number, (one, two) in enumerate(zip(first, second, strict=True)):
        assert one == two, f"answer {number + 1} differs"
