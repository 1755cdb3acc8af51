"""The fake itself as the server under test: ``specfake check server`` without ``--base-url``.

The fake runs in a child process (its own core and GIL, as a real server would), empty, on a free
127.0.0.1 port, with one known key so schemathesis' ignored-auth check has something to refuse;
it is always stopped, whatever the check does.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from specfake.contract import Contract, load_contract
from specfake.server import free_port

SELF_CHECK_KEY = "specfake-check-key"
START_TIMEOUT = 20.0


@contextmanager
def fake_server(contract: str | Path | Contract, seed: int = 0) -> Iterator[tuple[str, str]]:
    """Serve ``contract`` from a child ``specfake serve``; yields (base URL, API key)."""
    loaded = contract if isinstance(contract, Contract) else load_contract(contract)
    source = str(loaded.source) if loaded.source else loaded.name
    port = free_port()
    command = [
        sys.executable, "-m", "specfake.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--contract", source, "--empty", "--api-key", SELF_CHECK_KEY, "--seed", str(seed),
        "--stream-speed", "0",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}{loaded.prefix}"
    try:
        _wait_ready(process, f"{base}/openapi.json")
        yield base, SELF_CHECK_KEY
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def _wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"the fake did not start (exit {process.returncode}): {error.strip()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the fake did not answer {url} within {START_TIMEOUT:g}s")
