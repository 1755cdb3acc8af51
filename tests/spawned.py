"""Waiting for a fake started as a real process (``specfake serve`` / ``mock``) to answer."""

from __future__ import annotations

import subprocess
import time

import httpx


def answering(
    base: str, process: subprocess.Popen[str] | subprocess.Popen[bytes], seconds: float = 30
) -> httpx.Response:
    """The first answer of ``base + "/"``; AssertionError if the process exits or ``seconds`` pass
    first (start-up time is a bench figure, so the bound is only there to end a hung test)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return httpx.get(base + "/", timeout=0.5)
        except httpx.TransportError:
            assert process.poll() is None, f"the fake exited with {process.returncode}"
            assert time.monotonic() < deadline, f"the fake did not answer within {seconds:g} s"
            time.sleep(0.02)
