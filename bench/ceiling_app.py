"""The ceiling: a framework-free ASGI callable answering fixed bytes, on the same uvicorn
(httptools, uvloop, no access log) as the fake.

No routing library, no validation, no state: one dict look-up per request. Whatever specfake
does on top of uvicorn costs the difference between its row and this one, so the bench prints
specfake's figures as ratios to it (issue 17). The answers are the exact bytes the fake answered
for the same request, sampled by ``bench.run`` at the start of the run and passed in a JSON file
named by ``BENCH_CEILING_ROUTES``: ``{"GET /path": [status, "body"], ...}``. A POST reads its
whole body before answering, as the fake must.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

NOT_FOUND = (404, b'{"detail":"Not Found"}')


def _load() -> dict[tuple[str, str], tuple[int, bytes]]:
    path = os.environ.get("BENCH_CEILING_ROUTES")
    if not path:
        return {}
    raw: dict[str, list[Any]] = json.loads(Path(path).read_text())
    routes = {}
    for key, (status, body) in raw.items():
        method, _, target = key.partition(" ")
        routes[(method, target)] = (int(status), str(body).encode())
    return routes


ROUTES = _load()


def _start(status: int, body: bytes) -> Message:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"type": "http.response.start", "status": status, "headers": headers}


# Built once: the request path does nothing but look up and send.
ANSWERS = {
    key: (_start(status, body), {"type": "http.response.body", "body": body})
    for key, (status, body) in ROUTES.items()
}
MISSING = (_start(*NOT_FOUND), {"type": "http.response.body", "body": NOT_FOUND[1]})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    method = scope["method"]
    if method == "POST":
        more = True
        while more:  # read the whole body, as the fake must before it validates
            message = await receive()
            more = message.get("more_body", False)
    start, body = ANSWERS.get((method, scope["path"]), MISSING)
    await send(start)
    await send(body)
