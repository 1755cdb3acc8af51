"""The official Humanloop TypeScript SDK (humanloop@0.5.36) driven against a live fake.

The flows live in tests/sdk_ts/flows.mjs (plain JavaScript, one JSON line per step). This test installs
the pinned SDK from tests/sdk_ts/package-lock.json when needed, so `make test` works on a fresh
clone; only a machine without node/npm skips it. A failed install fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from specfake.contracts.harness.pytest_plugin import RunningFake

pytestmark = pytest.mark.sdk

FLOWS_DIR = Path(__file__).resolve().parents[1] / "sdk_ts"
LOCKFILE = FLOWS_DIR / "package-lock.json"
# npm rewrites this hidden lockfile on every install: its age says whether node_modules is current.
INSTALLED_MARKER = FLOWS_DIR / "node_modules" / ".package-lock.json"
INSTALL_TIMEOUT_S = 300
FLOWS_TIMEOUT_S = 90


def ensure_installed(npm: str) -> None:
    """`npm ci` when node_modules is missing or older than the committed lockfile."""
    if INSTALLED_MARKER.exists() and INSTALLED_MARKER.stat().st_mtime >= LOCKFILE.stat().st_mtime:
        return
    cmd = [npm, "ci", "--prefix", str(FLOWS_DIR), "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(cmd)}` did not finish in {INSTALL_TIMEOUT_S} s")
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def _steps(stdout: str) -> list[dict[str, Any]]:
    lines = []
    for raw in stdout.splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return [line for line in lines if isinstance(line, dict) and "step" in line]


def test_typescript_sdk_flows(served: RunningFake) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed to run the TypeScript SDK flows (tests/sdk_ts)")
    ensure_installed(npm)

    env = {
        **os.environ,
        "SPECFAKE_URL": served.base_url("humanloop"),
        "SPECFAKE_API_KEY": "ts-key-1",
        "SPECFAKE_OTHER_API_KEY": "ts-key-2",
    }
    try:
        done = subprocess.run(
            [node, str(FLOWS_DIR / "flows.mjs")],
            capture_output=True,
            text=True,
            env=env,
            timeout=FLOWS_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"flows.mjs did not finish in {FLOWS_TIMEOUT_S} s; output so far:\n{exc.stdout}")

    steps = _steps(done.stdout)
    failed = [s for s in steps if not s.get("ok")]
    report = "\n".join(json.dumps(s)[:1500] for s in failed)
    assert steps, f"flows.mjs printed no steps (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    assert not failed, f"{len(failed)} of {len(steps)} TypeScript SDK steps failed:\n{report}"
    assert done.returncode == 0, f"flows.mjs exited {done.returncode}:\n{done.stderr}"
