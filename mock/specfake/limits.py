"""Rate limits and token quotas, per API key: real 429s a client must back off from.

Off by default. ``rate_limit`` (``--rate-limit``, ``--option`` or the admin API) holds entries
separated by ``;`` or ``,``: ``60/min`` counts every request of a key to the contract,
``logs_log=10/s`` the requests of one operation. ``token_limit`` (``10000/min``) counts the tokens
the generation endpoints produce (what a behaviour reports as ``Call.tokens``); a key over it is
refused until the window turns. Windows are fixed and aligned on the fake's clock, so a stepping
clock makes them reproducible. Every answer under a limit carries ``X-RateLimit-Limit``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (seconds until the window turns) for the
tightest limit; a refusal is a 429 in the API's error shape with ``Retry-After``. A refused request
counts against nothing.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

UNITS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "day": 86400}
_ENTRY = re.compile(r"^\s*(?:([A-Za-z_][\w.-]*)\s*=\s*)?(\d+)\s*/\s*([a-z]+)\s*$")
SYNTAX = "N/unit, or OPERATION_ID=N/unit (unit: s, min, h, day), separated by ';' or ','"


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int
    operation: str | None = None  # None: every request of the key to the contract

    def __str__(self) -> str:
        unit = next(name for name, size in UNITS.items() if size == self.seconds)
        return f"{self.operation + '=' if self.operation else ''}{self.count}/{unit}"


def parse_limits(text: str) -> tuple[Limit, ...]:
    """``60/min; logs_log=10/s``; ValueError names the entry that cannot be read."""
    out: list[Limit] = []
    for entry in filter(str.strip, re.split(r"[;,]", text)):
        found = _ENTRY.match(entry)
        unit = found.group(3) if found else ""
        if found is None or unit not in UNITS or int(found.group(2)) < 1:
            raise ValueError(f"cannot read {entry.strip()!r}; expected {SYNTAX}")
        out.append(Limit(int(found.group(2)), UNITS[unit], found.group(1)))
    return tuple(out)


def parse_token_limit(text: str) -> Limit:
    limits = parse_limits(text)
    if len(limits) != 1 or limits[0].operation is not None:
        raise ValueError(f"expected one N/unit (e.g. 10000/min), got {text!r}")
    return limits[0]


@dataclass
class Verdict:
    """What the limits say of one request: refused or not, and the headers of the tightest."""

    refused: bool
    headers: dict[str, str]
    retry_after: int = 0


class Limiter:
    """Fixed-window counters per (key, limit). Only the current window of each is kept."""

    def __init__(self) -> None:
        self._used: dict[tuple[str, Limit], tuple[int, int]] = {}  # -> (window number, used)
        self._lock = threading.Lock()

    def _window(self, tenant: str, limit: Limit, now: float) -> tuple[int, int, int]:
        """(window number, used in it, seconds until it turns)."""
        number = int(now // limit.seconds)
        window, used = self._used.get((tenant, limit), (number, 0))
        if window != number:
            used = 0
        return number, used, max(1, math.ceil((number + 1) * limit.seconds - now))

    def admit(
        self,
        tenant: str,
        operation: str,
        now: float,
        requests: tuple[Limit, ...],
        tokens: Limit | None,
    ) -> Verdict:
        """Count this request against every request limit that applies, unless one (or the token
        quota) is spent: then nothing is counted and the answer is a 429."""
        applying = [limit for limit in requests if limit.operation in (None, operation)]
        with self._lock:
            states = [(limit, *self._window(tenant, limit, now)) for limit in applying]
            spent = [(limit, reset) for limit, _, used, reset in states if used >= limit.count]
            token_state = self._window(tenant, tokens, now) if tokens is not None else None
            if token_state is not None and tokens is not None and token_state[1] >= tokens.count:
                spent.append((tokens, token_state[2]))
            if spent:
                limit, reset = max(spent, key=lambda s: s[1])
                return Verdict(True, _headers(limit.count, 0, reset), retry_after=reset)
            tightest: tuple[int, int, int] | None = None  # (remaining, limit, reset)
            for limit, number, used, reset in states:
                self._used[(tenant, limit)] = (number, used + 1)
                remaining = limit.count - used - 1
                if tightest is None or remaining < tightest[0]:
                    tightest = (remaining, limit.count, reset)
            if token_state is not None and tokens is not None:
                remaining = tokens.count - token_state[1]
                if tightest is None or remaining < tightest[0]:
                    tightest = (remaining, tokens.count, token_state[2])
        headers = _headers(tightest[1], tightest[0], tightest[2]) if tightest is not None else {}
        return Verdict(False, headers)

    def spend_tokens(self, tenant: str, tokens: int, limit: Limit, now: float) -> None:
        """Count the tokens a request generated (it was admitted under the quota; it may overrun)."""
        with self._lock:
            number, used, _ = self._window(tenant, limit, now)
            self._used[(tenant, limit)] = (number, used + tokens)


def _headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(max(remaining, 0)),
        "x-ratelimit-reset": str(reset),
    }
