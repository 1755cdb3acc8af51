"""Load an OpenAPI 3.x document into what the fake needs at request time.

Everything that depends only on the document (routes, validators, example bytes) is computed here,
once, so the request path never walks a schema.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import yaml

if TYPE_CHECKING:
    from specfake.compiled import CompiledContract

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BUILTIN_DIR = Path(str(importlib.resources.files("specfake.contracts")))


class ContractError(Exception):
    """The document cannot be served: not OpenAPI 3.x, a dangling $ref, an unreadable file."""


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # "path" | "query" | "header" | "cookie"
    required: bool
    schema: dict[str, Any]
    explode: bool

    @cached_property
    def is_array(self) -> bool:
        return self.schema.get("type") == "array"


@dataclass(frozen=True)
class ResponseSpec:
    status: int
    # media type -> schema (resolved one level: may still hold $ref inside)
    content: dict[str, dict[str, Any]]
    examples: dict[str, Any]
    links: dict[str, Any]
    # media type -> the OpenAPI ``examples`` map by name (values resolved), for ``Prefer: example=``
    named: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Operation:
    operation_id: str
    method: str
    path: str
    tags: list[str]
    parameters: list[Parameter]
    body_schema: dict[str, Any] | None
    body_required: bool
    body_media_types: list[str]
    responses: dict[int, ResponseSpec]
    security: list[dict[str, list[str]]]
    raw: dict[str, Any] = field(repr=False)

    @cached_property
    def success(self) -> ResponseSpec | None:
        """The lowest documented 2xx: what the SDKs expect on success."""
        codes = sorted(c for c in self.responses if 200 <= c < 300)
        return self.responses[codes[0]] if codes else None


@dataclass
class Contract:
    """One OpenAPI document, mounted at ``prefix``."""

    name: str
    source: Path | None
    document: dict[str, Any]
    prefix: str
    operations: list[Operation]

    @cached_property
    def uri(self) -> str:
        """Base URI under which the document is registered for $ref resolution."""
        return f"urn:specfake:{self.name}"

    @cached_property
    def document_bytes(self) -> bytes:
        return orjson.dumps(self.document)

    @cached_property
    def compiled(self) -> CompiledContract:
        """Router, validators, key headers and stream rules, built once (``specfake.compiled``)."""
        from specfake.compiled import CompiledContract  # it reads this module's types

        return CompiledContract(self)

    def operation(self, operation_id: str) -> Operation:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise KeyError(operation_id)

    def resolve(self, node: Any) -> Any:
        """Follow a local ``$ref`` (one hop chain) inside this document."""
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            node = resolve_pointer(self.document, node["$ref"])
            seen += 1
            if seen > 32:
                raise ContractError("$ref cycle")
        return node


def resolve_pointer(document: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        raise ContractError(f"only local $refs are supported, got {ref!r}")
    node: Any = document
    for part in ref[1:].lstrip("/").split("/") if ref != "#" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as exc:
            raise ContractError(f"$ref {ref!r} does not resolve") from exc
    return node


def check_refs(document: dict[str, Any]) -> None:
    """Raise ContractError on the first $ref that does not resolve."""
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                resolve_pointer(document, ref)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def builtin_contracts() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.yaml"))}


def find_contract(name_or_path: str) -> Path:
    builtins = builtin_contracts()
    if name_or_path in builtins:
        return builtins[name_or_path]
    path = Path(name_or_path)
    if path.is_file():
        return path
    known = ", ".join(builtins) or "none"
    raise ContractError(f"no contract {name_or_path!r}: not a file, nor a built-in ({known})")


# libyaml's loader parses the Humanloop contract in ~0.1 s against ~0.7 s for pure Python: most
# of the cold-start budget.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_document(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        doc = orjson.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_YAML_LOADER)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise ContractError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3."):
        raise ContractError(f"{path}: not an OpenAPI 3.x document")
    return doc


def base_path(document: dict[str, Any]) -> str:
    """The path of the first server URL (``/v4``; ``""`` when it has none): the real API's base path."""
    servers = document.get("servers") or [{}]
    return urlsplit(str(servers[0].get("url", ""))).path.rstrip("/")


