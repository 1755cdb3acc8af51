"""Prism and WireMock for the side-by-side rows: installed once into ``build/bench-tools`` from npm
(``@stoplight/prism-cli``; ``wiremock``, which bundles the standalone jar), reused afterwards.

Each needs its runtime (node for both installs, java to run WireMock); when one is missing or the
install fails, the bench prints why and skips that row instead of failing the run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "build" / "bench-tools"
PACKAGES = ("@stoplight/prism-cli@5.16.0", "wiremock@3.13.2")
PRISM = TOOLS / "node_modules" / ".bin" / "prism"
WIREMOCK_DIR = TOOLS / "node_modules" / "wiremock" / "build"


@dataclass
class Tool:
    name: str
    command: list[str] | None  # None: skipped, ``note`` says why
    note: str = ""


def _install() -> str:
    """npm install into the local folder once; '' on success, else the reason."""
    if PRISM.exists() and any(WIREMOCK_DIR.glob("*.jar")):
        return ""
    if shutil.which("npm") is None:
        return "npm not found"
    TOOLS.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(TOOLS),
            "--no-audit",
            "--no-fund",
            "--loglevel",
            "error",
            *PACKAGES,
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return f"npm install failed: {done.stderr.strip().splitlines()[-1:]}"
    return ""


def prism(contract: Path, port: int) -> Tool:
    if shutil.which("node") is None:
        return Tool("Prism", None, "node not found: Prism row skipped")
    failed = _install()
    if failed or not PRISM.exists():
        return Tool("Prism", None, f"Prism row skipped ({failed or 'prism not installed'})")
    command = [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "error", str(contract)]
    return Tool("Prism", command)


def wiremock(port: int, root: Path, stubs: list[dict[str, object]]) -> Tool:
    """WireMock standalone answering ``stubs`` (WireMock mappings), journal and request logging off."""
    if shutil.which("java") is None:
        return Tool("WireMock", None, "java not found: WireMock row skipped")
    failed = _install()
    jars = sorted(WIREMOCK_DIR.glob("*.jar"))
    if failed or not jars:
        return Tool("WireMock", None, f"WireMock row skipped ({failed or 'jar not installed'})")
    mappings = root / "mappings"
    mappings.mkdir(parents=True, exist_ok=True)
    (mappings / "bench.json").write_text(json.dumps({"mappings": stubs}))
    command = ["java", "-jar", str(jars[-1]), "--port", str(port), "--bind-address", "127.0.0.1"]
    command += [
        "--root-dir",
        str(root),
        "--no-request-journal",
        "--disable-request-logging",
        "--disable-banner",
    ]
    return Tool("WireMock", command)
