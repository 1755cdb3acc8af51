"""Behaviour options: typed, frozen, validated once (at start-up and on ``PUT /__admin/options``).

Every contract has the engine's options (streams); a behaviour adds its own by subclassing
`Options` (as httpx keeps a typed config). Options arrive as ``NAME=VALUE`` strings (``--option``,
``create_app(options=...)``, the admin API) and are parsed into fields here; a value that cannot be
used fails at once, naming the option: a start-up error, or a 422 from the admin API. Nothing is
parsed on the request path: handlers read ``ctx.options.evaluation_pace`` as a float.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from specfake.limits import Limit, parse_limits, parse_token_limit
from specfake.streaming.faults import StreamFaults

OptionsT = TypeVar("OptionsT", bound="Options")
Parser = Callable[[str], Any]


class OptionError(ValueError):
    """An option that cannot be used; the message starts with its name."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


def option(default: Any, parse: Parser, doc: str, *, startup_only: bool = False) -> Any:
    """A field of an options class: its default, how its text is read, what it does."""
    return field(default=default, metadata={"parse": parse, "doc": doc, "startup_only": startup_only})


# -- parsers: text -> value, ValueError saying what is accepted ------------------------------------


def parse_speed(text: str) -> float:
    """``--stream-speed``/``stream_speed``: a float >= 0."""
    try:
        speed = float(text)
    except ValueError:
        speed = -1.0
    if not speed >= 0:  # also rejects NaN
        raise ValueError(f"stream speed must be a number >= 0 (0 = no waiting, 1 = real time), got {text!r}")
    return speed


def parse_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError(f"expected a number of seconds >= 0, got {text!r}")
    return seconds


def parse_count(text: str) -> int:
    """``retention``/``max_tenants``: a whole number >= 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"expected a whole number >= 1, got {text!r}")
    return count


def parse_directory(text: str) -> str:
    if not Path(text).is_dir():
        raise ValueError(f"{text}: no such cassette directory")
    return text


def parse_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return text.rstrip("/")


def parse_faults(text: str) -> StreamFaults | None:
    return StreamFaults.parse(text) if text.strip() else None


def one_of(*choices: str) -> Parser:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(repr(c) for c in choices)}, got {text!r}")
        return text

    return parse


# -- the options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The engine's options, which every contract has."""

    stream_speed: float = option(
        1.0, parse_speed, "factor on streamed chunks' gaps: 0 sends at once, 1 real time, 2 twice as slow"
    )
    streams_dir: str | None = option(
        None, parse_directory, "recordings replayed before the built-in ones", startup_only=True
    )
    stream_faults: StreamFaults | None = option(
        None, parse_faults, "a stream fault rule for every stream (X-Specfake-Stream-Fault syntax)"
    )
    replay: str = option(
        "prefer", one_of("prefer", "only", "off"), "recordings first (prefer), alone (only), never (off)"
    )
    upstream: str | None = option(
        None, parse_url, "the service missing recordings come from (with record_missing)", startup_only=True
    )
    record_missing: str | None = option(
        None, str, "where recordings fetched from upstream are written", startup_only=True
    )
    rate_limit: tuple[Limit, ...] = option(
        (), parse_limits, "requests per API key: 60/min (the contract), logs_log=10/s (one operation)"
    )
    token_limit: Limit | None = option(
        None, parse_token_limit, "generated tokens per API key on the streaming operations: 10000/min"
    )
    # Memory bounds, applied to the store at start-up (see README "Limits").
    retention: int = option(
        100_000,
        parse_count,
        "values kept per tenant of each high-volume kind (logs, datapoints, evaluations); oldest evicted",
        startup_only=True,
    )
    max_tenants: int = option(
        10_000, parse_count, "API keys (tenants) served; a new key past it gets a 403", startup_only=True
    )
    # What was set, as given: what GET /__admin/options shows, and what a change starts from.
    given: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def fields(cls) -> dict[str, dataclasses.Field[Any]]:
        return {f.name: f for f in dataclasses.fields(cls) if "parse" in f.metadata}

    @classmethod
    def names(cls) -> frozenset[str]:
        return frozenset(cls.fields())

    @classmethod
    def parse(cls: type[OptionsT], values: Mapping[str, str]) -> OptionsT:
        """Options from their texts (an empty text is the default); OptionError names the first bad one."""
        known = cls.fields()
        parsed: dict[str, Any] = {}
        given: dict[str, str] = {}
        for name, text in values.items():
            spec = known.get(name)
            if spec is None:
                raise OptionError(name, f"unknown option; known: {', '.join(sorted(known))}")
            if not isinstance(text, str):
                raise OptionError(name, f"expected a string value, got {text!r}")
            if text == "":
                continue
            try:
                parsed[name] = spec.metadata["parse"](text)
            except ValueError as exc:
                raise OptionError(name, str(exc)) from None
            given[name] = text
        return cls(**parsed, given=given)

    def changed(self: OptionsT, changes: Mapping[str, str]) -> OptionsT:
        """These options with ``changes`` applied (``""`` unsets one); start-up-only ones refused."""
        known = self.fields()
        for name, text in changes.items():
            spec = known.get(name)
            if spec is not None and spec.metadata["startup_only"] and text != self.given.get(name, ""):
                raise OptionError(name, "can only be set at start-up")
        merged = {**self.given, **changes}
        return self.parse({name: text for name, text in merged.items() if text != ""})

    def describe(self) -> dict[str, str]:
        """Every option's name and what it does (``GET /__admin``)."""
        return {name: str(spec.metadata["doc"]) for name, spec in self.fields().items()}
