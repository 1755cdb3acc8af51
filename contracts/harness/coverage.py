"""What a client's tests exercised: operations, status codes, response variants and injected faults.

The contract says what there is to meet (each operation, its declared statuses, the answers its
shape allows); the fault catalogue (`specfake.faults`, `specfake.streaming.faults`) says which
faults the fake can inject. A run's `Observation`s (one per request, from the checking journal
plus the answers `ResponseRecorder` kept, or from the proxy's exchanges) say what the client met.

Response variants, and how each is recognised in one answer:

``empty_list``      a list operation's 2xx answer with no items
``page_with_items`` a list operation's 2xx answer with at least one item
``more_pages``      a list page that says more follow (``has_more`` true, a next token, ``total``
                    beyond this page, or a full page)
``last_page``       a page with items that says none follow (the same fields, or a short page)
``null_optional``   a 2xx JSON answer with a null somewhere in it (offered when the success
                    schema has a nullable field)
``error_body``      a 4xx/5xx answer with a body (a journal-only run counts every 4xx/5xx)
``stream``          a streamed (``text/event-stream``) answer received whole

Faults: ``429`` and ``5xx`` (an answer with that status), ``reset`` (no answer), ``latency``,
``empty``, ``truncate``, ``malformed``, ``dribble`` (read from the fault that shaped the answer,
`JournalEntry.shaped_by`), and on streaming operations ``cut-after``, ``stall``, ``error-at``,
``malformed-at`` (the fault's stream entries or the request's ``X-Specfake-Stream-Fault``; through
the proxy, a stream the server dropped counts as ``cut-after``).

The total (``percent``) is the share of the contract's operations called; statuses, variants and
faults each have their own share (met / offered, summed over operations).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from specfake.contract import Contract, Operation, is_json
from specfake.paging import paging_of
from specfake.resources import items_field, json_schema

if TYPE_CHECKING:
    from specfake.contracts.harness.conformance import RequestChecker
    from specfake.journal import JournalEntry
    from specfake.record import Proxied

ANSWER_LIMIT = 1 << 20  # bytes of one answer kept for judging its variant
LIST_VARIANTS = ("empty_list", "page_with_items", "more_pages", "last_page")
VARIANTS = (*LIST_VARIANTS, "null_optional", "error_body", "stream")
FAULTS = ("429", "5xx", "reset", "latency", "empty", "truncate", "malformed", "dribble")
STREAM_FAULTS = ("cut-after", "stall", "error-at", "malformed-at")
_FAULT_SOURCES = ("header ", "rule ", "scenario ", "rate limit")
_TOKEN = re.compile(
    r"(?<![\w-])(latency|empty|truncate|malformed|dribble|cut-after|stall|error-at|malformed-at)\b(?!-)"
)
STREAM_HEADER = "x-specfake-stream-fault"


@dataclass
class Answer:
    """What the client was sent back for one request (enough to tell the variant)."""

    status: int
    content_type: str
    body: bytes
    complete: bool  # False: the connection was dropped before the body ended


@dataclass
class Observation:
    """One request the client made and what it met, whatever recorded it."""

    operation: Operation
    status: int  # 0: no answer (reset)
    query: dict[str, str] = field(default_factory=dict)
    shaped_by: str | None = None
    stream_fault: str | None = None  # the request's X-Specfake-Stream-Fault
    answer: Answer | None = None  # None: only the journal was kept (no body to judge)


class _Capture:
    """The ``send`` a recorded app gets: keeps the answer, passes every message on.

    ``__self__`` is the server's own request cycle, which `specfake.faults.reset_connection`
    reaches through ``send`` to reset the socket: a reset stays a reset under the recorder.
    """

    def __init__(self, send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
        self.send = send
        self.__self__ = getattr(send, "__self__", None)
        self.status = 0
        self.request_id = ""
        self.content_type = ""
        self.body = bytearray()
        self.complete = False

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            for name, value in message.get("headers") or ():
                if name.lower() == b"x-request-id":
                    self.request_id = value.decode("latin-1")
                elif name.lower() == b"content-type":
                    self.content_type = value.decode("latin-1")
        elif message["type"] == "http.response.body":
            room = ANSWER_LIMIT - len(self.body)
            if room > 0:
                self.body += message.get("body", b"")[:room]
            self.complete = not message.get("more_body", False)
        await self.send(message)


class ResponseRecorder:
    """ASGI wrapper keeping each answer by its X-Request-Id, for the checking run only.

    It wraps the app that ``check client`` and the pytest plugin serve, never the served fake's
    own hot path; answers are matched to journal entries through ``JournalEntry.request_id``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.answers: dict[str, Answer] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        capture = _Capture(send)
        try:
            await self.app(scope, receive, capture)
        finally:
            if capture.request_id:
                self.answers[capture.request_id] = Answer(
                    capture.status, capture.content_type, bytes(capture.body), capture.complete
                )

    def clear(self) -> None:
        self.answers.clear()


