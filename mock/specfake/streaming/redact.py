"""Keeping secrets out of anything written to disk (cassettes, recorded fixtures).

Redacted always, whatever the caller asks: the API-key headers (``X-API-KEY``, ``x-api-key``,
``Authorization`` and any header naming a key, token, secret or cookie), the contents of
``provider_api_keys``, and any body field whose name contains ``api_key``/``apikey``/``api-key``.
On top of the field rules, every secret value seen in the request is also blanked wherever it
reappears as a substring (an error message echoing the key, for instance).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "REDACTED"
_SECRET_HEADER = re.compile(r"key|token|secret|auth|cookie|password", re.IGNORECASE)
_SECRET_FIELD = re.compile(r"api[_-]?key|authorization|password|secret", re.IGNORECASE)
_MIN_SECRET = 4  # shorter values would blank ordinary words


def is_secret_header(name: str) -> bool:
    return bool(_SECRET_HEADER.search(name))


def is_secret_field(name: str) -> bool:
    return bool(_SECRET_FIELD.search(name))


def secrets_in(headers: Mapping[str, str], body: Any) -> set[str]:
    """Every secret value a request carries, for substring scrubbing of what is recorded."""
    found: set[str] = set()
    for name, value in headers.items():
        if is_secret_header(name) and value:
            found.add(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.lower() in ("bearer", "basic", "token"):
                found.add(token)
    _collect(body, found, inside_secret=False)
    return {s for s in found if len(s) >= _MIN_SECRET}


def _collect(value: Any, found: set[str], inside_secret: bool) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            secret = inside_secret or key == "provider_api_keys" or is_secret_field(str(key))
            _collect(item, found, secret)
    elif isinstance(value, list):
        for item in value:
            _collect(item, found, inside_secret)
    elif inside_secret and isinstance(value, str):
        found.add(value)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of a JSON value with secret fields replaced by ``"REDACTED"`` and secrets scrubbed."""
    ordered = sorted(set(secrets), key=len, reverse=True)
    return _redact(value, ordered, inside_secret=False)


def _redact(value: Any, secrets: list[str], inside_secret: bool) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "provider_api_keys":
                out[key] = _redact(item, secrets, inside_secret=True)
            elif is_secret_field(str(key)):
                out[key] = _blank(item)
            else:
                out[key] = _redact(item, secrets, inside_secret)
        return out
    if isinstance(value, list):
        return [_redact(item, secrets, inside_secret) for item in value]
    if inside_secret:
        return _blank(value)
    if isinstance(value, str):
        return scrub(value, secrets)
    return value


def _blank(value: Any) -> Any:
    """Keep structure (which providers had keys) but never a value; nulls stay null."""
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return None if value is None else REDACTED


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str] = ()) -> dict[str, str]:
    ordered = sorted(set(secrets), key=len, reverse=True)
    return {
        name: (REDACTED if is_secret_header(name) else scrub(value, ordered))
        for name, value in headers.items()
    }
