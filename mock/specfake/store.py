"""The state store: one small interface, partitioned by tenant (API key).

Every method is synchronous and touches only in-process data, so under asyncio no other request
can interleave with a handler: a read-modify-write inside one call is atomic. ``MountedApi``
brackets each call with ``commit()`` (success) or ``rollback()`` (an error answer), so a request
that fails half-way leaves nothing behind. Behaviours must ``put`` a value again after changing
it in place; that is what ``SqliteStore`` persists.

New tenants start from a *template* (the fixture world), so every API key sees the demo data and
none sees another's changes. A new tenant copies nothing: it reads the template until it first
writes a kind, which copies that kind's bucket alone (values are immutable bytes, so the copy is a
table of references).

Values of capped (high-volume) kinds and of the template are kept compact (``_Codec``): orjson
bytes (of what differs from the first value of the same shape, for capped kinds), decoded afresh on
every read, so a caller's dict is its own and changing it changes nothing until it is ``put``.
Other kinds keep a tenant's dict itself, as before (the hot paths read them several times).
High-volume kinds may be capped per tenant (``set_retention``, oldest evicted first, counted in
``stats()``), the number of tenants may be capped (``max_tenants``: `TenantLimitError`), and a
kind may be grouped by a field (``set_grouping``) so ``count`` and ``window`` page a group in O(page).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any, Protocol

import orjson

Tenants = dict[str, dict[str, dict[str, dict[str, Any]]]]
Values = list[dict[str, Any]]  # (named here: inside the classes, ``list`` is the method)
FORMAT = "specfake-state/1"
_MISSING = object()
_NEW_TENANT = "\0new-tenant"  # undo-log kind: the tenant was materialised in this transaction
_NEW_KIND = "\0new-kind"  # undo-log kind: a kind was copied from the template (key = the kind)
DEFAULT_RETENTION = 100_000  # items per tenant of each capped kind
DEFAULT_MAX_TENANTS = 10_000
EXPORT_CHUNK = 64  # items per ("items", ...) part of `MemoryStore.export_parts`
# ("header", {...}) | ("tenant", name) | ("kind", name) | ("items", [(key, value), ...])
ExportPart = tuple[str, Any]


class StoreWriteError(Exception):
    """A commit the store could not make durable: nothing of the transaction was kept (the caller
    rolls memory back), and the request answers ``status`` with ``detail`` in the API's shape."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail


class TenantLimitError(StoreWriteError):
    """A new API key past ``max_tenants``: a 403 in the API's error shape (not a 429: waiting does
    not free a slot; ``POST /__admin/reset`` or a restart does)."""

    def __init__(self, limit: int) -> None:
        detail = (
            f"This fake already serves {limit} tenants (API keys), its limit (--option max_tenants): "
            "reset one through the admin API or use a key it already knows"
        )
        super().__init__(403, detail)


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
    def export_parts(self, chunk: int = EXPORT_CHUNK) -> Iterator[ExportPart]: ...
    def load(self, snapshot: dict[str, Any]) -> None: ...
    # Scale: counts and pages of a kind (or of one group of it) without reading the rest.
    def count(self, tenant: str, kind: str, group: Any = None) -> int: ...
    def window(
        self, tenant: str, kind: str, start: int, stop: int, group: Any = None, newest_first: bool = False
    ) -> Values: ...
    def set_grouping(self, kind: str, field: str | Callable[[dict[str, Any]], Any]) -> None: ...
    def set_retention(self, kind: str, cap: int | None, *, compact: bool = True) -> None: ...
    def set_max_tenants(self, limit: int | None) -> None: ...
    def stats(self) -> dict[str, Any]: ...


class _Unencodable:
    """A value orjson cannot write (an integer past 64 bits): kept as a private deep copy."""

    __slots__ = ("value",)

    def __init__(self, value: dict[str, Any]) -> None:
        self.value = copy.deepcopy(value)


# bytes (compact: capped kinds, the template), or a tenant's own dict of an uncapped kind.
Stored = bytes | _Unencodable | dict[str, Any]
_SHAPED_MIN = 6  # values with fewer keys are kept as their plain JSON
_MAX_SHAPES = 4096  # past this many distinct key sets, values are kept as plain JSON


