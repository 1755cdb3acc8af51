"""The hot-path shortcuts answer exactly what the plain code they replace did."""

from __future__ import annotations

import random

from specfake.behaviours import seeded_bits


def test_seeded_bits_matches_random_seeded_with_the_string() -> None:
    for text in ("0:pr_:1", "7:data_:12345", "42:evaluations:3", "", "ünï:cödé"):
        for bits in (96, 128):
            assert seeded_bits(text, bits) == random.Random(text).getrandbits(bits)
