"""Hypothesis strategies drawn from a contract: request bodies, requests and response bodies.

For property tests of code that talks to (or answers as) an API::

    from hypothesis import given
    from specfake.strategies import responses

    @given(responses("sgp", "evaluations_list"))
    def test_my_parser_survives(body): parse(body)

Generation is schemathesis' JSON Schema engine (``schemathesis.generation.jsonschema``), fed a
self-contained copy of the operation's schema (the component schemas it reaches, at their own
pointers). On top of it an *unusual* layer twists a drawn value towards what clients most often
mishandle, keeping a twist only when the contract still accepts the result: empty lists, absent
optional fields, ``null`` where nullable, long and non-ASCII strings, large numbers, extra fields
where ``additionalProperties`` allows. Every twist is a draw, so Hypothesis shrinks them away when
they do not matter, and a failure is reported with the plainest body that still fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import quote

import jsonschema_rs
from hypothesis import strategies as st

from specfake.contract import Contract, Operation, is_json, load_contract

Path = tuple[str | int, ...]

# How many twists one drawn value may receive; Hypothesis shrinks the count towards 0.
MAX_TWISTS = 6
EXTRA_FIELD = "x_specfake_extra"
MAX_ITEMS = 3  # items per generated array without a maxItems (the `repeat` twist goes further)
_LONG_STRING_SIZES = (256, 1000, 10_000)
_ODD_STRINGS = (
    "",
    " ",
    "\t\n",
    "Zürich, ünïcödé ∑",
    "日本語のテキスト",
    "مرحبا بالعالم",  # right-to-left
    "👩‍👩‍👧‍👦🎉",  # emoji, with zero-width joiners
    "\u202eevil",  # right-to-left override
    "line one\nline two",
    "\"quoted\" 'and' \\escaped\\",
    "null",
    "0",
)
_ODD_INTEGERS = (0, -1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, -(2**63))
_ODD_NUMBERS = (0.0, -0.0, 0.1, 1e-300, 1.7976931348623157e308, -1e308, 2.0**53 + 2)


class StrategyError(Exception):
    """The operation has no schema for what was asked (no request body, no such status, not JSON)."""


def contract_of(contract: str | Contract) -> Contract:
    """A built-in name or a path is loaded once per process; a loaded Contract is used as is."""
    if isinstance(contract, Contract):
        return contract
    with _LOCK:
        loaded = _CONTRACTS.get(contract)
        if loaded is None:
            loaded = _CONTRACTS[contract] = load_contract(contract)
        return loaded


_LOCK = threading.RLock()
_CONTRACTS: dict[str, Contract] = {}
# id(contract) -> (contract kept alive so its id is never reused, {key: strategy})
_CACHE: dict[int, tuple[Contract, dict[tuple[Any, ...], Any]]] = {}


_T = TypeVar("_T")


def _cached(contract: Contract, key: tuple[Any, ...], make: Callable[[], _T]) -> _T:
    """Strategies (and validators) are compiled once per contract and operation."""
    with _LOCK:
        slot = _CACHE.setdefault(id(contract), (contract, {}))[1]
        if key not in slot:
            slot[key] = make()
        # Each key has one maker at its call site, so a hit holds what that maker returns.
        return cast(_T, slot[key])


# -- self-contained schemas -----------------------------------------------------------------


def rooted(contract: Contract, schema: Any) -> Any:
    """``schema`` plus every document node its ``$ref``s reach, placed at their own pointers.

    The result is a standalone JSON Schema: local refs such as ``#/components/schemas/X`` resolve in
    it unchanged, and it carries only the components it needs (the whole Humanloop document would
    make every compilation slow).
    """
    if not isinstance(schema, dict):
        return schema
    root: dict[str, Any] = dict(schema)
    pending = list(_refs(schema))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen or not ref.startswith("#/"):
            continue
        seen.add(ref)
        target = contract.resolve({"$ref": ref})
        parts = [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = target
        pending.extend(_refs(target))
    return root


def _capped(node: Any) -> Any:
    """A copy where arrays without ``maxItems`` hold at most MAX_ITEMS items, for generation only.

    Nested lists of unbounded size make drawing slow and bodies unreadable; length is what the
    ``repeat`` twist is for. Validation still uses the contract's own schema.
    """
    if isinstance(node, list):
        return [_capped(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _capped(v) for k, v in node.items()}
    kinds = node.get("type")
    # Only `type` tells a schema from a `properties` map that has a property named "items".
    if (kinds == "array" or (isinstance(kinds, list) and "array" in kinds)) and "maxItems" not in node:
        out["maxItems"] = max(MAX_ITEMS, int(node.get("minItems", 0)))
    return out


def _refs(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@dataclass
class Compiled:
    """One schema ready to draw from and to check against."""

    schema: Any
    strategy: st.SearchStrategy[Any]
    is_valid: Callable[[Any], bool]


def compile_schema(contract: Contract, schema: Any, *, unusual: bool = True) -> Compiled:
    """Schemathesis' generator for ``schema`` (refs resolved within ``contract``), plus the twists."""
    from schemathesis.generation.jsonschema.builder import build
    from schemathesis.specs.openapi.formats import (
        STRING_FORMATS,
        format_lengths_for,
        get_default_format_strategies,
    )

    root = rooted(contract, schema)
    formats = {**get_default_format_strategies(), **STRING_FORMATS}
    base = build(
        _capped(root),
        draft=20,
        formats=formats,
        format_lengths=format_lengths_for(formats),
        whole_floats=False,
    )
    is_valid = jsonschema_rs.Draft202012Validator(root, validate_formats=True).is_valid
    strategy = _twisted(base, is_valid) if unusual else base
    return Compiled(root, strategy, is_valid)


