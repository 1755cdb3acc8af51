"""A contract compiled once for request time: router, validators, auth rules and stream rules.

The fake, the client checker, the recording proxy, the response fuzzer and the harness's stream
checks all read a contract through this one object, built on first use and kept with the
``Contract`` (``contract.compiled``), so none of them derives a route or a validator twice.
"""

from __future__ import annotations

import base64
import json
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
STEADY_FIELDS = ("id", "object", "created", "model")  # chunk fields the same all stream long
TEXT_FIELDS = ("content", "text", "output")  # where a chunk carries generated text, by convention
WILDCARD = "*"


# Where a credential travels: an API key in a header, the query or a cookie, or the Authorization
# header's ``Bearer <token>`` (http bearer; oauth2 and openIdConnect send the same) or
# ``Basic base64(user:pass)``.
KINDS = ("header", "query", "cookie", "bearer", "basic")


@dataclass(frozen=True, slots=True)
class Credential:
    """One security scheme as the fake reads it: ``kind`` (one of `KINDS`) and ``name``, the
    lower-cased header, the query parameter or the cookie it travels in (``authorization`` for
    bearer and basic)."""

    scheme: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class AuthRule:
    """An operation's ``security``, compiled: any one of ``alternatives`` authenticates when every
    credential in it is present; ``anonymous``: a requirement is empty (``{}``), so none is needed."""

    alternatives: tuple[tuple[Credential, ...], ...]
    anonymous: bool


def credential_of(name: str, scheme: dict[str, Any]) -> Credential | None:
    """How the fake reads the securityScheme ``name``; None for one it cannot check (mutualTLS,
    an HTTP scheme other than bearer or basic)."""
    kind = scheme.get("type")
    if kind == "apiKey" and scheme.get("in") in ("header", "query", "cookie") and scheme.get("name"):
        where = str(scheme["in"])
        spelled = str(scheme["name"])
        return Credential(name, where, spelled.lower() if where == "header" else spelled)
    if kind == "http" and str(scheme.get("scheme", "")).lower() in ("bearer", "basic"):
        return Credential(name, str(scheme["scheme"]).lower(), "authorization")
    if kind in ("oauth2", "openIdConnect"):
        return Credential(name, "bearer", "authorization")
    return None


@dataclass(frozen=True)
class StreamSpec:
    """What the contract says about one operation's ``text/event-stream`` answer.

    ``flag``: the request body's boolean that asks for a stream (specfake's ``x-specfake-stream``
    extension, else a ``stream`` property typed boolean, nullable or not). ``chunk_schema``: the
    JSON payload of one event: the ``contentSchema`` of the event's ``data``, the event described
    by the media type's ``itemSchema`` (OpenAPI 3.2) or else its ``schema`` (specfake's OpenAPI 3.1
    convention); None when undocumented. ``final_path``: where ``finish_reason`` sits in a chunk
    (``*`` for any array item), when the chunk schema has one. ``terminator``: the data of the event
    that ends every stream (``[DONE]``), when the media type's example ends with an event whose data
    is not JSON; None: the stream ends after its last chunk. ``steady``: where the chunk has the
    fields that keep one value across a stream (its ``id``, ``created``, ``model``, ``object``), at
    the top or in the items of a top-level array (Humanloop's ``data[*].id``: one id per sample).
    ``text_path``: where a chunk carries its piece of generated text (the first ``content``,
    ``text`` or ``output`` property), for streams synthesised from the contract alone.
    """

    flag: str | None
    chunk_schema: dict[str, Any] | None
    final_path: tuple[str, ...] | None
    terminator: str | None = None
    steady: tuple[tuple[str, ...], ...] = ()
    text_path: tuple[str, ...] | None = None


class CompiledOperation:
    """One operation with everything a request needs, computed at start-up (a slotted class: the
    fake reads these attributes on every request)."""

    __slots__ = (
        "auth",
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
        auth: AuthRule | None = None,
    ) -> None:
        self.operation = operation
        self.operation_id = operation.operation_id
        self.label = f"{operation.method} {operation.path}"  # how findings name an operation
        self.validator = validator
        # The common case, read first on every request: lower-cased API-key headers, any one of
        # which authenticates. Any other security (query or cookie keys, bearer, basic, schemes
        # required together, optional auth) is ``auth``; both empty: no credential is needed.
        self.key_headers = key_headers
        self.auth = auth
        self.body_expected = operation.body_schema is not None
        self.body_required = operation.body_required
        self.query_names = frozenset(p.name for p in operation.parameters if p.location == "query")
        if auth is not None:  # a query-string API key is a name the contract gives, too
            keys = {c.name for alternative in auth.alternatives for c in alternative if c.kind == "query"}
            self.query_names |= keys
        self.stream = stream

    def __repr__(self) -> str:
        return f"CompiledOperation({self.operation_id!r})"


