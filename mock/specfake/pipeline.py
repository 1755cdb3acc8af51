"""One request pipeline: what the fake enforces and what the client checker reports, judged once.

The steps follow FastAPI, which both real services run on: route (an unknown path is a 404, a
wrong method a 405 with ``Allow``), authenticate (401), the body's size (413), then parameters,
content type, JSON and schema (one 422 naming every offending field). Each step gives typed
`Violation`s: a step that refuses a request raises them in a `Refusal`, which is the fake's answer
(the first violation's status; every 422 of a request together), and the client checker (`judge`)
collects them all, plus *advisories*: what a server accepts but a careful client would not send,
such as a field the contract does not name (FastAPI ignores it, so a misspelled optional field
silently does nothing), a JSON body without a Content-Type, or a body on a GET.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from specfake.contract import is_json, media_type
from specfake.errors import ApiError, FieldError, Loc
from specfake.http import parse_query
from specfake.shapes import closest, unknown_fields

if TYPE_CHECKING:
    from specfake.compiled import AuthRule, CompiledContract, CompiledOperation, Credential

DEFAULT_MAX_BODY = 8 * 1024 * 1024
# Arrays and objects a JSON body may nest (the body itself is level 1). Far above any real
# request, far below what the validator (recursion), orjson.dumps (254) and the admin export
# (which wraps a stored value in 5 more levels) can take: a value that deep could be stored but
# never read back.
MAX_DEPTH = 64
DEPTH_TYPE = "json_too_deep"  # the 422 entry's type: stable, clients may match it
_SHOWN = 12  # path parts a too-deep loc names before "..."
ADVISORY = None  # a Violation's status when a server accepts the request anyway

# FastAPI error types -> the rule a violation names.
_RULES = {"missing": "required", "enum": "enum", "literal_error": "enum", "json_invalid": "json"}
_BODYLESS = ("GET", "HEAD", "DELETE")
_NO_QUERY: dict[str, list[str]] = {}
# Prism's per-request controls (`specfake.prefer`): taken out before validation, never unknown.
PRISM_QUERY = ("__code", "__example", "__dynamic")


def rule_of(error_type: str) -> str:
    """The rule a FastAPI error type stands for: type, required, enum, or the type itself."""
    if error_type in _RULES:
        return _RULES[error_type]
    if error_type.endswith(("_type", "_parsing")) or error_type == "none_required":
        return "type"
    return error_type


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule of a request.

    ``status``: what the fake answers for it, None for an advisory. ``rule``: a stable name
    (``unknown_path``, ``method_not_allowed``, ``auth``, ``body_too_large``, ``content_type``,
    ``json``, ``required``, ``type``, ``enum``, ``unknown_field``, ``unexpected_body``...).
    ``loc``/``msg``/``type``: the 422 entry (FastAPI's location, message and error type).
    """

    status: int | None
    rule: str
    loc: Loc
    msg: str
    type: str = "value_error"
    allow: tuple[str, ...] = ()  # 405: the methods the path accepts
    challenge: str | None = None  # 401 for an HTTP scheme: its WWW-Authenticate (Bearer, Basic)
    suggestion: str | None = None  # unknown_field: the known name it most likely meant

    @classmethod
    def of(cls, error: FieldError, status: int | None = 422) -> Violation:
        return cls(status, rule_of(error.type), error.loc, error.msg, error.type)

    def field_error(self) -> FieldError:
        return FieldError(self.loc, self.msg, self.type)


