"""Errors the fake answers with: small exceptions that carry their status and the API's error shape.

Both built-in APIs run on FastAPI, so the default shape is FastAPI's: ``{"detail": "..."}`` for an
``HTTPException`` and ``{"detail": [{"loc", "msg", "type"}, ...]}`` for a 422. An API with another
shape gives its behaviour an error class of its own that overrides ``body`` (as moto keeps an
``exceptions.py`` per service).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One entry of a 422: where the problem is (``("body", "messages", 0, "role")``), what it is,
    and FastAPI's error type (``missing``, ``string_type``, ``enum``...)."""

    loc: Loc
    msg: str
    type: str = "value_error"

    def entry(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


def field_path(loc: Sequence[str | int]) -> str:
    """``("body", "messages", 0, "role")`` -> ``body.messages[0].role`` (``*``, any item: ``[*]``)."""
    out = ""
    for part in loc:
        if isinstance(part, int) or part == "*":
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class ApiError(Exception):
    """An HTTP error answer: ``status``, the API's error body around ``detail``, extra headers."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> Any:
        """The answer's JSON body: FastAPI's ``HTTPException`` shape."""
        return {"detail": self.detail}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, detail={self.detail!r})"


class RequestValidationError(ApiError):
    """422 with one ``{"loc", "msg", "type"}`` entry per offending field, as FastAPI answers."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__(422, [e.entry() for e in self.errors])


def unprocessable(loc: Sequence[str | int], msg: str, type: str = "value_error") -> RequestValidationError:
    """A 422 naming one field: for rules a schema cannot state (FastAPI validators answer them so)."""
    return RequestValidationError([FieldError(tuple(loc), msg, type)])


def parse_header(headers: Mapping[str, str], name: str, parse: Callable[[str], T]) -> T | None:
    """``parse`` of header ``name`` (lower-cased names), None when absent or blank.

    A value ``parse`` refuses with ValueError is a 422 naming the header, as FastAPI answers one.
    """
    text = headers.get(name)
    if text is None or not text.strip():
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise unprocessable(("header", name), str(exc)) from None


class NotFound(ApiError):
    def __init__(self, detail: str = "Not Found") -> None:
        super().__init__(404, detail)


class Conflict(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(409, detail)
