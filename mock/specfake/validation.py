"""Request validation compiled once per operation; errors come out as FastAPI's 422 entries.

Validators are jsonschema_rs validators over the whole contract (registered under the contract's
URI), so a request costs one Rust call when it is valid; error details are only built for
invalid requests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from specfake.errors import FieldError, Loc

if TYPE_CHECKING:
    from specfake.contract import Contract, Operation, Parameter

Kind = jsonschema_rs.ValidationErrorKind

_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


class SchemaValidator:
    """One compiled JSON Schema; ``errors`` turns failures into FastAPI-style entries."""

    __slots__ = ("_validator", "is_valid")

    def __init__(self, contract: Contract, schema: dict[str, Any], registry: jsonschema_rs.Registry) -> None:
        rooted = absolute_refs(schema, contract.uri)
        self._validator = jsonschema_rs.Draft202012Validator(rooted, registry=registry, validate_formats=True)
        self.is_valid: Callable[[Any], bool] = self._validator.is_valid

    def errors(self, instance: Any, loc: Loc) -> list[FieldError]:
        out: list[FieldError] = []
        for err in self._validator.iter_errors(instance):
            for entry in _expand(err, loc):
                if entry not in out:
                    out.append(entry)
        return out


def registry_for(contract: Contract) -> jsonschema_rs.Registry:
    """The contract's schema registry, built once with its compiled form (``contract.compiled``)."""
    return contract.compiled.registry


