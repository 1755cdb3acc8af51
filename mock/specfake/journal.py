"""The request journal: every request the fake received over HTTP and the status it answered.

One entry type serves the admin API (``GET /__admin/journal``), the pytest plugin
(``specfake.journal()``) and the client checker, which judges each entry against the contract
after the client has run (so checking never slows an answer). A served fake keeps the last 1000
requests with 4 KB of each body; a checking run keeps every request whole.
"""

from __future__ import annotations

import sys
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson

JOURNAL_SIZE = 1000
JOURNAL_BODY = 4096  # bytes of each request body a served fake keeps
# What the hot path appends: a JournalEntry's fields in order (a tuple is a sixth of its cost).
Row = tuple[float, "str | None", str, str, str, bytes, dict[str, str], bytes, int, bytes, "str | None"]


@dataclass(slots=True)
class JournalEntry:
    """One request and its answer's status (as respx's ``Call`` records one for a client)."""

    at: float  # unix time the answer was ready
    contract: str | None  # the mounted contract it reached; None outside every mount
    tenant: str  # the API key, "" when there was none (or it was refused)
    method: str
    path: str  # the full path, mount prefix included
    query: bytes
    headers: dict[str, str]  # lower-cased names
    body: bytes  # up to the journal's body limit
    status: int  # 0: no answer (the connection was reset)
    request_id: str = ""  # the X-Request-Id the answer carried
    shaped_by: str | None = None  # the fault (header or rule) that shaped the answer, if any

    @property
    def json(self) -> Any:
        """The parsed JSON body (None when empty, cut by the body limit, or not JSON)."""
        try:
            return orjson.loads(self.body) if self.body.strip() else None
        except orjson.JSONDecodeError:
            return None

    def to_json(self) -> dict[str, Any]:
        """As the admin API lists it (headers left out: they carry API keys)."""
        return {
            "at": self.at,
            "contract": self.contract,
            "tenant": self.tenant,
            "method": self.method,
            "path": self.path,
            "query": self.query.decode("latin-1"),
            "body": self.body.decode("utf-8", "replace"),
            "status": self.status,
            "request_id": self.request_id,
            "shaped_by": self.shaped_by,
        }


class Journal:
    """A bounded, append-only record (``maxlen`` None: unbounded, for a checking run).

    Entries are appended on the server's event-loop thread and read from others (tests, the
    checker); ``deque.append`` is atomic, and a reader retries the rare copy that raced one.
    """

    def __init__(self, maxlen: int | None = JOURNAL_SIZE, body_limit: int | None = JOURNAL_BODY) -> None:
        self._rows: deque[Row] = deque(maxlen=maxlen)
        self.body_limit = sys.maxsize if body_limit is None else body_limit
        self.record = self._rows.append  # the hot path: one C call with a Row

    def body(self, raw: bytes) -> bytes:
        """What an entry keeps of a request body."""
        return raw if len(raw) <= self.body_limit else raw[: self.body_limit]

    def entries(self, *, contract: str | None = None, tenant: str | None = None) -> list[JournalEntry]:
        """Oldest first; ``contract``/``tenant`` keep only that contract's or that key's requests."""
        while True:
            try:
                rows = list(self._rows)
                break
            except RuntimeError:  # appended to while copied: copy again
                continue
        found = [JournalEntry(*row[:9], row[9].decode(), row[10]) for row in rows]
        if contract is not None:
            found = [e for e in found if e.contract == contract]
        if tenant is not None:
            found = [e for e in found if e.tenant == tenant]
        return found

    def clear(self, contract: str | None = None) -> None:
        if contract is None:
            self._rows.clear()
            return
        kept = [row for row in list(self._rows) if row[1] != contract]
        self._rows.clear()
        self._rows.extend(kept)

    def __len__(self) -> int:
        return len(self._rows)
