"""Is this request (or response) what the contract allows? One checker per side, compiled once.

`RequestChecker` finds what a client got wrong: an unknown path, a wrong method, a missing API
key, a body that is not JSON or has the wrong content type, schema errors (each named by its
field, e.g. ``body.messages[0].role``), and fields the contract does not name — which the fake
(like FastAPI) ignores, so a misspelled optional field silently does nothing. `ResponseChecker`
finds what a server got wrong: an undeclared status, a wrong content type, a body or a stream
event the schema rejects.

Routing and validation are the fake's own (`specfake.routing`, `specfake.validation`), so the
checker and the fake can never disagree about what is valid. The known property names of every
object schema are computed once here, by walking each body schema through its ``$ref``s and
``allOf``/``anyOf``/``oneOf``s; checking a request only walks the request.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from specfake.contract import Contract, Operation, is_json
from specfake.contracts.harness.findings import Exchange, Finding, field_path, trim
from specfake.routing import Router
from specfake.streaming.sse import parse_events
from specfake.validation import OperationValidator, SchemaValidator, registry_for

Query = str | bytes | Mapping[str, list[str]]

# FastAPI error types -> the rule a finding names.
_RULES = {"missing": "required", "enum": "enum", "literal_error": "enum", "json_invalid": "json"}
_COMBINATORS = ("allOf", "anyOf", "oneOf")
# Headers worth keeping in a reproducing request; the rest (user agents, x-stainless-*) is noise.
_KEPT_HEADERS = ("content-type", "accept")


def rule_of(error_type: str) -> str:
    """The rule a FastAPI error type stands for: type, required, enum, or the type itself."""
    if error_type in _RULES:
        return _RULES[error_type]
    if error_type.endswith(("_type", "_parsing")) or error_type == "none_required":
        return "type"
    return error_type


# -- known property names, compiled once ----------------------------------------------------------


@dataclass(eq=False)
class Shape:
    """What object keys a schema (with all its alternatives) names, and the shapes beneath them.

    ``open``: any key is fine (a free-form object, or a map with ``additionalProperties`` as a
    schema: ``values`` then checks the entries). ``closed``: ``additionalProperties: false``
    everywhere, so an unknown key is an error even with ``--allow-extra-fields``.
    """

    known: frozenset[str] = frozenset()
    open: bool = True
    closed: bool = False
    children: dict[str, Shape] = field(default_factory=dict)
    values: Shape | None = None
    items: Shape | None = None

    @property
    def trivial(self) -> bool:
        return self.open and not self.children and self.values is None and self.items is None


class ShapeCompiler:
    """Shapes of a contract's schemas, memoised by the set of schema nodes they merge (refs recurse)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._memo: dict[frozenset[int], Shape] = {}
        self._building: set[int] = set()  # shapes still being filled: never pruned as trivial

    def shape(self, schemas: list[Any]) -> Shape:
        atoms: dict[int, dict[str, Any]] = {}
        for schema in schemas:
            self._atoms(schema, atoms, 0)
        key = frozenset(atoms)
        if key in self._memo:
            return self._memo[key]
        shape = Shape()
        self._memo[key] = shape  # before recursing: a recursive schema finds itself here
        self._building.add(id(shape))
        objects = [a for a in atoms.values() if _is_object(a)]
        anything = any(_is_anything(a) for a in atoms.values())
        names: dict[str, list[Any]] = {}
        values: list[Any] = []
        items: list[Any] = []
        free = anything
        for atom in objects:
            properties = atom.get("properties") or {}
            for name, sub in properties.items():
                names.setdefault(name, []).append(sub)
            extra = atom.get("additionalProperties", True)
            if isinstance(extra, dict) and extra:
                values.append(extra)
            elif not properties and extra is not False:
                free = True
            if atom.get("patternProperties"):
                free = True
        for atom in atoms.values():
            if "items" in atom and isinstance(atom["items"], dict):
                items.append(atom["items"])
        shape.known = frozenset(names)
        shape.open = free or bool(values) or not objects
        shape.closed = bool(objects) and all(a.get("additionalProperties", True) is False for a in objects)
        for name, subs in names.items():
            child = self._useful(subs)
            if child is not None:
                shape.children[name] = child
        shape.values = self._useful(values) if values else None
        shape.items = self._useful(items) if items else None
        self._building.discard(id(shape))
        return shape

    def _useful(self, schemas: list[Any]) -> Shape | None:
        """The shape of ``schemas``, or None when it cannot report anything (keeps checks short)."""
        child = self.shape(schemas)
        return None if child.trivial and id(child) not in self._building else child

    def _atoms(self, schema: Any, out: dict[int, dict[str, Any]], depth: int) -> None:
        """The schema nodes a value may have to satisfy, with refs followed and unions flattened."""
        node = self.contract.resolve(schema)
        if not isinstance(node, dict) or id(node) in out or depth > 64:
            return
        out[id(node)] = node
        for key in _COMBINATORS:
            for sub in node.get(key) or []:
                self._atoms(sub, out, depth + 1)