def absolute_refs(node: Any, uri: str) -> Any:
    """Make local refs (``#/components/...``) absolute so they resolve from any sub-schema."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#"):
                out[key] = uri + value
            else:
                out[key] = absolute_refs(value, uri)
        return out
    if isinstance(node, list):
        return [absolute_refs(v, uri) for v in node]
    return node


_TYPE_NAMES = {
    "string": ("string_type", "Input should be a valid string"),
    "integer": ("int_type", "Input should be a valid integer"),
    "number": ("float_type", "Input should be a valid number"),
    "boolean": ("bool_type", "Input should be a valid boolean"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "array": ("list_type", "Input should be a valid list"),
    "null": ("none_required", "Input should be None"),
}


def _expand(err: jsonschema_rs.ValidationError, loc: Loc) -> list[FieldError]:
    """One schema error as FastAPI entries; a failed union reports its closest branch's errors.

    "not valid under any of the schemas listed in the 'anyOf' keyword" at ``["body"]`` names no
    field. Pydantic reports the union member the input was meant to be, so we do too: the branch
    that agrees with the input's kind (its type, and a discriminator such as ``type``) and has
    the fewest errors, reported with their own locations. Runs only for invalid requests.
    """
    if isinstance(err.kind, (Kind.AnyOf, Kind.OneOfNotValid)):
        branches = err.kind.context
        if branches:
            depth = len(err.instance_path)
            ranks = [_branch_rank(branch, depth, i) for i, branch in enumerate(branches)]
            best = min(range(len(branches)), key=ranks.__getitem__)
            out = [entry for sub in branches[best] for entry in _expand(sub, loc)]
            if ranks[best][0] == 1:
                _name_every_tag(out, branches, loc)
            return out
    return [_to_fastapi(err, loc)]


def _name_every_tag(out: list[FieldError], branches: list[list[Any]], loc: Loc) -> None:
    """No member matched the tag: say which values would (``Input should be 'a' or 'b'``)."""
    allowed: dict[tuple[Any, ...], list[Any]] = {}
    for branch in branches:
        for err in branch:
            kind = err.kind
            values = (
                [kind.expected_value]
                if isinstance(kind, Kind.Constant)
                else list(kind.options)
                if isinstance(kind, Kind.Enum)
                else []
            )
            bucket = allowed.setdefault(tuple(err.instance_path), [])
            bucket.extend(v for v in values if v not in bucket)
    for position, entry in enumerate(out):
        named = allowed.get(tuple(entry.loc[len(loc) :]))
        if entry.type in ("literal_error", "enum") and named:
            message = "Input should be " + " or ".join(repr(v) for v in named)
            out[position] = FieldError(entry.loc, message, entry.type)


def _branch_rank(errors: list[jsonschema_rs.ValidationError], depth: int, index: int) -> tuple[int, int, int]:
    """Lower is closer: (the input is of another kind, how many errors, declaration order)."""
    mismatch = 0
    for err in errors:
        kind = err.kind
        level = len(err.instance_path) - depth
        if level == 0 and isinstance(kind, Kind.Type):
            # Wrong JSON type for this branch; a `null` branch is the last resort (Optional[X]).
            mismatch = max(mismatch, 3 if _expects_null(kind) else 2)
        elif level == 1 and (
            isinstance(kind, Kind.Constant) or (isinstance(kind, Kind.Enum) and _is_discriminator(err))
        ):
            mismatch = max(mismatch, 1)  # a tag such as `type` names another member
    return (mismatch, len(errors), index)


def _expects_null(kind: Any) -> bool:
    types = kind.types if isinstance(kind.types, list) else [kind.types]
    return [str(t).lower() for t in types] == ["null"]


def _is_discriminator(err: jsonschema_rs.ValidationError) -> bool:
    field = str(err.instance_path[-1])
    return field in ("type", "kind", "object") or field.endswith("_type")


def _to_fastapi(err: jsonschema_rs.ValidationError, loc: Loc) -> FieldError:
    kind = err.kind
    path: Loc = (*loc, *err.instance_path)
    if isinstance(kind, Kind.Required):
        return FieldError((*path, kind.property), "Field required", "missing")
    if isinstance(kind, Kind.Type):
        types = [str(t) for t in (kind.types if isinstance(kind.types, list) else [kind.types])]
        first = types[0].lower() if types else ""
        code, msg = _TYPE_NAMES.get(first, ("type_error", err.message))
        return FieldError(path, msg, code)
    if isinstance(kind, Kind.Enum):
        return FieldError(path, f"Input should be one of the allowed values: {err.message}", "enum")
    if isinstance(kind, Kind.Constant):
        return FieldError(path, err.message, "literal_error")
    return FieldError(path, err.message, _snake(type(kind).__name__))


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return (out and "".join(out)) or "value_error"


# What a parameter's string schema may hold and still accept every string.
_PLAIN_STRING_KEYS = frozenset({"type", "title", "description", "example", "examples"})


class ParamCoercer:
    """Turns the strings of one query/path/header parameter into JSON values for its schema."""

    __slots__ = ("item_kind", "kind", "name", "param", "plain", "validator")

    def __init__(self, contract: Contract, param: Parameter, registry: jsonschema_rs.Registry) -> None:
        self.param = param
        schema = contract.resolve(param.schema)
        self.kind = _scalar_kind(contract, schema)
        self.item_kind = (
            _scalar_kind(contract, contract.resolve(schema.get("items", {}))) if self.kind == "array" else ""
        )
        self.validator = SchemaValidator(contract, param.schema, registry) if param.schema else None
        self.name = param.name
        # Any string passes as it is (an id in a path, mostly): no coercion, no schema to run.
        self.plain = param.schema.get("type") == "string" and not param.schema.keys() - _PLAIN_STRING_KEYS

    def coerce(self, raw: list[str], loc: Loc) -> tuple[Any, list[FieldError]]:
        if self.kind == "array":
            # explode=false arrives comma-joined; clients also repeat the key: accept both.
            # Exploded string arrays are never split: their items may hold commas.
            split = not self.param.explode or self.item_kind != "string"
            values = [v for value in raw for v in (value.split(",") if split else [value])]
            if values == [""]:
                # `view=`: the form serialisation of an empty array (the SGP SDK sends it for
                # `view=[]`; schemathesis' coverage phase sends it as valid data). Also how `[""]`
                # is written, which schemathesis' fuzzer may send as invalid: ambiguous, read as [].
                values = []
            items = []
            errors: list[FieldError] = []
            for i, value in enumerate(values):
                item, err = _coerce_scalar(self.item_kind, value, (*loc, i))
                errors.extend(err)
                items.append(item)
            result: Any = items
        else:
            result, errors = _coerce_scalar(self.kind, raw[-1], loc)
        if not errors and self.validator is not None and not self.validator.is_valid(result):
            errors = self.validator.errors(result, loc)
        return result, errors


def _scalar_kind(contract: Contract, schema: dict[str, Any]) -> str:
    schema = contract.resolve(schema)
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if kinds else "null"
    if kind is None:
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                members = {_scalar_kind(contract, s) for s in schema[key]} - {"null"}
                if len(members) == 1:
                    return members.pop()
                if members <= {"integer", "number"}:
                    return "number"
                return "string" if "string" in members else (members.pop() if members else "string")
        if "enum" in schema:
            values = schema["enum"]
            if values and all(isinstance(v, bool) for v in values):
                return "boolean"
            if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                return "integer"
        return "string"
    return str(kind)


def _coerce_scalar(kind: str, value: str, loc: Loc) -> tuple[Any, list[FieldError]]:
    if kind == "integer":
        try:
            return int(value), []
        except ValueError:
            msg = "Input should be a valid integer, unable to parse string as an integer"
            return value, [FieldError(loc, msg, "int_parsing")]
    if kind == "number":
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isnan(number) or math.isinf(number):
            msg = "Input should be a valid number, unable to parse string as a number"
            return value, [FieldError(loc, msg, "float_parsing")]
        return (
            int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        ), []
    if kind == "boolean":
        lowered = value.lower()
        if lowered in _TRUE:
            return True, []
        if lowered in _FALSE:
            return False, []
        msg = "Input should be a valid boolean, unable to interpret input"
        return value, [FieldError(loc, msg, "bool_parsing")]
    if kind == "null":
        return (None, []) if value in ("", "null") else (value, [])
    return value, []


class OperationValidator:
    """Everything needed to check one operation's request, compiled at start-up."""

    __slots__ = ("body", "header_params", "operation", "path_params", "query_params")

    def __init__(self, contract: Contract, operation: Operation, registry: jsonschema_rs.Registry) -> None:
        self.operation = operation
        self.path_params = [
            ParamCoercer(contract, p, registry) for p in operation.parameters if p.location == "path"
        ]
        self.query_params = [
            ParamCoercer(contract, p, registry) for p in operation.parameters if p.location == "query"
        ]
        self.header_params = [
            ParamCoercer(contract, p, registry)
            for p in operation.parameters
            if p.location == "header" and p.name.lower() not in ("accept", "content-type", "authorization")
        ]
        self.body = (
            SchemaValidator(contract, operation.body_schema, registry)
            if operation.body_schema is not None
            else None
        )

    def params(
        self,
        path_values: Mapping[str, str],
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
    ) -> tuple[dict[str, Any], dict[str, Any], list[FieldError]]:
        errors: list[FieldError] = []
        path_out: dict[str, Any] = {}
        for coercer in self.path_params:
            name = coercer.name
            if coercer.plain:
                path_out[name] = path_values.get(name, "")
                continue
            value, errs = coercer.coerce([path_values.get(name, "")], ("path", name))
            path_out[name] = value
            errors.extend(errs)
        query_out: dict[str, Any] = {}
        for coercer in self.query_params:
            name = coercer.param.name
            raw = query.get(name)
            if not raw:
                if coercer.param.required:
                    errors.append(FieldError(("query", name), "Field required", "missing"))
                continue
            value, errs = coercer.coerce(raw, ("query", name))
            query_out[name] = value
            errors.extend(errs)
        for coercer in self.header_params:
            name = coercer.param.name
            header = headers.get(name.lower())
            if header is None:
                if coercer.param.required:
                    errors.append(FieldError(("header", name), "Field required", "missing"))
                continue
            value, errs = coercer.coerce([header], ("header", name))
            query_out.setdefault("__headers__", {})[name] = value
            errors.extend(errs)
        return path_out, query_out, errors

    def body_errors(self, body: Any) -> list[FieldError]:
        if self.body is None or self.body.is_valid(body):
            return []
        return self.body.errors(body, ("body",))
