"""Humanloop's options, on top of the engine's (streams): how evaluation runs progress."""

from __future__ import annotations

from dataclasses import dataclass

from specfake.options import Options, one_of, option, parse_seconds


@dataclass(frozen=True)
class HumanloopOptions(Options):
    evaluation_pace: float = option(
        0.0, parse_seconds, "seconds per datapoint of an hl_generated run (0: complete when created)"
    )
    evaluation_hold: str = option(
        "", one_of("pending", "running"), "hold evaluation runs at this status (pending or running)"
    )
    evaluation_outcome: str = option(
        "completed", one_of("completed", "failed"), "how a fake-driven evaluation run ends"
    )
