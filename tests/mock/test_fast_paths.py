"""The hot-path shortcuts answer exactly what the plain code they replace did."""

from __future__ import annotations

import asyncio
import gc
import random
import uuid

from starlette.types import Message, Receive, Scope, Send

from specfake.ids import uuid4_text
from specfake.server import IdleCollector


def test_uuid4_text_matches_uuid() -> None:
    rng = random.Random(5)
    for bits in [0, 2**128 - 1, *(rng.getrandbits(128) for _ in range(2000))]:
        assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))


def test_idle_collector_collects_only_between_requests_and_stops_with_the_lifespan() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    async def run() -> IdleCollector:
        collector = IdleCollector(app, interval=0.01)
        inbox: asyncio.Queue[Message] = asyncio.Queue()
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        lifespan = asyncio.create_task(collector({"type": "lifespan"}, inbox.get, send))
        await inbox.put({"type": "lifespan.startup"})
        for _ in range(3):
            gc.collect(1)  # promotes into the oldest generation: something for a full collection
            await asyncio.sleep(0.1)
        await inbox.put({"type": "lifespan.shutdown"})
        await lifespan
        assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        return collector

    collector = asyncio.run(run())
    assert collector.collections >= 1
