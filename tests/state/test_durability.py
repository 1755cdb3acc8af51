"""``specfake serve --state FILE``: every acknowledged write survives a SIGKILL.

A real server process takes writes from several client threads; it is killed (SIGKILL, no
shutdown code runs) while they are in flight, then started again on the same file. Everything a
client saw acknowledged must be readable as acknowledged, lists must hold it, and ids created
after the restart must be new (the id counters were persisted with the data).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from specfake.server import free_port
from tests.spawned import answering
from tests.state.helpers import NOTES, PREFIX, key

SPECFAKE = str(Path(sys.executable).with_name("specfake"))
CLIENTS = 6
TENANTS = ("alice", "bob")
SGP_BODY = {"account_id": "a", "application_spec_id": "s", "name": "e", "description": "d", "type": "default"}


@contextmanager
def serve(state: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``specfake serve`` on a free 127.0.0.1 port; killed and reaped whatever happens."""
    port = free_port()
    command = [SPECFAKE, "serve", "--port", str(port), "--state", str(state), *args]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        answering(base, proc)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


@dataclass
class Ledger:
    """What clients saw: acknowledged bodies, and writes whose answer never came (in flight)."""

    acked: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # id -> (tenant, body)
    deleted: dict[str, str] = field(default_factory=dict)  # id -> tenant, delete acknowledged
    in_flight: dict[str, list[Any]] = field(default_factory=dict)  # id -> bodies that may have landed
    lost_creates: int = 0  # creates sent but never answered
    lock: threading.Lock = field(default_factory=threading.Lock)


def client_loop(base: str, number: int, ledger: Ledger, stop: threading.Event) -> None:
    """Create notes; every third, change the previous one; every seventh, delete one."""
    tenant = TENANTS[number % len(TENANTS)]
    mine: list[str] = []
    with httpx.Client(base_url=base + PREFIX, headers=key(tenant), timeout=5) as client:
        sequence = 0
        while not stop.is_set():
            sequence += 1
            try:
                if sequence % 3 == 0 and mine:
                    target = mine[-1]
                    patch = {"title": f"c{number}-edit{sequence}", "tags": [str(sequence)]}
                    with ledger.lock:
                        ledger.in_flight.setdefault(target, []).append({**ledger.acked[target][1], **patch})
                    answer = client.patch(f"/notes/{target}", json=patch)
                    assert answer.status_code == 200, answer.text
                    with ledger.lock:
                        ledger.acked[target] = (tenant, answer.json())
                        ledger.in_flight.pop(target, None)
                elif sequence % 7 == 0 and len(mine) > 1:
                    target = mine.pop(0)
                    with ledger.lock:
                        ledger.in_flight.setdefault(target, []).append(None)
                    assert client.delete(f"/notes/{target}").status_code == 204
                    with ledger.lock:
                        ledger.deleted[target] = tenant
                        del ledger.acked[target]
                        ledger.in_flight.pop(target, None)
                else:
                    body = {"title": f"c{number}-n{sequence}", "body": "durable " * 8, "pinned": False}
                    try:
                        answer = client.post("/notes", json=body)
                    except httpx.TransportError:
                        with ledger.lock:
                            ledger.lost_creates += 1
                        raise
                    assert answer.status_code == 201, answer.text
                    note = answer.json()
                    with ledger.lock:
                        ledger.acked[note["id"]] = (tenant, note)
                    mine.append(note["id"])
            except httpx.TransportError:
                return  # the server is gone


