"""The ASGI application: contracts mounted under their prefixes, Starlette for everything else."""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterable
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from specfake.admin import AdminApi
from specfake.api import DEFAULT_MAX_BODY, MountedApi
from specfake.behaviours import declared
from specfake.calls import Handler
from specfake.clock import Clock
from specfake.contract import Contract, base_path, builtin_contracts, load_contract
from specfake.fault_rules import FaultRules, load_rules
from specfake.http import header_map
from specfake.journal import Journal
from specfake.options import OptionError, Options
from specfake.scenarios import Scenarios
from specfake.store import MemoryStore, Store
from specfake.world import build_world, builtin_fixtures


class SpecfakeApp:
    """Dispatches on the mount prefix before anything else: the hot path is one string test.

    ``journal``: where requests outside every mount are recorded (a wrong base URL is the usual
    reason); by default the first contract's journal, which ``create_app`` shares among all.
    """

    def __init__(
        self,
        apis: list[MountedApi],
        *,
        admin_token: str | None = None,
        journal: Journal | None = None,
        fault_rules: FaultRules | None = None,
        scenarios: Scenarios | None = None,
    ) -> None:
        self.apis = sorted(apis, key=lambda a: len(a.prefix), reverse=True)
        self._mounts = [(api.prefix, len(api.prefix), api) for api in self.apis]
        self.journal = journal if journal is not None else (apis[0].journal if apis else Journal())
        # The rules the contracts share (create_app gives them one); the admin API edits them.
        if fault_rules is None:
            fault_rules = apis[0].fault_rules if apis else FaultRules()
        self.fault_rules = fault_rules
        self.scenarios = scenarios if scenarios is not None else (apis[0].scenarios if apis else Scenarios())
        self.scenarios.bind(self.apis)
        self.admin = AdminApi(self, admin_token)
        self.fallback = Starlette(routes=[Route("/", self._index), *self.admin.routes()])
        # A contract mounted at the root (prefix "") would take every path: /__admin stays the
        # admin API's, and "/" the index unless the contract itself declares "/".
        root = next((api for api in self.apis if not api.prefix), None)
        self._rooted = root is not None
        self._index_at_root = root is None or all(op.path != "/" for op in root.contract.operations)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if self._rooted and (path.startswith("/__admin") or (path == "/" and self._index_at_root)):
                await (self.fallback if path != "/" else self._unmounted)(scope, receive, send)
                return
            for prefix, size, api in self._mounts:
                if path.startswith(prefix) and (len(path) == size or path[size] == "/"):
                    await api(scope, receive, send, path[size:] or "/")
                    return
            if not path.startswith("/__admin"):
                await self._unmounted(scope, receive, send)
                return
        await self.fallback(scope, receive, send)

    async def _unmounted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request outside every mount, answered by the fallback and kept in the journal."""
        parts: list[bytes] = []
        status = 0

        async def receive_kept() -> Message:
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                parts.append(message["body"])
            return message

        async def send_kept(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.fallback(scope, receive_kept, send_kept)
        finally:
            body = self.journal.body(b"".join(parts))
            query: bytes = scope.get("query_string", b"")
            method, path, headers = scope["method"], scope["path"], header_map(scope)
            row = (time.time(), None, "", method, path, query, headers, body, status, b"", None)
            self.journal.record(row)

    def journals(self) -> list[Journal]:
        """Every distinct journal of the app and its contracts (``create_app`` shares one)."""
        found: dict[int, Journal] = {id(self.journal): self.journal}
        for api in self.apis:
            found.setdefault(id(api.journal), api.journal)
        return list(found.values())

    def api(self, name: str) -> MountedApi:
        for api in self.apis:
            if api.contract.name == name:
                return api
        raise KeyError(name)

    async def _index(self, request: Request) -> Response:
        return JSONResponse(
            {
                "contracts": [
                    {
                        "name": api.contract.name,
                        "prefix": api.prefix,
                        "openapi": f"{api.prefix}/openapi.json",
                        "operations": len(api.contract.operations),
                    }
                    for api in sorted(self.apis, key=lambda a: a.contract.name)
                ]
            }
        )


def create_app(
    contracts: Iterable[str | Path | Contract] | None = None,
    *,
    seed: int = 0,
    max_body: int = DEFAULT_MAX_BODY,
    handlers: dict[str, dict[str, Handler]] | None = None,
    api_keys: Iterable[str] | None = None,
    state: str | Path | None = None,
    clock: Clock | None = None,
    options: dict[str, str] | None = None,
    admin_token: str | None = None,
    fixtures: str | Path | None = None,
    journal: Journal | None = None,
    faults: str | Path | None = None,
    scenarios: Iterable[str] = (),
    root: bool = False,
    stateless: bool = False,
    dynamic: bool = False,
) -> SpecfakeApp:
    """Build the fake for ``contracts`` (built-in names or paths; default: every built-in).

    ``api_keys``: the only keys accepted (each one a tenant); None accepts any non-empty key.
    ``state``: a SQLite file that keeps every acknowledged write across restarts.
    ``options``: option texts by name (`specfake.options`); each contract takes those its options
    class knows, and a name no served contract knows is an error.
    ``fixtures``: a fixtures directory (``"builtin"`` for the shipped demo world) every tenant
    starts from; None starts empty.
    ``journal``: where requests are recorded (default: the last 1000, 4 KB of each body).
    ``faults``: a YAML file of fault rules (`specfake.fault_rules`); RuleError names its line.
    ``scenarios``: scenarios to start (shipped names or files, `specfake.scenarios`).
    ``stateless``: Prism's semantics: every operation answers from the contract, nothing is stored
    (no behaviour runs, no fixtures are loaded, and ``state`` is refused).
    ``root``: mount the one contract at its servers' base path alone (``/v4``, or ``""``: the
    root), where a client given ``http://host:port`` + the real base path looks for it (Prism's
    layout); ValueError when more than one contract is served.
    ``dynamic`` (with ``stateless``): Prism's ``-d``: answers generated from the schemas instead of
    the examples, as if every request said ``Prefer: dynamic=true`` (``dynamic=false`` says not).
    """
    keys = frozenset(api_keys) if api_keys is not None else None
    if stateless and state is not None:
        raise ValueError("stateless mode stores nothing: drop the state file (--state)")
    if dynamic and not stateless:
        raise ValueError("dynamic answers (--dynamic) are a stateless mode's: add --stateless")
    chosen = list(contracts) if contracts is not None else list(builtin_contracts().values())
    loaded = [c if isinstance(c, Contract) else load_contract(c) for c in chosen]
    if root:
        if len(loaded) != 1:
            names = ", ".join(c.name for c in loaded)
            raise ValueError(f"root=True mounts exactly one contract at the root; got {len(loaded)}: {names}")
        loaded = [_rooted(loaded[0])]
    handlers = handlers or {}
    journal = journal if journal is not None else Journal()
    rules = FaultRules(seed)
    for spec in load_rules(faults) if faults is not None else []:
        rules.add(spec)
    request_ids = itertools.count(1)  # one sequence for the whole fake: X-Request-Id is unique
    staged = Scenarios()
    values = dict(options or {})
    kinds = {c.name: _options_type(c) for c in loaded}
    known = set().union(*(kind.names() for kind in kinds.values())) if kinds else Options.names()
    for name in values:
        if name not in known:
            raise OptionError(name, f"unknown option; known: {', '.join(sorted(known))}")
    apis = [
        MountedApi(
            c,
            seed=seed,
            max_body=max_body,
            handlers=handlers.get(c.name),
            api_keys=keys,
            store=_store(state, c.name),
            clock=clock,
            options={k: v for k, v in values.items() if k in kinds[c.name].names()},
            journal=journal,
            fault_rules=rules,
            request_ids=request_ids,
            scenarios=staged,
            stateless=stateless,
            dynamic=dynamic,
        )
        for c in loaded
    ]
    prefixes = [a.prefix for a in apis]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError(f"two contracts share a mount prefix: {prefixes}")
    if fixtures is not None and not stateless:
        directory = builtin_fixtures() if str(fixtures) == "builtin" else Path(fixtures)
        if not directory.is_dir():
            raise ValueError(f"fixtures directory {directory} does not exist")
        for api in apis:
            template = build_world(api, directory, seed)
            if template is not None:
                api.store.set_template(template)
    app = SpecfakeApp(apis, admin_token=admin_token, journal=journal, fault_rules=rules, scenarios=staged)
    for name in scenarios:
        staged.start(name)
    return app


def _rooted(contract: Contract) -> Contract:
    """A copy mounted at its base path alone; the copy shares what was compiled (contracts loaded
    once are shared, by the pytest plugin among others, so the original keeps its prefix)."""
    rooted = copy.copy(contract)
    rooted.prefix = base_path(contract.document)
    return rooted


def _options_type(contract: Contract) -> type[Options]:
    behaviour = declared(contract.name)
    return behaviour.options if behaviour is not None else Options


def _store(state: str | Path | None, namespace: str) -> Store:
    if state is None:
        return MemoryStore()
    from specfake.sqlite_store import SqliteStore

    return SqliteStore(state, namespace)
