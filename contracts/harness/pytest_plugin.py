"""pytest plugin: a live fake per test, the requests it saw, and the contract violations in them.

``specfake`` (the fixture) serves a fresh fake for each test on a real socket (127.0.0.1, a free
port): state never leaks from one test into the next. It yields a `RunningFake` with the URLs,
the app, ``journal()`` (every request the fake received, as `specfake.journal.JournalEntry`),
``violations()`` and ``assert_no_violations()`` (each request checked against the contract by
`specfake.contracts.harness.conformance.RequestChecker`, the fake's own request pipeline:
unknown or misspelled fields, wrong types, missing fields or API key, wrong content type or method).
It is the client check (``specfake check client``) as a pytest fixture, so it lives in the harness.

Options, later ones winning: ini (``specfake_contracts``, ``specfake_fixtures``,
``specfake_seed``), the command line (``--specfake-seed``, ``--specfake-fixtures``), a
``specfake_options`` fixture (override it in a conftest.py), and the marker::

    @pytest.mark.specfake("humanloop", seed=3, fixtures="builtin", scenario="seed.yaml",
                          api_keys=["k1"], strict=True)

``fixtures``: None (empty, the default), ``"builtin"`` (the demo world) or a directory.
``scenario``: a fixture script (`specfake.scenario`, a YAML list of API calls) run before the
test as ``api_key`` (default ``specfake-test-key``); what it remembered is in
``specfake.scenario``. ``scenarios``: scenarios to start (`specfake.scenarios`: shipped names such
as ``"flaky-5xx"``, or files); ``faults``: a fault rules file. ``strict``: fail the test at teardown
on any violation. ``options``: behaviour options. ``allow_extra_fields``: do not report fields the
contract does not name.

Speed: one server (uvicorn in a thread) serves the whole session; each test gets a fresh app
swapped in behind it, built from contracts parsed once. The checker is compiled on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from specfake.app import SpecfakeApp, create_app
from specfake.contract import Contract, builtin_contracts, load_contract
from specfake.contracts.harness.client_check import check_requests, checker_for, checking_journal, client_env
from specfake.contracts.harness.coverage import Coverage, from_journal
from specfake.contracts.harness.findings import Finding
from specfake.http import lifespan
from specfake.journal import JournalEntry
from specfake.server import LiveServer

DEFAULT_KEY = "specfake-test-key"
_OPTION_NAMES = (
    "contracts",
    "seed",
    "fixtures",
    "scenario",
    "api_key",
    "api_keys",
    "options",
    "strict",
    "allow_extra_fields",
    "scenarios",
    "faults",
)
_contracts: dict[str, Contract] = {}
_lock = threading.Lock()


def contract(name: str | Path | Contract) -> Contract:
    """A contract parsed once per session (they are read-only once loaded)."""
    if isinstance(name, Contract):
        return name
    with _lock:
        if str(name) not in _contracts:
            _contracts[str(name)] = load_contract(name)
        return _contracts[str(name)]


class RunningFake:
    """What the ``specfake`` fixture yields: the app, its URLs, its journal and the violations in it."""

    def __init__(
        self,
        app: SpecfakeApp,
        server: LiveServer,
        *,
        api_key: str = DEFAULT_KEY,
        allow_extra_fields: bool = False,
    ) -> None:
        self.app = app
        self.server = server
        self.url = server.url
        self.api_key = api_key
        self.scenario: dict[str, Any] = {}  # contract -> what its scenario remembered
        self._allow_extra_fields = allow_extra_fields

    def base_url(self, contract: str) -> str:
        return self.url + self.app.api(contract).prefix

    def headers(self, contract: str, api_key: str | None = None) -> dict[str, str]:
        """The headers that carry ``api_key`` (default: the fixture's key) for ``contract``'s auth."""
        return self.app.api(contract).compiled.auth_headers(api_key or self.api_key)

    @property
    def env(self) -> dict[str, str]:
        """SPECFAKE_URL, SPECFAKE_<CONTRACT>_URL, SPECFAKE_API_KEY and the SDKs' own variables."""
        bases = {api.contract.name: self.url + api.prefix for api in self.app.apis}
        return client_env(self.url, bases, self.api_key)

    def journal(self, contract: str | None = None) -> list[JournalEntry]:
        """Every request received over HTTP, oldest first (method, path, query, headers, body,
        json, status), with its secrets redacted (`specfake.journal`); ``contract`` keeps only
        those that reached it."""
        if contract is not None:
            self.app.api(contract)  # a KeyError names a contract this fake does not serve
        return self.app.journal.entries(contract=contract)

    def clear_journal(self) -> None:
        self.app.journal.clear()

    def violations(self) -> list[Finding]:
        """Every way the requests so far broke their contract (`Finding`s, side "client")."""
        checkers = [
            (api.prefix, checker_for(api.contract, allow_extra_fields=self._allow_extra_fields))
            for api in self.app.apis
        ]
        # Judged as received: a credential's form is judged too (see specfake.journal).
        return check_requests(self.app.journal.entries(raw=True), checkers, self.url)

    def coverage(self, contract: str) -> Coverage:
        """What this test's requests exercised of ``contract`` (operations, statuses, faults; the
        journal keeps no answers, so every 4xx/5xx counts as an error body and lists are not judged)."""
        api = self.app.api(contract)
        checker = checker_for(api.contract, allow_extra_fields=self._allow_extra_fields)
        return Coverage(api.contract, from_journal(self.journal(contract), [(api.prefix, checker)]))

    def assert_no_violations(self) -> None:
        """Fail the test with one line per violation: operation, rule, field, message, curl."""
        found = self.violations()
        if not found:
            return
        lines = [f"{len(found)} contract violation(s) in the requests the client sent:"]
        for finding in found:
            where = f" [{finding.field}]" if finding.field else ""
            lines.append(f"  {finding.operation}: {finding.check}{where}: {finding.message}")
            if finding.curl:
                lines.append(f"      {finding.curl}")
        pytest.fail("\n".join(lines), pytrace=False)


class _Swap:
    """The session server's app: whichever test's fake is current (404 between tests)."""

    def __init__(self) -> None:
        self.current: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.current
        if app is None:
            if scope["type"] == "lifespan":
                await lifespan(receive, send)
                return
            from starlette.responses import PlainTextResponse

            await PlainTextResponse("no specfake test is running", status_code=503)(scope, receive, send)
            return
        await app(scope, receive, send)


class _SharedServer:
    """One uvicorn for the session, started on first use; a test swaps its app in."""

    def __init__(self) -> None:
        self.swap = _Swap()
        self.server: LiveServer | None = None

    def get(self) -> LiveServer:
        if self.server is None:
            self.server = LiveServer(self.swap).start()
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def build(options: dict[str, Any]) -> SpecfakeApp:
    """The fake a test asked for (see the module docstring for ``options``)."""
    names = options.get("contracts") or list(builtin_contracts())
    if isinstance(names, str):
        names = [names]
    behaviour = {"stream_speed": "0", **{k: str(v) for k, v in (options.get("options") or {}).items()}}
    staged = options.get("scenarios") or ()
    return create_app(
        [contract(n) for n in names],
        seed=int(options.get("seed") or 0),
        api_keys=options.get("api_keys"),
        # Streams replay without waiting: tests want the bytes, not the pace (set one to test timing).
        options=behaviour,
        fixtures=options.get("fixtures"),
        journal=checking_journal(),
        faults=options.get("faults"),
        scenarios=[staged] if isinstance(staged, str) else staged,
    )


def run_scenario(fake: RunningFake, scenario: Any, seed: int) -> None:
    """Run a scenario file (or ``{contract: file}``) in process as the fixture's API key."""
    from specfake.scenario import Scenario
    from specfake.tenants import fingerprint
    from specfake.world import run_now

    files = scenario if isinstance(scenario, dict) else {None: scenario}
    for name, path in files.items():
        apis = [fake.app.api(name)] if name else fake.app.apis
        if len(apis) != 1:
            raise pytest.UsageError("specfake: give scenario={contract: file} when serving several contracts")
        fake.scenario[apis[0].contract.name] = run_now(
            Scenario.from_file(Path(path)).run(apis[0], fingerprint(fake.api_key), seed)  # its tenant
        )


@contextmanager
def serve(server: LiveServer | None = None, **options: Any) -> Iterator[RunningFake]:
    """A fake with ``options`` behind ``server`` (a session's shared one) or a server of its own.

    The public helper behind the fixture, for tests that build their own fixtures.
    """
    app = build(options)
    shared = server is not None and isinstance(server.app, _Swap)
    live = server if server is not None else LiveServer(app).start()
    if shared:
        live.app.current = app  # type: ignore[attr-defined]
    fake = RunningFake(
        app,
        live,
        api_key=options.get("api_key") or DEFAULT_KEY,
        allow_extra_fields=options.get("allow_extra_fields", False),
    )
    try:
        if options.get("scenario"):
            run_scenario(fake, options["scenario"], int(options.get("seed") or 0))
        yield fake
    finally:
        if server is None:
            live.stop()
        elif shared:
            live.app.current = None  # type: ignore[attr-defined]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("specfake")
    group.addoption("--specfake-seed", type=int, default=None, help="seed for the specfake fixture")
    group.addoption(
        "--specfake-fixtures", default=None, help="fixtures for the specfake fixture: builtin or a directory"
    )
    parser.addini("specfake_contracts", "contracts the specfake fixture serves (default: all)", type="args")
    parser.addini("specfake_fixtures", "fixtures for the specfake fixture: builtin or a directory")
    parser.addini("specfake_seed", "seed for the specfake fixture (default 0)")


def _options(request: pytest.FixtureRequest, overrides: dict[str, Any]) -> dict[str, Any]:
    config = request.config
    options: dict[str, Any] = {
        "contracts": config.getini("specfake_contracts") or None,
        "fixtures": config.getini("specfake_fixtures") or None,
        "seed": int(config.getini("specfake_seed") or 0),
    }
    if config.getoption("--specfake-seed") is not None:
        options["seed"] = config.getoption("--specfake-seed")
    if config.getoption("--specfake-fixtures") is not None:
        options["fixtures"] = config.getoption("--specfake-fixtures")
    options.update(overrides)
    marker = request.node.get_closest_marker("specfake")
    if marker is not None:
        if marker.args:
            options["contracts"] = list(marker.args)
        options.update(marker.kwargs)
    unknown = set(options) - set(_OPTION_NAMES)
    if unknown:
        raise pytest.UsageError(
            f"specfake: unknown option(s) {sorted(unknown)}; known: {list(_OPTION_NAMES)}"
        )
    return options


@pytest.fixture(scope="session")
def _specfake_server() -> Iterator[_SharedServer]:
    shared = _SharedServer()
    try:
        yield shared
    finally:
        shared.stop()


@pytest.fixture
def specfake_options() -> dict[str, Any]:
    """Override in a conftest.py to set the ``specfake`` fixture's options for a folder."""
    return {}


@pytest.fixture
def specfake(
    request: pytest.FixtureRequest, specfake_options: dict[str, Any], _specfake_server: _SharedServer
) -> Iterator[RunningFake]:
    """A fresh fake (empty by default) for this test, live on 127.0.0.1."""
    options = _options(request, specfake_options)
    with serve(_specfake_server.get(), **options) as fake:
        yield fake
        if options.get("strict"):
            fake.assert_no_violations()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "specfake(*contracts, seed=, fixtures=, scenario=, scenarios=, faults=, api_key=, api_keys=, "
        "options=, strict=, allow_extra_fields=): what the specfake fixture serves",
    )
