"""Scale GenAI Platform evaluations: archive-on-delete, restore, multi-key sorting, views."""

from __future__ import annotations

from specfake.behaviours import Behaviour
from specfake.calls import Handler


class SgpBehaviour(Behaviour):
    def handlers(self) -> dict[str, Handler]:
        return {}