class CompiledContract:
    """The request-time view of one contract (see the module docstring)."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        rooted = absolute_refs(contract.document, contract.uri)
        self.registry = jsonschema_rs.Registry([(contract.uri, rooted)])
        declared_schemes = contract.document.get("components", {}).get("securitySchemes") or {}
        schemes = {name: contract.resolve(scheme) for name, scheme in declared_schemes.items()}
        schemes = {name: scheme for name, scheme in schemes.items() if isinstance(scheme, dict)}
        # securityScheme name -> the header as the contract spells it, for apiKey-in-header schemes
        spelled = {
            name: str(scheme["name"])
            for name, scheme in schemes.items()
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header"
        }
        self.api_key_headers: dict[str, str] = {name: header.lower() for name, header in spelled.items()}
        self.api_key_header_names: tuple[str, ...] = tuple(sorted(set(spelled.values())))
        self.credentials: dict[str, Credential] = {}  # securityScheme name -> how it is read
        for name, scheme in schemes.items():
            credential = credential_of(name, scheme)
            if credential is not None:
                self.credentials[name] = credential
        self._validators: dict[int, tuple[dict[str, Any], SchemaValidator]] = {}
        self._body_shapes: dict[str, Shape] = {}
        self.operations: dict[str, CompiledOperation] = {}
        self.router: Router[CompiledOperation] = Router()
        declared = {"content-type", "accept", *self.api_key_headers.values()}
        used: dict[str, None] = {}  # the schemes operations ask for, in order of first use
        for op in contract.operations:
            used.update((name, None) for requirement in op.security for name in requirement)
            key_headers, auth = self._auth_rule(op.security)
            compiled = CompiledOperation(
                op,
                OperationValidator(contract, op, self.registry),
                key_headers,
                self._stream_spec(op),
                auth,
            )
            self.operations[op.operation_id] = compiled
            self.router.add(op.path, op.method, compiled)
            declared.update(p.name.lower() for p in op.parameters if p.location == "header")
        in_use = [self.credentials[n] for n in [*used, *self.credentials] if n in self.credentials]
        # The credential a key is sent as by `auth_headers`: the first scheme of each kind in use.
        self._authorization = next((c for c in in_use if c.kind in ("bearer", "basic")), None)
        self._cookies = tuple(dict.fromkeys(c.name for c in in_use if c.kind == "cookie"))
        self._query_keys = tuple(dict.fromkeys(c.name for c in in_use if c.kind == "query"))
        self.secret_headers = frozenset(
            {
                *self.api_key_headers.values(),
                *(["authorization"] if self._authorization is not None else []),
                *(["cookie"] if self._cookies else []),
            }
        )  # the headers that carry a credential (what a report redacts)
        declared.update(self.secret_headers)
        self.declared_headers = frozenset(declared)  # headers worth keeping in a reproducing request

    def match(self, method: str, path: str) -> Match[CompiledOperation] | None:
        """The operation ``method path`` (below the mount prefix) calls; ``target`` None: wrong method."""
        return self.router.match(path, method)

    def operation(self, operation_id: str) -> CompiledOperation:
        return self.operations[operation_id]

    def _auth_rule(self, security: list[dict[str, list[str]]]) -> tuple[tuple[str, ...], AuthRule | None]:
        """An operation's (key headers, auth rule): see `CompiledOperation`. A scheme the fake
        cannot check (or that the contract does not define) is left out of its requirement, and a
        requirement left empty lets any request in."""
        alternatives: list[tuple[Credential, ...]] = []
        anonymous = False
        for requirement in security:
            alternative = tuple(self.credentials[n] for n in requirement if n in self.credentials)
            if alternative:
                alternatives.append(alternative)
            else:
                anonymous = True
        if not alternatives:
            return (), None
        if not anonymous and all(len(a) == 1 and a[0].kind == "header" for a in alternatives):
            return tuple(dict.fromkeys(a[0].name for a in alternatives)), None
        return (), AuthRule(tuple(alternatives), anonymous)

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The headers that carry ``api_key`` for the contract's security schemes: the key in every
        API-key header the contract names, spelled as the contract spells them (schemathesis'
        ignored-auth check removes a header by that exact name); ``Authorization: Bearer KEY`` for
        a bearer scheme and ``Basic base64(KEY)`` for basic (KEY: ``user:pass``); a ``Cookie``
        for cookie keys. A query-string key is no header: see `auth_query`."""
        headers = dict.fromkeys(self.api_key_header_names, api_key)
        authorization = self._authorization
        if authorization is not None:
            if authorization.kind == "bearer":
                headers["Authorization"] = f"Bearer {api_key}"
            else:
                headers["Authorization"] = "Basic " + base64.b64encode(api_key.encode()).decode("ascii")
        if self._cookies:
            headers["Cookie"] = "; ".join(f"{name}={api_key}" for name in self._cookies)
        return headers

    def auth_query(self, api_key: str) -> dict[str, str]:
        """The query parameters that carry ``api_key`` (apiKey schemes ``in: query``; usually none)."""
        return dict.fromkeys(self._query_keys, api_key)

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
        found = _sse_media(self.contract, op)
        if found is None:
            return None
        media, example = found
        # OpenAPI 3.2 describes one event with itemSchema; specfake's 3.1 convention uses schema.
        item = media.get("itemSchema")
        event = self.contract.resolve(item if isinstance(item, dict) else media.get("schema") or {})
        event = event if isinstance(event, dict) else {}
        data = self.contract.resolve((event.get("properties") or {}).get("data") or {})
        chunk = data.get("contentSchema") if isinstance(data, dict) else None
        chunk = chunk if isinstance(chunk, dict) else None
        final = find_property(self.contract, chunk, FINAL_FIELD) if chunk is not None else None
        # The shallowest of the text fields (ties: in TEXT_FIELDS order).
        texts = [find_property(self.contract, chunk, name) for name in TEXT_FIELDS] if chunk else []
        text = min((t for t in texts if t is not None), key=len, default=None)
        paths = [find_property(self.contract, chunk, name) for name in STEADY_FIELDS] if chunk else []
        steady = tuple(tuple(p) for p in paths if p and (len(p) == 1 or (len(p) == 3 and p[1] == WILDCARD)))
        return StreamSpec(
            _stream_flag(self.contract, op),
            chunk,
            tuple(final) if final else None,
            terminator=_terminator(example),
            steady=steady,
            text_path=tuple(text) if text else None,
        )


