"""API-specific behaviour, declared per contract and found by the contract's name.

The generic resource layer already gives any contract create -> get -> list -> update -> delete.
A behaviour adds only what the contract cannot say (name lookups, templating, status machines,
archives), in ``specfake.behaviours.<contract name>`` (a module, or a package for a large API, as
moto keeps one backend per service). It declares its handlers by operation id, all written one way,
``fn(state, call) -> Reply``, and exports ``BEHAVIOUR``::

    ops: Operations[SgpState] = Operations()

    @ops("evaluations_create")
    def create(sgp: SgpState, call: Call) -> Reply: ...

    BEHAVIOUR = Behaviour(state=SgpState, operations=[ops], options=SgpOptions)

When a contract of that name is mounted, ``state(ctx)`` is built once from its `BehaviourContext`
and every handler is bound to it. A handler for an operation the contract lacks fails start-up.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from specfake.clock import Clock
from specfake.errors import ApiError
from specfake.ids import fresh_id, prefixed_id, seeded_uuid
from specfake.options import Options
from specfake.streaming.shape import StreamShape

if TYPE_CHECKING:
    from specfake.answers import ContractAnswers
    from specfake.calls import Call, Handler
    from specfake.contract import Contract
    from specfake.http import Reply
    from specfake.resources import ResourceLayer
    from specfake.store import Store
    from specfake.streaming.settings import Streams

S = TypeVar("S")
HandlerFn = Callable[[S, "Call"], "Reply | Awaitable[Reply]"]


@dataclass
class BehaviourContext:
    """Everything a behaviour may use; it owns nothing else.

    ``options`` is replaced as a whole when ``PUT /__admin/options`` changes it, so read it when a
    request needs it rather than keeping a copy; ``streams`` carries the contract's recordings,
    pace and fault rule.
    """

    contract: Contract
    store: Store
    answers: ContractAnswers
    resources: ResourceLayer
    seed: int
    clock: Clock
    options: Options
    streams: Streams = field(init=False)

    def new_id(self, prefix: str) -> str:
        """A fresh id such as ``pr_3f9a…`` for the tenant of the request being handled: seeded,
        numbered per tenant, never repeated in this store."""
        seed = self.seed
        return fresh_id(self.store, _tenant(), prefix, lambda n, scope: prefixed_id(seed, prefix, n, scope))

    def new_uuid(self, kind: str) -> str:
        seed = self.seed
        return fresh_id(self.store, _tenant(), kind, lambda n, scope: seeded_uuid(seed, kind, n, scope))

    def now(self) -> str:
        return self.clock.iso()


class Operations(Generic[S]):
    """The handlers of one area of an API, keyed by operation id (``@ops("projects_create")``)."""

    def __init__(self) -> None:
        self.table: dict[str, HandlerFn[S]] = {}

    def __call__(self, *operation_ids: str) -> Callable[[HandlerFn[S]], HandlerFn[S]]:
        """Declare the decorated function as the handler of these operations."""

        def declare(handler: HandlerFn[S]) -> HandlerFn[S]:
            for operation_id in operation_ids:
                if operation_id in self.table:
                    raise ValueError(f"two handlers for {operation_id}")
                self.table[operation_id] = handler
            return handler

        return declare


@dataclass(frozen=True)
class Behaviour(Generic[S]):
    """One contract's behaviour: its state (built from the context), its handlers, its options
    class (a subclass of `specfake.options.Options`), when it streams its stream shape, and its
    error class (what a ``status=`` fault answers with)."""

    state: Callable[[BehaviourContext], S]
    operations: Sequence[Operations[S]]
    options: type[Options] = Options
    streams: StreamShape | None = None
    errors: type[ApiError] = ApiError  # the API's error class: its body() is the API's error shape
    # Store kind -> the JSON Schema its values must match (``$ref``s into the contract), so an
    # admin import cannot store what the handlers would fail to read back.
    stored: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def bind(self, ctx: BehaviourContext) -> dict[str, Handler]:
        """operation id -> handler, each bound to one state for this mount."""
        state = self.state(ctx)
        known = {op.operation_id for op in ctx.contract.operations}
        bound: dict[str, Handler] = {}
        for table in self.operations:
            for operation_id, handler in table.table.items():
                if operation_id not in known:
                    raise ValueError(f"{ctx.contract.name} behaviour: the contract has no {operation_id}")
                if operation_id in bound:
                    raise ValueError(f"{ctx.contract.name} behaviour: two handlers for {operation_id}")
                bound[operation_id] = _for_tenant(functools.partial(handler, state))
        return bound


# The tenant whose request a handler is serving: where `BehaviourContext.new_id` numbers. Set on
# entry and never reset: a stream's completion, later in the same request's task (its own
# context), still draws for that request's tenant, and every handler sets it before it runs.
_TENANT: ContextVar[str] = ContextVar("specfake_tenant")


def _tenant() -> str:
    try:
        return _TENANT.get()
    except LookupError:
        raise RuntimeError("an id was drawn outside a request: no tenant to number it for") from None


def _for_tenant(handler: Callable[[Call], Reply | Awaitable[Reply]]) -> Handler:
    def run(call: Call) -> Reply | Awaitable[Reply]:
        _TENANT.set(call.api_key)
        return handler(call)

    return run


@functools.cache
def declared(contract_name: str) -> Behaviour[Any] | None:
    """``BEHAVIOUR`` of ``specfake.behaviours.<contract_name>``, or None: the generic layer alone."""
    module_name = f"{__name__}.{contract_name}"
    if not contract_name.isidentifier() or importlib.util.find_spec(module_name) is None:
        return None
    behaviour = getattr(importlib.import_module(module_name), "BEHAVIOUR", None)
    if not isinstance(behaviour, Behaviour):
        raise TypeError(f"{module_name} must define BEHAVIOUR = Behaviour(...)")
    return behaviour