def _types(atom: dict[str, Any]) -> set[str]:
    kind = atom.get("type")
    if kind is None:
        return set()
    return set(kind) if isinstance(kind, list) else {str(kind)}


def _is_object(atom: dict[str, Any]) -> bool:
    return "object" in _types(atom) or "properties" in atom or "additionalProperties" in atom


def _is_anything(atom: dict[str, Any]) -> bool:
    """A node that constrains nothing about keys: ``{}`` (possibly with only a description)."""
    if _types(atom) or any(k in atom for k in _COMBINATORS):
        return False
    return not any(k in atom for k in ("enum", "const", "items", "$ref", "properties"))


def closest(name: str, known: frozenset[str] | set[str]) -> str | None:
    """The known name a misspelling most likely meant: same letters ignoring case and ``_``/``-``
    (``projectId`` -> ``project_id``), else difflib's closest match."""
    squashed = _squash(name)
    for candidate in sorted(known):
        if _squash(candidate) == squashed:
            return candidate
    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
    return matches[0] if matches else None


def _squash(name: str) -> str:
    return re.sub(r"[_\-\s]", "", name).lower()


# -- requests ----------------------------------------------------------------------------------------


@dataclass
class _Target:
    operation: Operation
    validator: OperationValidator
    body_shape: Shape | None
    query_names: frozenset[str]
    key_headers: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.operation.method} {self.operation.path}"