def mount_prefix(name: str, document: dict[str, Any]) -> str:
    """``/<name>`` plus the path of the first server URL: the real API's base path."""
    return f"/{name}{base_path(document)}"


def load_contract(name_or_path: str | Path, *, name: str | None = None) -> Contract:
    path = find_contract(str(name_or_path))
    document = read_document(path)
    check_refs(document)
    contract_name = name or path.stem
    contract = Contract(
        name=contract_name,
        source=path,
        document=document,
        prefix=mount_prefix(contract_name, document),
        operations=[],
    )
    contract.operations = list(_operations(contract))
    return contract


def _operations(contract: Contract) -> Any:
    doc = contract.document
    top_security = doc.get("security", [])
    seen_ids: set[str] = set()
    for path, item in (doc.get("paths") or {}).items():
        item = contract.resolve(item)
        shared = [contract.resolve(p) for p in item.get("parameters", [])]
        for method in HTTP_METHODS:
            raw = item.get(method)
            if raw is None:
                continue
            op_id = raw.get("operationId") or f"{method}_{path}"
            if op_id in seen_ids:
                raise ContractError(f"duplicate operationId {op_id!r}")
            seen_ids.add(op_id)
            params: dict[tuple[str, str], Parameter] = {}
            for p in shared + [contract.resolve(p) for p in raw.get("parameters", [])]:
                location = p["in"]
                style_default_explode = (
                    p.get("style", "form" if location in ("query", "cookie") else "simple") == "form"
                )
                params[(p["name"], location)] = Parameter(
                    name=p["name"],
                    location=location,
                    required=bool(p.get("required")) or location == "path",
                    schema=p.get("schema", {}),
                    explode=bool(p.get("explode", style_default_explode)),
                )
            body = contract.resolve(raw.get("requestBody")) if raw.get("requestBody") else None
            body_content = (body or {}).get("content", {})
            json_type = next((t for t in body_content if is_json(t)), None)
            responses: dict[int, ResponseSpec] = {}
            for code, resp in (raw.get("responses") or {}).items():
                if not str(code).isdigit():
                    continue
                resp = contract.resolve(resp)
                content = resp.get("content") or {}
                responses[int(code)] = ResponseSpec(
                    status=int(code),
                    content={t: m.get("schema", {}) for t, m in content.items()},
                    examples={t: _example_of(contract, m) for t, m in content.items() if _has_example(m)},
                    links=resp.get("links") or {},
                    named={t: _named_examples(contract, m) for t, m in content.items() if m.get("examples")},
                )
            yield Operation(
                operation_id=op_id,
                method=method.upper(),
                path=path,
                tags=list(raw.get("tags", [])),
                parameters=list(params.values()),
                body_schema=body_content[json_type].get("schema", {}) if json_type else None,
                body_required=bool((body or {}).get("required")),
                body_media_types=list(body_content),
                responses=responses,
                security=raw.get("security", top_security),
                raw=raw,
            )


def media_type(content_type: str) -> str:
    """``Application/JSON; charset=utf-8`` -> ``application/json``: a Content-Type without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    kind = media_type(content_type)
    return kind == "application/json" or kind.endswith("+json")


def is_event_stream(content_type: str) -> bool:
    return media_type(content_type) == "text/event-stream"


def _has_example(media: dict[str, Any]) -> bool:
    return "example" in media or bool(media.get("examples"))


def _named_examples(contract: Contract, media: dict[str, Any]) -> dict[str, Any]:
    examples = media["examples"]
    if not isinstance(examples, dict):
        return {}
    resolved = {str(name): contract.resolve(example) for name, example in examples.items()}
    return {name: example.get("value") for name, example in resolved.items() if isinstance(example, dict)}


def _example_of(contract: Contract, media: dict[str, Any]) -> Any:
    if "example" in media:
        return media["example"]
    first = next(iter(media["examples"].values()))
    return contract.resolve(first).get("value")
