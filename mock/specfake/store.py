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
from typing import Any, Protocol

Tenants = dict[str, dict[str, dict[str, dict[str, Any]]]]
_MISSING = object()


class Store(Protocol):
    def get(self, tenant: str, kind: str, key: str) -> dict[str, Any] | None: ...
    def put(self, tenant: str, kind: str, key: str, value: dict[str, Any]) -> None: ...
    def delete(self, tenant: str, kind: str, key: str) -> bool: ...
    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]: ...
    def next_number(self, name: str) -> int: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def reset(self, tenant: str | None = None) -> None: ...
    def set_template(self, template: dict[str, dict[str, dict[str, Any]]] | None) -> None: ...
    def export(self) -> dict[str, Any]: ...
    def load(self, snapshot: dict[str, Any]) -> None: ...


class MemoryStore:
    """``{tenant: {kind: {key: value}}}``; insertion order gives stable list order."""

    def __init__(self) -> None:
        self._data: Tenants = {}
        self._counters: dict[str, int] = {}
        self._template: dict[str, dict[str, dict[str, Any]]] | None = None
        self._undo: list[tuple[str, str, str, Any]] = []

    # -- reads -----------------------------------------------------------------------------------

    def _tenant(self, tenant: str) -> dict[str, dict[str, dict[str, Any]]]:
        data = self._data.get(tenant)
        if data is None:
            data = copy.deepcopy(self._template) if self._template else {}
            self._data[tenant] = data
            self._materialised(tenant, data)
        return data

    def _materialised(self, tenant: str, data: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Hook: a tenant was created from the template."""

    def get(self, tenant: str, kind: str, key: str) -> dict[str, Any] | None:
        return self._tenant(tenant).get(kind, {}).get(key)

    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]:
        return list(self._tenant(tenant).get(kind, {}).values())

    # -- writes ----------------------------------------------------------------------------------

    def put(self, tenant: str, kind: str, key: str, value: dict[str, Any]) -> None:
        bucket = self._tenant(tenant).setdefault(kind, {})
        self._undo.append((tenant, kind, key, bucket.get(key, _MISSING)))
        bucket[key] = value

    def delete(self, tenant: str, kind: str, key: str) -> bool:
        bucket = self._tenant(tenant).get(kind, {})
        previous = bucket.pop(key, _MISSING)
        if previous is _MISSING:
            return False
        self._undo.append((tenant, kind, key, previous))
        return True

    def next_number(self, name: str) -> int:
        """A counter that never repeats for the life of the store (ids are drawn from it)."""
        value = self._counters.get(name, 0) + 1
        self._counters[name] = value
        return value

    def commit(self) -> None:
        self._undo.clear()

    def rollback(self) -> None:
        """Undo the puts and deletes since the last commit (in-place edits are the caller's)."""
        for tenant, kind, key, previous in reversed(self._undo):
            bucket = self._data.setdefault(tenant, {}).setdefault(kind, {})
            if previous is _MISSING:
                bucket.pop(key, None)
            else:
                bucket[key] = previous
        self._undo.clear()

    # -- whole-store operations ------------------------------------------------------------------

    def reset(self, tenant: str | None = None) -> None:
        """Forget a tenant (or all): it starts again from the template on next touch."""
        if tenant is None:
            self._data.clear()
        else:
            self._data.pop(tenant, None)
        self._undo.clear()

    def set_template(self, template: dict[str, dict[str, dict[str, Any]]] | None) -> None:
        self._template = template

    def export(self) -> dict[str, Any]:
        return copy.deepcopy(
            {
                "format": "specfake-state/1",
                "counters": self._counters,
                "template": self._template,
                "tenants": self._data,
            }
        )

    def load(self, snapshot: dict[str, Any]) -> None:
        if snapshot.get("format") != "specfake-state/1":
            raise ValueError("not a specfake state export (format specfake-state/1)")
        snapshot = copy.deepcopy(snapshot)
        self._counters = dict(snapshot.get("counters") or {})
        self._template = snapshot.get("template")
        self._data = dict(snapshot.get("tenants") or {})
        self._undo.clear()
