"""Shared by the streaming tests: a live fake with injected handlers, request bodies, samples.
(Timing is measured with ``bench.measure``.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from specfake.app import create_app
from specfake.behaviours.humanloop.streams import generation_stream
from specfake.calls import Call, Handler
from specfake.http import Reply
from specfake.server import LiveServer
from specfake.streaming.cassette import Cassette
from specfake.streaming.faults import StreamFaults

PREFIX = "/humanloop/v4"
KEY = {"X-API-KEY": "specfake-test-key"}


@contextmanager
def served(handlers: dict[str, Handler]) -> Iterator[str]:
    """The Humanloop contract on a free 127.0.0.1 port with ``handlers``; yields its base URL."""
    app = create_app(["humanloop"], handlers={"humanloop": handlers})
    with LiveServer(app) as server:
        yield server.url + PREFIX


def chat_body(text: str = "Hello?", **extra: Any) -> dict[str, Any]:
    return {
        "project": "demo",
        "model_config": {"model": "gpt-4o-mini"},
        "messages": [{"role": "user", "content": text}],
        "stream": True,
        **extra,
    }


def sample(index: int, output: str, *, chat: bool = True, finish: str = "stop") -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": f"data_{index:024x}",
        "index": index,
        "output": output,
        "raw_output": output,
        "finish_reason": finish,
        "model_config_id": "config_" + "ab" * 12,
    }
    if chat:
        item["output_message"] = {"role": "assistant", "content": output}
    return item


def generation_handler(
    samples: list[dict[str, Any]],
    *,
    speed: float = 0.0,
    cassette: Cassette | None = None,
    completed: list[str] | None = None,
    faults: StreamFaults | None = None,
) -> Handler:
    """A handler streaming ``samples`` through ``generation_stream`` (faults from the header, or
    ``faults`` for clients that cannot send it)."""

    def handle(call: Call) -> Reply:
        on_complete: Callable[[], None] | None = None
        if completed is not None:
            on_complete = lambda: completed.append(call.operation.operation_id)  # noqa: E731
        stream = generation_stream(
            samples,
            {"project_id": "pr_" + "cd" * 12},
            seed=call.seed,
            speed=speed,
            faults=faults or StreamFaults.from_headers(call.headers),
            cassette=cassette,
            on_complete=on_complete,
        )
        return Reply(200, stream=stream)

    return handle