# -- what users call ----------------------------------------------------------------------------


def operation_of(contract: str | Contract, operation_id: str) -> tuple[Contract, Operation]:
    loaded = contract_of(contract)
    try:
        return loaded, loaded.operation(operation_id)
    except KeyError:
        raise StrategyError(f"contract {loaded.name!r} has no operation {operation_id!r}") from None


def request_bodies(
    contract: str | Contract, operation_id: str, *, unusual: bool = True
) -> st.SearchStrategy[Any]:
    """JSON bodies the contract accepts for ``operation_id``'s request."""
    return request_body_schema(contract, operation_id, unusual=unusual).strategy


def request_body_schema(contract: str | Contract, operation_id: str, *, unusual: bool = True) -> Compiled:
    loaded, op = operation_of(contract, operation_id)
    if op.body_schema is None:
        raise StrategyError(f"{operation_id} takes no JSON request body")
    schema = op.body_schema
    return _cached(
        loaded, ("request", operation_id, unusual), lambda: compile_schema(loaded, schema, unusual=unusual)
    )


def success_status(op: Operation) -> int:
    """The status the SDKs expect on success (the lowest documented 2xx), 200 when none is."""
    return op.success.status if op.success is not None else 200


def response_schema(
    contract: str | Contract, operation_id: str, status: int | None = None, *, unusual: bool = True
) -> Compiled | None:
    """The compiled JSON body schema for one declared status; None when that response has no body."""
    loaded, op = operation_of(contract, operation_id)
    code = success_status(op) if status is None else int(status)
    spec = op.responses.get(code)
    if spec is None:
        if status is None and not op.responses:
            return None
        declared = ", ".join(str(c) for c in sorted(op.responses)) or "none"
        raise StrategyError(f"{operation_id} declares no {code} response (declared: {declared})")
    json_type = next((t for t in spec.content if is_json(t)), None)
    if json_type is None:
        return None
    schema = spec.content[json_type]
    return _cached(
        loaded,
        ("response", operation_id, code, unusual),
        lambda: compile_schema(loaded, schema, unusual=unusual),
    )


def responses(
    contract: str | Contract, operation_id: str, status: int | None = None, *, unusual: bool = True
) -> st.SearchStrategy[Any]:
    """Response bodies the contract allows for ``status`` (default: the success status).

    A response declared without a JSON body (e.g. a 204) draws ``None``.
    """
    compiled = response_schema(contract, operation_id, status, unusual=unusual)
    return st.none() if compiled is None else compiled.strategy


def stream_chunk_schema(contract: str | Contract, operation_id: str) -> Any | None:
    """The JSON schema of one ``data:`` payload, when the operation can answer text/event-stream."""
    loaded, _ = operation_of(contract, operation_id)
    spec = loaded.compiled.operation(operation_id).stream
    return spec.chunk_schema if spec is not None else None


def stream_events(
    contract: str | Contract, operation_id: str, *, min_size: int = 1, max_size: int = 4, unusual: bool = True
) -> st.SearchStrategy[list[Any]]:
    """Lists of chunk payloads for a streaming operation (each one ``data: <json>`` on the wire)."""
    loaded = contract_of(contract)
    schema = stream_chunk_schema(loaded, operation_id)
    if schema is None:
        raise StrategyError(f"{operation_id} does not stream (no text/event-stream success response)")
    compiled = _cached(
        loaded, ("stream", operation_id, unusual), lambda: compile_schema(loaded, schema, unusual=unusual)
    )
    return st.lists(compiled.strategy, min_size=min_size, max_size=max_size)


