"""Hypothesis strategies from a contract, for users' property tests (``from specfake.strategies import …``).

The implementation lives with the contract-checking harness; this is its public, short import path.
"""

from specfake.contracts.harness.strategies import (
    Request,
    StrategyError,
    request_bodies,
    requests,
    responses,
    stream_events,
)

__all__ = ["Request", "StrategyError", "request_bodies", "requests", "responses", "stream_events"]
