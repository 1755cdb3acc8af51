"""Domain invariants every contract gets from its resources, checked over HTTP at any base URL.

schemathesis checks one response at a time (and one link hop); these are the promises a client
relies on across many calls: what was created can be read back and is listed, what was deleted
is gone from get and list, and paging walks every item exactly once and ends. A numbered list is
walked as the SGP SDK's auto-pagination walks it (the answer's ``current_page`` plus one, until
an empty page), so a server that answers the page past the end with the last page again, which keeps
that loop going forever, is a finding (``paging_terminates``); cursor lists follow
`specfake.paging`'s styles, as the fake pages them. Resources are the
ones the fake's resource layer infers from the contract's links (``infer_resources``); a
hypothesis state machine per resource creates, deletes and lists in seeded orders.

The machine is tolerant of what it cannot know: a create answered 4xx (a body the server finds
semantically wrong) skips the step, a list whose scope the create did not set is not compared.
Only answers no correct server gives are findings; a 5xx anywhere is one too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from specfake.contract import Contract, Operation
from specfake.contracts.harness.findings import Exchange, Finding, trim
from specfake.generate import GenContext, SchemaCompiler
from specfake.paging import PAGE_FIELDS, TOTAL_FIELDS, paging_of
from specfake.paging import Paging as ListPaging
from specfake.resources import infer_resources, items_field, json_schema

CREATED_IS_READABLE = "created_is_readable"
CREATED_IS_LISTED = "created_is_listed"
DELETED_IS_GONE = "deleted_is_gone"
PAGING = "paging_walks_every_item_once"
PAGING_TERMINATES = "paging_terminates"  # the page past the end is empty: the SDKs' end signal
SERVER_ERROR = "not_a_server_error"
CHECKS = (CREATED_IS_READABLE, CREATED_IS_LISTED, DELETED_IS_GONE, PAGING, PAGING_TERMINATES, SERVER_ERROR)

PAGE_SIZE = 2  # small pages: a few creates already span several
PREFILL = 3  # items each example starts with: more than one page of PAGE_SIZE
TARGET_PAGES = 8  # a list already holding many items is walked in about this many pages
MAX_PAGES = 500  # a walk with no total to go by gives up here: "paging never ends"
STEPS = 4  # rules per example after the prefill
TIMEOUT = 30.0
PAGER_PAGE_FIELD = "current_page"  # the answer's page number the SGP SDK's pager adds one to


@dataclass
class Paging:
    """How a list pages: its query parameters and, once learned, the first page's number."""

    page: str
    size: str
    base: int | None  # None: learned from the server on the first walk
    max_size: int | None


@dataclass
class Subject:
    """A resource as a client sees it: how to make one, read it, delete it and find it listed."""

    name: str
    create: Operation
    id_pointer: list[str]
    get: Operation | None = None
    get_param: str = ""
    delete: Operation | None = None
    delete_param: str = ""
    list_op: Operation | None = None
    items_field: str | None = None  # None with a list: the list answers a bare array
    total_field: str | None = None
    page_field: str | None = None
    paging: Paging | None = None
    cursor: ListPaging | None = None  # a list paged by id cursors or tokens (has_more, next_cursor)
    nouns: set[str] = field(default_factory=set)

    @property
    def operation_ids(self) -> set[str]:
        ops = (self.create, self.get, self.delete, self.list_op)
        return {op.operation_id for op in ops if op is not None}


