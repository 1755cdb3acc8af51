"""``--state FILE``: the memory store, written through to SQLite at every commit.

Reads stay in memory (the hot path never touches the disk); each request's writes go to the file
in one transaction before the answer is sent, so a write the client saw acknowledged survives a
SIGKILL. WAL with ``synchronous=NORMAL`` is durable against a process crash (not against power
loss, which a test fake need not survive). Several contracts may share one file: rows carry the
contract's name as a namespace.

Our files are marked (``PRAGMA application_id`` and the schema version in ``user_version``), and a
file is inspected read-only before anything is written to it: a missing or empty one is adopted,
ours is used, an older specfake's unmarked one is migrated, and anything else (another program's
database, not SQLite at all, a schema this version cannot read) is refused untouched.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from specfake.store import MemoryStore, Stored, StoreWriteError
from specfake.tenants import fingerprint, is_fingerprint

log = logging.getLogger("specfake")

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


APPLICATION_ID = int.from_bytes(b"SPFK", "big")  # PRAGMA application_id of every file we write
SCHEMA_VERSION = 1  # PRAGMA user_version: the tables above, tenants named by fingerprint
# An older specfake's unmarked file: exactly these tables and columns (schema 0, raw-key tenants).
_OLD_TABLES = {
    "items": ("ns", "tenant", "kind", "key", "value"),
    "tenants": ("ns", "tenant"),
    "counters": ("ns", "name", "value"),
}
_MAGIC = b"SQLite format 3\x00"


class SqliteStore(MemoryStore):
    # A tenant is copied from the template at first touch (tables of references, no value
    # copied) and written whole, as before: what is on disk never depends on the template.
    copy_on_write = False

    def __init__(self, path: str | Path, namespace: str = "default") -> None:
        super().__init__()
        self.path = Path(path)
        self.namespace = namespace
        verdict = inspect_state_file(self.path)  # read-only: a refused file is never written
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:  # a missing folder, a file we may not open
            raise ValueError(f"state file {self.path}: {exc}") from exc
        try:
            if verdict == "adopt":  # marked before WAL: the mark lands in the file's own header
                self._transaction(
                    f"PRAGMA application_id = {APPLICATION_ID}",
                    f"PRAGMA user_version = {SCHEMA_VERSION}",
                    *[s for s in _SCHEMA.split(";") if s.strip()],
                )
            elif verdict == "migrate":
                self._migrate()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            self._db.close()
            raise ValueError(f"state file {self.path}: {exc}") from exc
        # Writes since the last commit: the latest value per key (None: deleted), the keys
        # deleted at some point (their rows are dropped first, so a delete followed by a put
        # lands at the end of the list on disk as it does in memory), new tenants, counters.
        self._pending: dict[tuple[str, str, str], Stored | None] = {}  # as memory holds it
        self._pending_deleted: set[tuple[str, str, str]] = set()
        self._pending_tenants: set[str] = set()
        self._pending_counters: set[str] = set()
        try:
            self._read()
        except (sqlite3.Error, orjson.JSONDecodeError) as exc:
            self._db.close()
            raise ValueError(f"state file {self.path}: unreadable ({exc})") from exc

    def _transaction(self, *statements: str, renames: Sequence[tuple[str, str]] = ()) -> None:
        """``statements`` (fixed text, never input), then ``renames`` of tenants, in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for table in ("items", "tenants") if renames else ():
                db.executemany(f"UPDATE {table} SET tenant = ? WHERE tenant = ?", renames)  # fixed names
            for statement in statements:
                db.execute(statement)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        """An older specfake's file: tenants named by raw API key become their fingerprints and
        the file is marked, in one transaction (one-way: an older specfake will refuse it)."""
        db = self._db
        names = {t for (t,) in db.execute("SELECT tenant FROM tenants UNION SELECT tenant FROM items")}
        renames = [(fingerprint(t), t) for t in sorted(names) if t and not is_fingerprint(t)]
        taken = names & {new for new, _ in renames}
        if taken:
            raise sqlite3.IntegrityError(
                f"cannot rename tenants to fingerprints already present: {sorted(taken)}"
            )
        self._transaction(
            f"PRAGMA application_id = {APPLICATION_ID}",
            f"PRAGMA user_version = {SCHEMA_VERSION}",
            renames=renames,
        )
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the mark reaches the file's header now
        if renames:
            log.warning(
                "specfake: state file %s: %d tenant(s) renamed to key fingerprints", self.path, len(renames)
            )

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

    def _materialised(self, tenant: str, data: dict[str, dict[str, Stored]]) -> None:
        self._pending_tenants.add(tenant)
        for kind, bucket in data.items():
            for key, value in bucket.items():
                self._pending[(tenant, kind, key)] = value

    def put(self, tenant: str, kind: str, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            super().put(tenant, kind, key, value)
            self._pending[(tenant, kind, key)] = self._data[tenant][kind][key]

    def delete(self, tenant: str, kind: str, key: str) -> bool:
        with self._lock:
            if not super().delete(tenant, kind, key):
                return False
            self._evicted_key(tenant, kind, key)
            return True

    def _evicted_key(self, tenant: str, kind: str, key: str) -> None:
        self._pending[(tenant, kind, key)] = None
        self._pending_deleted.add((tenant, kind, key))

    def next_number(self, tenant: str, name: str) -> int:
        with self._lock:
            value = super().next_number(tenant, name)
            self._pending_counters.add(self.counter_key(tenant, name))
            return value

    def commit(self) -> None:
        """One SQLite transaction per request, before its answer is sent. The disk is written
        first: when it refuses (a value orjson cannot encode, such as an integer past 64 bits: a
        422; the database failing: a 503), `StoreWriteError` is raised with the undo log and the
        pending writes kept, so the caller's ``rollback()`` puts memory back as the disk has it."""
        with self._lock:
            if self._over:  # evictions are deletes of this transaction, written with it
                self._evict()
            if not (self._pending or self._pending_tenants or self._pending_counters):
                super().commit()
                return
            ns = self.namespace
            upserts: list[tuple[str, str, str, str, bytes]] = []
            for (t, k, key), v in self._pending.items():
                if v is None:
                    continue
                try:
                    upserts.append((ns, t, k, key, self._json(v)))
                except orjson.JSONEncodeError as exc:  # never half-written: nothing is sent yet
                    raise _unstorable(f"The state file cannot store this value ({exc})") from None
            try:
                self._write(
                    tenants=[(ns, t) for t in self._pending_tenants],
                    deletes=[(ns, t, k, key) for t, k, key in self._pending_deleted],
                    upserts=upserts,
                    counters=[(ns, name, self._counters[name]) for name in self._pending_counters],
                )
            except UnicodeError:  # a key SQLite cannot encode (a lone surrogate): the value's fault
                raise _unstorable("The state file cannot store a key of this request (not UTF-8)") from None
            except sqlite3.Error as exc:  # the disk's fault (full, locked, read-only): try again later
                message = f"The state file could not be written ({exc}): nothing was stored"
                raise StoreWriteError(503, message) from None
            super().commit()
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
            # Counters only grow: a number handed out and rolled back is simply never reused. A
            # disk that refuses them now keeps them pending for the next commit; a rollback
            # never raises (it runs while an error answer is being made).
            try:
                self.commit()
            except StoreWriteError as exc:
                log.warning("specfake: state file %s: counters not written yet: %s", self.path, exc.detail)

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
                    (ns, tenant, kind, key, self._json(value))
                    for tenant, kinds in self._data.items()
                    for kind, bucket in kinds.items()
                    for key, value in bucket.items()
                ],
                counters=[(ns, name, value) for name, value in self._counters.items()],
                wipe="",
            )

    def _json(self, stored: Stored) -> bytes:
        """A stored value's JSON (plain JSON as it is); orjson.JSONEncodeError if it has none."""
        if type(stored) is bytes and stored[:1] == b"{":
            return stored
        return orjson.dumps(self._codec.decode(stored))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _unstorable(reason: str) -> StoreWriteError:
    """The 422 for a value the state file cannot hold (FastAPI's list shape, as both APIs answer)."""
    message = f"{reason}: nothing was stored"
    return StoreWriteError(422, [{"loc": ["body"], "msg": message, "type": "unstorable"}])