class _Codec:
    """Values as compact, immutable bytes.

    A value with a key set seen before is kept as ``[shape, {fields that differ}]``, against the
    first value of that shape (its *base*): a log repeats its project, config and two dozen nulls,
    so it keeps only its id, inputs, output and times. Reads decode the base and update it with
    the fields: both C calls, and the key order is the base's, which is the value's own.
    """

    def __init__(self) -> None:
        self.ids: dict[tuple[str, ...], int] = {}
        self.bases: list[bytes] = []  # shape -> the base's JSON
        self.fields: list[dict[str, Any]] = []  # shape -> the base, decoded (compared, never handed out)
        self.nested: list[dict[str, bytes]] = []  # shape -> JSON of the base's dict and list fields

    def encode(self, value: dict[str, Any], shaped: bool = True) -> Stored:
        """``shaped``: against a base (high-volume kinds); else plain JSON, decoded in one call."""
        try:
            if not shaped or len(value) < _SHAPED_MIN:
                return bytes(memoryview(orjson.dumps(value)))
            shape = tuple(value)
            sid = self.ids.get(shape)
            if sid is None:
                if len(self.bases) >= _MAX_SHAPES:
                    return bytes(memoryview(orjson.dumps(value)))
                base = bytes(memoryview(orjson.dumps(value)))
                sid = self.ids[shape] = len(self.bases)
                self.bases.append(base)
                fields = orjson.loads(base)
                self.fields.append(fields)
                self.nested.append(
                    {k: orjson.dumps(v) for k, v in fields.items() if type(v) is dict or type(v) is list}
                )
                return b"[%d,{}]" % sid
            base_fields, nested = self.fields[sid], self.nested[sid]
            own = {}
            for key, item in value.items():
                known = base_fields[key]
                if item is known:
                    continue
                kind = type(item)
                if kind is not type(known) or item != known:
                    own[key] = item
                elif (kind is dict or kind is list) and orjson.dumps(item) != nested[key]:
                    own[key] = item  # equal, but in another key order
            # orjson hands out a 4 KiB buffer whatever the length: kept, it is copied to size.
            return bytes(memoryview(orjson.dumps([sid, own])))
        except TypeError:  # orjson.JSONEncodeError: kept as it is, privately
            return _Unencodable(value)

    def decode(self, stored: Stored) -> dict[str, Any]:
        if type(stored) is dict:  # an uncapped kind's own value: handed out as it is
            return stored
        if type(stored) is bytes:
            if stored[0] == 0x5B:  # "[": shaped
                sid, own = orjson.loads(stored)
                value: dict[str, Any] = orjson.loads(self.bases[sid])
                value.update(own)
                return value
            plain: dict[str, Any] = orjson.loads(stored)
            return plain
        assert isinstance(stored, _Unencodable)
        kept: dict[str, Any] = copy.deepcopy(stored.value)
        return kept


class _Group:
    """The keys of one group of a kind, oldest first; evictions advance ``head`` (O(1))."""

    __slots__ = ("head", "keys")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.head = 0

    def __len__(self) -> int:
        return len(self.keys) - self.head

    def remove(self, key: str) -> None:
        keys = self.keys
        if self.head < len(keys) and keys[self.head] == key:  # the oldest: an eviction
            self.head += 1
            if self.head > 64 and self.head * 2 > len(keys):
                del keys[: self.head]
                self.head = 0
        else:
            del keys[keys.index(key, self.head)]


Bucket = dict[str, Stored]


