"""Time as behaviours see it: the wall clock, or a stepping (or fixed) one for reproducible runs.

Fixture worlds are built on a ``SteppingClock`` so the same seed gives byte-identical
timestamps; a served fake uses the wall clock so what clients create looks current, unless
``--clock`` asks for a reproducible one (`parse_clock`): then the same seed and the same requests
give the same bytes, timestamps and rate-limit windows included.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class Clock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def iso(self) -> str:
        return iso(self.now())


class SteppingClock(Clock):
    """Starts at ``start`` and moves ``step`` forward on every reading."""

    def __init__(self, start: datetime, step: timedelta = timedelta(seconds=7)) -> None:
        self._now = start
        self._step = step

    def now(self) -> datetime:
        value = self._now
        self._now += self._step
        return value


def iso(moment: datetime) -> str:
    """ISO 8601 with microseconds and an explicit offset, as FastAPI serialises datetimes."""
    if moment.tzinfo is timezone.utc:  # what both clocks give: no conversion, a known suffix
        return moment.isoformat()[:-6] + "Z"
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


class FixedClock(Clock):
    """Always the same moment: time never moves (nor do rate-limit windows)."""

    def __init__(self, moment: datetime) -> None:
        self._now = moment

    def now(self) -> datetime:
        return self._now


DEFAULT_START = datetime(2026, 1, 1, tzinfo=timezone.utc)
CLOCK_SYNTAX = "wall, fixed[:ISO-TIME], or stepping[:ISO-TIME][/SECONDS] (each reading moves on SECONDS, 1)"


def parse_clock(text: str) -> Clock:
    """``--clock``: ``wall``; ``fixed:2026-01-01T00:00:00Z``; ``stepping:2026-01-01T00:00:00Z/0.5``.
    ValueError says what is accepted."""
    kind, _, rest = text.strip().partition(":")
    if kind == "wall" and not rest:
        return Clock()
    if kind not in ("fixed", "stepping"):
        raise ValueError(f"cannot read clock {text!r}; expected {CLOCK_SYNTAX}")
    start_text, _, step_text = rest.partition("/")
    try:
        start = datetime.fromisoformat(start_text.replace("Z", "+00:00")) if start_text else DEFAULT_START
        step = float(step_text) if step_text else 1.0
    except ValueError:
        raise ValueError(f"cannot read clock {text!r}; expected {CLOCK_SYNTAX}") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    if kind == "fixed":
        if step_text:
            raise ValueError(f"a fixed clock does not step: {text!r}")
        return FixedClock(start)
    if not step > 0:
        raise ValueError(f"a stepping clock needs a step > 0 seconds: {text!r}")
    return SteppingClock(start, timedelta(seconds=step))
