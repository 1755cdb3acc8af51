"""A contract compiled once for request time: router, validators, key headers and stream rules.

The fake, the client checker, the recording proxy, the response fuzzer and the harness's stream
checks all read a contract through this one object, built on first use and kept with the
``Contract`` (``contract.compiled``), so none of them derives a route or a validator twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from specfake.routing import Match, Router
from specfake.shapes import Shape, ShapeCompiler
from specfake.validation import OperationValidator, SchemaValidator, absolute_refs

if TYPE_CHECKING:
    from specfake.contract import Contract, Operation

SSE = "text/event-stream"
FINAL_FIELD = "finish_reason"  # the field whose non-null value marks a stream's last event
WILDCARD = "*"


@dataclass(frozen=True)
class StreamSpec:
    """What the contract says about one operation's ``text/event-stream`` answer.

    ``flag``: the request body's boolean that asks for a stream (specfake's ``x-specfake-stream``
    extension, else a boolean ``stream`` property). ``chunk_schema``: the JSON payload of one event
    (the ``contentSchema`` of the event's ``data``, OpenAPI 3.1's way to describe SSE), None when
    undocumented. ``final_path``: where ``finish_reason`` sits in a chunk (``*`` for any array
    item), when the chunk schema has one.
    """

    flag: str | None
    chunk_schema: dict[str, Any] | None
    final_path: tuple[str, ...] | None


class CompiledOperation:
    """One operation with everything a request needs, computed at start-up (a slotted class: the
    fake reads these attributes on every request)."""

    __slots__ = (
        "body_expected",
        "body_required",
        "key_headers",
        "label",
        "operation",
        "operation_id",
        "query_names",
        "stream",
        "validator",
    )

    def __init__(
        self,
        operation: Operation,
        validator: OperationValidator,
        key_headers: tuple[str, ...],
        stream: StreamSpec | None,
    ) -> None:
        self.operation = operation
        self.operation_id = operation.operation_id
        self.label = f"{operation.method} {operation.path}"  # how findings name an operation
        self.validator = validator
        self.key_headers = key_headers  # lower-cased API-key headers, any one of which authenticates
        self.body_expected = operation.body_schema is not None
        self.body_required = operation.body_required
        self.query_names = frozenset(p.name for p in operation.parameters if p.location == "query")
        self.stream = stream

    def __repr__(self) -> str:
        return f"CompiledOperation({self.operation_id!r})"


class CompiledContract:
    """The request-time view of one contract (see the module docstring)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        rooted = absolute_refs(contract.document, contract.uri)
        self.registry = jsonschema_rs.Registry([(contract.uri, rooted)])
        schemes = contract.document.get("components", {}).get("securitySchemes", {})
        # securityScheme name -> the header as the contract spells it, for apiKey-in-header schemes
        spelled = {
            name: str(scheme["name"])
            for name, scheme in schemes.items()
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header"
        }
        self.api_key_headers: dict[str, str] = {name: header.lower() for name, header in spelled.items()}
        self.api_key_header_names: tuple[str, ...] = tuple(sorted(set(spelled.values())))
        self._validators: dict[int, tuple[dict[str, Any], SchemaValidator]] = {}
        self._body_shapes: dict[str, Shape] = {}
        self.operations: dict[str, CompiledOperation] = {}
        self.router: Router[CompiledOperation] = Router()
        declared = {"content-type", "accept", *self.api_key_headers.values()}
        for op in contract.operations:
            schemes_used = [name for requirement in op.security for name in requirement]
            compiled = CompiledOperation(
                op,
                OperationValidator(contract, op, self.registry),
                tuple(self.api_key_headers[s] for s in schemes_used if s in self.api_key_headers),
                self._stream_spec(op),
            )
            self.operations[op.operation_id] = compiled
            self.router.add(op.path, op.method, compiled)
            declared.update(p.name.lower() for p in op.parameters if p.location == "header")
        self.declared_headers = frozenset(declared)  # headers worth keeping in a reproducing request

    def match(self, method: str, path: str) -> Match[CompiledOperation] | None:
        """The operation ``method path`` (below the mount prefix) calls; ``target`` None: wrong method."""
        return self.router.match(path, method)

    def operation(self, operation_id: str) -> CompiledOperation:
        return self.operations[operation_id]

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The key in every API-key header the contract names, spelled as the contract spells them
        (schemathesis' ignored-auth check removes a header by that exact name)."""
        return dict.fromkeys(self.api_key_header_names, api_key)

    @cached_property
    def _shapes(self) -> ShapeCompiler:
        return ShapeCompiler(self.contract)

    def body_shape(self, op: CompiledOperation) -> Shape | None:
        """The keys ``op``'s body schema names, compiled on first use (only the checker asks)."""
        schema = op.operation.body_schema
        if schema is None:
            return None
        found = self._body_shapes.get(op.operation_id)
        if found is None:
            found = self._body_shapes[op.operation_id] = self._shapes.shape([schema])
        return found

    def validator(self, schema: dict[str, Any]) -> SchemaValidator:
        """A validator for a schema node of this contract, compiled on first use and kept (a
        response or chunk schema: a check touches a few operations, not all of them)."""
        found = self._validators.get(id(schema))
        if found is None:
            # The schema is kept with its validator, so its id cannot be reused by another dict.
            validator = SchemaValidator(self.contract, schema, self.registry)
            found = self._validators[id(schema)] = (schema, validator)
        return found[1]

    # -- streams -----------------------------------------------------------------------------------

    def _stream_spec(self, op: Operation) -> StreamSpec | None:
        event = next((spec.content[SSE] for spec in op.responses.values() if SSE in spec.content), None)
        if event is None:
            return None
        data = self.contract.resolve((self.contract.resolve(event).get("properties") or {}).get("data") or {})
        chunk = data.get("contentSchema") if isinstance(data, dict) else None
        chunk = chunk if isinstance(chunk, dict) else None
        final = find_property(self.contract, chunk, FINAL_FIELD) if chunk is not None else None
        return StreamSpec(_stream_flag(self.contract, op), chunk, tuple(final) if final else None)


def _stream_flag(contract: Contract, op: Operation) -> str | None:
    extension = op.raw.get("x-specfake-stream")  # specfake's own: names the body's stream flag
    if isinstance(extension, str) and extension:
        return extension
    body = contract.resolve(op.body_schema or {})
    prop = contract.resolve((body.get("properties") or {}).get("stream") or {})
    return "stream" if prop.get("type") == "boolean" else None


def find_property(
    contract: Contract, schema: Any, name: str, depth: int = 0, seen: frozenset[str] = frozenset()
) -> list[str] | None:
    """The path to the first property called ``name`` (arrays as ``*``), breadth-first by nesting."""
    if depth > 6 or not isinstance(schema, dict):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in seen:
            return None
        return find_property(contract, contract.resolve(schema), name, depth, seen | {ref})
    properties = schema.get("properties") or {}
    if name in properties:
        return [name]
    children: list[tuple[list[str], Any]] = [([key], sub) for key, sub in properties.items()]
    if "items" in schema:
        children.append(([WILDCARD], schema["items"]))
    for keyword in ("allOf", "anyOf", "oneOf"):
        children += [([], branch) for branch in schema.get(keyword) or []]
    for prefix, sub in children:
        found = find_property(contract, sub, name, depth + 1, seen)
        if found is not None:
            return prefix + found
    return None


def values_at(payload: Any, path: tuple[str, ...] | list[str]) -> list[Any]:
    """Every value at ``path`` (``*`` walks array items); missing keys give nothing."""
    nodes = [payload]
    for part in path:
        found: list[Any] = []
        for node in nodes:
            if part == WILDCARD and isinstance(node, list):
                found.extend(node)
            elif isinstance(node, dict) and part in node:
                found.append(node[part])
        nodes = found
    return nodes
