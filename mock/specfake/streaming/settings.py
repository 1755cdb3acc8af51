"""A mounted contract's streams: its recordings, pace and fault rule, and its behaviour's shape.

The engine builds one per mounted contract from the options (``stream_speed``, ``streams_dir``,
``stream_faults``) and the shape the contract's behaviour declares; behaviours reach it as
``ctx.streams`` and never parse a stream option themselves.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from specfake.http import Reply
from specfake.streaming.cassette import Cassette, CassetteLibrary
from specfake.streaming.faults import StreamFaults
from specfake.streaming.handler import cassette_reply, match_call
from specfake.streaming.replay import generation_stream
from specfake.streaming.shape import StreamShape

if TYPE_CHECKING:
    from specfake.calls import Call
    from specfake.options import Options


@functools.cache
def builtin_cassettes() -> tuple[Cassette, ...]:
    """The shipped recordings (``fixtures/streams/``), parsed once per process, shared read-only."""
    return tuple(CassetteLibrary.builtin())


class Streams:
    """``options``: reads the contract's current options (the admin API may replace them)."""

    def __init__(self, contract: str, shape: StreamShape, options: Callable[[], Options]) -> None:
        self.contract = contract
        self.shape = shape
        self._options = options
        self.library = CassetteLibrary()
        directory = options().streams_dir  # start-up only: read once
        for cassette in (*(CassetteLibrary(directory) if directory else ()), *builtin_cassettes()):
            self.library.add(cassette)  # the first added wins a match: the user's recordings

    @property
    def speed(self) -> float:
        return self._options().stream_speed

    def match(self, call: Call) -> Cassette | None:
        """The recording answering this request, if any (none when the ``replay`` option is off)."""
        if self._options().replay == "off":
            return None
        return match_call(self.library, call, self.contract)

    def replay(self, cassette: Cassette, call: Call) -> Reply:
        """A recording as the answer: a stream at its pace, or the recorded status and body."""
        return cassette_reply(cassette, call, self.speed)

    def generation(
        self,
        samples: list[dict[str, Any]],
        envelope: dict[str, Any],
        *,
        seed: int,
        faults: StreamFaults | None,
        cassette: Cassette | None = None,
        on_complete: Callable[[], None] | None = None,
    ) -> AsyncIterator[bytes]:
        """A streamed generation in the behaviour's shape (``generation_stream``)."""
        return generation_stream(
            samples,
            envelope,
            seed=seed,
            speed=self.speed,
            faults=faults,
            shape=self.shape.chunks,
            cassette=cassette,
            on_complete=on_complete,
        )