class Refusal(ApiError):
    """A refused request: the fake's answer is the first violation's status, and a 422 lists every
    field of the request's 422s in FastAPI's shape (advisories never reach a client)."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        first = next(v for v in violations if v.status is not None)
        status = first.status or 400
        if status == 422:  # as RequestValidationError answers
            super().__init__(422, [v.field_error().entry() for v in violations if v.status == 422])
        elif status == 405:
            super().__init__(405, first.msg, {"allow": ", ".join(first.allow)})
        elif first.challenge is not None:
            super().__init__(status, first.msg, {"www-authenticate": first.challenge})
        else:
            super().__init__(status, first.msg)


class RequestPipeline:
    """The steps for one compiled contract. ``api_keys``: the keys the fake accepts (None: any
    non-empty key, each its own tenant; the checker, which knows no keys, uses None)."""

    __slots__ = ("api_keys", "compiled", "max_body")

    def __init__(
        self,
        compiled: CompiledContract,
        *,
        api_keys: frozenset[str] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.compiled = compiled
        self.api_keys = api_keys
        self.max_body = max_body

    # -- the steps, in order -----------------------------------------------------------------------

    def route(self, method: str, path: str) -> tuple[CompiledOperation, dict[str, str]]:
        """The operation and its path parameters; a `Refusal` (404, 405) when there is none."""
        router = self.compiled.router
        found = router.find(path, method)
        if found is not None:
            return found
        match = router.match(path, method)
        if match is not None and match.target is not None:  # found by backtracking past a dead end
            return match.target, match.params
        if match is None:
            raise Refusal([Violation(404, "unknown_path", ("path",), "Not Found")])
        wrong = Violation(405, "method_not_allowed", ("method",), "Method Not Allowed", allow=match.allowed)
        raise Refusal([wrong])

    def authenticate(
        self,
        op: CompiledOperation,
        headers: Mapping[str, str],
        query: Mapping[str, list[str]] | None = None,
    ) -> str:
        """The credential, which is the tenant ("" when the operation needs none); a `Refusal`
        (401) without one the fake accepts. ``headers``: lower-cased names, as ASGI gives them
        (cookies are read from ``cookie``); ``query``: the parsed query, for query-string keys.

        The tenant is the API key, the bearer token, or for basic auth the decoded ``user:pass``
        (as ``--api-key`` lists it); credentials required together are joined with ``&``."""
        if not op.key_headers:
            if op.auth is None:
                return ""
            return self._authenticate(op.auth, headers, _NO_QUERY if query is None else query)
        for name in op.key_headers:
            key = headers.get(name)
            if key and not key.isspace():
                break
        else:
            header = op.key_headers[0]
            message = f"Not authenticated: send an API key in the {header} header"
            raise Refusal([Violation(401, "auth", ("header", header), message, "missing")])
        if self.api_keys is not None and key not in self.api_keys:
            raise Refusal([Violation(401, "auth", ("header", name), "Invalid API key")])
        return key

    def _authenticate(
        self, auth: AuthRule, headers: Mapping[str, str], query: Mapping[str, list[str]]
    ) -> str:
        """`authenticate` for any security but API-key headers: the first alternative whose every
        credential is present; else the first malformed credential's 401, else the first missing
        one's (an operation that allows anonymous access then answers with tenant "")."""
        problem: Violation | None = None
        for alternative in auth.alternatives:
            found: list[str] = []
            for credential in alternative:
                value = _read(credential, headers, query)
                if isinstance(value, Violation):
                    if problem is None or (problem.type == "missing" and value.type != "missing"):
                        problem = value
                    break
                found.append(value)
            else:
                if self.api_keys is not None:
                    for credential, value in zip(alternative, found, strict=True):
                        if value not in self.api_keys:
                            raise Refusal([_invalid(credential)])
                return found[0] if len(found) == 1 else "&".join(found)
        if auth.anonymous or problem is None:
            return ""
        raise Refusal([problem])

    def too_large(self) -> Refusal:
        message = f"Request body larger than {self.max_body} bytes"
        return Refusal([Violation(413, "body_too_large", ("body",), message)])

    def validate(
        self,
        op: CompiledOperation,
        path_params: dict[str, str],
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        raw: bytes,
        *,
        advisories: bool = False,
        allow_extra_fields: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any], Any, list[Violation]]:
        """(path values, query values, parsed body, violations). Parameters are coerced to their
        schemas' types; ``advisories`` adds the checker's rules a server does not enforce."""
        path_values, query_values, errors = op.validator.params(path_params, query, headers)
        violations = [Violation.of(e) for e in errors] if errors else []
        if advisories and not allow_extra_fields:
            for name in sorted(set(query) - op.query_names - set(PRISM_QUERY)):
                violations.append(_unknown(("query", name), closest(name, op.query_names)))
        body: Any = None
        if op.body_expected:
            body = self._body(op, headers, raw, violations, advisories, allow_extra_fields)
        elif advisories and raw.strip() and op.operation.method in _BODYLESS:
            message = f"{op.label} takes no request body"
            violations.append(Violation(ADVISORY, "unexpected_body", ("body",), message))
        return path_values, query_values, body, violations

    def _body(
        self,
        op: CompiledOperation,
        headers: Mapping[str, str],
        raw: bytes,
        out: list[Violation],
        advisories: bool,
        allow_extra_fields: bool,
    ) -> Any:
        """The parsed body (None when absent or unreadable); its violations are added to ``out``."""
        if not raw or raw.isspace():
            if op.body_required:
                out.append(Violation(422, "required", ("body",), "Field required", "missing"))
            return None
        content_type = headers.get("content-type", "")
        if content_type != "application/json":  # what every SDK sends: no parsing
            content_type = media_type(content_type)
            if content_type and not is_json(content_type):
                message = f"Expected a JSON body (application/json), got {content_type}"
                out.append(Violation(422, "content_type", ("body",), message, "model_attributes_type"))
                return None
            if not content_type and advisories:
                message = "Expected a JSON body (application/json), got no Content-Type header"
                out.append(Violation(ADVISORY, "content_type", ("header", "content-type"), message))
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            message = f"JSON decode error: {exc.msg}"
            out.append(Violation(422, "json", ("body", exc.pos), message, "json_invalid"))
            return None
        deep = too_deep_json(raw, body)  # before the schema, whose validator would recurse past its limit
        if deep is not None:
            out.append(Violation(422, "json_depth", deep.loc, deep.msg, deep.type))
            return None
        if body is not None or op.body_required:
            for error in op.validator.body_errors(body):
                if advisories and error.type == "additional_properties":
                    continue  # reported below as unknown_field, with the closest known name
                out.append(Violation.of(error))
        if advisories:
            shape = self.compiled.body_shape(op)
            if shape is not None:
                for loc, suggestion in unknown_fields(body, shape, ("body",), allow_extra_fields):
                    out.append(_unknown(loc, suggestion))
        return body

    # -- the checker: every step, every violation ---------------------------------------------------

    def judge(
        self,
        method: str,
        path: str,
        query: bytes | str | Mapping[str, list[str]] = b"",
        headers: Mapping[str, str] | None = None,
        body: bytes | str | None = b"",
        *,
        allow_extra_fields: bool = False,
    ) -> list[Violation]:
        """Every way this request breaks the contract, advisories included ([]: it is fine).
        ``path`` is below the contract's prefix; ``headers`` may be in any case."""
        try:
            op, params = self.route(method.upper(), path)
        except Refusal as refused:
            return list(refused.violations)
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        queries = dict(query) if isinstance(query, Mapping) else parse_query(query)
        out: list[Violation] = []
        try:
            self.authenticate(op, lower, queries)
        except Refusal as refused:
            out.extend(refused.violations)
        raw = body.encode() if isinstance(body, str) else (body or b"")
        *_, violations = self.validate(
            op, params, queries, lower, raw, advisories=True, allow_extra_fields=allow_extra_fields
        )
        out.extend(violations)
        return out


