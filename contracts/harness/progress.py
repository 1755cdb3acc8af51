"""A progress display for long ``check server`` runs: one line per phase, redrawn per operation.

Only a person at a terminal wants it: on a TTY without ``CI`` set it draws on stderr; otherwise
(a pipe, a log file, CI) it stays silent, so reports and logs keep exactly what they had.
The checker reports through `current()`, which is a silent display unless `display` made one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

_CLEAR = "\r\x1b[2K"


def wanted(stream: Any, environ: Mapping[str, str] | None = None) -> bool:
    """Loud only on a terminal outside CI (``CI`` set to anything but "" / "0" / "false")."""
    env = os.environ if environ is None else environ
    if env.get("CI", "").strip().lower() not in ("", "0", "false"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed stream
        return False


class Progress:
    """The display; every method is a no-op when ``enabled`` is False."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = False) -> None:
        self.stream = stream
        self.enabled = enabled and stream is not None
        self._phase: str | None = None
        self._count = 0
        self._started = time.monotonic()

    def phase(self, name: str) -> None:
        """Close the current phase's line and start a new one."""
        if not self.enabled:
            return
        self._end_line()
        self._phase, self._count, self._started = name, 0, time.monotonic()
        self._draw("")

    def operation(self, label: str) -> None:
        """Redraw the phase's line with the operation being checked now."""
        if not self.enabled:
            return
        self._count += 1
        self._draw(label)

    def event(self, event: Any) -> None:
        """A schemathesis engine event: a phase start or a scenario (one operation) start."""
        if not self.enabled:
            return
        kind = type(event).__name__
        if kind == "PhaseStarted":
            self.phase(f"schemathesis {getattr(event.phase.name, 'value', event.phase.name)}")
        elif kind in ("ScenarioStarted", "FuzzScenarioStarted") and getattr(event, "label", None):
            self.operation(str(event.label))

    def close(self) -> None:
        if self.enabled:
            self._end_line()
            self._phase = None

    def _draw(self, label: str) -> None:
        assert self.stream is not None
        elapsed = time.monotonic() - self._started
        text = f"{self._phase} [{self._count}] {label}" if label else f"{self._phase} …"
        self.stream.write(f"{_CLEAR}specfake: {text[:150]} ({elapsed:.0f}s)")
        self.stream.flush()

    def _end_line(self) -> None:
        if self._phase is not None and self.stream is not None:
            self.stream.write(f" done in {time.monotonic() - self._started:.1f}s\n")
            self.stream.flush()


_SILENT = Progress()
_current = _SILENT


def current() -> Progress:
    """The display the running check reports to (silent outside `display`)."""
    return _current


@contextmanager
def display(stream: TextIO, environ: Mapping[str, str] | None = None) -> Iterator[Progress]:
    """Make `current()` draw on ``stream`` for the block, when `wanted`."""
    global _current
    shown = Progress(stream, enabled=wanted(stream, environ))
    previous, _current = _current, shown
    try:
        yield shown
    finally:
        shown.close()
        _current = previous
