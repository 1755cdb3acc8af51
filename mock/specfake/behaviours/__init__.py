"""API-specific behaviour, one module per contract (as moto keeps one backend per service).

The generic resource layer already gives any contract create -> get -> list -> update -> delete.
A behaviour module adds only what the contract cannot say: name lookups, templating, status
machines, archives. It is found by contract name in ``BEHAVIOURS``; a contract with no entry runs
on the generic layer alone.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from specfake.clock import Clock

if TYPE_CHECKING:
    from specfake.answers import ContractAnswers
    from specfake.calls import Handler
    from specfake.contract import Contract
    from specfake.resources import ResourceLayer
    from specfake.store import Store

# contract name -> "module:factory"; the factory takes a BehaviourContext, returns a Behaviour.
BEHAVIOURS: dict[str, str] = {
    "humanloop": "specfake.behaviours.humanloop:HumanloopBehaviour",
    "sgp": "specfake.behaviours.sgp:SgpBehaviour",
}


@dataclass
class Options:
    """Behaviour knobs from the command line or the admin API (strings, read by name)."""

    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


@dataclass
class BehaviourContext:
    """Everything a behaviour may use; it owns nothing else."""

    contract: Contract
    store: Store
    answers: ContractAnswers
    resources: ResourceLayer
    seed: int
    clock: Clock
    options: Options

    def new_id(self, prefix: str) -> str:
        """A fresh id such as ``pr_3f9a…``: seeded, never repeated in this store."""
        number = self.store.next_number(prefix)
        return f"{prefix}{hashed_bits(f'{self.seed}:{prefix}:{number}', 96):024x}"

    def new_uuid(self, kind: str) -> str:
        number = self.store.next_number(kind)
        return uuid4_text(hashed_bits(f"{self.seed}:{kind}:{number}", 128))

    def now(self) -> str:
        return self.clock.iso()


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


class Behaviour:
    """Base class: ``handlers()`` maps operationIds to handlers; the rest is up to the module."""

    def __init__(self, ctx: BehaviourContext) -> None:
        self.ctx = ctx

    def handlers(self) -> dict[str, Handler]:
        return {}


def behaviour_for(ctx: BehaviourContext) -> Behaviour | None:
    target = BEHAVIOURS.get(ctx.contract.name)
    if target is None:
        return None
    module_name, _, factory = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, factory)(ctx)