class RequestChecker:
    """``check(method, path, query, headers, body)`` -> client-side findings; compile once, reuse."""

    def __init__(self, contract: Contract, *, allow_extra_fields: bool = False) -> None:
        self.contract = contract
        self.allow_extra_fields = allow_extra_fields
        registry = registry_for(contract)
        shapes = ShapeCompiler(contract)
        self.router: Router[_Target] = Router()
        self.declared_headers: set[str] = set(_KEPT_HEADERS) | set(contract.api_key_headers.values())
        for op in contract.operations:
            schemes = [name for requirement in op.security for name in requirement]
            target = _Target(
                op,
                OperationValidator(contract, op, registry),
                shapes.shape([op.body_schema]) if op.body_schema is not None else None,
                frozenset(p.name for p in op.parameters if p.location == "query"),
                tuple(contract.api_key_headers[s] for s in schemes if s in contract.api_key_headers),
            )
            self.declared_headers.update(p.name.lower() for p in op.parameters if p.location == "header")
            self.router.add(op.path, op.method, target)

    def operation(self, method: str, path: str) -> Operation | None:
        """The operation ``method path`` (relative to the contract's prefix) calls, if any."""
        match = self.router.match(path, method.upper())
        return match.target.operation if match is not None and match.target is not None else None

    def exchange(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | str | None
    ) -> Exchange:
        """The request as a finding shows it: only the headers that matter to the contract."""
        kept = {k: v for k, v in headers.items() if k.lower() in self.declared_headers}
        return Exchange(method.upper(), url, kept, trim(body) or None)

    def check(
        self,
        method: str,
        path: str,
        query: Query = b"",
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = b"",
        *,
        url: str | None = None,
        exchange: Exchange | None = None,
    ) -> list[Finding]:
        """Every way this request breaks the contract (empty: it is fine).

        ``path`` is relative to the contract's prefix; ``headers`` may be in any case; ``url``
        (the full URL) only makes the reproducing curl command runnable.
        """
        method = method.upper()
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        raw = body.encode() if isinstance(body, str) else (body or b"")
        seen = exchange or self.exchange(
            method, url or (self.contract.prefix + path + _query_suffix(query)), lower, raw
        )
        match = self.router.match(path, method)
        if match is None:
            return [
                Finding(
                    "-",
                    "unknown_path",
                    f"{method} {path}: no such path in the contract",
                    "client",
                    exchange=seen,
                )
            ]
        target = match.target
        if target is None:
            return [
                Finding(
                    f"{method} {path}",
                    "method_not_allowed",
                    f"{method} is not an operation of {path}; the contract allows {', '.join(match.allowed)}",
                    "client",
                    exchange=seen,
                )
            ]
        out: list[Finding] = []
        label = target.label

        def add(check: str, message: str, where: str | None = None) -> None:
            out.append(Finding(label, check, message, "client", field=where, exchange=seen))

        if target.key_headers and not any(lower.get(h, "").strip() for h in target.key_headers):
            header = target.key_headers[0]
            state = "is empty" if header in lower else "is missing"
            add("auth", f"the API key header {header} {state}", f"header.{header}")
        queries = _query_map(query)
        _, _, errors = target.validator.params(match.params, queries, lower)
        for error in errors:
            add(
                rule_of(error["type"]),
                f"{field_path(error['loc'])}: {error['msg']}",
                field_path(error["loc"]),
            )
        if not self.allow_extra_fields:
            for name in sorted(set(queries) - target.query_names):
                add(
                    "unknown_field",
                    _unknown_message(name, closest(name, target.query_names)),
                    f"query.{name}",
                )
        if target.validator.body is None:
            if raw.strip() and method in ("GET", "HEAD", "DELETE"):
                add("unexpected_body", f"{method} {target.operation.path} takes no request body")
            return out
        if not raw.strip():
            if target.operation.body_required:
                add("required", "the request body is required", "body")
            return out
        content_type = lower.get("content-type", "").split(";", 1)[0].strip().lower()
        if not is_json(content_type):
            got = content_type or "no Content-Type header"
            add(
                "content_type", f"the body must be sent as application/json, got {got}", "header.content-type"
            )
            if content_type:
                return out
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            add("json", f"the body is not valid JSON: {exc}", "body")
            return out
        for error in target.validator.body_errors(document):
            if error["type"] == "additional_properties":
                continue  # reported below, with the closest known name
            add(rule_of(error["type"]), error["msg"], field_path(error["loc"]))
        if target.body_shape is not None:
            extras = _unknown_fields(document, target.body_shape, ["body"], self.allow_extra_fields)
            for where, name, suggestion in extras:
                add("unknown_field", _unknown_message(name, suggestion), where)
        return out


def _unknown_message(name: str, suggestion: str | None) -> str:
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    return f"unknown field {name!r}: the contract does not name it, so the server ignores it{hint}"


def _unknown_fields(
    value: Any, shape: Shape, loc: list[str | int], allow_extra: bool
) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    stack: list[tuple[Any, Shape, list[str | int]]] = [(value, shape, loc)]
    while stack:
        node, node_shape, where = stack.pop()
        if isinstance(node, dict):
            for key, sub in node.items():
                child = node_shape.children.get(key)
                if child is not None:
                    stack.append((sub, child, [*where, key]))
                elif key in node_shape.known:
                    continue
                elif node_shape.values is not None:
                    stack.append((sub, node_shape.values, [*where, key]))
                elif not node_shape.open and (node_shape.closed or not allow_extra):
                    out.append((field_path([*where, key]), key, closest(key, node_shape.known)))
        elif isinstance(node, list) and node_shape.items is not None:
            stack.extend((item, node_shape.items, [*where, i]) for i, item in enumerate(node))
    return sorted(out)


