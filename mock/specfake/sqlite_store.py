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
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:  # a missing folder, or a file that is not SQLite
            raise ValueError(f"state file {self.path}: {exc}") from exc
        # Writes since the last commit: the latest value per key (None: deleted), the keys
        # deleted at some point (their rows are dropped first, so a delete followed by a put
        # lands at the end of the list on disk as it does in memory), new tenants, counters.
        self._pending: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self._pending_deleted: set[tuple[str, str, str]] = set()
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
        with self._lock:
            super().put(tenant, kind, key, value)
            self._pending[(tenant, kind, key)] = value

    def delete(self, tenant: str, kind: str, key: str) -> bool:
        with self._lock:
            if not super().delete(tenant, kind, key):
                return False
            self._pending[(tenant, kind, key)] = None
            self._pending_deleted.add((tenant, kind, key))
            return True

    def next_number(self, name: str) -> int:
        with self._lock:
            value = super().next_number(name)
            self._pending_counters.add(name)
            return value

    def commit(self) -> None:
        """One SQLite transaction per request, before its answer is sent."""
        with self._lock:
            super().commit()
            if not (self._pending or self._pending_tenants or self._pending_counters):
                return
            ns = self.namespace
            self._write(
                tenants=[(ns, t) for t in self._pending_tenants],
                deletes=[(ns, t, k, key) for t, k, key in self._pending_deleted],
                upserts=[
                    (ns, t, k, key, orjson.dumps(v))
                    for (t, k, key), v in self._pending.items()
                    if v is not None
                ],
                counters=[(ns, name, self._counters[name]) for name in self._pending_counters],
            )
            self._clear_pending()

    def _write(
        self,
        *,
        tenants: list[tuple[str, str]],
        deletes: list[tuple[str, str, str, str]],
        upserts: list[tuple[str, str, str, str, bytes]],
        counters: list[tuple[str, str, int]],
        wipe: str | None = None,
    ) -> None:
        """One transaction: optionally drop every row of tenant ``wipe`` ("" = all), then write."""
        db = self._db
        ns = self.namespace
        db.execute("BEGIN IMMEDIATE")
        try:
            if wipe == "":
                for table in ("items", "tenants", "counters"):
                    db.execute(f"DELETE FROM {table} WHERE ns = ?", (ns,))  # fixed names, not input
            elif wipe is not None:
                db.execute("DELETE FROM items WHERE ns = ? AND tenant = ?", (ns, wipe))
                db.execute("DELETE FROM tenants WHERE ns = ? AND tenant = ?", (ns, wipe))
            db.executemany("INSERT OR IGNORE INTO tenants (ns, tenant) VALUES (?, ?)", tenants)
            db.executemany("DELETE FROM items WHERE ns = ? AND tenant = ? AND kind = ? AND key = ?", deletes)
            db.executemany(
                "INSERT INTO items (ns, tenant, kind, key, value) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (ns, tenant, kind, key) DO UPDATE SET value = excluded.value",
                upserts,
            )
            db.executemany(
                "INSERT INTO counters (ns, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT (ns, name) DO UPDATE SET value = excluded.value",
                counters,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _clear_pending(self) -> None:
        self._pending.clear()
        self._pending_deleted.clear()
        self._pending_tenants.clear()
        self._pending_counters.clear()

    def rollback(self) -> None:
        with self._lock:
            super().rollback()
            self._pending.clear()
            self._pending_deleted.clear()
            self._pending_tenants.clear()
            # Counters only grow: a number handed out and rolled back is simply never reused.
            self.commit()

    def reset(self, tenant: str | None = None) -> None:
        """Forget a tenant (or all) on disk too; counters stay, so ids are never reused."""
        with self._lock:
            super().reset(tenant)
            self._clear_pending()
            ns = self.namespace
            self._write(
                tenants=[],
                deletes=[],
                upserts=[],
                counters=[(ns, name, value) for name, value in self._counters.items()],
                wipe="" if tenant is None else tenant,
            )

    def load(self, snapshot: dict[str, Any]) -> None:
        """Replace this namespace's rows with the snapshot, in list order, in one transaction."""
        with self._lock:
            super().load(snapshot)
            self._clear_pending()
            ns = self.namespace
            self._write(
                tenants=[(ns, tenant) for tenant in self._data],
                deletes=[],
                upserts=[
                    (ns, tenant, kind, key, orjson.dumps(value))
                    for tenant, kinds in self._data.items()
                    for kind, bucket in kinds.items()
                    for key, value in bucket.items()
                ],
                counters=[(ns, name, value) for name, value in self._counters.items()],
                wipe="",
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
