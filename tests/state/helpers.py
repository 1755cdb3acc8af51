"""Shared by the state tests: the generic ``notes`` contract and how to talk to it."""

from __future__ import annotations

from pathlib import Path

NOTES = Path(__file__).with_name("notes.yaml")
PREFIX = "/notes/v1"  # contract name + the path of its server URL
KEY_HEADER = "X-API-Key"


def key(tenant: str) -> dict[str, str]:
    return {KEY_HEADER: tenant}