class MemoryStore:
    """``{tenant: {kind: {key: stored}}}``; insertion order gives stable list order.

    Requests all run on the server's event-loop thread, but the store is built on another one
    (``LiveServer``) and tests and the admin API read it from theirs: one re-entrant lock keeps
    every method whole.
    """

    copy_on_write = True  # new tenants read the template until they write (SqliteStore: copy at once)

    def __init__(self, *, shared_numbering: bool = False) -> None:
        """``shared_numbering``: one set of counters for every tenant, hashed as tenant "" (the
        fixture world's builder: one tenant, whose ids must stay what they always were)."""
        self._codec = _Codec()
        self._data: dict[str, dict[str, Bucket]] = {}
        self._cow: set[str] = set()  # tenants whose missing kinds are the template's
        # ``name`` for tenant "", ``tenant/name`` for the others (see `next_number`).
        self._counters: dict[str, int] = {}
        self._shared_numbering = shared_numbering
        self._template: dict[str, dict[str, dict[str, Any]]] | None = None
        self._tmpl: dict[str, Bucket] = {}  # the template, encoded (shared by every COW tenant)
        self._reserved: frozenset[str] = frozenset()  # the template's keys and ids
        # (tenant, kind, key, previous value or _MISSING, position the key held before a delete)
        self._undo: list[tuple[str, str, str, Any, int]] = []
        self._lock = threading.RLock()
        self.max_tenants: int | None = DEFAULT_MAX_TENANTS
        self._caps: dict[str, int] = {}  # kind -> items kept per tenant
        self._compact: set[str] = set()  # capped kinds kept as compact bytes (`set_retention`)
        self._over: set[tuple[str, str]] = set()  # (tenant, kind) past its cap, evicted at commit
        self._evicted: dict[tuple[str, str], int] = {}
        self._evicting: dict[tuple[str, str], int] = {}  # this transaction's, counted at commit
        self._grouping: dict[str, Callable[[dict[str, Any]], Any]] = {}  # kind -> a value's group
        self._groups: dict[tuple[str, str], dict[Any, _Group]] = {}  # built lazily, then kept
        self.touched = 0  # values decoded by list, window and export: what a scale test counts

    # -- reads -----------------------------------------------------------------------------------

    def _tenant(self, tenant: str) -> dict[str, Bucket]:
        data = self._data.get(tenant)
        if data is None:
            if self.max_tenants is not None and len(self._data) >= self.max_tenants:
                raise TenantLimitError(self.max_tenants)
            if self.copy_on_write:
                data = {}
                if self._tmpl:
                    self._cow.add(tenant)
            else:  # references to immutable values: a table per kind, no value copied
                data = {kind: dict(bucket) for kind, bucket in self._tmpl.items()}
            self._data[tenant] = data
            # Undone like a write: a request that fails leaves no half-made tenant behind (the
            # SQLite store would otherwise hold it in memory but never on disk).
            self._undo.append((tenant, _NEW_TENANT, "", _MISSING, -1))
            self._materialised(tenant, data)
        return data

    def _materialised(self, tenant: str, data: dict[str, Bucket]) -> None:
        """Hook: a tenant was created (from the template)."""

    def _bucket(self, tenant: str, kind: str) -> Bucket | None:
        """``tenant``'s bucket of ``kind`` to read (the template's while the tenant has not written it)."""
        data = self._data.get(tenant)
        if data is None:
            data = self._tenant(tenant)
        bucket = data.get(kind)
        if bucket is None and tenant in self._cow:
            return self._tmpl.get(kind)
        return bucket

    def _writable(self, tenant: str, kind: str) -> Bucket:
        """``tenant``'s own bucket of ``kind``: the template's copied (references) on first write."""
        data = self._data.get(tenant)
        if data is None:
            data = self._tenant(tenant)
        bucket = data.get(kind)
        if bucket is None:
            source = self._tmpl.get(kind) if tenant in self._cow else None
            bucket = data[kind] = dict(source) if source else {}
            self._undo.append((tenant, _NEW_KIND, kind, _MISSING, -1))
        return bucket

    def get(self, tenant: str, kind: str, key: str) -> dict[str, Any] | None:
        # The hot read. A known tenant is read without the lock: each dict read is atomic, and
        # every write happens on the event-loop thread, so no reader sees half a write.
        data = self._data.get(tenant)
        if data is None:
            with self._lock:
                data = self._tenant(tenant)
        bucket = data.get(kind)
        if bucket is None:
            if tenant not in self._cow:
                return None
            bucket = self._tmpl.get(kind)
            if bucket is None:
                return None
        stored = bucket.get(key)
        return None if stored is None else self._codec.decode(stored)

    def list(self, tenant: str, kind: str) -> list[dict[str, Any]]:
        """Every value of ``kind``, oldest first: O(kind); prefer `window` for a page."""
        with self._lock:
            bucket = self._bucket(tenant, kind) or {}
            self.touched += len(bucket)
            decode = self._codec.decode
            return [decode(v) for v in bucket.values()]

    def count(self, tenant: str, kind: str, group: Any = None) -> int:
        """How many values ``kind`` holds (of ``group``, for a grouped kind): O(1)."""
        with self._lock:
            if group is None:
                return len(self._bucket(tenant, kind) or {})
            found = self._group_index(tenant, kind).get(group)
            return 0 if found is None else len(found)

    def window(
        self, tenant: str, kind: str, start: int, stop: int, group: Any = None, newest_first: bool = False
    ) -> Values:
        """Values ``start:stop`` of ``kind`` (of ``group``), oldest or newest first. O(stop - start)
        for a group; O(stop) over a whole kind (a dict has no positions)."""
        start, stop = max(start, 0), max(stop, 0)
        with self._lock:
            bucket = self._bucket(tenant, kind) or {}
            if group is None:
                ordered = reversed(bucket) if newest_first else iter(bucket)
                keys = list(islice(ordered, start, stop))
            else:
                found = self._group_index(tenant, kind).get(group)
                if found is None:
                    return []
                all_keys, head, end = found.keys, found.head, len(found.keys)
                if newest_first:
                    keys = all_keys[max(end - stop, head) : max(end - start, head)][::-1]
                else:
                    keys = all_keys[head + min(start, end - head) : head + min(stop, end - head)]
            self.touched += len(keys)
            decode = self._codec.decode
            return [decode(bucket[k]) for k in keys]

    def _group_index(self, tenant: str, kind: str) -> dict[Any, _Group]:
        """``kind``'s groups for ``tenant``, built once (O(kind)) then kept up to date by writes."""
        index = self._groups.get((tenant, kind))
        if index is None:
            group_of = self._grouping.get(kind)
            if group_of is None:
                raise KeyError(f"kind {kind!r} is not grouped (set_grouping)")
            index = {}
            decode = self._codec.decode
            for key, stored in (self._bucket(tenant, kind) or {}).items():
                index.setdefault(group_of(decode(stored)), _Group()).keys.append(key)
            self._groups[(tenant, kind)] = index
        return index

    # -- writes ----------------------------------------------------------------------------------

    def put(self, tenant: str, kind: str, key: str, value: dict[str, Any]) -> None:
        # Capped (high-volume) kinds are kept compact; the others as the dict itself, as before (the
        # hot paths' projects and configs would pay a decode per read and an encode per write).
        stored = self._codec.encode(value) if kind in self._compact else value
        with self._lock:
            bucket = self._writable(tenant, kind)
            previous = bucket.get(key, _MISSING)
            self._undo.append((tenant, kind, key, previous, -1))
            bucket[key] = stored
            if kind in self._grouping:
                self._regroup(tenant, kind, key, previous, value)
            if previous is _MISSING:
                cap = self._caps.get(kind)
                if cap is not None and len(bucket) > cap:
                    self._over.add((tenant, kind))

    def _regroup(self, tenant: str, kind: str, key: str, previous: Any, value: dict[str, Any]) -> None:
        index = self._groups.get((tenant, kind))
        if index is None:  # built from the bucket when first asked
            return
        group_of = self._grouping[kind]
        group = group_of(value)
        if previous is not _MISSING:
            old = group_of(self._codec.decode(previous))
            if old == group:
                return
            index[old].remove(key)
        index.setdefault(group, _Group()).keys.append(key)

    def delete(self, tenant: str, kind: str, key: str) -> bool:
        with self._lock:
            bucket = self._bucket(tenant, kind)
            if not bucket or key not in bucket:
                return False
            bucket = self._writable(tenant, kind)
            position = list(bucket).index(key)  # a rollback puts it back where lists saw it
            self._drop(tenant, kind, key, position)
            return True

    def _drop(self, tenant: str, kind: str, key: str, position: int) -> None:
        stored = self._data[tenant][kind].pop(key)
        self._undo.append((tenant, kind, key, stored, position))
        index = self._groups.get((tenant, kind))
        if index is not None:
            index[self._grouping[kind](self._codec.decode(stored))].remove(key)

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

    # -- retention and grouping ------------------------------------------------------------------

    def set_retention(self, kind: str, cap: int | None, *, compact: bool = True) -> None:
        """Keep at most ``cap`` values of ``kind`` per tenant (None: no cap). Past it, the oldest
        (by insertion) are evicted when the request commits, ``cap // 64`` more than needed so
        the next puts evict nothing (amortised O(1)); `stats` counts them. ``compact``: keep the
        values as compact bytes (`_Codec`): a tenth of the memory, a decode per read, so a kind
        whose lists read (and filter) every value stays plain."""
        with self._lock:
            if cap is None:
                self._caps.pop(kind, None)
                self._compact.discard(kind)
            else:
                self._caps[kind] = max(int(cap), 1)
                if compact:
                    self._compact.add(kind)
                else:
                    self._compact.discard(kind)

    def set_max_tenants(self, limit: int | None) -> None:
        """Serve at most ``limit`` tenants (None: no cap); a new one past it is a `TenantLimitError`."""
        self.max_tenants = limit

    def set_grouping(self, kind: str, field: str | Callable[[dict[str, Any]], Any]) -> None:
        """Group ``kind`` by its values' ``field`` (or a function of the value), read at put time,
        for `count` and `window`. A group is never None (None is "the whole kind")."""
        with self._lock:
            self._grouping[kind] = field if callable(field) else (lambda value: value.get(field))
            self._groups = {k: v for k, v in self._groups.items() if k[1] != kind}

    def _evict(self) -> None:
        """Evict the oldest values of every (tenant, kind) past its cap, as undoable deletes."""
        over, self._over = self._over, set()
        for tenant, kind in over:
            cap = self._caps.get(kind)
            bucket = (self._data.get(tenant) or {}).get(kind)
            if cap is None or bucket is None or len(bucket) <= cap:
                continue
            excess = len(bucket) - cap + cap // 64
            for key in list(islice(bucket, excess)):
                self._drop(tenant, kind, key, 0)  # each is the oldest when it goes
                self._evicted_key(tenant, kind, key)
            self._evicting[(tenant, kind)] = self._evicting.get((tenant, kind), 0) + excess

    def _evicted_key(self, tenant: str, kind: str, key: str) -> None:
        """Hook: ``key`` was evicted (SqliteStore deletes its row)."""

    def stats(self) -> dict[str, Any]:
        """Tenants held (and the cap), caps per kind, and evictions per tenant and kind."""
        with self._lock:
            evicted: dict[str, dict[str, int]] = {}
            for (tenant, kind), number in self._evicted.items():
                evicted.setdefault(tenant, {})[kind] = number
            return {
                "tenants": len(self._data),
                "max_tenants": self.max_tenants,
                "retention": dict(self._caps),
                "evicted": evicted,
            }

    # -- transactions ----------------------------------------------------------------------------

    def commit(self) -> None:
        if self._over:
            with self._lock:
                self._evict()
        if not self._undo:  # a read-only request: nothing to forget
            return
        with self._lock:
            self._undo.clear()
            for where, number in self._evicting.items():
                self._evicted[where] = self._evicted.get(where, 0) + number
            self._evicting.clear()

    def rollback(self) -> None:
        """Undo the puts and deletes since the last commit (in-place edits are the caller's).

        Steps are undone newest first, each exactly (a deleted key returns to its old place), so
        the store, its list order included, is what it was at the last commit.
        """
        with self._lock:
            for tenant, kind, key, previous, position in reversed(self._undo):
                if kind == _NEW_TENANT:
                    self._data.pop(tenant, None)
                    self._cow.discard(tenant)
                    continue
                if kind == _NEW_KIND:  # the tenant reads the template's bucket again
                    self._data.get(tenant, {}).pop(key, None)
                    self._groups.pop((tenant, key), None)
                    continue
                bucket = self._data.setdefault(tenant, {}).setdefault(kind, {})
                index = self._groups.get((tenant, kind))
                if previous is _MISSING:
                    bucket.pop(key, None)
                    if index is not None:  # a new key is the newest of its group
                        self._groups.pop((tenant, kind))
                elif position < 0 or key in bucket:
                    bucket[key] = previous
                    if index is not None:
                        self._groups.pop((tenant, kind))
                else:
                    items = list(bucket.items())
                    items.insert(position, (key, previous))
                    bucket.clear()
                    bucket.update(items)
                    self._groups.pop((tenant, kind), None)
            self._undo.clear()
            self._over.clear()
            self._evicting.clear()

    # -- whole-store operations ------------------------------------------------------------------

    def reset(self, tenant: str | None = None) -> None:
        """Forget a tenant (or all): it starts again from the template on next touch.

        Counters are kept, so ids handed out before a reset are never handed out again.
        """
        with self._lock:
            if tenant is None:
                self._data.clear()
                self._cow.clear()
                self._groups.clear()
                self._evicted.clear()
            else:
                self._data.pop(tenant, None)
                self._cow.discard(tenant)
                self._groups = {k: v for k, v in self._groups.items() if k[0] != tenant}
                self._evicted = {k: v for k, v in self._evicted.items() if k[0] != tenant}
            self._undo.clear()
            self._over.clear()

    def set_template(self, template: dict[str, dict[str, dict[str, Any]]] | None) -> None:
        with self._lock:
            for tenant in self._cow:  # tenants reading the old template keep it
                data = self._data[tenant]
                for kind, bucket in self._tmpl.items():
                    data.setdefault(kind, dict(bucket))
            self._cow.clear()
            self._template = template
            encode = self._codec.encode
            self._tmpl = {
                kind: {key: encode(value, kind in self._compact) for key, value in bucket.items()}
                for kind, bucket in (template or {}).items()
            }
            self._reserved = _keys_of(template)

    def _view(self, tenant: str) -> Iterator[tuple[str, Bucket]]:
        """``tenant``'s kinds as it reads them (the template's where it has not written)."""
        data = self._data[tenant]
        if tenant in self._cow:
            for kind, bucket in self._tmpl.items():
                yield kind, data.get(kind, bucket)
            yield from ((kind, bucket) for kind, bucket in data.items() if kind not in self._tmpl)
        else:
            yield from data.items()

    def export(self) -> dict[str, Any]:
        """Everything at once (a fixture world, tests); the admin API streams `export_parts`."""
        with self._lock:
            decode = self._codec.decode
            tenants = {
                tenant: {
                    kind: {k: _own(decode(v), v) for k, v in bucket.items()}
                    for kind, bucket in self._view(tenant)
                }
                for tenant in self._data
            }
            counters = dict(self._counters)
            return {
                "format": FORMAT,
                "counters": counters,
                "template": copy.deepcopy(self._template),
                "tenants": tenants,
            }

    def export_parts(self, chunk: int = EXPORT_CHUNK) -> Iterator[ExportPart]:
        """The export as a stream of parts: ``("header", {format, counters, template})``, then per
        tenant ``("tenant", name)``, per kind ``("kind", name)`` and its values in batches
        ``("items", [(key, value), ...])`` of ``chunk``, oldest first.

        The snapshot is taken at the first ``next()`` (tables of references to immutable values:
        O(items) pointers, no value copied); values are decoded a batch at a time as the consumer
        asks, so memory stays one batch whatever the store holds, and later writes do not show."""
        with self._lock:
            header = {
                "format": FORMAT,
                "counters": dict(self._counters),
                "template": copy.deepcopy(self._template),
            }
            snapshot = [
                (
                    tenant,
                    [
                        (kind, [(k, _own(v, v)) for k, v in bucket.items()])
                        for kind, bucket in self._view(tenant)
                    ],
                )
                for tenant in self._data
            ]
        yield "header", header
        decode = self._codec.decode
        for tenant, kinds in snapshot:
            yield "tenant", tenant
            for kind, items in kinds:
                yield "kind", kind
                for at in range(0, len(items), max(chunk, 1)):
                    batch = items[at : at + max(chunk, 1)]
                    self.touched += len(batch)
                    yield "items", [(key, decode(stored)) for key, stored in batch]

    def load(self, snapshot: dict[str, Any]) -> None:
        """Replace everything with an ``export()``; a malformed one raises ValueError, changing nothing."""
        check_snapshot(snapshot)
        encode = self._codec.encode
        template = copy.deepcopy(snapshot.get("template"))
        tenants = {
            tenant: {
                kind: {
                    key: encode(value) if kind in self._compact else copy.deepcopy(value)
                    for key, value in bucket.items()
                }
                for kind, bucket in kinds.items()
            }
            for tenant, kinds in (snapshot.get("tenants") or {}).items()
        }
        with self._lock:
            self._counters = {name: int(value) for name, value in (snapshot.get("counters") or {}).items()}
            self._cow.clear()
            self.set_template(template)
            self._data = tenants
            self._groups.clear()
            self._undo.clear()
            self._over.clear()


def _own(value: Any, stored: Any) -> Any:
    """``value`` not shared with the store: a dict kept as it is (an uncapped kind's) is copied."""
    return copy.deepcopy(value) if type(stored) is dict else value


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
