"""Humanloop v4: what the contract alone cannot say (see ../shared/seeds for the rules)."""

from __future__ import annotations

from specfake.behaviours import Behaviour
from specfake.calls import Handler


class HumanloopBehaviour(Behaviour):
    def handlers(self) -> dict[str, Handler]:
        return {}
