"""The stores on their own: undo log, list order, templates, and what SQLite keeps across a reopen."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from specfake.sqlite_store import SqliteStore
from specfake.store import MemoryStore

TEMPLATE = {"project": {"p1": {"id": "p1", "name": "demo"}, "p2": {"id": "p2", "name": "other"}}}


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory":
        yield MemoryStore()
    else:
        sqlite = SqliteStore(tmp_path / "state.db")
        yield sqlite
        sqlite.close()


def keys(store: MemoryStore, tenant: str, kind: str) -> list[str]:
    return [item["id"] for item in store.list(tenant, kind)]


def test_rollback_restores_values_and_list_order(store: MemoryStore) -> None:
    for name in "abcd":
        store.put("t", "k", name, {"id": name})
    store.commit()
    store.put("t", "k", "b", {"id": "b", "changed": True})
    store.delete("t", "k", "c")
    store.put("t", "k", "e", {"id": "e"})
    store.delete("t", "k", "a")
    store.put("t", "k", "a", {"id": "a", "again": True})  # deleted then re-created: now last
    assert keys(store, "t", "k") == ["b", "d", "e", "a"]
    store.rollback()
    assert keys(store, "t", "k") == ["a", "b", "c", "d"]
    assert store.get("t", "k", "b") == {"id": "b"}
    assert store.get("t", "k", "a") == {"id": "a"}


def test_rollback_forgets_a_tenant_made_in_the_failed_request(store: MemoryStore) -> None:
    store.set_template(TEMPLATE)
    assert store.get("new", "project", "p1") is not None  # first touch materialises
    store.put("new", "project", "p3", {"id": "p3"})
    store.rollback()
    assert "new" not in store.export()["tenants"]
    assert keys(store, "new", "project") == ["p1", "p2"]  # made again on next touch


def test_template_gives_every_tenant_its_own_copy(store: MemoryStore) -> None:
    store.set_template(TEMPLATE)
    store.put("a", "project", "p1", {"id": "p1", "name": "renamed by a"})
    store.delete("a", "project", "p2")
    store.put("a", "project", "p9", {"id": "p9"})
    store.commit()
    assert keys(store, "b", "project") == ["p1", "p2"]
    assert store.get("b", "project", "p1") == {"id": "p1", "name": "demo"}
    store.get("b", "project", "p1")["name"] = "in place"  # type: ignore[index]
    assert store.get("c", "project", "p1") == {"id": "p1", "name": "demo"}
    assert TEMPLATE["project"]["p1"]["name"] == "demo"
    assert keys(store, "a", "project") == ["p1", "p9"]
    store.reset("a")
    assert keys(store, "a", "project") == ["p1", "p2"]


def test_counters_only_grow_even_across_reset_and_rollback(store: MemoryStore) -> None:
    seen = [store.next_number("t", "n") for _ in range(3)]
    store.rollback()
    store.reset()
    seen.append(store.next_number("t", "n"))
    assert seen == [1, 2, 3, 4]


def test_load_rejects_malformed_exports_without_changing_anything(store: MemoryStore) -> None:
    store.put("t", "k", "a", {"id": "a"})
    store.commit()
    before = store.export()
    for bad in (
        {"format": "other"},
        {"format": "specfake-state/1", "tenants": []},
        {"format": "specfake-state/1", "tenants": {"t": {"k": {"a": 1}}}},
        {"format": "specfake-state/1", "counters": {"n": "7"}},
        {"format": "specfake-state/1", "template": {"k": []}},
    ):
        with pytest.raises(ValueError):
            store.load(bad)
    assert store.export() == before


def test_export_is_a_copy(store: MemoryStore) -> None:
    store.put("t", "k", "a", {"id": "a", "tags": ["x"]})
    store.commit()
    snapshot = store.export()
    snapshot["tenants"]["t"]["k"]["a"]["tags"].append("y")
    assert store.get("t", "k", "a") == {"id": "a", "tags": ["x"]}


def test_threads_do_not_corrupt_the_store(store: MemoryStore) -> None:
    """The server thread writes while another thread exports: neither raises nor loses a write."""
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(200):
                store.put("t", "k", f"{worker}-{i}", {"id": f"{worker}-{i}"})
                store.commit()
                store.export()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(store.list("t", "k")) == 800


# -- SQLite: what a reopen sees ------------------------------------------------------------------


def reopen(path: Path, old: SqliteStore) -> SqliteStore:
    old.close()
    return SqliteStore(path)


def test_sqlite_reopen_sees_committed_writes_in_list_order(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    for name in "abcd":
        store.put("t", "k", name, {"id": name})
    store.commit()
    store.put("t", "k", "b", {"id": "b", "v": 2})  # update keeps its place
    store.delete("t", "k", "a")
    store.put("t", "k", "a", {"id": "a", "v": 2})  # delete + put in one commit: goes last
    store.put("t", "k", "empty", {})  # an empty object is a value too
    store.commit()
    store.put("t", "k", "uncommitted", {"id": "uncommitted"})  # never committed: gone on reopen
    memory = store.list("t", "k")[:-1]
    store = reopen(path, store)
    assert store.list("t", "k") == memory
    assert [item.get("id") for item in memory] == ["b", "c", "d", "a", None]
    store.close()


def test_sqlite_rollback_writes_nothing_but_keeps_counters(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    store.set_template(TEMPLATE)
    store.next_number("a", "id")
    store.put("t", "project", "p3", {"id": "p3"})
    store.rollback()
    store = reopen(path, store)
    assert store.export()["tenants"] == {}
    assert store.next_number("a", "id") == 2
    store.close()


def test_sqlite_persists_a_tenant_made_from_the_template(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    store.set_template(TEMPLATE)
    store.delete("a", "project", "p1")
    store.commit()
    store = reopen(path, store)  # no template now: what "a" has must come from the file
    assert keys(store, "a", "project") == ["p2"]
    store.close()


def test_sqlite_reset_and_load_rewrite_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    for tenant in ("a", "b"):
        store.put(tenant, "k", "x", {"id": "x", "tenant": tenant})
        store.put(tenant, "k", "y", {"id": "y"})
    store.next_number("a", "id")
    store.commit()
    snapshot = store.export()
    store.reset("a")
    store = reopen(path, store)
    assert set(store.export()["tenants"]) == {"b"}
    store.reset()
    store = reopen(path, store)
    assert store.export()["tenants"] == {}
    assert store.next_number("a", "id") == 2  # reset keeps counters
    store.load(snapshot)
    store = reopen(path, store)
    assert store.export()["tenants"] == snapshot["tenants"]
    assert keys(store, "a", "k") == ["x", "y"]
    assert store.next_number("a", "id") == 2  # the snapshot's counters
    store.close()


def test_sqlite_namespaces_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    one, two = SqliteStore(path, "one"), SqliteStore(path, "two")
    one.put("t", "k", "a", {"id": "a"})
    one.commit()
    two.put("t", "k", "b", {"id": "b"})
    two.commit()
    one.reset()
    one.close()
    two.close()
    assert SqliteStore(path, "one").export()["tenants"] == {}
    assert keys(SqliteStore(path, "two"), "t", "k") == ["b"]


def test_sqlite_bad_file_is_a_clear_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="state file"):
        SqliteStore(tmp_path / "missing-dir" / "s.db")
    not_db = tmp_path / "not.db"
    not_db.write_bytes(b"this is not a database file at all" * 100)
    with pytest.raises(ValueError, match="state file"):
        SqliteStore(not_db)
