"""Live fakes and official SDK clients for the SDK flow tests (real sockets on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from specfake.app import SpecfakeApp, create_app
from specfake.server import LiveServer


class Served:
    def __init__(self, app: SpecfakeApp, server: LiveServer) -> None:
        self.app = app
        self.url = server.url

    def base_url(self, contract: str) -> str:
        return self.url + self.app.api(contract).prefix


@pytest.fixture
def served() -> Iterator[Served]:
    """Both built-in contracts, empty state, any API key accepted (each key its own tenant)."""
    app = create_app(seed=7, options={"stream_speed": "0"})
    with LiveServer(app) as server:
        yield Served(app, server)


@pytest.fixture
def humanloop_client(served: Served) -> Callable[..., Any]:
    """``humanloop_client(api_key="k1")`` -> an official ``humanloop.Humanloop`` client."""
    from humanloop import Humanloop

    def make(api_key: str = "k1") -> Any:
        return Humanloop(api_key=api_key, host=served.base_url("humanloop"))

    return make


@pytest.fixture
def sgp_client(served: Served) -> Callable[..., Any]:
    """``sgp_client(api_key="k1")`` -> a strict official ``scale_gp.SGPClient``."""
    from scale_gp import SGPClient

    def make(api_key: str = "k1") -> Any:
        return SGPClient(
            api_key=api_key, base_url=served.base_url("sgp"), _strict_response_validation=True, max_retries=0
        )

    return make