# -- observations from each kind of run ------------------------------------------------------------


def from_journal(
    entries: Iterable[JournalEntry],
    checkers: Iterable[tuple[str, RequestChecker]],
    answers: dict[str, Answer] | None = None,
) -> list[Observation]:
    """Observations of a fake's journal; ``checkers`` pairs each mount prefix with its checker."""
    mounts = sorted(checkers, key=lambda pc: len(pc[0]), reverse=True)
    out: list[Observation] = []
    for entry in entries:
        for prefix, checker in mounts:
            if entry.path.startswith(prefix + "/"):
                op = checker.operation(entry.method, entry.path[len(prefix) :])
                if op is not None:
                    out.append(
                        Observation(
                            op,
                            entry.status,
                            dict(parse_qsl(entry.query.decode("latin-1"))),
                            entry.shaped_by,
                            entry.headers.get(STREAM_HEADER),
                            (answers or {}).get(entry.request_id),
                        )
                    )
                break
    return out


def from_proxy(exchanges: Iterable[Proxied], checker: RequestChecker) -> list[Observation]:
    """Observations of the proxy's exchanges with a real server (no injected faults: what it sent)."""
    out: list[Observation] = []
    for ex in exchanges:
        op = checker.operation(ex.method, ex.path)
        if op is None:
            continue
        kind = next((v for k, v in ex.response_headers.items() if k.lower() == "content-type"), "")
        answer = Answer(ex.status, kind, ex.response_body[:ANSWER_LIMIT], not ex.cut)
        query = dict(parse_qsl(ex.query.decode("latin-1")))
        out.append(Observation(op, ex.status, query, None, None, answer))
    return out


# -- what an operation offers and what an observation met ------------------------------------------


@dataclass
class OperationCoverage:
    """One operation: what the contract and the fault catalogue offer, what the run met."""

    operation: str
    operation_id: str
    calls: int = 0
    declared: list[int] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    variants_offered: list[str] = field(default_factory=list)
    variants: set[str] = field(default_factory=set)
    faults_offered: list[str] = field(default_factory=list)
    faults: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "operation_id": self.operation_id,
            "called": self.calls,
            "statuses": {
                "declared": self.declared,
                "met": sorted(self.statuses & set(self.declared)),
                "missed": sorted(set(self.declared) - self.statuses),
                "undeclared_met": sorted(self.statuses - set(self.declared)),
            },
            "variants": _offer(self.variants_offered, self.variants),
            "faults": _offer(self.faults_offered, self.faults),
        }


def _offer(offered: list[str], met: set[str]) -> dict[str, list[str]]:
    return {
        "offered": offered,
        "met": [v for v in offered if v in met],
        "missed": [v for v in offered if v not in met],
    }


@dataclass
class _ListShape:
    items: str | None  # None: the answer is a bare array
    paging: Any