def walk(client: httpx.Client, path: str, tenant: str = "", size: str = "size") -> list[dict[str, Any]]:
    """Every page from page 1 to the first empty one (both contracts count pages from 1)."""
    items: list[dict[str, Any]] = []
    page = 1
    headers = key(tenant) if tenant else {}
    while True:
        body = client.get(path, params={"page": page, size: 10}, headers=headers).json()
        if not body["items"]:
            return items
        items.extend(body["items"])
        page += 1


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "notes.db"
    ledger = Ledger()
    stop = threading.Event()
    with serve(state, "--contract", str(NOTES), "--empty") as (proc, base):
        threads = [
            threading.Thread(target=client_loop, args=(base, n, ledger, stop), daemon=True)
            for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 8
        while len(ledger.acked) < 400 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)  # mid-load: no shutdown, no flush
        proc.wait(timeout=10)
        for thread in threads:
            thread.join(timeout=10)
        stop.set()
    acked_before = dict(ledger.acked)
    assert len(acked_before) >= 100, f"only {len(acked_before)} writes acknowledged before the kill"

    with serve(state, "--contract", str(NOTES), "--empty") as (_, base), httpx.Client(base_url=base) as c:
        present, extra = check_after_restart(c, ledger, acked_before)
    print(
        f"\ndurability: {len(acked_before)} notes acknowledged (+{len(ledger.deleted)} deletes) "
        f"before SIGKILL, {present} present after restart; "
        f"{ledger.lost_creates} creates in flight at the kill, {extra} of them landed"
    )


def check_after_restart(
    client: httpx.Client, ledger: Ledger, acked: dict[str, tuple[str, dict[str, Any]]]
) -> tuple[int, int]:
    """Every acknowledged write is there as acknowledged; returns (present, unacknowledged extras)."""
    unsure = {i for i, bodies in ledger.in_flight.items() if None in bodies}  # a delete in flight
    present = 0
    for note_id, (tenant, body) in acked.items():
        answer = client.get(f"{PREFIX}/notes/{note_id}", headers=key(tenant))
        if note_id in unsure and answer.status_code == 404:
            continue
        assert answer.status_code == 200, f"acknowledged note {note_id} lost"
        assert answer.json() == body or answer.json() in ledger.in_flight.get(note_id, []), note_id
        present += 1
    for note_id, tenant in ledger.deleted.items():
        assert client.get(f"{PREFIX}/notes/{note_id}", headers=key(tenant)).status_code == 404
    listed: set[str] = set()
    for tenant in TENANTS:
        ids = [item["id"] for item in walk(client, f"{PREFIX}/notes", tenant)]
        assert len(ids) == len(set(ids))
        listed |= set(ids)
        assert {i for i, (t, _) in acked.items() if t == tenant} - unsure <= set(ids)
    extra = listed - set(acked)
    assert len(extra) <= ledger.lost_creates  # only creates whose answer the kill swallowed
    # New ids after the restart: the counters came back with the data.
    after = set()
    for n in range(50):
        made = client.post(f"{PREFIX}/notes", json={"title": f"after {n}", "body": "x"}, headers=key("alice"))
        after.add(made.json()["id"])
    assert len(after) == 50
    assert not after & (listed | set(ledger.deleted))
    return present, len(extra)


def test_sgp_world_and_writes_survive_sigkill(tmp_path: Path) -> None:
    """The SGP behaviour with the demo world: the tenant's copy of the world persists too."""
    state = tmp_path / "sgp.db"
    path = "/sgp/v4/evaluations"
    headers = {"x-api-key": "carol"}
    created: dict[str, dict[str, Any]] = {}
    with serve(state, "--contract", "sgp") as (proc, base), httpx.Client(base_url=base, headers=headers) as c:
        world = walk(c, path, size="limit")
        assert len(world) >= 5  # the demo world, materialised for this key
        archived = world[0]["id"]
        assert c.delete(f"{path}/{archived}").status_code == 200
        for n in range(40):
            answer = c.post(path, json={**SGP_BODY, "name": f"e{n}"})
            assert answer.status_code == 200
            created[answer.json()["id"]] = answer.json()
        os.kill(proc.pid, signal.SIGKILL)
    with serve(state, "--contract", "sgp") as (_, base), httpx.Client(base_url=base, headers=headers) as c:
        for evaluation_id, body in created.items():
            assert c.get(f"{path}/{evaluation_id}").json() == body
        listed = walk(c, path, size="limit")
        assert [e["id"] for e in listed] == [e["id"] for e in world[1:]] + list(created)
        assert c.get(f"{path}/{archived}").status_code == 404  # still archived
        new = c.post(path, json=SGP_BODY).json()
        assert new["id"] not in created and new["id"] not in {e["id"] for e in world}
