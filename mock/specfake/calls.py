"""What a behaviour receives (a validated ``Call``) and what it is (a ``Handler``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from specfake.contract import Operation
from specfake.http import Reply
from specfake.streaming.faults import StreamFaults


@dataclass
class Call:
    """A validated request, as behaviours see it.

    ``query`` holds coerced values (arrays as lists); ``body`` is the parsed JSON or None.
    ``api_key`` is the tenant: the credential's fingerprint (``specfake.tenants``), never the
    credential itself, so nothing a behaviour stores or shows can leak it; ``seed`` is derived
    from the server seed and the request bytes, so the same request to the same server answers
    the same generated data. ``stream_faults``: what breaks the stream a request asks for (its
    header, a fault rule or the ``stream_faults`` option), worked out by the engine before the
    handler runs. ``tokens``: what a generation produced, set by its handler, counted against the
    ``token_limit`` option.
    """

    operation: Operation
    path: dict[str, Any]
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any
    api_key: str
    seed: int
    stream_faults: StreamFaults | None = None
    tokens: int = 0


Handler = Callable[[Call], "Reply | Awaitable[Reply]"]
"""A handler's writes are committed (or rolled back on ``ApiError``) when it returns. All requests
share the store's transaction, so a handler must not ``await`` between its first write and its
return; work that ends later (a stream) writes at its end and calls ``store.commit()`` itself."""
