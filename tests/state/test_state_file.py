"""``--state FILE``: ours is marked, others' are refused untouched, an older specfake's is migrated."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from specfake.server import free_port
from specfake.sqlite_store import APPLICATION_ID, SCHEMA_VERSION, SqliteStore, inspect_state_file
from specfake.tenants import fingerprint

# The layout an older specfake wrote (unmarked, tenants named by raw API key), in WAL as it left it.
OLD_SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE items (
    ns TEXT NOT NULL, tenant TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (ns, tenant, kind, key)
);
CREATE TABLE tenants (ns TEXT NOT NULL, tenant TEXT NOT NULL, PRIMARY KEY (ns, tenant));
CREATE TABLE counters (ns TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (ns, name));
"""


def make_db(path: Path, script: str) -> None:
    db = sqlite3.connect(path)
    db.executescript(script)
    db.close()  # the last connection checkpoints and removes the -wal and -shm files


def folder(path: Path) -> dict[str, bytes]:
    """Every file of the folder and its bytes: what a refusal must leave exactly as it was."""
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def marks(path: Path) -> tuple[int, int]:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return db.execute("PRAGMA application_id").fetchone()[0], db.execute(
            "PRAGMA user_version"
        ).fetchone()[0]
    finally:
        db.close()


@pytest.mark.parametrize("start", ["missing", "zero bytes", "sqlite without tables"])
def test_a_missing_or_empty_file_is_adopted_and_marked(tmp_path: Path, start: str) -> None:
    path = tmp_path / "state.db"
    if start == "zero bytes":
        path.write_bytes(b"")
    elif start == "sqlite without tables":
        make_db(path, "CREATE TABLE t (x); DROP TABLE t;")
        assert path.stat().st_size > 0
    store = SqliteStore(path)
    store.put("t_0123456789abcdef", "k", "x", {"id": "x"})
    store.commit()
    store.close()
    assert marks(path) == (APPLICATION_ID, SCHEMA_VERSION)
    assert inspect_state_file(path) == "use"
    store = SqliteStore(path)
    assert store.get("t_0123456789abcdef", "k", "x") == {"id": "x"}
    store.close()


FOREIGN = {
    "a database with an items table": (
        "PRAGMA journal_mode=WAL; CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); "
        "INSERT INTO items (name) VALUES ('theirs');",
        "another program's database.*table items",
    ),
    "another application's id": ("PRAGMA application_id = 1196444237; CREATE TABLE gpkg (x);", "0x4750"),
    "a newer specfake's file": (
        f"PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION + 1}; "
        + OLD_SCHEMA,
        rf"newer specfake \(schema {SCHEMA_VERSION + 1}\); this one reads schema {SCHEMA_VERSION}",
    ),
    "an older specfake's file with a mark": (
        f"PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 0; CREATE TABLE x (y);",
        "older specfake",
    ),
    "our tables plus another": (OLD_SCHEMA + "CREATE TABLE extra (x);", "table extra"),
    "no tables but a user_version": ("PRAGMA user_version = 7;", "user_version 7"),
}


@pytest.mark.parametrize("case", sorted(FOREIGN))
def test_a_foreign_database_is_refused_byte_for_byte_unchanged(tmp_path: Path, case: str) -> None:
    script, reason = FOREIGN[case]
    path = tmp_path / "theirs.db"
    make_db(path, script)
    before = folder(tmp_path)
    with pytest.raises(ValueError, match=reason) as refused:
        SqliteStore(path)
    assert str(path) in str(refused.value)
    assert folder(tmp_path) == before  # no table added, no WAL switch, no -wal or -shm file


@pytest.mark.parametrize("content", [b"not a database at all\n" * 10, b"SQLite format 3\x00short"])
def test_a_file_that_is_not_sqlite_is_refused_unchanged(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not an SQLite database"):
        SqliteStore(path)
    assert folder(tmp_path) == {"notes.txt": content}


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a regular file"):
        SqliteStore(tmp_path)


def test_an_older_specfake_file_is_migrated_tenants_renamed_to_fingerprints(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    already = fingerprint("already-migrated-key")
    rows = [("default", "specfake-key-1"), ("default", ""), ("default", already), ("other", "specfake-key-1")]
    make_db(path, OLD_SCHEMA)
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO tenants VALUES (?, ?)", rows)
    db.executemany(
        "INSERT INTO items VALUES (?, ?, 'k', ?, ?)",
        [(ns, tenant, f"x-{ns}", b'{"id": "x"}') for ns, tenant in rows],
    )
    db.execute("INSERT INTO counters VALUES ('default', 'k', 41)")
    db.commit()
    db.close()
    assert inspect_state_file(path) == "migrate"

    store = SqliteStore(path)
    renamed = fingerprint("specfake-key-1")
    assert set(store.export()["tenants"]) == {renamed, "", already}
    assert store.get(renamed, "k", "x-default") == {"id": "x"}
    assert store.export()["counters"] == {"k": 41}  # the old shared counter: tenant ""'s now
    assert store.next_number("", "k") == 42
    store.commit()
    store.close()
    assert marks(path) == (APPLICATION_ID, SCHEMA_VERSION)
    assert inspect_state_file(path) == "use"
    db = sqlite3.connect(path)
    names = {t for (t,) in db.execute("SELECT tenant FROM tenants UNION SELECT tenant FROM items")}
    db.close()
    assert names == {renamed, "", already}  # every namespace, no raw key left in the file
    other = SqliteStore(path, "other")
    assert other.get(renamed, "k", "x-other") == {"id": "x"}
    other.close()


def test_the_cli_exits_2_with_the_reason_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    make_db(path, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);")
    before = folder(tmp_path)
    specfake = Path(sys.executable).with_name("specfake")
    command = [str(specfake), "serve", "--state", str(path), "--port", str(free_port()), "--empty"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"state file {path}: another program's database" in done.stderr
    assert "Traceback" not in done.stderr
    assert folder(tmp_path) == before
