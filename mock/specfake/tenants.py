"""Tenants are named by a fingerprint of their API key, never by the key itself.

The store, the journal, the state export, the SQLite file and the banner all show the
fingerprint, so none of them leaks a credential; the same key always gives the same fingerprint,
so a test can still find its tenant (``fingerprint("specfake-key-1")``).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

PREFIX = "t_"
# The ASGI scope key an in-process call (a fixture script's, a scenario step's) names its tenant by;
# honoured only for calls made with ``record=False``, never for a request that came over HTTP.
SCOPE_KEY = "specfake.tenant"
_PERSON = b"specfake-tenant"  # BLAKE2b personalisation: these digests are ours alone


@lru_cache(maxsize=4096)
def fingerprint(key: str) -> str:
    """``t_`` and 16 hex digits (64 bits) of a keyed-by-purpose BLAKE2b digest of ``key``.

    "" (an operation that needs no key) stays "": one anonymous tenant. Cached: the hot path asks
    once per request, and a fake sees few keys (any-key mode's many are bounded by the cache)."""
    if not key:
        return ""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8, person=_PERSON)
    return PREFIX + digest.hexdigest()


def is_fingerprint(name: str) -> bool:
    """Whether ``name`` already is a fingerprint (a migrated state file's tenant, an admin query)."""
    return len(name) == len(PREFIX) + 16 and name.startswith(PREFIX) and _is_hex(name[len(PREFIX) :])


def tenant_of(name: str) -> str:
    """The tenant an admin query or a test names: a fingerprint as it is, a raw key fingerprinted.

    (A raw key that happens to look like a fingerprint is taken for one.)"""
    return name if is_fingerprint(name) else fingerprint(name)


def mask(key: str) -> str:
    """A key as the start-up banner shows it: its first 4 characters and its last 2 (``spec…-1``),
    or only its fingerprint when it is too short to show any of it safely."""
    if len(key) < 10:
        return fingerprint(key)
    return f"{key[:4]}\u2026{key[-2:]}"


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
