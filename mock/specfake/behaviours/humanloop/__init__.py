"""Humanloop v4: what the contract alone cannot say (see ../shared/seeds for the rules).

One module per area; each exposes ``handlers(hl: HumanloopState) -> dict[operationId, Handler]``.
"""

from __future__ import annotations

from specfake.behaviours import Behaviour, BehaviourContext
from specfake.behaviours.humanloop import (
    configs,
    datasets,
    evaluations,
    evaluators,
    experiments,
    finetunes,
    generation,
    logs,
    projects,
    sessions,
)
from specfake.behaviours.humanloop.common import HumanloopState
from specfake.calls import Handler

AREAS = (
    projects,
    configs,
    generation,
    logs,
    sessions,
    experiments,
    datasets,
    evaluators,
    evaluations,
    finetunes,
)


class HumanloopBehaviour(Behaviour):
    def __init__(self, ctx: BehaviourContext) -> None:
        super().__init__(ctx)
        self.state = HumanloopState(ctx)

    def handlers(self) -> dict[str, Handler]:
        out: dict[str, Handler] = {}
        for area in AREAS:
            out.update(area.handlers(self.state))
        return out
