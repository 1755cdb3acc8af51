"""The harness's domain invariants: nothing on the fake, and the right finding on servers that
each break one promise (a list that omits an item, a delete that keeps it, paging that never
ends, a create that cannot be read back)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specfake.app import create_app
from specfake.calls import Call, Handler
from specfake.contract import Contract, load_contract
from specfake.contracts.harness.findings import Finding
from specfake.contracts.harness.invariants import (
    CREATED_IS_LISTED,
    CREATED_IS_READABLE,
    DELETED_IS_GONE,
    PAGING,
    PAGING_TERMINATES,
    InvariantRun,
    discover,
    run_invariants,
)
from specfake.errors import ApiError
from specfake.http import Reply
from specfake.server import LiveServer
from tests.check.broken import buffered

NOTES = Path(__file__).parent.parent / "state" / "notes.yaml"
KEY = "invariants-key"


def contract_of(name: str) -> Contract:
    return load_contract(NOTES if name == "notes" else name)


@contextmanager
def served(
    contract: Contract,
    *,
    handlers: dict[str, Handler] | None = None,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh, empty fake of one contract (optionally broken): its base URL and auth header."""
    app = create_app(
        [contract],
        api_keys=[KEY],
        options={"stream_speed": "0"},
        handlers={contract.name: handlers} if handlers else None,
    )
    with LiveServer(wrap(app) if wrap else app) as server:
        header = next(iter(contract.compiled.api_key_headers.values()))
        yield server.url + app.api(contract.name).prefix, {header: KEY}


def check(contract: Contract, include: set[str] | None = None, **broken: Any) -> list[Finding]:
    with served(contract, **broken) as (url, headers):
        return run_invariants(contract, url, headers, seed=3, max_examples=5, include=include)


def checks_of(findings: list[Finding]) -> set[tuple[str, str]]:
    return {(f.check, f.operation) for f in findings}


# -- broken servers: an ASGI wrapper rewriting one list's requests or answers ---------------------