def _query_map(query: Query) -> dict[str, list[str]]:
    if isinstance(query, Mapping):
        return {k: list(v) for k, v in query.items()}
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(text.lstrip("?"), keep_blank_values=True):
        out.setdefault(key, []).append(value)
    return out


def _query_suffix(query: Query) -> str:
    if isinstance(query, Mapping):
        from urllib.parse import urlencode

        text = urlencode([(k, v) for k, values in query.items() for v in values])
    else:
        text = query.decode("latin-1") if isinstance(query, bytes) else query
    text = text.lstrip("?")
    return "?" + text if text else ""


# -- responses ---------------------------------------------------------------------------------------


class ResponseChecker:
    """``check(operation, status, headers, body)`` -> server-side findings.

    A response schema is compiled on its first use and kept: a proxy session touches a few
    operations of a contract, not all of them.
    """

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self._registry = registry_for(contract)
        self._validators: dict[int, SchemaValidator] = {}

    def _validator(self, schema: dict[str, Any]) -> SchemaValidator:
        found = self._validators.get(id(schema))
        if found is None:
            found = self._validators[id(schema)] = SchemaValidator(self.contract, schema, self._registry)
        return found

    def check(
        self,
        operation: Operation,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        *,
        exchange: Exchange | None = None,
    ) -> list[Finding]:
        label = f"{operation.method} {operation.path}"
        out: list[Finding] = []

        def add(check: str, message: str, where: str | None = None) -> None:
            out.append(Finding(label, check, message, "server", field=where, exchange=exchange))

        spec = operation.responses.get(status)
        if spec is None:
            if "default" not in (operation.raw.get("responses") or {}):
                declared = ", ".join(str(s) for s in sorted(operation.responses)) or "none"
                add("status_code_conformance", f"status {status} is not declared (declared: {declared})")
            return out
        lower = {k.lower(): v for k, v in headers.items()}
        media = lower.get("content-type", "").split(";", 1)[0].strip().lower()
        if not spec.content:
            if body.strip() and status == 204:
                add("response_body", f"status 204 must have no body, got {len(body)} bytes")
            return out
        declared_types = [t.split(";", 1)[0].strip().lower() for t in spec.content]
        if media not in declared_types and not (is_json(media) and any(is_json(t) for t in declared_types)):
            add(
                "content_type_conformance",
                f"Content-Type {media or '(none)'} is not declared for {status} "
                f"(declared: {', '.join(declared_types)})",
                "header.content-type",
            )
            return out
        if media == "text/event-stream":
            schema = spec.content.get("text/event-stream") or {}
            data = (self.contract.resolve(schema).get("properties") or {}).get("data", {})
            self._check_stream(body, data.get("contentSchema", data), add)
            return out
        schema = next(s for t, s in spec.content.items() if is_json(t) or t.startswith(media))
        try:
            document = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError as exc:
            add("response_schema_conformance", f"the body is not valid JSON: {exc}", "body")
            return out
        if not schema:
            return out
        validator = self._validator(schema)
        if not validator.is_valid(document):
            for error in validator.errors(document, ["body"]):
                add("response_schema_conformance", error["msg"], field_path(error["loc"]))
        return out

    def _check_stream(self, body: bytes, schema: dict[str, Any], add: Any) -> None:
        validator = self._validator(schema) if schema else None
        try:
            events = parse_events(body)
        except UnicodeDecodeError as exc:
            add("sse_framing", f"the stream is not UTF-8: {exc}")
            return
        for event in events:
            if event.error is not None:
                add("sse_framing", f"event {event.number}: {event.error}", f"event[{event.number}]")
                continue
            if validator is not None and not validator.is_valid(event.payload):
                for error in validator.errors(event.payload, [f"event[{event.number}]"]):
                    add("sse_event_schema", error["msg"], field_path(error["loc"]))
