"""The request journal: every request the fake received over HTTP and the status it answered.

One entry type serves the admin API (``GET /__admin/journal``), the pytest plugin
(``specfake.journal()``) and the client checker, which judges each entry against the contract
after the client has run (so checking never slows an answer). A served fake keeps the last 1000
requests with 4 KB of each body; a checking run keeps every request whole.

Secrets: the tenant is a fingerprint (``specfake.tenants``), never the key. The hot path appends
the request as it came (a tuple, nothing more); what is read back is redacted as the recorder
redacts (``specfake.streaming.redact``): credential headers, the contract's query-string keys and
any secret-named query parameter, ``provider_api_keys`` and every ``*api_key*`` body field, and
those values wherever else they reappear. Only the client checker reads entries ``raw``: it must
judge the credentials themselves (a malformed ``Basic`` header is a finding, a redacted one would
be a false one), and a finding's reproducing curl must run. Nothing a served fake shows (the admin
API, the pytest plugin's ``journal()``) reads them raw.
"""

from __future__ import annotations

import re
import sys
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import orjson

from specfake.streaming.redact import REDACTED, is_secret_field, is_secret_header, redact, secrets_in
from specfake.tenants import tenant_of

JOURNAL_SIZE = 1000
JOURNAL_BODY = 4096  # bytes of each request body a served fake keeps
# What the hot path appends: a JournalEntry's fields in order (a tuple is a sixth of its cost).
Row = tuple[float, "str | None", str, str, str, bytes, dict[str, str], bytes, int, bytes, "str | None"]


@dataclass(slots=True)
class JournalEntry:
    """One request and its answer's status (as respx's ``Call`` records one for a client)."""

    at: float  # unix time the answer was ready
    contract: str | None  # the mounted contract it reached; None outside every mount
    tenant: str  # the API key's fingerprint, "" when there was none (or it was refused)
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
        # Per contract, the query parameters that carry its credentials (redacted when read); None:
        # a request outside every mount, redacted by every contract's.
        self.query_keys: dict[str | None, frozenset[str]] = {}

    def secret_query(self, contract: str, names: frozenset[str]) -> None:
        """Register ``contract``'s query-string credential names (a mounted contract does)."""
        self.query_keys[contract] = names
        self.query_keys[None] = self.query_keys.get(None, frozenset()) | names

    def body(self, raw: bytes) -> bytes:
        """What an entry keeps of a request body."""
        return raw if len(raw) <= self.body_limit else raw[: self.body_limit]

    def entries(
        self, *, contract: str | None = None, tenant: str | None = None, raw: bool = False
    ) -> list[JournalEntry]:
        """Oldest first, redacted (see the module docstring); ``contract``/``tenant`` keep only that
        contract's or that tenant's requests (``tenant``: a key or its fingerprint). ``raw``: as
        received, for the client checker alone."""
        while True:
            try:
                rows = list(self._rows)
                break
            except RuntimeError:  # appended to while copied: copy again
                continue
        if contract is not None:
            rows = [row for row in rows if row[1] == contract]
        if tenant is not None:
            wanted = tenant_of(tenant)
            rows = [row for row in rows if row[2] == wanted]
        if raw:
            return [JournalEntry(*row[:9], row[9].decode(), row[10]) for row in rows]
        return [self._redacted(row) for row in rows]

    def _redacted(self, row: Row) -> JournalEntry:
        """A row as an entry with its secrets replaced by ``"REDACTED"``."""
        at, contract, tenant, method, path, query, headers, body, status, request_id, shaped_by = row
        query_keys = self.query_keys.get(contract, frozenset())
        secrets = secrets_in(headers, None)
        kept_query, query_secrets = _redact_query(query, query_keys)
        secrets |= query_secrets
        return JournalEntry(
            at,
            contract,
            tenant,
            method,
            path,
            kept_query if not secrets else _scrub(kept_query, secrets, quoted=True),
            {name: REDACTED if is_secret_header(name) else value for name, value in headers.items()},
            _redact_body(body, secrets),
            status,
            request_id.decode(),
            shaped_by,
        )

    def clear(self, contract: str | None = None) -> None:
        if contract is None:
            self._rows.clear()
            return
        kept = [row for row in list(self._rows) if row[1] != contract]
        self._rows.clear()
        self._rows.extend(kept)

    def __len__(self) -> int:
        return len(self._rows)


_REDACTED = REDACTED.encode()
_MIN_SECRET = 4  # as the recorder: shorter values would blank ordinary words
# A body that is not JSON (cut by the body limit): a secret-named field's string value, and the
# string values of a secret-named object (``provider_api_keys``), found by pattern.
_FIELD = rb'"[^"\\]*(?:api[_-]?key|authorization|password|secret)[^"\\]*"\s*:\s*'
_SECRET_STRING = re.compile(rb"(" + _FIELD + rb')"(?:[^"\\]|\\.)*"?', re.IGNORECASE)  # cut: no "
_SECRET_OBJECT = re.compile(rb"(" + _FIELD + rb"\{)([^{}]*)", re.IGNORECASE)
_MEMBER_STRING = re.compile(rb'("(?:[^"\\]|\\.)*"\s*:\s*)"(?:[^"\\]|\\.)*"')


def _redact_query(query: bytes, keys: frozenset[str]) -> tuple[bytes, set[str]]:
    """``query`` with credential and secret-named parameters' values redacted, and those values."""
    if not query:
        return query, set()
    found: set[str] = set()
    parts = []
    for part in query.split(b"&"):
        name, sep, value = part.partition(b"=")
        decoded = unquote_plus(name.decode("latin-1"))
        if sep and (decoded in keys or is_secret_field(decoded)):
            found.add(unquote_plus(value.decode("latin-1")))
            value = _REDACTED
        parts.append(name + sep + value)
    return b"&".join(parts), {s for s in found if len(s) >= _MIN_SECRET}


def _scrub(data: bytes, secrets: set[str], *, quoted: bool = False) -> bytes:
    """``data`` with every secret (longest first; in a query also URL-encoded) replaced."""
    for secret in sorted(secrets, key=len, reverse=True):
        forms = {secret.encode("utf-8", "surrogatepass")}
        if quoted:
            forms.add(quote_plus(secret).encode())
        for form in forms:
            data = data.replace(form, _REDACTED)
    return data


def _redact_body(body: bytes, secrets: set[str]) -> bytes:
    """A JSON body redacted field by field (left byte for byte when there is nothing to redact);
    any other body by pattern, then scrubbed of the request's secrets."""
    if not body.strip():
        return body
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:
        redacted = redact(parsed, secrets | secrets_in({}, parsed))
        return body if redacted == parsed else orjson.dumps(redacted)
    body = _SECRET_STRING.sub(lambda m: m.group(1) + b'"' + _REDACTED + b'"', body)
    body = _SECRET_OBJECT.sub(
        lambda m: m.group(1) + _MEMBER_STRING.sub(lambda n: n.group(1) + b'"' + _REDACTED + b'"', m.group(2)),
        body,
    )
    return _scrub(body, secrets) if secrets else body
