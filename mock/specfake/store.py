"""The state store: one small interface, partitioned by tenant (API key).

Every method is synchronous and touches only in-process data, so under asyncio no other request
can interleave with a handler: a read-modify-write inside one call is atomic. ``MountedApi``
brackets each call with ``commit()`` (success) or ``rollback()`` (an error answer), so a request
that fails half-way leaves nothing behind. Behaviours must ``put`` a value again after changing
it in place; that is what ``SqliteStore`` persists.

New tenants start from a *template* (the fixture world), copied on first touch, so every API key
sees the demo data and none sees another's changes.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Protocol

Tenants = dict[str, dict[str, dict[str, dict[str, Any]]]]
FORMAT = "specfake-state/1"
_MISSING = object()
_NEW_TENANT = "\0new-tenant"  # undo-log kind: the tenant was materialised in this transaction


class StoreWriteError(Exception):
    """A commit the store could not make durable: nothing of the transaction was kept (the caller
    rolls memory back), and the request answers ``status`` with ``detail`` in the API's shape."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


class SnapshotError(ValueError):
    """A state export that cannot be loaded; ``loc`` is the path of the offending part."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(f"{'.'.join(loc)}: {message}" if loc else message)
        self.loc = loc
        self.message = message


class Store(Protocol):
    def get(self, tenant: str, kind: str, key: str) -> dict[str, Any] | None: ...
    def put(self, tenant: str, kind: str, key: str, value: dict[str, Any]) -> None: ...
    def delete(self, tenant: str, kind: str, key: str) -> bool: ...
    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]: ...
    def next_number(self, tenant: str, name: str) -> int: ...
    def id_scope(self, tenant: str) -> str: ...
    def reserved(self, key: str) -> bool: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def reset(self, tenant: str | None = None) -> None: ...
    def set_template(self, template: dict[str, dict[str, dict[str, Any]]] | None) -> None: ...
    def export(self) -> dict[str, Any]: ...
    def load(self, snapshot: dict[str, Any]) -> None: ...


class MemoryStore:
    """``{tenant: {kind: {key: value}}}``; insertion order gives stable list order.

    Requests all run on the server's event-loop thread, but the store is built on another one
    (``LiveServer``) and tests and the admin API read it from theirs: one re-entrant lock keeps
    every method whole.
    """

    def __init__(self, *, shared_numbering: bool = False) -> None:
        """``shared_numbering``: one set of counters for every tenant, hashed as tenant "" (the
        fixture world's builder: one tenant, whose ids must stay what they always were)."""
        self._data: Tenants = {}
        # ``name`` for tenant "", ``tenant/name`` for the others (see `next_number`).
        self._counters: dict[str, int] = {}
        self._shared_numbering = shared_numbering
        self._template: dict[str, dict[str, dict[str, Any]]] | None = None
        self._reserved: frozenset[str] = frozenset()  # the template's keys and ids
        # (tenant, kind, key, previous value or _MISSING, position the key held before a delete)
        self._undo: list[tuple[str, str, str, Any, int]] = []
        self._lock = threading.RLock()

    # -- reads -----------------------------------------------------------------------------------

    def _tenant(self, tenant: str) -> dict[str, dict[str, dict[str, Any]]]:
        data = self._data.get(tenant)
        if data is None:
            data = copy.deepcopy(self._template) if self._template else {}
            self._data[tenant] = data
            # Undone like a write: a request that fails leaves no half-made tenant behind (the
            # SQLite store would otherwise hold it in memory but never on disk).
            self._undo.append((tenant, _NEW_TENANT, "", _MISSING, -1))
            self._materialised(tenant, data)
        return data

    def _materialised(self, tenant: str, data: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Hook: a tenant was created from the template."""

    def get(self, tenant: str, kind: str, key: str) -> dict[str, Any] | None:
        # The hot read. A known tenant is read without the lock: each dict read is atomic, and
        # every write happens on the event-loop thread, so no reader sees half a write.
        data = self._data.get(tenant)
        if data is None:
            with self._lock:
                data = self._tenant(tenant)
        bucket = data.get(kind)
        return None if bucket is None else bucket.get(key)

    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._tenant(tenant).get(kind, {}).values())

    # -- writes ----------------------------------------------------------------------------------

    def put(self, tenant: str, kind: str, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            data = self._data.get(tenant)
            bucket = (data if data is not None else self._tenant(tenant)).get(kind)
            if bucket is None:
                bucket = self._data[tenant][kind] = {}
            self._undo.append((tenant, kind, key, bucket.get(key, _MISSING), -1))
            bucket[key] = value

    def delete(self, tenant: str, kind: str, key: str) -> bool:
        with self._lock:
            bucket = self._tenant(tenant).get(kind, {})
            if key not in bucket:
                return False
            position = list(bucket).index(key)  # a rollback puts it back where lists saw it
            self._undo.append((tenant, kind, key, bucket.pop(key), position))
            return True

    def id_scope(self, tenant: str) -> str:
        """The tenant ``tenant``'s ids are numbered and hashed for ("" with shared numbering)."""
        return "" if self._shared_numbering else tenant

    def counter_key(self, tenant: str, name: str) -> str:
        """``name`` for tenant "" (a store's counters as they were before tenants had their own),
        ``tenant/name`` else: a flat name, so exports and the state file keep their shape."""
        scope = self.id_scope(tenant)
        return f"{scope}/{name}" if scope else name

    def next_number(self, tenant: str, name: str) -> int:
        """``tenant``'s counter ``name``: never repeats for the life of the store, resets and
        rollbacks included (ids are drawn from it); one tenant's count says nothing of another's."""
        key = self.counter_key(tenant, name)
        with self._lock:
            value = self._counters.get(key, 0) + 1
            self._counters[key] = value
            return value

    def reserved(self, key: str) -> bool:
        """Whether ``key`` is a key or id of the template: no tenant may draw it as a new id."""
        return key in self._reserved

    def commit(self) -> None:
        if not self._undo:  # a read-only request: nothing to forget
            return
        with self._lock:
            self._undo.clear()

    def rollback(self) -> None:
        """Undo the puts and deletes since the last commit (in-place edits are the caller's).

        Steps are undone newest first, each exactly (a deleted key returns to its old place), so
        the store, its list order included, is what it was at the last commit.
        """
        with self._lock:
            for tenant, kind, key, previous, position in reversed(self._undo):
                if kind == _NEW_TENANT:
                    self._data.pop(tenant, None)
                    continue
                bucket = self._data.setdefault(tenant, {}).setdefault(kind, {})
                if previous is _MISSING:
                    bucket.pop(key, None)
                elif position < 0 or key in bucket:
                    bucket[key] = previous
                else:
                    items = list(bucket.items())
                    items.insert(position, (key, previous))
                    bucket.clear()
                    bucket.update(items)
            self._undo.clear()

    # -- whole-store operations ------------------------------------------------------------------

    def reset(self, tenant: str | None = None) -> None:
        """Forget a tenant (or all): it starts again from the template on next touch.

        Counters are kept, so ids handed out before a reset are never handed out again.
        """
        with self._lock:
            if tenant is None:
                self._data.clear()
            else:
                self._data.pop(tenant, None)
            self._undo.clear()

    def set_template(self, template: dict[str, dict[str, dict[str, Any]]] | None) -> None:
        with self._lock:
            self._template = template
            self._reserved = _keys_of(template)

    def export(self) -> dict[str, Any]:
        with self._lock:
            state = {"counters": self._counters, "template": self._template, "tenants": self._data}
            return {"format": FORMAT, **copy.deepcopy(state)}

    def load(self, snapshot: dict[str, Any]) -> None:
        """Replace everything with an ``export()``; a malformed one raises ValueError, changing nothing."""
        check_snapshot(snapshot)
        snapshot = copy.deepcopy(snapshot)
        with self._lock:
            self._counters = {name: int(value) for name, value in (snapshot.get("counters") or {}).items()}
            self._template = snapshot.get("template")
            self._reserved = _keys_of(self._template)
            self._data = dict(snapshot.get("tenants") or {})
            self._undo.clear()


def _keys_of(template: dict[str, dict[str, dict[str, Any]]] | None) -> frozenset[str]:
    """Every key of ``template`` and every ``id`` its values carry, as text."""
    keys: set[str] = set()
    for bucket in (template or {}).values():
        for key, value in bucket.items():
            keys.add(str(key))
            if isinstance(value, dict) and isinstance(value.get("id"), (str, int)):
                keys.add(str(value["id"]))
    return frozenset(keys)


def check_snapshot(snapshot: Any) -> None:
    """Raise `SnapshotError` (a ValueError) naming the first part of ``snapshot`` that is not a
    state export.

    Checked before anything is replaced, so a bad import cannot leave a store half-loaded or
    holding shapes that would turn later requests into 500s.
    """
    if not isinstance(snapshot, dict) or snapshot.get("format") != FORMAT:
        raise SnapshotError((), f"not a specfake state export (format {FORMAT})")
    counters = snapshot.get("counters")
    counters = {} if counters is None else counters
    if not isinstance(counters, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63 for v in counters.values()
    ):
        raise SnapshotError(("counters",), "expected {name: non-negative 64-bit integer}")
    if snapshot.get("template") is not None:
        _check_tenant(("template",), snapshot["template"])
    tenants = snapshot.get("tenants")
    tenants = {} if tenants is None else tenants
    if not isinstance(tenants, dict):
        raise SnapshotError(("tenants",), "expected {tenant: {kind: {key: object}}}")
    for tenant, data in tenants.items():
        _check_tenant(("tenants", tenant), data)


def _check_tenant(where: tuple[str, ...], data: Any) -> None:
    if not isinstance(data, dict):
        raise SnapshotError(where, "expected {kind: {key: object}}")
    for kind, bucket in data.items():
        if not isinstance(bucket, dict):
            raise SnapshotError((*where, kind), "expected {key: object}")
        for key, value in bucket.items():
            if not isinstance(value, dict):
                raise SnapshotError((*where, kind, key), "expected an object")
