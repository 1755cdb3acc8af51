"""What the streaming engine must know of one API, supplied by that API's behaviour.

The engine sends chunks at a pace, cuts and stalls them, records and replays them; it does not
know what a chunk holds. A behaviour that streams generated text declares a `ChunkShape` (where a
chunk carries a sample's piece of text, its index and its ids, and how one is built) and, per
streamed operation, a `RecordingKey` (which part of a request a recording answers). A contract
without them still streams: recordings replay byte for byte, matched on path, query and body.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def _no_model(body: Any) -> str | None:
    return None


def _one_sample(body: Any) -> int:
    return 1


@dataclass(frozen=True)
class RecordingKey:
    """How requests of one operation are matched to recordings.

    ``subject``: the part of the body a recording's hash covers (None: the whole body, with the
    path and query); ``model``: the model a request asks for, which a recording may name;
    ``samples``: how many samples it asks for (a recording answers one count only).
    """

    subject: Callable[[Any], dict[str, Any]] | None = None
    model: Callable[[Any], str | None] = _no_model
    samples: Callable[[Any], int] = _one_sample


WHOLE_REQUEST = RecordingKey()


class ChunkShape:
    """How an API's stream events carry generated samples. The default knows none: events are
    replayed as recorded and no samples can be read from them (a behaviour overrides it)."""

    # The fields of an item that hold the fake's own ids, swapped in when a recording is replayed.
    ids: tuple[str, ...] = ()

    def item(self, payload: Any) -> dict[str, Any] | None:
        """The sample item one event carries, if any."""
        return None

    def envelope(self, payload: Any) -> dict[str, Any]:
        """An event's fields besides its item (the same in every event of a stream)."""
        return {}

    def event(self, item: dict[str, Any], envelope: dict[str, Any]) -> Any:
        """One event's payload around one item."""
        return {**envelope, **item}

    def index(self, item: dict[str, Any]) -> int:
        """Which sample an item belongs to (several samples stream interleaved)."""
        return 0

    def text(self, item: dict[str, Any]) -> str:
        """The piece of generated text an item carries."""
        return ""

    def piece(self, sample: dict[str, Any], text: str, last: bool) -> dict[str, Any]:
        """The item of a synthetic chunk: ``text`` of ``sample`` (``last``: its final chunk)."""
        return {"text": text}

    def sample(self, last: dict[str, Any], text: str) -> dict[str, Any]:
        """A whole sample read back from a recording: its last item, with the joined ``text``."""
        return {**last}


@dataclass(frozen=True)
class StreamShape:
    """A behaviour's declaration: its chunk shape, and the recording key of each streamed operation."""

    chunks: ChunkShape = field(default_factory=ChunkShape)
    keys: dict[str, RecordingKey] = field(default_factory=dict)

    def key(self, operation_id: str | None) -> RecordingKey:
        return self.keys.get(operation_id or "", WHOLE_REQUEST)


PLAIN = StreamShape()
