"""Seeded ids: the same seed and the same sequence of creations give the same ids.

Every id the fake makes comes from ``hashed_bits`` over the server seed, a kind, a counter the
store never hands out twice and the tenant it numbers for, so ids never collide within a store and
a run can be replayed. Each tenant has its own counters and its tenant in the hash: one tenant's
ids say nothing about how much another has created. Tenant "" (anonymous, and a store with one
shared numbering such as the fixture world's builder) hashes exactly as before tenants had counters
of their own, so the demo world's ids are unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Numbering(Protocol):
    """What `fresh_id` needs of a store (`specfake.store.Store` has it)."""

    def next_number(self, tenant: str, name: str) -> int: ...
    def id_scope(self, tenant: str) -> str: ...
    def reserved(self, key: str) -> bool: ...


def fresh_id(
    store: Numbering,
    tenant: str,
    name: str,
    make: Callable[[int, str], T],
    taken: Callable[[str], bool] | None = None,
) -> T:
    """``make(number, scope)`` for ``tenant``'s next number of ``name``, skipping a number whose id
    the template every tenant starts from already holds (a world or export made on this seed, an
    integer id equal to a world's) or that ``taken`` says is in use: a new id never names
    something that already exists. Deterministic: the skips depend only on the store's contents."""
    scope = store.id_scope(tenant)
    while True:
        made = make(store.next_number(tenant, name), scope)
        key = str(made)
        if not store.reserved(key) and (taken is None or not taken(key)):
            return made


def _text(seed: int, kind: str, number: int, tenant: str) -> str:
    """The hash input: ``seed:kind:number`` for tenant "" (as it always was), ``…@tenant`` else."""
    return f"{seed}:{kind}:{number}@{tenant}" if tenant else f"{seed}:{kind}:{number}"


def hashed_bits(text: str, bits: int) -> int:
    """``bits`` (a multiple of 8) drawn from a BLAKE2b digest of ``text``: what ids are made of.

    As reproducible as seeding ``random.Random(text)`` but a tenth of the cost: seeding the
    Mersenne Twister (about 5 us) was the largest single cost of a create such as POST /logs."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=bits // 8).digest(), "big")


def uuid4_text(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))`` without building the UUID (half the cost)."""
    value = (bits & ~(0xC000 << 48) | (0x8000 << 48)) & ~(0xF000 << 64) | (4 << 76)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def prefixed_id(seed: int, prefix: str, number: int, tenant: str = "") -> str:
    """``pr_3f9a…``: a prefix and 24 hex digits, as the Humanloop SDK's docs show its ids."""
    return f"{prefix}{hashed_bits(_text(seed, prefix, number, tenant), 96):024x}"


def seeded_uuid(seed: int, kind: str, number: int, tenant: str = "") -> str:
    return uuid4_text(hashed_bits(_text(seed, kind, number, tenant), 128))


def seeded_hex(seed: int, kind: str, number: int, tenant: str = "") -> str:
    """16 hex digits: the id of a generic resource whose contract names no format."""
    return f"{hashed_bits(_text(seed, kind, number, tenant), 64):016x}"
