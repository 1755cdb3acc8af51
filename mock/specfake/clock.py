"""Time as behaviours see it: the wall clock, or a stepping one for reproducible worlds.

Fixture worlds are built on a ``SteppingClock`` so the same seed gives byte-identical
timestamps; a served fake uses the wall clock so what clients create looks current.
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
