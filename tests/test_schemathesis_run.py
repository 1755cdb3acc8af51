"""schemathesis, from outside, against the running fake: every phase and every check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from specfake.app import create_app
from specfake.server import LiveServer

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture(scope="module")
def server() -> Any:
    app = create_app(seed=0, api_keys=["k1", "k2"], options={"stream_speed": "0"})
    with LiveServer(app) as live:
        yield live


@pytest.mark.parametrize(("prefix", "header"), [("/humanloop/v4", "X-API-KEY"), ("/sgp", "x-api-key")])
def test_schemathesis_finds_nothing(server: LiveServer, prefix: str, header: str) -> None:
    base = server.url + prefix
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{base}/openapi.json",
            "--url",
            base,
            "-H",
            f"{header}: k1",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "-n",
            "10",
            "--seed",
            "7",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Stateful" in result.stdout
