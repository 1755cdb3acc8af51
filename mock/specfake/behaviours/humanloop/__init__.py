"""Humanloop v4: what the contract alone cannot say (see ../shared/seeds for the rules).

One module per area; each exposes ``handlers(hl: HumanloopState) -> dict[operationId, Handler]``.
"""

from __future__ import annotations

import importlib

from specfake.behaviours import Behaviour, BehaviourContext
from specfake.behaviours.humanloop.common import HumanloopState
from specfake.calls import Handler

AREAS = (
    "projects",
    "configs",
    "generation",
    "logs",
    "sessions",
    "experiments",
    "datasets",
    "evaluators",
    "evaluations",
)


class HumanloopBehaviour(Behaviour):
    def __init__(self, ctx: BehaviourContext) -> None:
        super().__init__(ctx)
        self.state = HumanloopState(ctx)

    def handlers(self) -> dict[str, Handler]:
        out: dict[str, Handler] = {}
        for area in AREAS:
            try:
                module = importlib.import_module(f"{__name__}.{area}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{area}":
                    raise
                continue  # area not written yet: the generic layer answers
            out.update(module.handlers(self.state))
        return out
