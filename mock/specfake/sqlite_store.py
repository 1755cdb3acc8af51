"""``--state FILE``: the memory store, written through to SQLite at every commit.

Reads stay in memory (the hot path never touches the disk); each request's writes go to the file
in one transaction before the answer is sent, so a write the client saw acknowledged survives a
SIGKILL. WAL with ``synchronous=NORMAL`` is durable against a process crash (not against power
loss, which a test fake need not survive). Several contracts may share one file: rows carry the
contract's name as a namespace.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from specfake.store import MemoryStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    ns TEXT NOT NULL, tenant TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (ns, tenant, kind, key)
);
CREATE TABLE IF NOT EXISTS tenants (ns TEXT NOT NULL, tenant TEXT NOT NULL, PRIMARY KEY (ns, tenant));
CREATE TABLE IF NOT EXISTS counters (
    ns TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (ns, name)
);
"""


class SqliteStore(MemoryStore):
    def __init__(self, path: str | Path, namespace: str = "default") -> None:
        super().__init__()
        self.path = Path(path)
        self.namespace = namespace
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._pending: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self._pending_tenants: set[str] = set()
        self._pending_counters: set[str] = set()
        self._read()

    def _read(self) -> None:
        ns = (self.namespace,)
        for (tenant,) in self._db.execute("SELECT tenant FROM tenants WHERE ns = ? ORDER BY rowid", ns):
            self._data.setdefault(tenant, {})
        for tenant, kind, key, value in self._db.execute(
            "SELECT tenant, kind, key, value FROM items WHERE ns = ? ORDER BY rowid", ns
        ):
            self._data.setdefault(tenant, {}).setdefault(kind, {})[key] = orjson.loads(value)
        for name, value in self._db.execute("SELECT name, value FROM counters WHERE ns = ?", ns):
            self._counters[name] = int(value)

    # -- writes are remembered, then flushed at commit -------------------------------------------

    def _materialised(self, tenant: str, data: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._pending_tenants.add(tenant)
        for kind, bucket in data.items():
            for key, value in bucket.items():
                self._pending[(tenant, kind, key)] = value

    def put(self, tenant: str, kind: str, key: str, value: dict[str, Any]) -> None:
        super().put(tenant, kind, key, value)
        self._pending[(tenant, kind, key)] = value

    def delete(self, tenant: str, kind: str, key: str) -> bool:
        if not super().delete(tenant, kind, key):
            return False
        self._pending[(tenant, kind, key)] = None
        return True

    def next_number(self, name: str) -> int:
        value = super().next_number(name)
        self._pending_counters.add(name)
        return value

    def commit(self) -> None:
        super().commit()
        if not (self._pending or self._pending_tenants or self._pending_counters):
            return
        ns = self.namespace
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT OR IGNORE INTO tenants (ns, tenant) VALUES (?, ?)",
                [(ns, t) for t in self._pending_tenants],
            )
            upserts = [(ns, t, k, key, orjson.dumps(v)) for (t, k, key), v in self._pending.items() if v]
            deletes = [(ns, t, k, key) for (t, k, key), v in self._pending.items() if v is None]
            db.executemany(
                "INSERT INTO items (ns, tenant, kind, key, value) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (ns, tenant, kind, key) DO UPDATE SET value = excluded.value",
                upserts,
            )
            db.executemany("DELETE FROM items WHERE ns = ? AND tenant = ? AND kind = ? AND key = ?", deletes)
            db.executemany(
                "INSERT INTO counters (ns, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT (ns, name) DO UPDATE SET value = excluded.value",
                [(ns, name, self._counters[name]) for name in self._pending_counters],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._pending.clear()
        self._pending_tenants.clear()
        self._pending_counters.clear()

    def rollback(self) -> None:
        super().rollback()
        self._pending.clear()
        self._pending_tenants.clear()
        # Counters only grow: a number handed out and rolled back is simply never reused.
        self.commit()

    def _rewrite(self) -> None:
        """Replace the file's rows for this namespace with memory (reset and import)."""
        ns = (self.namespace,)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        for table in ("items", "tenants", "counters"):
            db.execute(f"DELETE FROM {table} WHERE ns = ?", ns)  # fixed table names, not input
        db.execute("COMMIT")
        self._pending = {
            (tenant, kind, key): value
            for tenant, kinds in self._data.items()
            for kind, bucket in kinds.items()
            for key, value in bucket.items()
        }
        self._pending_tenants = set(self._data)
        self._pending_counters = set(self._counters)
        self.commit()

    def reset(self, tenant: str | None = None) -> None:
        super().reset(tenant)
        self._rewrite()

    def load(self, snapshot: dict[str, Any]) -> None:
        super().load(snapshot)
        self._rewrite()

    def close(self) -> None:
        self._db.close()
