"""The wire format: what ``event`` writes, the strict parser reads back, and the official Python
SDK's own line parser agrees with the strict parser on what is readable."""

from __future__ import annotations

import json

import pytest
from humanloop.client_custom import _parse_sse_chunk
from hypothesis import given
from hypothesis import strategies as st

from specfake.streaming.sse import (
    SseFramingError,
    SseSplitter,
    event,
    event_raw,
    parse_events,
    payloads,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def test_event_is_one_data_line_and_a_blank_line() -> None:
    out = event({"data": [{"output": "two\nlines", "index": 0}], "project_id": "pr_1"})
    assert out.startswith(b"data: ") and out.endswith(b"\n\n")
    assert out.count(b"\n") == 2
    assert json.loads(out[6:]) == {"data": [{"output": "two\nlines", "index": 0}], "project_id": "pr_1"}


@given(st.lists(json_values, max_size=6))
def test_round_trip_through_the_strict_parser(values: list[object]) -> None:
    body = b"".join(event(v) for v in values)
    parsed = parse_events(body)
    assert all(ev.ok for ev in parsed)
    assert [ev.payload for ev in parsed] == values


@given(st.lists(json_values, min_size=1, max_size=5), st.lists(st.integers(0, 10_000), max_size=6))
def test_splitter_finds_events_across_any_chunk_boundaries(values: list[object], cuts: list[int]) -> None:
    body = b"".join(event(v) for v in values)
    points = sorted({c % (len(body) + 1) for c in cuts})
    splitter = SseSplitter()
    got: list[bytes] = []
    for a, b in zip([0, *points], [*points, len(body)], strict=True):
        got += splitter.feed(body[a:b])
    assert got == [event(v) for v in values]
    assert splitter.rest() == b""


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'{"data": []}\n\n', "no-data-prefix"),
        (b'data:{"data": []}\n\n', "no-data-prefix"),
        (b": keep-alive\n\n", "no-data-prefix"),
        (b"data: [DONE]\n\n", "not-json"),
        (b'data: {"data":\n\n', "not-json"),
        (b'data: {"a": 1}\ndata: {"b": 2}\n\n', "multi-line"),
        (b'event: message\ndata: {"a": 1}\n\n', "multi-line"),
        (b'data: {"a": 1}\n', "unterminated"),
        (b'data: {"a": 1}', "unterminated"),
    ],
)
def test_framing_errors_are_reported_not_dropped(body: bytes, kind: str) -> None:
    (ev,) = parse_events(body)
    assert not ev.ok and ev.kind == kind, ev
    with pytest.raises(SseFramingError, match="event 1"):
        payloads(body)


def test_crlf_line_endings_are_accepted_and_lines_may_be_given_one_by_one() -> None:
    assert payloads(b'data: {"a": 1}\r\n\r\ndata: {"b": 2}\r\n\r\n') == [{"a": 1}, {"b": 2}]
    assert payloads(['data: {"a": 1}\n', "\n", 'data: {"b": 2}\n', "\n"]) == [{"a": 1}, {"b": 2}]


def test_an_extra_blank_line_is_reported() -> None:
    events = parse_events(b'data: {"a": 1}\n\n\n\ndata: {"b": 2}\n\n')
    assert [ev.kind for ev in events] == [None, "empty", None]


def test_event_raw_keeps_the_payload_bytes_and_refuses_newlines() -> None:
    assert event_raw('{"a": 1,  "b": 2}') == b'data: {"a": 1,  "b": 2}\n\n'
    with pytest.raises(SseFramingError):
        event_raw('{"a":\n1}')


@pytest.mark.parametrize(
    "line",
    [
        b'data: {"data": [{"output": "x"}]}',
        b'data:{"data": [{"output": "x"}]}',
        b'{"data": [{"output": "x"}]}',
        b"data: [DONE]",
        b'data: {"data": [{"out',
    ],
)
def test_the_strict_parser_accepts_exactly_what_the_python_sdk_can_read(line: bytes) -> None:
    """The SDK keeps a line only if it starts with 'data: ' and the rest is JSON; else it drops it."""
    sdk = _parse_sse_chunk(line + b"\n")
    try:
        sdk_reads = sdk is not None and json.loads(sdk) is not None
    except ValueError:
        sdk_reads = False
    (ev,) = parse_events(line + b"\n\n")
    assert ev.ok == sdk_reads
