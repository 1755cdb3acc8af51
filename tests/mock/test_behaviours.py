"""Behaviours are declared one way and found by the contract's name; a wrong declaration fails start-up."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from specfake.api import MountedApi
from specfake.behaviours import Behaviour, BehaviourContext, Operations, declared
from specfake.behaviours.humanloop.options import HumanloopOptions
from specfake.behaviours.humanloop.streams import STREAMS
from specfake.calls import Call
from specfake.contract import load_contract
from specfake.http import Reply
from tests.state.helpers import NOTES


class Counter:
    def __init__(self, ctx: BehaviourContext) -> None:
        self.ctx = ctx
        self.calls = 0


def test_built_in_behaviours_are_found_by_name_and_others_have_none() -> None:
    humanloop = declared("humanloop")
    assert humanloop is not None and humanloop.options is HumanloopOptions and humanloop.streams is STREAMS
    assert declared("sgp") is not None
    assert declared("notes") is None and declared("not-an-identifier") is None


def test_handlers_are_bound_to_one_state_per_mount() -> None:
    ops: Operations[Counter] = Operations()

    @ops("getNote", "listNotes")
    def count(state: Counter, call: Call) -> Reply:
        state.calls += 1
        return Reply(200, {"calls": state.calls})

    api = MountedApi(load_contract(NOTES))
    handlers = Behaviour(state=Counter, operations=[ops]).bind(api.context)
    assert set(handlers) == {"getNote", "listNotes"}
    call = SimpleNamespace(api_key="")  # what the binding reads: the tenant ids are numbered for
    assert handlers["getNote"](call).body == {"calls": 1}  # type: ignore[arg-type, union-attr]
    assert handlers["listNotes"](call).body == {"calls": 2}  # type: ignore[arg-type, union-attr]


def test_a_handler_for_an_operation_the_contract_lacks_fails_start_up() -> None:
    ops: Operations[Counter] = Operations()
    ops("getNotes")(lambda state, call: Reply(200))  # a typo of getNote
    api = MountedApi(load_contract(NOTES))
    with pytest.raises(ValueError, match="the contract has no getNotes"):
        Behaviour(state=Counter, operations=[ops]).bind(api.context)


def test_two_handlers_for_one_operation_are_refused() -> None:
    ops: Operations[Counter] = Operations()
    ops("getNote")(lambda state, call: Reply(200))
    with pytest.raises(ValueError, match="two handlers for getNote"):
        ops("getNote")(lambda state, call: Reply(200))
    other: Operations[Counter] = Operations()
    other("getNote")(lambda state, call: Reply(200))
    api = MountedApi(load_contract(NOTES))
    with pytest.raises(ValueError, match="two handlers for getNote"):
        Behaviour(state=Counter, operations=[ops, other]).bind(api.context)
