"""Running the fake on a real socket: uvicorn in a background thread, always stopped.

Used by the pytest plugin and the tests; the CLI runs uvicorn in the foreground instead.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from specfake.protocol import HttpPolicy, protocol_class


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# Automatic full collections only after 1000 young-generation ones (CPython: 10), a safety net
# under load that never pauses; IdleCollector runs them while the server idles instead.
GC_THRESHOLDS = (700, 10, 1000)


def settle_gc() -> None:
    """Take garbage-collector work off the request path of a served fake.

    A full collection scans every tracked object, and every stored log adds several: at 100 000
    logs one pauses the server for 100-300 ms, the long tail of the POST latency. Everything
    built at start-up (contracts, validators, the fixture world, modules) lives as long as the
    process, so it is frozen out of the scans; full collections then wait for an idle moment
    (``IdleCollector``), with CPython's automatic ones kept as a rare safety net. Young
    collections are untouched, so request garbage is freed as promptly as before.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class IdleCollector:
    """ASGI wrapper of a served fake: full collections run while the process idles.

    A background task started with the lifespan samples the process's CPU time; when the last
    ``interval`` seconds used under ``idle_share`` of a core and objects reached the oldest
    generation since the last full collection, it collects them. Under sustained load that
    never happens, and the thresholds of ``settle_gc`` take over.
    """

    def __init__(self, app: ASGIApp, interval: float = 0.25, idle_share: float = 0.05) -> None:
        self.app = app
        self.interval = interval
        self.idle_share = idle_share
        self.collections = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        task: asyncio.Task[None] | None = None

        async def lifespan_receive() -> Message:
            nonlocal task
            message = await receive()
            if message["type"] == "lifespan.startup" and task is None:
                task = asyncio.get_running_loop().create_task(self._collect_when_idle())
            elif message["type"] == "lifespan.shutdown" and task is not None:
                task.cancel()
            return message

        try:
            await self.app(scope, lifespan_receive, send)
        finally:
            if task is not None:
                task.cancel()

    async def _collect_when_idle(self) -> None:
        last = time.process_time()
        while True:
            await asyncio.sleep(self.interval)
            now = time.process_time()
            if now - last < self.interval * self.idle_share and gc.get_count()[2] > 0:
                gc.collect()
                self.collections += 1
                now = time.process_time()
            last = now


def uvicorn_config(
    app: ASGIApp,
    host: str,
    port: int,
    log_level: str = "warning",
    *,
    tune_gc: bool = True,
    http: HttpPolicy | None = None,
) -> uvicorn.Config:
    """Logging and access logs stay off the request path unless asked for.

    ``http``: head limits, head timeout and Host allowlist of the HTTP protocol
    (``specfake.protocol``); the bind host is allowed unless it is a wildcard.

    ``tune_gc``: the app is built, so settle the collector for serving (``settle_gc``) and
    collect fully only while idle (``IdleCollector``); off for an in-process ``LiveServer``,
    whose host process (a test run) owns its collector.
    """
    if tune_gc:
        settle_gc()
        app = IdleCollector(app)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        http=protocol_class(http or HttpPolicy(), host),
        server_header=False,
        date_header=False,
    )


class LiveServer:
    """``with LiveServer(app) as server: httpx.get(server.url + ...)``; binds 127.0.0.1 only."""

    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, http: HttpPolicy | None = None
    ) -> None:
        self.app = app
        self.host = host
        self.port = port or free_port(host)
        self._server = uvicorn.Server(uvicorn_config(app, host, self.port, tune_gc=False, http=http))
        # No signal-handler override needed: uvicorn (>=0.29) installs handlers only on the main thread.
        self._thread = threading.Thread(target=self._server.run, name="specfake-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"specfake did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
