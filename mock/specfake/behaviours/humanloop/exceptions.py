"""Humanloop's errors. The service runs on FastAPI, so every error is ``{"detail": ...}``: a
message for 404 and 409, a list of ``{"loc", "msg", "type"}`` entries for 422."""

from __future__ import annotations

from typing import Any

from specfake.errors import ApiError, unprocessable

__all__ = ["Conflict", "HumanloopError", "NotFound", "unprocessable"]


class HumanloopError(ApiError):
    """An error answer in Humanloop's shape (FastAPI's ``HTTPException``)."""


class NotFound(HumanloopError):
    def __init__(self, detail: str) -> None:
        super().__init__(404, detail)

    @classmethod
    def id(cls, what: str, ident: Any, where: str | None = None) -> NotFound:
        """``Project with id 'pr_x' not found`` (``where``: the request field that named it)."""
        return cls(f"{what} with id {ident!r} not found" + (f" ({where})" if where else ""))


class Conflict(HumanloopError):
    def __init__(self, detail: str) -> None:
        super().__init__(409, detail)
