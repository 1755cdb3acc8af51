"""Prism's per-request controls: the ``Prefer`` header and the ``__code`` / ``__example`` /
``__dynamic`` query parameters.

Test suites written against ``prism mock`` pick an answer per request with them: ``code=404``
answers the response the contract declares for 404, ``example=NAME`` the named example of the
answer's ``examples`` map, ``dynamic=true`` data generated from its schema instead of the example.
An answer so chosen comes from the contract alone, in both modes: no behaviour runs and nothing is
stored. A code the operation does not declare, or an example it does not name, is a 422 naming the
header or the query parameter and listing what would do (Prism answers those with a 500 or a 404).
The engine only reads them when a request has a ``prefer`` header or ``__`` in its query string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from specfake.contract import is_json
from specfake.errors import Loc
from specfake.pipeline import PRISM_QUERY, Violation

if TYPE_CHECKING:
    from specfake.contract import Operation

HEADER = "prefer"
QUERY = PRISM_QUERY
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True, slots=True)
class Preference:
    """What a request asks for. ``status``: the answer's status (the asked code, else the
    operation's success status); ``example``: a named example; ``dynamic``: generate instead of
    using the example. ``problems``: the 422 entries for controls that cannot be honoured."""

    status: int
    code: int | None = None
    example: str | None = None
    dynamic: bool = False
    problems: tuple[Violation, ...] = ()

    def __str__(self) -> str:
        parts = [f"code={self.code}"] if self.code is not None else []
        parts += [f"example={self.example}"] if self.example is not None else []
        parts += ["dynamic=true"] if self.dynamic else []
        return ", ".join(parts)


def read(
    headers: dict[str, str], query: dict[str, list[str]], op: Operation, *, dynamic: bool = False
) -> Preference | None:
    """The controls of a request (the ``__`` parameters are taken out of ``query``, so no validator
    sees them); None when it asks for nothing (``Prefer: return=minimal``, ``dynamic=false``).
    ``dynamic``: the server's default (``mock -d``), which a request's ``dynamic=false`` turns off."""
    asked: dict[str, tuple[str, Loc]] = {}
    for entry in _entries(headers.get(HEADER, "")):
        name, sep, value = (part.strip() for part in entry.partition("="))
        name = name.lower()
        if sep and name in ("code", "example", "dynamic"):
            asked[name] = (value.strip('"'), ("header", HEADER))
    for parameter in QUERY:
        values = query.pop(parameter, None)
        if values:  # the query wins over the header, as in Prism
            asked[parameter[2:]] = (values[-1], ("query", parameter))
    if not asked and not dynamic:
        return None
    problems: list[Violation] = []
    code: int | None = None
    if "code" in asked:
        text, loc = asked["code"]
        if text.isdigit() and 100 <= int(text) <= 599:
            code = int(text)
        else:
            problems.append(_problem(loc, f"code={text}: expected an HTTP status from 100 to 599"))
    if "dynamic" in asked:
        text, loc = asked["dynamic"]
        if text.lower() in _TRUE | _FALSE:
            dynamic = text.lower() in _TRUE
        else:
            problems.append(_problem(loc, f"dynamic={text}: expected true or false"))
    example = asked["example"][0] if "example" in asked else None
    if code is None and example is None and not dynamic and not problems:
        return None
    status = code if code is not None else _default_status(op)
    declared = sorted(op.responses)
    if code is not None and code not in op.responses:
        listed = ", ".join(map(str, declared)) or "none"
        message = f"code={code}: {op.method} {op.path} declares no {code} response; it declares {listed}"
        problems.append(_problem(asked["code"][1], message))
    elif example is not None and not dynamic:  # dynamic wins over an example, as in Prism
        spec = op.responses.get(status)
        named = next((v for t, v in spec.named.items() if is_json(t)), {}) if spec is not None else {}
        if example not in named:
            known = f"known: {', '.join(named)}" if named else "it has no named examples"
            where = f"the {status} response of {op.method} {op.path}"
            message = f"example={example}: {where} has no such example; {known}"
            problems.append(_problem(asked["example"][1], message))
    return Preference(status, code, example, dynamic, tuple(problems))


def _entries(text: str) -> list[str]:
    """``code=404, example=a; dynamic=true``: Prism takes both separators."""
    return [entry for part in text.split(",") for entry in part.split(";") if entry.strip()]


def _default_status(op: Operation) -> int:
    success = op.success
    if success is not None:
        return success.status
    return min(op.responses) if op.responses else 200


def _problem(loc: Loc, message: str) -> Violation:
    return Violation(422, "prefer", loc, message)