def on_list(
    path: str,
    *,
    query: Callable[[dict[str, str]], dict[str, str]] | None = None,
    body: Callable[[Any], Any] | None = None,
) -> Callable[[ASGIApp], ASGIApp]:
    """Wrap the app so that GET ``path`` sees a rewritten query and answers a rewritten body."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].endswith(path):
                await app(scope, receive, send)
                return
            if query is not None:
                params = dict(parse_qsl(scope["query_string"].decode()))
                scope = {**scope, "query_string": urlencode(query(params)).encode()}
            if body is None:
                await app(scope, receive, send)
                return
            start: dict[str, Any] = {}
            chunks: list[bytes] = []

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    start.update(message)
                    return
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                new = json.dumps(body(json.loads(b"".join(chunks)))).encode()
                headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(new)).encode())]})
                await send({"type": "http.response.body", "body": new})

            await app(scope, receive, capture)

        return wrapped

    return wrap


def without_page(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k != "page"}


def omit_last(field: str) -> Callable[[Any], Any]:
    def rewrite(body: Any) -> Any:
        if body[field]:
            body[field] = body[field][:-1]
        return body

    return rewrite


def keep_on_delete(call: Call) -> Reply:
    return Reply(204)


def never_found(call: Call) -> Awaitable[Reply] | Reply:
    raise ApiError(404, "Not found")


# -- the fake keeps every promise -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["notes", "sgp", "humanloop"])
def test_the_fake_keeps_every_invariant(name: str) -> None:
    contract = contract_of(name)
    with served(contract) as (url, headers):
        run = InvariantRun(contract, url, headers, seed=1, max_examples=5)
        findings = run.run()
    assert findings == [], [f.message for f in findings]
    assert run.requests > 50
    listed = {s.name for s in discover(contract) if s.list_op is not None}
    assert listed & set(run.checked), run.skipped  # lists were compared, not only creates made


def test_humanloop_resources_are_all_exercised() -> None:
    """Creates needing a project, a dataset or a model config get them (learned from the 422s)."""
    contract = contract_of("humanloop")
    with served(contract) as (url, headers):
        run = InvariantRun(contract, url, headers, seed=0, max_examples=2)
        assert run.run() == []
    assert {"project", "dataset", "datapoint", "evaluation", "chat", "modelconfig"} <= set(run.checked)
    assert set(run.skipped) <= {"session list"}, run.skipped  # listed per project, created without


def test_paging_is_learned_from_the_contract_and_the_server() -> None:
    paged = {s.name: s.paging for s in discover(contract_of("sgp")) if s.paging}
    assert paged["evaluation"] is not None
    assert (paged["evaluation"].page, paged["evaluation"].size, paged["evaluation"].base) == (
        "page",
        "limit",
        1,
    )
    humanloop = {s.name: s for s in discover(contract_of("humanloop"))}
    assert humanloop["project"].items_field == "records" and humanloop["project"].total_field == "total"
    assert humanloop["project"].paging is not None and humanloop["project"].paging.base is None  # asked


# -- each broken server is caught by the right invariant ------------------------------------------


def test_a_list_that_omits_a_created_item() -> None:
    findings = check(contract_of("notes"), wrap=on_list("/notes", body=omit_last("items")))
    assert (CREATED_IS_LISTED, "GET /notes") in checks_of(findings)
    listed = next(f for f in findings if f.check == CREATED_IS_LISTED)
    assert "missing from the list" in listed.message
    assert listed.exchange is not None and listed.exchange.status == 200
    assert listed.curl is not None and "x-api-key: invariants-key" in listed.curl.lower()
    assert listed.seed == 3


def test_a_delete_that_keeps_the_item() -> None:
    findings = check(contract_of("notes"), handlers={"deleteNote": keep_on_delete})
    gone = [f for f in findings if f.check == DELETED_IS_GONE]
    assert {f.operation for f in gone} == {"GET /notes/{note_id}", "GET /notes"}
    read = next(f for f in gone if f.operation == "GET /notes/{note_id}")
    assert "was deleted (answered 204) but reading it still answers 200" in read.message
    assert read.exchange is not None and read.exchange.method == "GET"


@pytest.mark.parametrize(
    ("name", "path", "first"),
    [("notes", "/notes", 1), ("sgp", "/v4/evaluations", 1), ("humanloop", "/projects", 0)],
)
def test_paging_that_ignores_the_page_never_ends(name: str, path: str, first: int) -> None:
    """The server answers every page with the first one (and its true total): the SGP SDK's
    ``for e in client.evaluations.list()`` would loop forever."""
    include = {"projects_list"} if name == "humanloop" else None
    findings = check(contract_of(name), include, wrap=on_list(path, query=without_page))
    paging = [f for f in findings if f.check == PAGING]
    assert paging and paging[0].operation == f"GET {path}"
    assert paging[0].message.startswith(f"paging never ends: page {first + 1} repeats page {first}")
    assert "with total" in paging[0].message and f"page={first + 1}" in (paging[0].curl or "")


def clamp_past_end(path: str, items: str, first: int) -> Callable[[ASGIApp], ASGIApp]:
    """Wrap the app so that a page of GET ``path`` past the end answers the last non-empty page
    (with that page's number), as a clamping paginator does."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].endswith(path):
                await app(scope, receive, send)
                return
            params = dict(parse_qsl(scope["query_string"].decode()))
            status, headers, body = await buffered(app, scope, receive)
            page = int(params.get("page", first))
            while status == 200 and not json.loads(body)[items] and page > first:
                page -= 1
                query = urlencode({**params, "page": str(page)}).encode()
                status, headers, body = await buffered(app, {**scope, "query_string": query}, receive)
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        return wrapped

    return wrap


@pytest.mark.parametrize(
    ("name", "path", "items", "first"),
    [
        ("notes", "/notes", "items", 1),
        ("sgp", "/v4/evaluations", "items", 1),
        ("humanloop", "/projects", "records", 0),
    ],
)
def test_paging_that_clamps_past_the_end_never_ends(name: str, path: str, items: str, first: int) -> None:
    """Every page holds the right items once, but the page past the end is the last page again:
    a walk that stops at the total is fooled, the SDK's walk (until an empty page) never ends."""
    include = {"projects_list"} if name == "humanloop" else None
    findings = check(contract_of(name), include, wrap=clamp_past_end(path, items, first))
    ending = [f for f in findings if f.check == PAGING_TERMINATES]
    assert [f.operation for f in ending] == [f"GET {path}"], [f.message for f in findings]
    assert "past the end answered the last page" in ending[0].message
    assert not [f for f in findings if f.check == PAGING]  # every page up to the end was right
    assert ending[0].exchange is not None and ending[0].exchange.status == 200


def test_paging_that_repeats_an_item() -> None:
    """The first page is one item longer than asked: page 2 starts with page 1's last item."""

    def longer_first_page(params: dict[str, str]) -> dict[str, str]:
        if params.get("page") == "1" and "size" in params:
            return {**params, "size": str(int(params["size"]) + 1)}
        return params

    findings = check(contract_of("notes"), wrap=on_list("/notes", query=longer_first_page))
    paging = [f for f in findings if f.check == PAGING]
    assert paging and "paging repeats items:" in paging[0].message
    assert "on page 1 and again on page 2" in paging[0].message


def test_a_created_item_that_cannot_be_read_back() -> None:
    findings = check(contract_of("notes"), handlers={"getNote": never_found})
    readable = [f for f in findings if f.check == CREATED_IS_READABLE]
    assert readable and readable[0].operation == "GET /notes/{note_id}"
    assert "was created (POST /notes) but reading it back answered 404" in readable[0].message


def test_same_seed_same_findings() -> None:
    def run_once() -> list[tuple[str, ...]]:
        with served(contract_of("notes"), wrap=on_list("/notes", body=omit_last("items"))) as (url, headers):
            findings = run_invariants(contract_of("notes"), url, headers, seed=5, max_examples=5)
            return [(f.check, f.operation, f.message, (f.curl or "").replace(url, "URL")) for f in findings]

    first = run_once()
    assert first and first == run_once()


def test_include_keeps_only_the_named_operations_resources() -> None:
    contract = contract_of("humanloop")
    with served(contract) as (url, headers):
        run = InvariantRun(contract, url, headers, max_examples=2, include=["projects_list"])
        assert run.run() == []
    assert run.checked == ["project"]


def test_a_server_that_is_not_there_is_one_finding() -> None:
    contract = contract_of("notes")
    findings = run_invariants(contract, "http://127.0.0.1:9/notes/v1", {"X-API-Key": KEY}, max_examples=2)
    assert len(findings) == 1 and "no answer from the server" in findings[0].message
