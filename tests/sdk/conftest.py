"""Live fakes and official SDK clients for the SDK flow tests (real sockets on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from specfake.app import create_app
from specfake.pytest_plugin import RunningFake
from specfake.server import LiveServer


@pytest.fixture
def served() -> Iterator[RunningFake]:
    """Both built-in contracts, empty state, any API key accepted (each key its own tenant)."""
    app = create_app(seed=7, options={"stream_speed": "0"})
    with LiveServer(app) as server:
        yield RunningFake(app, server)


@pytest.fixture
def humanloop_client(served: RunningFake) -> Callable[..., Any]:
    """``humanloop_client(api_key="k1")`` -> an official ``humanloop.Humanloop`` client."""
    from humanloop import Humanloop

    def make(api_key: str = "k1") -> Any:
        return Humanloop(api_key=api_key, host=served.base_url("humanloop"))

    return make


@pytest.fixture
def sgp_client(served: RunningFake) -> Callable[..., Any]:
    """``sgp_client(api_key="k1")`` -> a strict official ``scale_gp.SGPClient``."""
    from scale_gp import SGPClient

    def make(api_key: str = "k1") -> Any:
        return SGPClient(
            api_key=api_key, base_url=served.base_url("sgp"), _strict_response_validation=True, max_retries=0
        )

    return make
