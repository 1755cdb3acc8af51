"""Seeded ids: the same seed and the same sequence of creations give the same ids.

Every id the fake makes comes from ``hashed_bits`` over the server seed, a kind and a counter the
store never hands out twice, so ids never collide within a store and a run can be replayed.
"""

from __future__ import annotations

import hashlib


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


def prefixed_id(seed: int, prefix: str, number: int) -> str:
    """``pr_3f9a…``: a prefix and 24 hex digits, as the Humanloop SDK's docs show its ids."""
    return f"{prefix}{hashed_bits(f'{seed}:{prefix}:{number}', 96):024x}"


def seeded_uuid(seed: int, kind: str, number: int) -> str:
    return uuid4_text(hashed_bits(f"{seed}:{kind}:{number}", 128))


def seeded_hex(seed: int, kind: str, number: int) -> str:
    """16 hex digits: the id of a generic resource whose contract names no format."""
    return f"{hashed_bits(f'{seed}:{kind}:{number}', 64):016x}"