def inspect_state_file(path: Path) -> str:
    """What to do with ``path``: "adopt" (missing, empty, or SQLite holding nothing), "use" (ours,
    this schema) or "migrate" (an older specfake's unmarked file); else ValueError saying why.

    Read-only, and leaves no trace: the header is read first, and SQLite opens the file
    ``immutable`` (no lock, no -wal or -shm side file) unless a -wal with content already exists."""
    if not path.exists():
        return "adopt"
    if not path.is_file():
        raise _refused(path, "not a regular file")
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise _refused(path, f"cannot be read ({exc.strerror})") from None
    if not head:
        return "adopt"
    if len(head) < 100 or not head.startswith(_MAGIC):
        raise _refused(path, "not an SQLite database, so not a specfake state file")
    wal = Path(f"{path}-wal")
    live_wal = wal.is_file() and wal.stat().st_size > 0
    uri = path.resolve().as_uri() + ("?mode=ro" if live_wal else "?mode=ro&immutable=1")
    try:
        db = sqlite3.connect(uri, uri=True)
        try:
            application_id, version = (
                db.execute(f"PRAGMA {p}").fetchone()[0] for p in ("application_id", "user_version")
            )
            objects = db.execute(
                "SELECT type, name FROM sqlite_master WHERE substr(name, 1, 7) != 'sqlite_'"
            ).fetchall()
            tables = {name for kind, name in objects if kind == "table"}
            columns = {
                t: tuple(r[1] for r in db.execute(f'PRAGMA table_info("{t}")'))
                for t in tables & set(_OLD_TABLES)
            }
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise _refused(path, f"an SQLite file that cannot be read ({exc})") from None
    if application_id == APPLICATION_ID:
        if version == SCHEMA_VERSION:
            return "use"
        age = "newer" if version > SCHEMA_VERSION else "older"
        raise _refused(
            path, f"written by a {age} specfake (schema {version}); this one reads schema {SCHEMA_VERSION}"
        )
    if application_id != 0:
        raise _refused(path, f"another program's database (SQLite application_id {application_id:#010x})")
    if not objects:
        if version != 0:
            raise _refused(path, f"another program's database (SQLite user_version {version})")
        return "adopt"
    if version == 0 and len(objects) == len(_OLD_TABLES) and columns == _OLD_TABLES:
        return "migrate"
    shown = ", ".join(f"{kind} {name}" for kind, name in sorted(objects)[:5])
    more = f" and {len(objects) - 5} more" if len(objects) > 5 else ""
    raise _refused(path, f"another program's database, not a specfake state file (it holds {shown}{more})")


def _refused(path: Path, why: str) -> ValueError:
    return ValueError(
        f"state file {path}: {why}; it was left unchanged (name a new file, or remove this one)"
    )