class Coverage:
    """The coverage of one contract by one run: build it, then read `to_json`, `summary`, `gate`."""

    def __init__(self, contract: Contract, observations: Iterable[Observation] = ()) -> None:
        self.contract = contract
        self.requests = 0
        self.ops: dict[str, OperationCoverage] = {}
        self._lists: dict[str, _ListShape] = {}
        for op in contract.operations:
            label = f"{op.method} {op.path}"
            offered_variants: list[str] = []
            shape = self._list_shape(op)
            if shape is not None:
                self._lists[label] = shape
                offered_variants += LIST_VARIANTS if shape.paging.style != "none" else LIST_VARIANTS[:2]
            if _has_nullable(contract, json_schema(op), 0, set()):
                offered_variants.append("null_optional")
            offered_variants.append("error_body")
            streams = contract.compiled.operation(op.operation_id).stream is not None
            if streams:
                offered_variants.append("stream")
            self.ops[label] = OperationCoverage(
                label,
                op.operation_id,
                declared=sorted(op.responses),
                variants_offered=offered_variants,
                faults_offered=list(FAULTS + STREAM_FAULTS if streams else FAULTS),
            )
        for observation in observations:
            self.add(observation)

    def _list_shape(self, op: Operation) -> _ListShape | None:
        if op.method != "GET":
            return None
        schema = self.contract.resolve(json_schema(op))
        if not isinstance(schema, dict):
            return None
        if schema.get("type") == "array":
            return _ListShape(None, paging_of(self.contract, op, {}))
        items = items_field(self.contract, schema, None)
        return _ListShape(items, paging_of(self.contract, op, schema)) if items else None

    def add(self, seen: Observation) -> None:
        label = f"{seen.operation.method} {seen.operation.path}"
        cover = self.ops.get(label)
        if cover is None:
            return
        self.requests += 1
        cover.calls += 1
        if seen.status:
            cover.statuses.add(seen.status)
        cover.faults |= faults_met(seen)
        cover.variants |= self._variants(label, seen)

    def _variants(self, label: str, seen: Observation) -> set[str]:
        found: set[str] = set()
        answer = seen.answer
        if seen.status >= 400:
            if answer is None or answer.body.strip():
                found.add("error_body")
            return found
        if answer is None or not 200 <= seen.status < 300 or not answer.complete:
            return found
        if answer.content_type.startswith("text/event-stream"):
            found.add("stream")
            return found
        if not is_json(answer.content_type.split(";")[0].strip()):
            return found
        try:
            body = json.loads(answer.body)
        except ValueError:
            return found
        if _has_null(body, 0):
            found.add("null_optional")
        shape = self._lists.get(label)
        if shape is not None:
            found |= _page_variants(shape, body, seen.query)
        return found

    # -- reading it -------------------------------------------------------------------------------

    def shares(self) -> dict[str, dict[str, Any]]:
        ops = list(self.ops.values())
        pairs = {
            "operations": (sum(1 for o in ops if o.calls), len(ops)),
            "statuses": (
                sum(len(o.statuses & set(o.declared)) for o in ops),
                sum(len(o.declared) for o in ops),
            ),
            "variants": (
                sum(len(o.variants & set(o.variants_offered)) for o in ops),
                sum(len(o.variants_offered) for o in ops),
            ),
            "faults": (
                sum(len(o.faults & set(o.faults_offered)) for o in ops),
                sum(len(o.faults_offered) for o in ops),
            ),
        }
        return {k: {"met": m, "of": n, "percent": _percent(m, n)} for k, (m, n) in pairs.items()}

    @property
    def percent(self) -> float:
        """The total: the share of the contract's operations the run called."""
        return float(self.shares()["operations"]["percent"])

    def never_called(self) -> list[str]:
        return [label for label, o in self.ops.items() if not o.calls]

    def faults_never_met(self) -> list[str]:
        """Catalogue faults the run met on no operation at all."""
        met = set().union(*(o.faults for o in self.ops.values())) if self.ops else set()
        offered = dict.fromkeys(f for o in self.ops.values() for f in o.faults_offered)
        return [f for f in offered if f not in met]

    def variants_never_met(self) -> list[str]:
        met = set().union(*(o.variants for o in self.ops.values())) if self.ops else set()
        offered = dict.fromkeys(v for o in self.ops.values() for v in o.variants_offered)
        return [v for v in offered if v not in met]

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.contract.name,
            "requests": self.requests,
            "percent": self.percent,
            "totals": self.shares(),
            "never_called": self.never_called(),
            "faults_never_met": self.faults_never_met(),
            "variants_never_met": self.variants_never_met(),
            "operations": [o.to_json() for o in self.ops.values()],
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def summary(self, limit: int = 8) -> str:
        shares = self.shares()
        lines = [
            f"coverage of {self.contract.name}: {self.percent:g}% of operations called ("
            + ", ".join(f"{k} {v['met']}/{v['of']} {v['percent']:g}%" for k, v in shares.items())
            + ")"
        ]
        for name, items in (
            ("never called", self.never_called()),
            ("faults never met", self.faults_never_met()),
            ("variants never met", self.variants_never_met()),
        ):
            if items:
                lines.append(f"  {name}: {_some(items, limit)}")
        return "\n".join(lines)

    def gate(self, minimum: float) -> str | None:
        """None when the total reaches ``minimum`` (a percentage); else why not, naming the gaps."""
        if self.percent >= minimum:
            return None
        return (
            f"coverage {self.percent:g}% is below --min-coverage {minimum:g}%; "
            f"never called: {_some(self.never_called(), 10)}; "
            f"faults never met: {_some(self.faults_never_met(), 12) or 'none'}"
        )


