"""`specfake serve` as a real process on a free port, called over HTTP, always stopped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from specfake.server import free_port
from tests.spawned import answering

SPECFAKE = str(Path(sys.executable).with_name("specfake"))


def test_serve_starts_and_answers() -> None:
    """Start-up time is measured by ``make bench`` (cold start), not here: a timed unit test fails
    on a loaded CI machine (it took 4 s once, with the suite's other servers busy)."""
    port = free_port()
    proc = subprocess.Popen(
        [SPECFAKE, "serve", "--port", str(port), "--api-key", "key-a"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        ready = answering(base, proc)
        assert ready.status_code == 200
        names = {c["name"] for c in ready.json()["contracts"]}
        assert names == {"humanloop", "sgp"}
        key = {"X-API-KEY": "key-a"}
        created = httpx.post(base + "/humanloop/v4/projects", json={"name": "demo"}, headers=key)
        assert created.status_code == 201
        got = httpx.get(base + f"/humanloop/v4/projects/{created.json()['id']}", headers=key)
        assert got.json()["name"] == "demo"
        assert httpx.get(base + "/humanloop/v4/projects", headers={"X-API-KEY": "nope"}).status_code == 401
        assert httpx.get(base + "/sgp/openapi.json").json()["openapi"].startswith("3.1")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "http://127.0.0.1:" in out and "/humanloop/v4" in out
