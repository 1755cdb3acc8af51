"""Pieces shared by the contract generators: schema clean-up, error responses, YAML output."""

from __future__ import annotations

from typing import Any

import yaml

REF = "#/components/schemas/{model}"

# FastAPI's validation error, as the SDKs model it (HTTPValidationError / ValidationError).
VALIDATION_ERROR_SCHEMAS: dict[str, Any] = {
    "HTTPValidationError": {
        "type": "object",
        "description": "FastAPI-style validation error: one entry per offending field.",
        "properties": {"detail": {"type": "array", "items": {"$ref": REF.format(model="ValidationError")}}},
    },
    "ValidationError": {
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {
                "type": "array",
                "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            },
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    },
}

ERROR_RESPONSE: dict[str, Any] = {
    "type": "object",
    "description": "Any error other than validation: `detail` says what went wrong.",
    "required": ["detail"],
    "properties": {"detail": {"description": "Usually a message; any JSON value is accepted."}},
}

_ERRORS = {
    "401": "Missing or unknown API key",
    "404": "No such resource for this API key",
    "409": "Conflicts with the resource's current state",
    "413": "Request body too large",
}


def error_responses(*, has_body: bool, method: str) -> dict[str, Any]:
    """The error answers every operation documents besides its SDK-declared ones."""
    codes = ["401", "404"]
    if method in ("post", "put", "patch", "delete"):
        codes.append("409")
    if has_body:
        codes.append("413")
    return {
        code: {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorResponse")}}},
        }
        for code in codes
    }


_DROP = {"title", "description", "examples"}
_NAME_MAPS = {"properties", "patternProperties", "$defs", "definitions"}


def clean_schema(schema: Any) -> Any:
    """Drop the SDKs' prose and pydantic's titles; keep every fact (a property may be named
    ``description`` or ``title``: keys of ``properties`` are names, not keywords)."""
    if isinstance(schema, dict):
        return {
            k: ({n: clean_schema(s) for n, s in v.items()} if k in _NAME_MAPS else clean_schema(v))
            for k, v in schema.items()
            if k not in _DROP
        }
    if isinstance(schema, list):
        return [clean_schema(v) for v in schema]
    return schema


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)
# Anchors would make the document hard to read and diff; every repeat is written out.
_Dumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]


def dump_document(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