def faults_met(seen: Observation) -> set[str]:
    """The catalogue faults one request met: by its answer's status, and by what shaped it."""
    found: set[str] = set()
    if seen.status == 429:
        found.add("429")
    elif 500 <= seen.status < 600:
        found.add("5xx")
    elif seen.status == 0:
        found.add("reset")
    text = seen.shaped_by or ""
    if text.startswith(_FAULT_SOURCES):
        found.update(m.group(1) for m in _TOKEN.finditer(text.partition(":")[2]))
    if seen.stream_fault:
        found.update(m.group(1) for m in _TOKEN.finditer(seen.stream_fault))
    answer = seen.answer
    if seen.shaped_by is None and answer is not None and not answer.complete and seen.status:
        # No fault of the fake's own: a real server (through the proxy) dropped the answer.
        found.add("cut-after" if answer.content_type.startswith("text/event-stream") else "truncate")
    return found


def _page_variants(shape: _ListShape, body: Any, query: dict[str, str]) -> set[str]:
    items = body if shape.items is None else (body.get(shape.items) if isinstance(body, dict) else None)
    if not isinstance(items, list):
        return set()
    found = {"page_with_items" if items else "empty_list"}
    if not items:
        return found
    paging = shape.paging
    fields = body if isinstance(body, dict) else {}
    more: bool | None = None
    if paging.has_more_field and isinstance(fields.get(paging.has_more_field), bool):
        more = fields[paging.has_more_field]
    elif paging.token_field and paging.token_field in fields:
        more = fields[paging.token_field] not in (None, "")
    else:
        size = _int(query.get(paging.size_param or "")) or paging.default_size
        total = next((fields[f] for f in paging.total_fields if isinstance(fields.get(f), int)), None)
        if paging.style == "page" and total is not None and size:
            page = _int(query.get(paging.page_param or ""))
            page = paging.page_base if page is None else page
            more = (page - paging.page_base + 1) * size < total
        elif size:
            more = len(items) >= size
    if more is not None:
        found.add("more_pages" if more else "last_page")
    return found


def _has_null(node: Any, depth: int) -> bool:
    if node is None:
        return True
    if depth > 32:
        return False
    if isinstance(node, dict):
        return any(_has_null(v, depth + 1) for v in node.values())
    if isinstance(node, list):
        return any(_has_null(v, depth + 1) for v in node[:200])
    return False


def _has_nullable(contract: Contract, schema: Any, depth: int, seen: set[str]) -> bool:
    """Whether the schema allows a null anywhere (refs followed once each, depth bounded)."""
    if not isinstance(schema, dict) or depth > 12:
        return False
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return False
        seen.add(ref)
        return _has_nullable(contract, contract.resolve(schema), depth + 1, seen)
    kind = schema.get("type")
    if schema.get("nullable") is True or kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    children: list[Any] = list((schema.get("properties") or {}).values())
    for key in ("anyOf", "oneOf", "allOf"):
        children += schema.get(key) or []
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        children.append(schema["additionalProperties"])
    return any(_has_nullable(contract, child, depth + 1, seen) for child in children)


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def _percent(met: int, of: int) -> float:
    return round(100.0 * met / of, 1) if of else 100.0


def _some(items: list[str], limit: int) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" … ({len(items) - limit} more)" if len(items) > limit else "")
