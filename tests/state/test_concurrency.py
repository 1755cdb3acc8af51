"""64 concurrent clients against a live fake: no write lost, no id handed out twice.

Requests run on the server's one event loop and a handler's reads and writes are synchronous, so
a PATCH's merge is atomic; this proves it from outside, over real sockets, with failing requests
(rolled back) interleaved with good ones, for the memory store and the SQLite one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from specfake.app import create_app
from specfake.server import LiveServer
from specfake.sqlite_store import SqliteStore
from tests.state.helpers import NOTES, PREFIX, key

WRITERS = 64
TENANTS = 4
CREATES = 4
INCREMENTS = 4


async def writer(client: httpx.AsyncClient, number: int, shared: dict[str, str]) -> dict[str, Any]:
    """Creates notes, bumps its own note's revision by read-modify-write, edits a shared note."""
    tenant = f"tenant-{number % TENANTS}"
    headers = key(tenant)
    created: list[str] = []
    for i in range(CREATES):
        answer = await client.post(
            f"{PREFIX}/notes", json={"title": f"w{number}-{i}", "body": "x", "revision": 0}, headers=headers
        )
        assert answer.status_code == 201, answer.text
        created.append(answer.json()["id"])
        # Failing requests in between: each is rolled back while other writers commit.
        bad = await client.patch(f"{PREFIX}/notes/{created[0]}", json={"title": ""}, headers=headers)
        assert bad.status_code == 422
        missing = await client.patch(f"{PREFIX}/notes/no-such-{number}", json={"title": "t"}, headers=headers)
        assert missing.status_code == 404
    own = created[0]
    await client.patch(f"{PREFIX}/notes/{own}", json={"revision": 0}, headers=headers)
    for _ in range(INCREMENTS):
        current = (await client.get(f"{PREFIX}/notes/{own}", headers=headers)).json()["revision"]
        changed = await client.patch(f"{PREFIX}/notes/{own}", json={"revision": current + 1}, headers=headers)
        assert changed.status_code == 200 and changed.json()["revision"] == current + 1
    # Half the writers change the shared note's title, half its body: neither kind may vanish.
    field = "title" if (number // TENANTS) % 2 else "body"
    value = f"{field}-by-{number}"
    edited = await client.patch(f"{PREFIX}/notes/{shared[tenant]}", json={field: value}, headers=headers)
    assert edited.status_code == 200 and edited.json()[field] == value
    return {"tenant": tenant, "created": created, "own": own, "field": field, "value": value}


async def walk(client: httpx.AsyncClient, tenant: str, size: int) -> list[dict[str, Any]]:
    """Every page of the list, first (page 1) to the first empty one."""
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        answer = await client.get(f"{PREFIX}/notes", params={"page": page, "size": size}, headers=key(tenant))
        assert answer.status_code == 200
        body = answer.json()
        if not body["items"]:
            return items
        items.extend(body["items"])
        page += 1


async def run(url: str) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], dict[str, str]]:
    limits = httpx.Limits(max_connections=WRITERS, max_keepalive_connections=WRITERS)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        shared = {}
        for t in range(TENANTS):
            made = await client.post(
                f"{PREFIX}/notes", json={"title": "shared", "body": "shared"}, headers=key(f"tenant-{t}")
            )
            shared[f"tenant-{t}"] = made.json()["id"]
        results = await asyncio.gather(*(writer(client, n, shared) for n in range(WRITERS)))
        lists = {tenant: await walk(client, tenant, size=7) for tenant in shared}
    return list(results), lists, shared


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_no_lost_update_under_64_writers(backend: str, tmp_path: Path) -> None:
    state = tmp_path / "state.db" if backend == "sqlite" else None
    app = create_app([NOTES], state=state)
    with LiveServer(app) as server:
        results, lists, shared = asyncio.run(run(server.url))

    every_id = [note_id for r in results for note_id in r["created"]] + list(shared.values())
    assert len(set(every_id)) == len(every_id) == WRITERS * CREATES + TENANTS  # counters: unique ids
    for tenant, items in lists.items():
        ids = [item["id"] for item in items]
        assert Counter(ids).most_common(1)[0][1] == 1  # each note exactly once across the pages
        mine = {note_id for r in results if r["tenant"] == tenant for note_id in r["created"]}
        assert set(ids) == mine | {shared[tenant]}  # and nothing of another tenant's
        by_id = {item["id"]: item for item in items}
        for r in results:
            if r["tenant"] == tenant:
                assert by_id[r["own"]]["revision"] == INCREMENTS
        final = by_id[shared[tenant]]
        for field in ("title", "body"):
            written = {r["value"] for r in results if r["tenant"] == tenant and r["field"] == field}
            assert final[field] in written  # the last write of each field survived the other's

    if state is not None:
        exported = app.api("notes").store.export()
        app.api("notes").store.close()  # type: ignore[attr-defined]
        reopened = SqliteStore(state, "notes")
        assert reopened.export() == exported  # what the file holds is what was served, in order
        reopened.close()