def too_deep(value: Any, loc: Loc = ("body",), limit: int = MAX_DEPTH) -> FieldError | None:
    """The 422 entry for a JSON value nesting more than ``limit`` arrays and objects (None: it
    does not), located at the container that crosses the limit (the first ``_SHOWN`` parts of
    its path, then "..."). Iterative, so no depth can overflow the walk itself."""
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if depth > limit:
            where = path if len(path) <= _SHOWN else (*path[:_SHOWN], "...")
            message = f"JSON nested deeper than {limit} levels of arrays and objects"
            return FieldError((*loc, *where), message, DEPTH_TYPE)
        if isinstance(node, dict):
            stack.extend(
                (child, depth + 1, (*path, key))
                for key, child in node.items()
                if isinstance(child, (dict, list))
            )
        elif isinstance(node, list):
            stack.extend(
                (child, depth + 1, (*path, i))
                for i, child in enumerate(node)
                if isinstance(child, (dict, list))
            )
    return None


def too_deep_json(raw: bytes, value: Any, loc: Loc = ("body",), limit: int = MAX_DEPTH) -> FieldError | None:
    """`too_deep` for a parsed JSON document, walked only when ``raw`` opens enough containers."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return None
    return too_deep(value, loc, limit)


KEY_PLACES = {"header": "header", "query": "query parameter", "cookie": "cookie"}  # how a 401 names them
# An HTTP scheme's challenge (WWW-Authenticate), what a client must send, what it looks like, and
# the message for a credential that is not one of ``api_keys``.
_HTTP = {
    "bearer": ("Bearer", "a bearer token", "Bearer <token>", "Invalid token"),
    "basic": ("Basic", "basic credentials", "Basic base64(user:password)", "Invalid credentials"),
}


def _read(
    credential: Credential, headers: Mapping[str, str], query: Mapping[str, list[str]]
) -> str | Violation:
    """A credential's value, or the 401 `Violation` saying it is missing or malformed."""
    kind, name = credential.kind, credential.name
    if kind in _HTTP:
        return _authorization(kind, headers.get("authorization"))
    value: str | None
    if kind == "header":
        value = headers.get(name)
    elif kind == "query":
        value = next((v for v in query.get(name) or () if v and not v.isspace()), None)
    else:
        value = _cookie(headers.get("cookie"), name)
    if value and not value.isspace():
        return value
    message = f"Not authenticated: send an API key in the {name} {KEY_PLACES[kind]}"
    return Violation(401, "auth", (kind, name), message, "missing")