@dataclass
class Request:
    """One contract-valid request: path and query parameters (JSON values) and the JSON body."""

    operation: Operation
    path_params: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None

    @property
    def method(self) -> str:
        return self.operation.method

    @property
    def path(self) -> str:
        """The operation's path with the parameters filled in (percent-encoded)."""
        out = self.operation.path
        for name, value in self.path_params.items():
            out = out.replace("{" + name + "}", quote(_text(value), safe=""))
        return out

    def query_pairs(self) -> list[tuple[str, str]]:
        """Query parameters as the SDKs send them: arrays repeated, booleans lower-case."""
        pairs: list[tuple[str, str]] = []
        for name, value in self.query.items():
            for item in value if isinstance(value, list) else [value]:
                pairs.append((name, _text(item)))
        return pairs


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def requests(
    contract: str | Contract, operation_id: str, *, unusual: bool = False
) -> st.SearchStrategy[Request]:
    """Whole requests for ``operation_id``: path and query parameters plus a body when it takes one.

    Parameters keep to plain values by default (``unusual=False``): a twisted path segment tests
    the URL encoder more than the API.
    """
    loaded, op = operation_of(contract, operation_id)

    def make() -> st.SearchStrategy[Request]:
        path = compile_schema(loaded, _params_schema(op, "path"), unusual=unusual).strategy
        query = compile_schema(loaded, _params_schema(op, "query"), unusual=unusual).strategy
        body = (
            compile_schema(loaded, op.body_schema, unusual=unusual).strategy
            if op.body_schema is not None
            else st.none()
        )
        if op.body_schema is not None and not op.body_required:
            body = st.none() | body
        return st.builds(Request, st.just(op), path, query, body)

    return _cached(loaded, ("requests", operation_id, unusual), make)


def _params_schema(op: Operation, location: str) -> dict[str, Any]:
    """Parameters of one location as an object schema (path segments are never empty)."""
    params = [p for p in op.parameters if p.location == location]
    properties = {
        p.name: {"allOf": [p.schema, {"minLength": 1}]} if location == "path" else (p.schema or {})
        for p in params
    }
    return {
        "type": "object",
        "properties": properties,
        "required": [p.name for p in params if p.required],
        "additionalProperties": False,
    }


# -- the unusual layer --------------------------------------------------------------------------


def _twisted(base: st.SearchStrategy[Any], is_valid: Callable[[Any], bool]) -> st.SearchStrategy[Any]:
    @st.composite
    def draw_twisted(draw: st.DrawFn) -> Any:
        value = draw(base)
        for _ in range(draw(st.integers(0, MAX_TWISTS))):
            spots = list(_spots(value, ()))
            path, node = draw(st.sampled_from(spots))
            twist = draw(st.sampled_from(_twists_for(node, path)))
            candidate = _apply(value, path, twist, draw(_replacement(twist, node)))
            # The contract decides: a twist it rejects (a format, an enum, a bound) is dropped.
            if is_valid(candidate):
                value = candidate
        return value

    return draw_twisted()


def _spots(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    """Every node of a JSON value with its path, root first (a stable order, good for shrinking)."""
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _spots(child, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _spots(child, (*path, i))


def _twists_for(node: Any, path: Path) -> list[str]:
    twists = ["null"]
    if path and isinstance(path[-1], str):
        twists.append("drop")
    if isinstance(node, str):
        twists += ["long", "odd_text", "non_ascii"]
    elif isinstance(node, bool):
        pass
    elif isinstance(node, int):
        twists.append("big_int")
    elif isinstance(node, float):
        twists.append("odd_number")
    elif isinstance(node, list):
        twists += ["empty", "repeat"]
    elif isinstance(node, dict):
        twists += ["extra", "empty"]
    return twists


def _replacement(twist: str, node: Any) -> st.SearchStrategy[Any]:
    """What replaces the node (drawn, so it shrinks); ``_apply`` reads it per twist."""
    if twist == "long":
        return st.tuples(st.sampled_from(_LONG_STRING_SIZES), st.sampled_from("xé日😀"))
    if twist == "odd_text":
        return st.sampled_from(_ODD_STRINGS)
    if twist == "non_ascii":
        return st.text(st.characters(min_codepoint=0x80, exclude_categories=["Cs"]), min_size=1, max_size=40)
    if twist == "big_int":
        return st.sampled_from(_ODD_INTEGERS)
    if twist == "odd_number":
        return st.sampled_from(_ODD_NUMBERS)
    if twist == "repeat":
        return st.integers(2, 20)
    if twist == "extra":
        return st.sampled_from([None, "", "extra", 0, [], {}, {"nested": [1, "two", None]}])
    return st.none()


def _apply(value: Any, path: Path, twist: str, drawn: Any) -> Any:
    """A copy of ``value`` with the node at ``path`` twisted (copies only along the path)."""
    if not path:
        return _twist_node(value, twist, drawn)
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        out = dict(value)
        if not rest and twist == "drop":
            del out[head]
        else:
            out[head] = _apply(value[head], rest, twist, drawn)
        return out
    index = cast(int, head)  # a step into a list is always an int
    out_list = list(value)
    out_list[index] = _apply(value[index], rest, twist, drawn)
    return out_list


def _twist_node(node: Any, twist: str, drawn: Any) -> Any:
    if twist == "null":
        return None
    if twist == "long":
        size, char = drawn
        return (node + char * size)[: max(size, len(node))] if node else char * size
    if twist in ("odd_text", "non_ascii", "big_int", "odd_number"):
        return drawn
    if twist == "empty":
        return type(node)()
    if twist == "repeat":
        return (node * drawn)[: max(len(node) * drawn, 1)] if node else node
    if twist == "extra":
        return {**node, EXTRA_FIELD: drawn}
    return node