def discover(contract: Contract) -> list[Subject]:
    """The contract's resources with the operations the invariants need, in contract order."""
    by_id = {op.operation_id: op for op in contract.operations}
    subjects: list[Subject] = []
    for resource in infer_resources(contract):
        subject = Subject(
            name=_noun_of(resource.create.path) or resource.create.operation_id,
            create=resource.create,
            id_pointer=resource.id_pointer,
        )
        for target, param in resource.targets.items():
            op = by_id[target]
            if not op.path.endswith("{" + param + "}"):
                continue  # a sub-resource (/projects/{id}/configs), not the item itself
            if op.method == "GET" and subject.get is None:
                subject.get, subject.get_param = op, param
            elif op.method == "DELETE" and subject.delete is None:
                subject.delete, subject.delete_param = op, param
        if resource.list_op is not None:
            _describe_list(contract, subject, resource.list_op, resource.schema_ref)
        subject.nouns = {
            n for n in (_noun_of(subject.create.path), _noun_of(subject.get.path if subject.get else "")) if n
        }
        subjects.append(subject)
    names = [s.name for s in subjects]
    for subject in subjects:
        if names.count(subject.name) > 1:
            subject.name = f"{subject.name} ({subject.create.operation_id})"
    return subjects


def _describe_list(contract: Contract, subject: Subject, op: Operation, item_ref: str | None) -> None:
    schema = contract.resolve(json_schema(op))
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "array":
        subject.list_op = op
    elif schema.get("type") == "object":
        items = items_field(contract, schema, item_ref)
        if items is None:
            return
        subject.list_op, subject.items_field = op, items
        props = schema.get("properties") or {}
        subject.total_field = next((n for n in TOTAL_FIELDS if n in props), None)
        subject.page_field = next((n for n in PAGE_FIELDS if n in props), None)
    else:
        return
    described = paging_of(contract, op, schema)  # the fake pages with the same description
    query = {p.name: p for p in op.parameters if p.location == "query"}
    if described.style in ("cursor", "token"):
        subject.cursor = described
    elif described.style == "page" and described.page_param and described.size_param:
        page_schema = contract.resolve(query[described.page_param].schema)
        size_schema = contract.resolve(query[described.size_param].schema)
        base = next(
            (page_schema[k] for k in ("minimum", "default") if isinstance(page_schema.get(k), int)), None
        )
        maximum = size_schema.get("maximum")
        max_size = maximum if isinstance(maximum, int) else None
        subject.paging = Paging(described.page_param, described.size_param, base, max_size)


def _noun_of(path: str) -> str | None:
    """The last literal segment of a path, as a reference name would spell it (``model-configs``
    -> ``modelconfig``)."""
    literals = [s for s in path.split("/") if s and not s.startswith("{")]
    return _norm(literals[-1]) if literals else None


def _norm(word: str) -> str:
    word = re.sub(r"[^a-z0-9]", "", word.lower())
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _ref_noun(name: str, path: str = "") -> str | None:
    """What a parameter or body field named ``project_id``/``evaluator_ids``/``{id}`` points at."""
    match = re.fullmatch(r"(.+?)(?:_ids?|Ids?)", name)
    if match:
        return _norm(match.group(1))
    if name.lower() in ("id", "ids") and path:
        before = path.split("{" + name + "}", 1)[0]
        return _noun_of(before)
    return None


@dataclass
class Sent:
    """One request and its answer (None when the connection failed)."""

    response: httpx.Response | None
    exchange: Exchange

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    def json(self) -> Any:
        if self.response is None:
            return None
        try:
            return self.response.json()
        except ValueError:
            return None


@dataclass
class Walk:
    """The ids a list showed, in order, and the exchanges that showed them."""

    ids: list[str] = field(default_factory=list)
    where: dict[str, Sent] = field(default_factory=dict)  # id -> the page that listed it
    last: Sent | None = None
    pages: int = 0
    complete: bool = True


