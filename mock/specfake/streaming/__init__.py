"""Streaming: SSE as the official SDKs parse it, cassettes with per-chunk timing, faithful replay,
synthetic streams on a seeded pace, and faults inside a stream (issue 4).

Entry points: ``generation_stream`` (a generation behaviour's SSE body), ``CassetteLibrary``
(recordings matched to requests), ``replay`` (a cassette at its pace), ``StreamFaults``
(``X-Specfake-Stream-Fault``), ``sse.event`` / ``sse.parse_events`` (the wire format).
"""

from specfake.streaming.cassette import Cassette, CassetteError, CassetteLibrary, Chunk, builtin_streams
from specfake.streaming.faults import HEADER as FAULT_HEADER
from specfake.streaming.faults import StreamCut, StreamFaults
from specfake.streaming.replay import generation_stream, replay, synthetic_chunks
from specfake.streaming.sse import SseEvent, SseFramingError, event, parse_events

__all__ = [
    "FAULT_HEADER",
    "Cassette",
    "CassetteError",
    "CassetteLibrary",
    "Chunk",
    "SseEvent",
    "SseFramingError",
    "StreamCut",
    "StreamFaults",
    "builtin_streams",
    "event",
    "generation_stream",
    "parse_events",
    "replay",
    "synthetic_chunks",
]
