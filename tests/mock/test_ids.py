"""Ids are numbered per tenant: deterministic, distinct across tenants, silent about others' writes."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from specfake.app import create_app
from specfake.ids import fresh_id, prefixed_id, seeded_hex
from specfake.sqlite_store import SqliteStore
from specfake.store import MemoryStore
from specfake.tenants import fingerprint

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's note about httpx: the test client works
    from starlette.testclient import TestClient

NOTES = Path(__file__).parents[1] / "state" / "notes.yaml"
EVALUATION = {"account_id": "acc", "application_spec_id": "spec", "name": "n", "description": "d"}


def created(seed: int, keys: list[str]) -> dict[str, list[str]]:
    """Create one SGP evaluation, one Humanloop project and one generic note per key, in order."""
    client = TestClient(create_app(["sgp", "humanloop", str(NOTES)], seed=seed))
    ids: dict[str, list[str]] = {}
    for key in keys:
        sent = ids.setdefault(key, [])
        evaluation = client.post("/sgp/v4/evaluations", json=EVALUATION, headers={"x-api-key": key})
        project = client.post(
            "/humanloop/v4/projects", json={"name": f"p{len(sent)}"}, headers={"X-API-KEY": key}
        )
        note = client.post("/notes/v1/notes", json={"title": "n", "body": "b"}, headers={"X-API-Key": key})
        for answer in (evaluation, project, note):
            assert answer.status_code in (200, 201), answer.text
            sent.append(answer.json()["id"])
    return ids


def test_a_tenant_s_ids_do_not_depend_on_another_s_writes() -> None:
    interleaved = created(5, ["alice", "bob", "alice", "bob", "bob", "alice"])
    alone = created(5, ["alice", "alice", "alice"])
    assert interleaved["alice"] == alone["alice"]  # bob's three creations left no trace in them
    assert not set(interleaved["alice"]) & set(interleaved["bob"])  # same numbers, other ids
    assert created(5, ["bob", "bob", "bob"])["bob"] == interleaved["bob"]
    assert created(6, ["alice"])["alice"] != alone["alice"][:3]  # the seed still decides


def test_counters_are_per_tenant_and_survive_reset_export_and_the_state_file(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    assert [store.next_number(t, "n") for t in ("a", "b", "a", "a", "b")] == [1, 1, 2, 3, 2]
    store.commit()
    store.reset()
    copy = MemoryStore()
    copy.load(store.export())
    assert copy.next_number("a", "n") == 4 and copy.next_number("b", "n") == 3
    store.close()
    store = SqliteStore(tmp_path / "s.db")
    assert store.next_number("a", "n") == 4 and store.next_number("", "n") == 1
    store.close()


def test_the_anonymous_tenant_hashes_as_ids_always_did() -> None:
    """Tenant "" (and the fixture world's one shared numbering) keeps the old hash input."""
    old = hashlib.blake2b(b"7:pr_:1", digest_size=12).hexdigest()
    assert prefixed_id(7, "pr_", 1) == prefixed_id(7, "pr_", 1, "") == f"pr_{old}"
    assert prefixed_id(7, "pr_", 1, fingerprint("k")) != f"pr_{old}"
    shared = MemoryStore(shared_numbering=True)
    assert [shared.next_number(t, "n") for t in ("a", "b")] == [1, 2] and shared.id_scope("a") == ""


def test_a_new_id_never_takes_one_the_template_or_the_tenant_holds() -> None:
    store = MemoryStore()
    first, second = (seeded_hex(1, "k", n, "a") for n in (1, 2))
    store.set_template({"k": {first: {"id": first}}, "other": {"x": {"id": 3}}})

    def make(number: int, scope: str) -> str:
        return seeded_hex(1, "k", number, scope)

    assert fresh_id(store, "a", "k", make) == second  # number 1 would repeat the world's id
    assert fresh_id(store, "a", "k", lambda n, _: n) == 4  # 3 is an integer id of the world
    held = {make(1, "b")}  # the tenant already holds it (an import, a migrated file)
    assert fresh_id(store, "b", "k", make, held.__contains__) == make(2, "b")
