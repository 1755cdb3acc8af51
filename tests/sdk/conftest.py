"""Live fakes and official SDK clients for the SDK flow tests (real sockets on 127.0.0.1).

The fakes come from the package's own pytest plugin, used as a user would: ``specfake_options``
sets the folder's options, ``served`` is the plugin's ``specfake`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from specfake.contracts.harness.pytest_plugin import RunningFake


@pytest.fixture
def specfake_options() -> dict[str, Any]:
    """Both built-in contracts, empty state, any API key accepted (each key its own tenant).

    ``strict``: a test fails if the official SDKs sent any request the contract forbids (a wrong
    type, a missing field or key, a wrong content type or method). Fields the contract does not
    name are allowed here: one test sends them on purpose (``extra_body``) and the TypeScript SDK
    copies path parameters into bodies (``projectId``), which the real service ignores.
    """
    return {"seed": 7, "strict": True, "allow_extra_fields": True}


@pytest.fixture
def served(specfake: RunningFake) -> RunningFake:
    return specfake


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