class InvariantRun:
    """One run of every invariant over the subjects of a contract; findings keyed first-wins."""

    def __init__(
        self,
        contract: Contract,
        base_url: str,
        headers: dict[str, str],
        *,
        seed: int = 0,
        max_examples: int = 10,
        include: Iterable[str] | None = None,
    ) -> None:
        self.contract = contract
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.seed = seed
        self.max_examples = max_examples
        self.subjects = discover(contract)
        self.include = set(include) if include is not None else None
        self.compiler = SchemaCompiler(lambda ref: contract.resolve({"$ref": ref}))
        self.client = httpx.Client(headers=self.headers, timeout=TIMEOUT)
        self.findings: dict[tuple[str, str], Finding] = {}
        self.parents: dict[str, str | None] = {}  # noun -> id made for others to refer to
        self.made_parents: list[tuple[Subject, str, dict[str, str]]] = []
        self.extras: dict[str, set[str]] = {}  # create operationId -> reference fields learned from 422s
        self.skipped: dict[str, str] = {}  # subject name -> why it was not checked
        self.checked: list[str] = []
        self.requests = 0
        self.dead = False
        self._counter = 0

    # -- running -----------------------------------------------------------------------------

    def run(self) -> list[Finding]:
        try:
            for subject in self.subjects:
                if self.include is not None and not (subject.operation_ids & self.include):
                    continue
                if self.dead:
                    break
                self._check(subject)
            self._remove_parents()
        finally:
            self.client.close()
        return list(self.findings.values())

    @property
    def stats(self) -> dict[str, Any]:
        return {
            "invariant resources": len(self.checked),
            "invariant requests": self.requests,
            "invariant skipped": len(self.skipped),
        }

    def _check(self, subject: Subject) -> None:
        scope = self._scope_for(subject)
        if scope is None:
            return
        for _ in range(3):  # generated bodies differ: one may be refused or make nothing ([])
            probe = self.create(subject, scope, probe=True)
            if probe is not None:
                self.skipped.pop(subject.name, None)
                break
        else:
            return
        self.remove(subject, probe, scope)
        self.checked.append(subject.name)
        checker = SubjectCheck(self, subject, scope)

        def factory() -> ResourceMachine:
            return ResourceMachine(checker)

        # hypothesis runs any factory of machines; its annotation names only the class
        machines = cast("type[RuleBasedStateMachine]", hypothesis_seed(self.seed)(factory))
        try:
            run_state_machine_as_test(
                machines,
                settings=settings(
                    max_examples=self.max_examples,
                    stateful_step_count=STEPS,
                    deadline=None,
                    database=None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                    print_blob=False,
                ),
            )
        except Exception as exc:  # one resource's machine must not end the whole check
            self.skipped[subject.name] = f"the state machine stopped: {type(exc).__name__}: {exc}"

    def _scope_for(self, subject: Subject, depth: int = 0) -> dict[str, str] | None:
        """Ids for the create's path parameters, required query parameters and required
        reference fields (``project_id``): made first, once per run, through their own creates."""
        scope: dict[str, str] = {}
        op = subject.create
        names = [
            (p.name, op.path)
            for p in op.parameters
            if p.location == "path" or (p.location == "query" and p.required)
        ]
        body = self.contract.resolve(op.body_schema) if op.body_schema is not None else None
        if isinstance(body, dict):
            names += [(str(n), "") for n in body.get("required", [])]
        names += [(n, "") for n in sorted(self.extras.get(op.operation_id, ()))]
        for name, path in names:
            noun = _ref_noun(name, path)
            if noun is None:
                continue
            ident = self._parent(noun, subject, depth)
            if ident is None:
                if path:  # a path parameter cannot be left out
                    self.skipped.setdefault(subject.name, f"nothing to fill its {name!r} with")
                    return None
                continue
            scope[noun] = ident
        return scope

    def _parent(self, noun: str, child: Subject, depth: int) -> str | None:
        if noun in self.parents:
            return self.parents[noun]
        self.parents[noun] = None  # a cycle or a failure leaves no parent
        candidates = [s for s in self.subjects if s is not child and noun in s.nouns]
        candidates += [s for s in self.subjects if s is not child and any(n.endswith(noun) for n in s.nouns)]
        for parent in candidates:
            if depth > 4:
                break
            scope = self._scope_for(parent, depth + 1)
            if scope is None:
                continue
            ident = self.create(parent, scope, depth=depth + 1)
            if ident is not None:
                self.parents[noun] = ident
                self.made_parents.append((parent, ident, scope))
                return ident
        return None

    def _remove_parents(self) -> None:
        for subject, ident, scope in reversed(self.made_parents):
            if not self.dead:
                self.remove(subject, ident, scope)

    # -- requests ----------------------------------------------------------------------------

    def send(
        self,
        op: Operation,
        path_params: dict[str, str],
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Sent:
        path = op.path
        for name, value in path_params.items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        url = self.base_url + path
        headers = dict(self.headers)
        text = None
        if body is not None:
            text = json.dumps(body, ensure_ascii=False)
            headers["Content-Type"] = "application/json"
        request = self.client.build_request(op.method, url, params=query, content=text, headers=headers)
        exchange = Exchange(method=op.method, url=str(request.url), headers=headers, body=trim(text))
        self.requests += 1
        if self.dead:
            return Sent(None, exchange)
        try:
            response = self.client.send(request)
        except httpx.HTTPError as exc:
            self.dead = isinstance(exc, httpx.ConnectError)
            self.report(
                SERVER_ERROR,
                op,
                f"no answer from the server: {type(exc).__name__}: {exc}",
                Sent(None, exchange),
            )
            return Sent(None, exchange)
        exchange.status = response.status_code
        exchange.response_headers = dict(response.headers)
        exchange.response_body = trim(response.text)
        return Sent(response, exchange)

    def report(self, check: str, op: Operation, message: str, sent: Sent | None) -> None:
        operation = f"{op.method} {op.path}"
        key = (check, operation)
        if key not in self.findings:
            exchange = sent.exchange if sent is not None else None
            self.findings[key] = Finding(operation, check, message, exchange=exchange, seed=self.seed)

    def server_failed(self, op: Operation, sent: Sent, what: str) -> bool:
        """A 5xx or no answer: reported (once per operation) and the step abandoned."""
        if sent.status is None:
            return True
        if sent.status >= 500:
            self.report(SERVER_ERROR, op, f"{what} answered {sent.status}", sent)
            return True
        return False

    def create(
        self, subject: Subject, scope: dict[str, str], *, depth: int = 0, probe: bool = False
    ) -> str | None:
        """Make one item; its id, or None (4xx: the server would not take our body — skipped;
        ``probe`` notes why). A 422 naming a reference field (FastAPI style) teaches which one
        to fill, e.g. "Either project or project_id must be provided"."""
        op = subject.create
        for _ in range(4):
            self._counter += 1
            path, query, body = self._request_for(op, scope, f"{self.seed}:{subject.name}:{self._counter}")
            sent = self.send(op, path, query=query, body=body)
            if self.server_failed(op, sent, f"creating a {subject.name}"):
                return None
            if sent.status != 422 or not self._learn_references(subject, sent, scope, depth):
                break
        assert sent.status is not None
        if sent.status >= 300:
            if probe:
                self.skipped[subject.name] = (
                    f"create answered {sent.status}: {trim(sent.exchange.response_body, 200)}"
                )
            return None
        ident = _at_pointer(sent.json(), subject.id_pointer)
        if ident is None and probe:
            self.skipped[subject.name] = f"no id at /{'/'.join(subject.id_pointer)} in the create's answer"
        return ident

    def _learn_references(self, subject: Subject, sent: Sent, scope: dict[str, str], depth: int) -> bool:
        body = sent.json()
        detail = body.get("detail") if isinstance(body, dict) else None
        schema = self.contract.resolve(subject.create.body_schema or {})
        if not isinstance(detail, list) or not isinstance(schema, dict):
            return False
        props = schema.get("properties") or {}
        extras = self.extras.setdefault(subject.create.operation_id, set())
        learned = False
        for entry in detail:
            loc = entry.get("loc") if isinstance(entry, dict) else None
            if not isinstance(loc, list) or len(loc) < 2 or loc[0] != "body":
                continue
            for name in (str(loc[1]), f"{loc[1]}_id"):
                noun = _ref_noun(name)
                if name not in props or noun is None or name in extras:
                    continue
                ident = scope.get(noun) or self._parent(noun, subject, depth)
                if ident is not None:
                    scope[noun] = ident
                    extras.add(name)
                    learned = True
                    break
        return learned

    def remove(self, subject: Subject, ident: str, scope: dict[str, str]) -> Sent | None:
        if subject.delete is None:
            return None
        path = self.path_params(subject.delete, scope)
        path[subject.delete_param] = ident
        sent = self.send(subject.delete, path)
        self.server_failed(subject.delete, sent, f"deleting {subject.name} {ident}")
        return sent

    def _request_for(
        self, op: Operation, scope: dict[str, str], key: str
    ) -> tuple[dict[str, str], dict[str, Any], Any]:
        path = self.path_params(op, scope)
        query = {
            p.name: scope[noun]
            for p in op.parameters
            if p.location == "query" and p.required and (noun := _ref_noun(p.name)) in scope
        }
        body = None
        if op.body_schema is not None:
            body = self.compiler.compile(op.body_schema)(GenContext(key, optional_rate=0.0))
            schema = self.contract.resolve(op.body_schema)
            if isinstance(body, dict) and isinstance(schema, dict):
                props = schema.get("properties") or {}
                for name in [*schema.get("required", []), *self.extras.get(op.operation_id, ())]:
                    noun = _ref_noun(str(name))
                    if noun in scope:
                        many = self.contract.resolve(props.get(name, {})).get("type") == "array"
                        body[name] = [scope[noun]] if many else scope[noun]
        return path, query, body

    def path_params(self, op: Operation, scope: dict[str, str]) -> dict[str, str]:
        out = {}
        for p in op.parameters:
            if p.location == "path":
                noun = _ref_noun(p.name, op.path)
                if noun in scope:
                    out[p.name] = scope[noun]
        return out


class SubjectCheck:
    """The invariants of one subject, called by its state machine's rules."""

    def __init__(self, run: InvariantRun, subject: Subject, scope: dict[str, str]) -> None:
        self.run = run
        self.subject = subject
        self.scope = scope
        self.list_params: dict[str, str] | None = None
        self.list_query: dict[str, Any] = {}
        if subject.list_op is not None:
            self._scope_list(subject.list_op)
        self.known: int | None = None  # how many items the list held at the last look

    def _scope_list(self, op: Operation) -> None:
        """A list comparable with our creates: every path or required filter it needs is one the
        create was scoped by (sessions listed per project but created without one are not)."""
        params: dict[str, str] = {}
        query: dict[str, Any] = {}
        for p in op.parameters:
            if not (p.location == "path" or (p.location == "query" and p.required)):
                continue
            noun = _ref_noun(p.name, op.path if p.location == "path" else "")
            if noun not in self.scope:
                self.run.skipped.setdefault(
                    f"{self.subject.name} list", f"its {p.name!r} is not a scope of the create"
                )
                return
            (params if p.location == "path" else query)[p.name] = self.scope[noun]
        self.list_params, self.list_query = params, query

    @property
    def listable(self) -> bool:
        return self.list_params is not None and not self.run.dead

    # -- rules' work -------------------------------------------------------------------------

    def create(self) -> str | None:
        ident = self.run.create(self.subject, self.scope)
        if ident is None or self.subject.get is None:
            return ident
        sent = self.read(ident)
        if sent.status is not None and sent.status < 500 and not 200 <= sent.status < 300:
            self.run.report(
                CREATED_IS_READABLE,
                self.subject.get,
                f"{self.subject.name} {ident} was created ({self.subject.create.method} "
                f"{self.subject.create.path}) but reading it back answered {sent.status}",
                sent,
            )
        return ident

    def read(self, ident: str) -> Sent:
        get = self.subject.get
        assert get is not None
        path = self.run.path_params(get, self.scope)
        path[self.subject.get_param] = ident
        sent = self.run.send(get, path)
        self.run.server_failed(get, sent, f"reading {self.subject.name} {ident}")
        return sent

    def delete(self, ident: str) -> bool:
        sent = self.run.remove(self.subject, ident, self.scope)
        if sent is None or sent.status is None or not 200 <= sent.status < 300:
            return False
        if self.subject.get is not None:
            got = self.read(ident)
            if got.status is not None and 200 <= got.status < 300:
                self.run.report(
                    DELETED_IS_GONE,
                    self.subject.get,
                    f"{self.subject.name} {ident} was deleted (answered {sent.status}) "
                    f"but reading it still answers {got.status}",
                    got,
                )
        return True

    def check_listed(self, live: list[str], gone: list[str]) -> None:
        op = self.subject.list_op
        if op is None or not self.listable:
            return
        walk = self.walk()
        if not walk.complete:
            return
        seen = set(walk.ids)
        missing = [i for i in live if i not in seen]
        if missing:
            pages = f" over {walk.pages} page(s)" if self.subject.paging or self.subject.cursor else ""
            self.run.report(
                CREATED_IS_LISTED,
                op,
                f"{self.subject.name} {', '.join(missing[:5])} created but missing from the list "
                f"({len(seen)} item(s) listed{pages})",
                walk.last,
            )
        back = [i for i in gone if i in seen]
        if back:
            self.run.report(
                DELETED_IS_GONE,
                op,
                f"{self.subject.name} {', '.join(back[:5])} deleted but still listed",
                walk.where.get(back[0], walk.last),
            )

    # -- lists and paging --------------------------------------------------------------------

    def _list(self, extra: dict[str, Any]) -> tuple[Sent, list[str] | None, dict[str, Any]]:
        """One list request: its ids (None if the answer holds no list) and its envelope."""
        op = self.subject.list_op
        assert op is not None and self.list_params is not None
        sent = self.run.send(op, self.list_params, query={**self.list_query, **extra})
        body = sent.json()
        items = (
            body.get(self.subject.items_field)
            if isinstance(body, dict) and self.subject.items_field
            else body
        )
        if not isinstance(items, list):
            return sent, None, {}
        key = self.subject.id_pointer[-1]
        ids = [str(item.get(key)) for item in items if isinstance(item, dict)]
        return sent, ids, body if isinstance(body, dict) else {}

    def walk(self) -> Walk:
        op = self.subject.list_op
        paging = self.subject.paging
        assert op is not None
        if self.subject.cursor is not None:
            return self._walk_cursor(self.subject.cursor)
        if paging is None:
            sent, ids, _ = self._list({})
            if self.run.server_failed(op, sent, "listing"):
                return Walk(complete=False, last=sent)
            if ids is None:
                return Walk(complete=False, last=sent)
            return Walk(ids=ids, where=dict.fromkeys(ids, sent), last=sent)
        if paging.base is None and not self._learn(paging):
            return Walk(complete=False)
        assert paging.base is not None
        size, page = self._page_size(paging), paging.base
        walk = Walk()
        first_page: dict[str, int] = {}
        previous: list[str] | None = None
        previous_page = page
        ended = False  # a short page or the total reached: a client that stops there has it all
        limit: int | None = None
        total: int | None = None
        for n in range(MAX_PAGES):
            sent, ids, body = self._list({paging.page: page, paging.size: size})
            walk.last = sent
            walk.pages += 1
            if self.run.server_failed(op, sent, f"page {page} of the list"):
                walk.complete = False
                return walk
            if ids is None:
                self.run.report(
                    PAGING,
                    op,
                    f"page {page} (size {size}) answered {sent.status} without a list of items",
                    sent,
                )
                walk.complete = False
                return walk
            value = body.get(self.subject.total_field) if self.subject.total_field else None
            if isinstance(value, int) and not isinstance(value, bool):
                total = value
                if limit is None:
                    limit = total // size + 2
            if not ids:
                break  # the SDKs' end signal (SGP's pager: an empty page)
            if ids == previous and ended:
                self.run.report(
                    PAGING_TERMINATES,
                    op,
                    f"paging never ends: page {page} past the end answered the last page "
                    f"(page {previous_page}: {', '.join(ids[:5])}) again instead of an empty page; "
                    "an SDK that pages until an empty page (SGP's auto-pagination) loops forever",
                    sent,
                )
                walk.complete = False
                return walk
            if ids == previous:
                self.run.report(
                    PAGING,
                    op,
                    f"paging never ends: page {page} repeats page {previous_page} ({', '.join(ids[:5])})"
                    + (f" with total {total} not reached" if total is not None else ""),
                    sent,
                )
                walk.complete = False
                return walk
            for ident in ids:
                if ident in first_page:
                    self.run.report(
                        PAGING,
                        op,
                        f"paging repeats items: {ident} on page {first_page[ident]} and again on page {page}",
                        sent,
                    )
                    walk.complete = False
                    return walk
                first_page[ident] = page
                walk.where[ident] = sent
            walk.ids += ids
            previous = ids
            ended = len(ids) < size or (total is not None and len(walk.ids) >= total)
            if limit is not None and n + 1 >= limit:
                self.run.report(
                    PAGING_TERMINATES if ended else PAGING,
                    op,
                    f"paging never ends: {n + 1} pages of {size} walked for a total of {total} "
                    "and no empty page past the end",
                    sent,
                )
                walk.complete = False
                return walk
            previous_page, page = page, self._next_page(page, body)
        else:
            self.run.report(
                PAGING_TERMINATES,
                op,
                f"paging never ends: no empty page after {MAX_PAGES} pages of {size}",
                walk.last,
            )
            walk.complete = False
            return walk
        self.known = total if total is not None else len(walk.ids)
        if total is not None and len(walk.ids) != total:
            self.run.report(
                PAGING,
                op,
                f"the pages (size {size}) showed {len(walk.ids)} distinct item(s) "
                f"but the list's total says {total}",
                walk.last,
            )
        return walk

    def _next_page(self, page: int, body: dict[str, Any]) -> int:
        """The page an SDK asks for next: SGP's (Stainless) pager asks for the answer's own
        ``current_page`` plus one; a client paging by hand (Humanloop's SDK has no pager) for the
        page it asked for plus one."""
        value = body.get(PAGER_PAGE_FIELD) if self.subject.page_field == PAGER_PAGE_FIELD else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value + 1
        return page + 1

    def _walk_cursor(self, cursor: ListPaging) -> Walk:
        """Walk a cursor-paged list as the SDKs do: ``after`` the last id (or the answer's next
        token) until ``has_more`` is false, the token is empty or a page is empty. A page that
        repeats an item means the cursor is ignored: the SDK's walk would never end."""
        op = self.subject.list_op
        assert op is not None
        size = max(min(PAGE_SIZE, cursor.default_size or PAGE_SIZE), 1)
        extra: dict[str, Any] = {cursor.size_param: size} if cursor.size_param else {}
        walk = Walk()
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            sent, ids, body = self._list(extra)
            walk.last = sent
            walk.pages += 1
            where = f"page {walk.pages} of the list"
            if self.run.server_failed(op, sent, where):
                walk.complete = False
                return walk
            if ids is None:
                self.run.report(PAGING, op, f"{where} answered {sent.status} without a list of items", sent)
                walk.complete = False
                return walk
            repeated = [ident for ident in ids if ident in seen]
            if repeated:
                self.run.report(
                    PAGING,
                    op,
                    f"paging never ends: {where} repeats {', '.join(repeated[:5])} "
                    f"(the {cursor.after_param or cursor.token_param} cursor is not followed)",
                    sent,
                )
                walk.complete = False
                return walk
            for name, expected in ((cursor.first_id_field, 0), (cursor.last_id_field, -1)):
                if name and ids and body.get(name) != ids[expected]:
                    message = f"{where}: {name} is {body.get(name)!r}, the page's items say {ids[expected]!r}"
                    self.run.report(PAGING, op, message, sent)
            seen.update(ids)
            walk.ids += ids
            walk.where.update(dict.fromkeys(ids, sent))
            more = body.get(cursor.has_more_field) if cursor.has_more_field else None
            token = body.get(cursor.token_field) if cursor.token_field else None
            if not ids:
                if more is True:
                    self.run.report(PAGING, op, f"{where} is empty but says {cursor.has_more_field}", sent)
                break
            if more is False or (cursor.token_field and not token):
                break
            if cursor.token_field and cursor.token_param:
                extra = {**extra, cursor.token_param: token}
            elif cursor.after_param:
                extra = {**extra, cursor.after_param: ids[-1]}
            else:
                break  # nothing to follow: one page is all a client can see
        else:
            message = f"paging never ends: no last page after {MAX_PAGES} pages of {size}"
            self.run.report(PAGING, op, message, walk.last)
            walk.complete = False
            return walk
        self.known = len(walk.ids)
        return walk

    def _learn(self, paging: Paging) -> bool:
        """The first page's number when the contract does not say: the server's own answer
        without a page, else whether page 0 is that same first page."""
        op = self.subject.list_op
        assert op is not None
        sent, ids, body = self._list({paging.size: PAGE_SIZE})
        if self.run.server_failed(op, sent, "listing") or ids is None:
            return False
        value = body.get(self.subject.page_field) if self.subject.page_field else None
        if isinstance(value, int) and not isinstance(value, bool):
            paging.base = value
        else:
            zero, zero_ids, _ = self._list({paging.size: PAGE_SIZE, paging.page: 0})
            ok = zero.status is not None and zero.status < 300
            paging.base = 0 if ok and zero_ids == ids else 1
        total = body.get(self.subject.total_field) if self.subject.total_field else None
        self.known = total if isinstance(total, int) else None
        return True

    def _page_size(self, paging: Paging) -> int:
        """Small pages, so a few creates span several; about TARGET_PAGES for a list that holds
        many items (a real service's, or one whose items cannot be deleted)."""
        size = PAGE_SIZE
        if self.known is not None and self.known > PAGE_SIZE * TARGET_PAGES:
            size = math.ceil(self.known / TARGET_PAGES)
        if paging.max_size is not None:
            size = min(size, paging.max_size)
        return max(size, 1)


class ResourceMachine(RuleBasedStateMachine):
    """Creates, deletes and lists one resource in seeded orders; findings go to the run."""

    def __init__(self, check: SubjectCheck) -> None:
        super().__init__()
        self.check = check
        self.live: list[str] = []
        self.gone: list[str] = []

    @initialize()
    def prefill(self) -> None:
        for _ in range(PREFILL):
            self.create()

    # Which rule runs next must depend on the drawn data alone, never on the server's answers
    # (hypothesis replays choices and insists on the same draws): rules that cannot act are no-ops.

    @rule()
    def create(self) -> None:
        ident = self.check.create() if not self.check.run.dead else None
        if ident is not None:
            self.live.append(ident)

    @precondition(lambda self: self.check.subject.delete is not None)
    @rule(pick=st.integers(min_value=0, max_value=1 << 16))
    def delete(self, pick: int) -> None:
        if not self.live or self.check.run.dead:
            return
        ident = self.live[pick % len(self.live)]
        if self.check.delete(ident):
            self.live.remove(ident)
            self.gone.append(ident)

    @precondition(lambda self: self.check.list_params is not None)
    @rule()
    def list_all(self) -> None:
        self.check.check_listed(self.live, self.gone)

    def teardown(self) -> None:
        """A last walk over everything this example did, then leave the server as we found it."""
        if self.check.listable:
            self.check.check_listed(self.live, self.gone)
        for ident in self.live:
            if self.check.run.dead:
                break
            self.check.run.remove(self.check.subject, ident, self.check.scope)


def _at_pointer(body: Any, pointer: list[str]) -> str | None:
    node = body
    for part in pointer:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return str(node) if isinstance(node, (str, int)) and not isinstance(node, bool) else None


def run_invariants(
    contract: Contract,
    base_url: str,
    headers: dict[str, str],
    *,
    seed: int = 0,
    max_examples: int = 10,
    include: Iterable[str] | None = None,
) -> list[Finding]:
    """Check every resource's invariants at ``base_url`` (the contract's base, e.g.
    ``http://host/humanloop/v4``); ``include`` keeps resources with an operation in it."""
    return InvariantRun(
        contract, base_url, headers, seed=seed, max_examples=max_examples, include=include
    ).run()
