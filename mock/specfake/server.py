"""Running the fake on a real socket: uvicorn in a background thread, always stopped.

Used by the pytest plugin and the tests; the CLI runs uvicorn in the foreground instead.
"""

from __future__ import annotations

import gc
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# Full collections at most every 100 young-generation ones (CPython's default is 10): see settle_gc.
GC_THRESHOLDS = (700, 10, 100)


def settle_gc() -> None:
    """Take start-up garbage-collector work off the request path of a served fake.

    Everything built so far (contracts, validators, the fixture world, imported modules) lives as
    long as the process, so it is frozen out of the collector's scans; full collections, whose
    pause grows with every stored object (~130 ms at 100 000 stored logs), run a tenth as often.
    Young collections are untouched, so request garbage is freed as promptly as before.
    Measured in process (``python -m bench.profile --latency hl_post``, 100 000 logs): no full
    collection ran and the worst pause was under 5 ms, against six full ones of up to 130-300 ms
    untuned. The cost: cyclic garbage that reached the oldest generation waits longer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def uvicorn_config(
    app: ASGIApp, host: str, port: int, log_level: str = "warning", *, tune_gc: bool = True
) -> uvicorn.Config:
    """Logging and access logs stay off the request path unless asked for.

    ``tune_gc``: the app is built, so settle the collector for serving (``settle_gc``); off for
    an in-process ``LiveServer``, whose host process (a test run) owns its collector.
    """
    if tune_gc:
        settle_gc()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        date_header=False,
    )


class LiveServer:
    """``with LiveServer(app) as server: httpx.get(server.url + ...)``; binds 127.0.0.1 only."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port or free_port(host)
        self._server = uvicorn.Server(uvicorn_config(app, host, self.port, tune_gc=False))
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
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
