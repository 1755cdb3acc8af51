"""Fixture worlds: the seeded demo data every tenant starts from.

A fixtures directory holds, per contract, either ``<contract>.yaml`` (a scenario, see
``specfake.scenario``) or ``<contract>.json`` (a state export from ``GET /__admin/state``). A
scenario is run once at start-up through a private copy of the contract's API, on a stepping
clock and a seed of its own, so the same seed gives a byte-identical world and ids created later
never collide with the world's. The result becomes the store's template: each API key gets its
own copy on first use.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Coroutine
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from specfake.clock import SteppingClock
from specfake.scenario import Scenario, ScenarioError
from specfake.store import MemoryStore

WORLD_TENANT = "fixtures"
WORLD_START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def builtin_fixtures() -> Path:
    return Path(str(resources.files("specfake.fixtures") / "world"))


def world_seed(seed: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"specfake-world:{seed}".encode(), digest_size=8).digest(), "big")


def build_world(api: Any, directory: Path, seed: int) -> dict[str, Any] | None:
    """The template for ``api``'s contract from ``directory``, or None if it has none."""
    from specfake.api import MountedApi

    name = api.contract.name
    snapshot = directory / f"{name}.json"
    if snapshot.is_file():
        exported = orjson.loads(snapshot.read_bytes())
        tenants = exported.get("tenants") or {}
        template = exported.get("template") or tenants.get(WORLD_TENANT) or next(iter(tenants.values()), None)
        return template
    script = directory / f"{name}.yaml"
    if not script.is_file():
        return None
    store = MemoryStore(shared_numbering=True)  # one tenant: its ids hash as they always did
    builder = MountedApi(
        api.contract,
        seed=world_seed(seed),
        store=store,
        clock=SteppingClock(WORLD_START + timedelta(days=seed % 97)),
        # The world is the fake's own making: no recording answers it, no upstream is asked.
        options=dataclasses.replace(api.context.options, replay="off", upstream=None, record_missing=None),
    )
    run_now(Scenario.from_file(script).run(builder, WORLD_TENANT, seed))
    world: dict[str, Any] = store.export()["tenants"].get(WORLD_TENANT, {})
    return world


def run_now(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits on I/O (in-process calls), even inside a running loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise ScenarioError("a scenario step waited on I/O; fixture scenarios must not stream")
