"""Errors the fake answers with. Their bodies follow FastAPI, as the real services do."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error answer: ``{"detail": detail}`` with ``status``."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, detail={self.detail!r})"


class RequestValidationError(ApiError):
    """422 with one ``{"loc", "msg", "type"}`` entry per offending field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(422, errors)
        self.errors = errors


def not_found(what: str = "Not Found") -> ApiError:
    return ApiError(404, what)


def conflict(what: str) -> ApiError:
    return ApiError(409, what)