def _authorization(kind: str, value: str | None) -> str | Violation:
    """The bearer token, or the basic ``user:pass``, of an Authorization header."""
    challenge, what, shape, _ = _HTTP[kind]
    loc = ("header", "authorization")
    if not value or value.isspace():
        message = f"Not authenticated: send {what} in the Authorization header"
        return Violation(401, "auth", loc, message, "missing", challenge=challenge)
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() == kind and token:
        if kind == "bearer":
            return token
        try:
            decoded = base64.b64decode(token, validate=True).decode()
        except ValueError:  # not base64 (binascii.Error), not UTF-8 (UnicodeDecodeError)
            decoded = ""
        if ":" in decoded:
            return decoded
    message = f"Invalid authentication credentials: expected 'Authorization: {shape}'"
    return Violation(401, "auth", loc, message, challenge=challenge)


def _cookie(header: str | None, name: str) -> str | None:
    for part in (header or "").split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    return None


def _invalid(credential: Credential) -> Violation:
    """The 401 for a credential that is not one of the fake's ``api_keys``."""
    http = _HTTP.get(credential.kind)
    if http is None:
        return Violation(401, "auth", (credential.kind, credential.name), "Invalid API key")
    return Violation(401, "auth", ("header", "authorization"), http[3], challenge=http[0])


def _unknown(loc: Loc, suggestion: str | None) -> Violation:
    name = str(loc[-1])
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    message = f"unknown field {name!r}: the contract does not name it, so the server ignores it{hint}"
    return Violation(ADVISORY, "unknown_field", loc, message, "extra_forbidden", suggestion=suggestion)