def _sse_media(contract: Contract, op: Operation) -> tuple[dict[str, Any], Any] | None:
    """The first response's ``text/event-stream`` Media Type Object, and its example (None)."""
    for code, spec in op.responses.items():
        if SSE not in spec.content:
            continue
        responses = op.raw.get("responses") or {}
        raw = responses.get(str(code), responses.get(code))
        media = (contract.resolve(raw or {}).get("content") or {}).get(SSE)
        return (media if isinstance(media, dict) else {}), spec.examples.get(SSE)
    return None


def _terminator(example: Any) -> str | None:
    """The data of an example stream's last event when it is not JSON (``[DONE]``), else None."""
    if not isinstance(example, str):
        return None
    blocks = [b for b in example.replace("\r\n", "\n").split("\n\n") if b.strip()]
    if not blocks:
        return None
    lines = [line for line in blocks[-1].split("\n") if line.startswith("data:")]
    if not lines:
        return None
    data = "\n".join(line[6:] if line.startswith("data: ") else line[5:] for line in lines)
    try:
        json.loads(data)
    except ValueError:
        return data
    return None


def _stream_flag(contract: Contract, op: Operation) -> str | None:
    extension = op.raw.get("x-specfake-stream")  # specfake's own: names the body's stream flag
    if isinstance(extension, str) and extension:
        return extension
    body = contract.resolve(op.body_schema or {})
    prop = contract.resolve((body.get("properties") or {}).get("stream") or {})
    return "stream" if is_boolean(contract, prop) else None


def is_boolean(contract: Contract, schema: Any) -> bool:
    """A boolean, perhaps nullable: ``type: boolean``, ``type: [boolean, "null"]``, or an
    ``anyOf``/``oneOf`` of a boolean and null."""
    if not isinstance(schema, dict):
        return False
    kind = schema.get("type")
    kinds = {str(k) for k in kind} if isinstance(kind, list) else {str(kind)}
    if "boolean" in kinds and kinds <= {"boolean", "null"}:
        return True
    for keyword in ("anyOf", "oneOf"):
        branches = [contract.resolve(b) for b in schema.get(keyword) or []]
        booleans = [b for b in branches if is_boolean(contract, b)]
        nulls = [b for b in branches if isinstance(b, dict) and b.get("type") == "null"]
        if booleans and len(booleans) + len(nulls) == len(branches):
            return True
    return False


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
