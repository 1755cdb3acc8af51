"""The state store: one small interface, partitioned by tenant (API key).

In memory by default. Every method is synchronous and touches only dicts, so under asyncio no
other request can interleave with it: a read-modify-write inside one call is atomic.
"""

from __future__ import annotations

from typing import Any, Protocol


class Store(Protocol):
    def get(self, tenant: str, kind: str, key: str) -> dict[str, Any] | None: ...
    def put(self, tenant: str, kind: str, key: str, value: dict[str, Any]) -> None: ...
    def delete(self, tenant: str, kind: str, key: str) -> bool: ...
    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]: ...
    def reset(self, tenant: str | None = None) -> None: ...


class MemoryStore:
    """``{tenant: {kind: {key: value}}}``; insertion order gives stable list order."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}

    def get(self, tenant: str, kind: str, key: str) -> dict[str, Any] | None:
        return self._data.get(tenant, {}).get(kind, {}).get(key)

    def put(self, tenant: str, kind: str, key: str, value: dict[str, Any]) -> None:
        self._data.setdefault(tenant, {}).setdefault(kind, {})[key] = value

    def delete(self, tenant: str, kind: str, key: str) -> bool:
        return self._data.get(tenant, {}).get(kind, {}).pop(key, None) is not None

    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]:
        return list(self._data.get(tenant, {}).get(kind, {}).values())

    def reset(self, tenant: str | None = None) -> None:
        if tenant is None:
            self._data.clear()
        else:
            self._data.pop(tenant, None)
