"""pytest plugin: a live fake per test (real socket on 127.0.0.1, free port, always stopped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from specfake.app import SpecfakeApp, create_app
from specfake.server import LiveServer


class RunningFake:
    """What the ``specfake`` fixture yields: the app, its base URL and per-contract URLs."""

    def __init__(self, app: SpecfakeApp, server: LiveServer) -> None:
        self.app = app
        self.server = server
        self.url = server.url

    def base_url(self, contract: str) -> str:
        return self.url + self.app.api(contract).prefix


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("specfake")
    group.addoption("--specfake-seed", type=int, default=0, help="seed for the specfake fixture")


@pytest.fixture
def specfake(request: pytest.FixtureRequest) -> Iterator[RunningFake]:
    """A fresh fake of every built-in contract, served over HTTP for this test."""
    marker = request.node.get_closest_marker("specfake")
    contracts = list(marker.args) if marker and marker.args else None
    seed = request.config.getoption("--specfake-seed")
    # Streams replay without waiting: tests want the bytes, not the pace (set one to test timing).
    app = create_app(contracts, seed=seed, options={"stream_speed": "0"})
    with LiveServer(app) as server:
        yield RunningFake(app, server)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "specfake(*contracts): contracts the specfake fixture serves")
