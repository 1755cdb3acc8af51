"""``specfake check diff OLD NEW``: the changes between two versions of a contract that break
existing clients (or servers), each with a stable kind, a severity and a location.

Both documents are walked operation by operation (matched by method and path template, path
parameter names ignored), then schema by schema: ``$ref``s followed (a pair of nodes is compared
once per root, which also stops cycles), ``allOf`` merged, a ``null`` alternative of an
``anyOf``/``oneOf`` read as nullability, and other alternatives compared as sets. Data a client
sends must still be accepted (a request schema may only widen); data a client receives must
still be understood (a response or stream chunk schema may only narrow). The kinds follow
oasdiff's naming (``request-property-became-required``, ``response-property-became-nullable``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import orjson

from specfake.compiled import SSE, StreamSpec
from specfake.contract import Contract, is_json, media_type, resolve_pointer
from specfake.contracts.harness.findings import Finding, Report

__all__ = ["Change", "DiffReport", "diff_contracts"]

ERROR, WARNING = "error", "warning"
CLIENT, SERVER = "client", "server"  # whose existing code the change breaks
_MAX_SIDE = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_MIN_SIDE = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")


@dataclass
class Change:
    """One breaking change. ``pointer`` is a JSON pointer into the ``document`` ("new" unless the
    thing was removed, then "old") at the node an author would edit; ``field`` names the data
    (``body.messages[*].role``); ``source`` is set for replayed traffic (``FILE#entry``)."""

    kind: str
    severity: str
    operation: str
    message: str
    pointer: str | None = None
    document: str | None = None
    field: str | None = None
    side: str = CLIENT
    source: str | None = None
    rule: str | None = None  # replayed traffic: the rule broken (required, type, enum...)


@dataclass
class DiffReport:
    """All changes of one comparison; exit 1 on an error (or a warning, with ``fail_on``)."""

    old: str
    new: str
    changes: list[Change] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)  # the operations compared
    stats: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    duration: float = 0.0

    @property
    def errors(self) -> list[Change]:
        return [c for c in self.changes if c.severity == ERROR]

    @property
    def warnings(self) -> list[Change]:
        return [c for c in self.changes if c.severity == WARNING]

    def exit_code(self, fail_on: str = ERROR) -> int:
        failing = self.changes if fail_on == WARNING else self.errors
        return 1 if failing else 0

    def summary(self, *, verbose: bool = False) -> str:
        lines = [f"specfake check diff: {self.old} -> {self.new}"]
        if self.stats:
            lines.append("  " + ", ".join(f"{k}: {v}" for k, v in self.stats.items()))
        by_operation: dict[str, list[Change]] = {}
        for change in self.changes:
            by_operation.setdefault(change.operation, []).append(change)
        for operation, changes in sorted(by_operation.items()):
            lines.append(f"\n{operation}")
            shown = changes if verbose else changes[:10]
            for change in shown:
                mark = "✗" if change.severity == ERROR else "!"
                lines.append(f"  {mark} {change.severity} {change.kind}: {change.message}")
                where = [change.source] if change.source else []
                if change.pointer:
                    where.append(f"{change.document}{change.pointer}")
                if change.rule:
                    where.append(
                        f"rule: {change.rule}" + (f", field: {change.field}" if change.field else "")
                    )
                if where:
                    lines.append(f"      at {'; '.join(where)}")
            if len(changes) > len(shown):
                lines.append(f"  … {len(changes) - len(shown)} more (-v, or see the JSON report)")
        lines.append(
            f"\n{len(self.errors)} breaking change(s), {len(self.warnings)} warning(s)"
            f" in {self.duration:.1f}s"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": "check diff",
            "old": self.old,
            "new": self.new,
            "ok": not self.errors,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "duration": round(self.duration, 3),
            "stats": self.stats,
            "operations": self.operations,
            "changes": [asdict(c) for c in self.changes],
        }

    def junit(self) -> ElementTree.Element:
        """The harness's JUnit (`Report.junit`): a failing case per operation and kind of error, a
        passing one per clean operation; warnings are passing cases carrying their text."""
        report = Report(tool="check diff", contract=f"{self.old} -> {self.new}", started=self.started)
        report.duration = self.duration
        report.operations = list(self.operations)
        for change in self.errors:
            report.add(Finding(change.operation, change.kind, change.message, change.side, _where(change)))
        suite = report.junit()
        grouped: dict[tuple[str, str], list[Change]] = {}
        for change in self.warnings:
            grouped.setdefault((change.operation, change.kind), []).append(change)
        for (operation, kind), changes in sorted(grouped.items()):
            case = ElementTree.SubElement(
                suite, "testcase", classname=report.contract, name=f"{operation} :: {kind} (warning)"
            )
            out = ElementTree.SubElement(case, "system-out")
            out.text = "\n\n".join(f"warning: {c.message}\nat: {_where(c)}" for c in changes)
        suite.set("tests", str(int(suite.get("tests", "0")) + len(grouped)))
        return suite

    def write(self, *, junit: str | None = None, report: str | None = None) -> None:
        if junit:
            suites = ElementTree.Element("testsuites")
            suites.append(self.junit())
            ElementTree.indent(suites)
            ElementTree.ElementTree(suites).write(junit, encoding="utf-8", xml_declaration=True)
        if report:
            text = json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
            Path(report).write_text(text, encoding="utf-8")


def _where(change: Change) -> str | None:
    if change.source:
        return change.source + (f" {change.field}" if change.field else "")
    return f"{change.document}{change.pointer}" if change.pointer else change.field


# -- schema views ---------------------------------------------------------------------------------


def escape(token: str) -> str:
    """One JSON pointer token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


@dataclass
class _View:
    """What a schema node allows, with ``$ref``s followed, ``allOf`` merged and ``null`` read as
    nullability. ``types`` None: any type; ``alternatives``: the non-null anyOf/oneOf branches
    when there are several (each ``(node, pointer)``)."""

    node: Any
    pointer: str
    ref: str | None = None
    types: frozenset[str] | None = None
    nullable: bool = False
    enum: dict[bytes, Any] | None = None
    format: str | None = None
    pattern: str | None = None
    limits: dict[str, float] = field(default_factory=dict)
    properties: dict[str, tuple[Any, str]] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    items: tuple[Any, str] | None = None
    additional: tuple[Any, str] | None = None
    alternatives: list[tuple[Any, str]] = field(default_factory=list)
    union: str = "any-of"

    def merge(self, other: _View) -> None:
        """Fold an ``allOf`` branch (or the one non-null alternative) into this view."""
        if other.types is not None:
            self.types = other.types if self.types is None else self.types & other.types
        if other.enum is not None:
            self.enum = (
                other.enum if self.enum is None else {k: v for k, v in self.enum.items() if k in other.enum}
            )
        self.nullable = self.nullable or other.nullable
        self.format = self.format or other.format
        self.pattern = self.pattern or other.pattern
        for key, value in other.limits.items():
            self.limits.setdefault(key, value)
        for name, prop in other.properties.items():
            self.properties.setdefault(name, prop)
        self.required |= other.required
        self.items = self.items or other.items
        self.additional = self.additional or other.additional
        if other.alternatives:
            self.alternatives.extend(other.alternatives)
            self.union = other.union
        self.ref = self.ref or other.ref


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _is_null(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    kind = node.get("type")
    return kind == "null" or kind == ["null"] or node.get("enum") == [None]


class _Document:
    def __init__(self, contract: Contract) -> None:
        self.document = contract.document
        self._views: dict[str, _View] = {}  # by the pointer asked for: a node's view is built once

    def deref(self, node: Any, pointer: str) -> tuple[Any, str, str | None]:
        """(node, its pointer, the last $ref followed) with every ``$ref`` followed."""
        ref = None
        for _ in range(32):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                break
            ref = pointer = node["$ref"]
            node = resolve_pointer(self.document, pointer)
        return node, pointer, ref

    def view(self, node: Any, pointer: str, depth: int = 0) -> _View:
        found = self._views.get(pointer)
        if found is None:
            found = self._views[pointer] = self._view(node, pointer, depth)
        return found

    def _view(self, node: Any, pointer: str, depth: int) -> _View:
        node, pointer, ref = self.deref(node, pointer)
        view = _View(node, pointer, ref)
        if not isinstance(node, dict) or depth > 16:
            return view
        kind = node.get("type")
        if kind is not None:
            kinds = {str(k) for k in kind} if isinstance(kind, list) else {str(kind)}
            view.nullable = "null" in kinds
            view.types = frozenset(kinds - {"null"})
        view.nullable = view.nullable or node.get("nullable") is True
        values = (
            node["enum"]
            if isinstance(node.get("enum"), list)
            else [node["const"]]
            if "const" in node
            else None
        )
        if values is not None:
            view.nullable = view.nullable or None in values
            view.enum = {_canonical(v): v for v in values if v is not None}
        view.format = node.get("format") if isinstance(node.get("format"), str) else None
        view.pattern = node.get("pattern") if isinstance(node.get("pattern"), str) else None
        view.limits = {
            k: node[k]
            for k in (*_MAX_SIDE, *_MIN_SIDE)
            if isinstance(node.get(k), int | float) and not isinstance(node.get(k), bool)
        }
        for name, sub in (node.get("properties") or {}).items():
            view.properties[str(name)] = (sub, f"{pointer}/properties/{escape(str(name))}")
        view.required = {str(r) for r in node.get("required") or []}
        if isinstance(node.get("items"), dict):
            view.items = (node["items"], f"{pointer}/items")
        if isinstance(node.get("additionalProperties"), dict):
            view.additional = (node["additionalProperties"], f"{pointer}/additionalProperties")
        for keyword, union in (("anyOf", "any-of"), ("oneOf", "one-of")):
            branches = node.get(keyword)
            if not isinstance(branches, list):
                continue
            kept = []
            for index, branch in enumerate(branches):
                where = f"{pointer}/{keyword}/{index}"
                if _is_null(self.deref(branch, where)[0]):
                    view.nullable = True
                else:
                    kept.append((branch, where))
            if len(kept) == 1:
                view.merge(self.view(*kept[0], depth + 1))
            elif kept:
                view.alternatives.extend(kept)
                view.union = union
        for index, branch in enumerate(node.get("allOf") or []):
            view.merge(self.view(branch, f"{pointer}/allOf/{index}", depth + 1))
        if view.types is None and not view.alternatives:
            if view.properties or view.additional:
                view.types = frozenset({"object"})
            elif view.items:
                view.types = frozenset({"array"})
        return view


def _covers(wide: frozenset[str], narrow: frozenset[str]) -> bool:
    """Every value of a ``narrow`` type is one of ``wide`` (an integer is a number)."""
    return narrow <= (wide | {"integer"} if "number" in wide else wide)


def _types(types: frozenset[str] | None) -> str:
    return "any" if types is None else "|".join(sorted(types)) or "nothing"


# -- comparing --------------------------------------------------------------------------------------


@dataclass
class _Root:
    """One schema pair being compared: its operation, direction and how its kinds are named."""

    operation: str
    inbound: bool  # data a client sends (a request): may only widen
    root_noun: str  # e.g. "request-body", "request-parameter", "response-body", "stream-chunk"
    noun: str  # nested: "request-property", "response-property", "stream-chunk-property"
    out: list[Change]
    visited: set[tuple[str, str, bool]] = field(default_factory=set)


class _Differ:
    def __init__(self, old: Contract, new: Contract) -> None:
        self.old, self.new = _Document(old), _Document(new)

    def compare(
        self,
        root: _Root,
        old_node: Any,
        old_pointer: str,
        new_node: Any,
        new_pointer: str,
        where: str,
        *,
        nested: bool = False,
        check_null: bool = True,
    ) -> None:
        old = self.old.view(old_node, old_pointer)
        new = self.new.view(new_node, new_pointer)
        key = (old.pointer, new.pointer, check_null)
        if key in root.visited:
            return
        root.visited.add(key)
        noun = root.noun if nested else root.root_noun

        def add(
            kind: str, message: str, severity: str = ERROR, *, removed: bool = False, at: str | None = None
        ) -> None:
            pointer, document = (old.pointer, "old") if removed else (new.pointer, "new")
            pointer = at or pointer
            subject = where or "the value"
            root.out.append(
                Change(
                    f"{noun}-{kind}",
                    severity,
                    root.operation,
                    f"{subject}: {message}",
                    pointer,
                    document,
                    where,
                )
            )

        if check_null:
            if root.inbound and old.nullable and not new.nullable:
                add("became-not-nullable", "null was accepted and no longer is")
            if not root.inbound and new.nullable and not old.nullable:
                add("became-nullable", "may now be null")
        if old.alternatives or new.alternatives:
            self._unions(root, old, new, where, nested, add)
            return
        if root.inbound:
            if new.types is not None and (old.types is None or not _covers(new.types, old.types)):
                add("type-changed", f"type was {_types(old.types)}, now {_types(new.types)}: narrowed")
                return
            if new.format and new.format != old.format:
                was = f"from {old.format!r} " if old.format else ""
                add("format-changed" if old.format else "format-added", f"format {was}now {new.format!r}")
            if new.pattern and new.pattern != old.pattern:
                add("pattern-changed", f"must now match {new.pattern!r}")
            if new.enum is not None:
                if old.enum is None:
                    add("enum-added", f"now limited to {sorted(map(str, new.enum.values()))}")
                else:
                    gone = [v for k, v in old.enum.items() if k not in new.enum]
                    if gone:
                        add("enum-value-removed", f"no longer accepts {gone}")
            for name, limit in new.limits.items():
                before = old.limits.get(name)
                tighter = before is None or (limit < before if name in _MAX_SIDE else limit > before)
                if tighter:
                    add(
                        "constraint-narrowed", f"{name} {before if before is not None else 'none'} -> {limit}"
                    )
        else:
            if old.types is not None and (new.types is None or not _covers(old.types, new.types)):
                add("type-changed", f"type was {_types(old.types)}, now {_types(new.types)}")
                return
            if old.format and new.format != old.format:
                kind = "format-changed" if new.format else "format-removed"
                add(kind, f"format {old.format!r} now {new.format!r}", WARNING)
            if old.enum is not None:
                if new.enum is None:
                    add(
                        "enum-removed", f"no longer limited to {sorted(map(str, old.enum.values()))}", WARNING
                    )
                else:
                    added = [v for k, v in new.enum.items() if k not in old.enum]
                    if added:
                        add("enum-value-added", f"may now be {added}", WARNING)
            for name, limit in old.limits.items():
                after = new.limits.get(name)
                looser = after is None or (after > limit if name in _MAX_SIDE else after < limit)
                if looser:
                    add(
                        "constraint-widened",
                        f"{name} {limit} -> {after if after is not None else 'none'}",
                        WARNING,
                    )
        self._object(root, old, new, where)
        if old.items and new.items:
            self.compare(root, *old.items, *new.items, f"{where}[*]", nested=True)
        if old.additional and new.additional:
            self.compare(root, *old.additional, *new.additional, f"{where}{{*}}", nested=True)

    def _object(self, root: _Root, old: _View, new: _View, where: str) -> None:
        prefix = f"{where}." if where else ""
        noun = root.noun
        for name, (old_node, old_pointer) in old.properties.items():
            path = prefix + name
            if name not in new.properties:
                if root.inbound:
                    message, kind, severity = "removed: the server no longer reads it", "removed", ERROR
                elif name in old.required:
                    message, kind, severity = "removed (it was required)", "required-property-removed", ERROR
                else:
                    message, kind, severity = (
                        "removed (it was optional)",
                        "optional-property-removed",
                        WARNING,
                    )
                kind = f"{noun}-{kind}" if root.inbound else f"{noun.rsplit('-property', 1)[0]}-{kind}"
                root.out.append(
                    Change(kind, severity, root.operation, f"{path}: {message}", old_pointer, "old", path)
                )
                continue
            self.compare(root, old_node, old_pointer, *new.properties[name], path, nested=True)
        base = noun.rsplit("-property", 1)[0]
        for name in sorted(new.required - old.required):
            if name not in new.properties and name not in old.properties:
                continue
            pointer = new.properties[name][1] if name in new.properties else f"{new.pointer}/required"
            path = prefix + name
            if root.inbound:
                known = name in old.properties
                kind = f"{noun}-became-required" if known else f"new-required-{base}-property"
                message = "was optional, now required" if known else "a new required field"
                root.out.append(
                    Change(kind, ERROR, root.operation, f"{path}: {message}", pointer, "new", path)
                )
            else:  # a server written to the old version may not send it
                known = name in old.properties
                kind = f"{noun}-became-required" if known else f"{base}-required-property-added"
                message = "now always present (servers must send it)"
                root.out.append(
                    Change(kind, WARNING, root.operation, f"{path}: {message}", pointer, "new", path, SERVER)
                )
        if not root.inbound:
            for name in sorted((old.required - new.required) & set(new.properties)):
                path = prefix + name
                pointer = new.properties[name][1]
                message = "was always present, now optional"
                root.out.append(
                    Change(
                        f"{noun}-became-optional",
                        ERROR,
                        root.operation,
                        f"{path}: {message}",
                        pointer,
                        "new",
                        path,
                    )
                )

    def _unions(self, root: _Root, old: _View, new: _View, where: str, nested: bool, add: Any) -> None:
        """Alternatives as sets: a request's old alternatives must all survive, a response's new
        ones must all have been there before; matched pairs are compared further."""
        olds = [self.old.view(*a) for a in old.alternatives] if old.alternatives else [old]
        news = [self.new.view(*a) for a in new.alternatives] if new.alternatives else [new]
        pairs, lost, gained = _match(olds, news)
        for a, b in pairs:
            if a is old and b is new:
                continue
            self.compare(root, a.node, a.pointer, b.node, b.pointer, where, nested=nested, check_null=False)
        if root.inbound:
            for view in lost:
                if old.alternatives:
                    add(
                        f"{old.union}-removed",
                        f"the alternative {_describe(view)} is no longer accepted",
                        removed=True,
                        at=view.pointer,
                    )
                else:
                    add("type-changed", f"{_describe(view)} is no longer one of the accepted alternatives")
        else:
            for view in gained:
                if new.alternatives:
                    add(f"{new.union}-added", f"may now be {_describe(view)}", at=view.pointer)
                else:
                    add("type-changed", f"{_describe(view)} was none of the old alternatives")


def _describe(view: _View) -> str:
    if view.ref:
        return view.ref.rsplit("/", 1)[-1]
    text = _types(view.types)
    return f"{text} ({view.format})" if view.format else text


def _score(a: _View, b: _View) -> int:
    if a.ref and b.ref and a.ref.rsplit("/", 1)[-1] == b.ref.rsplit("/", 1)[-1]:
        return 1000
    if a.types is None or b.types is None:
        return 1 if a.types == b.types else 0
    if not (a.types & b.types):
        return 0
    score = 10 if a.types == b.types else 5
    score += 5 if a.format == b.format else 0
    return score + len(set(a.properties) & set(b.properties))


def _match(
    olds: list[_View], news: list[_View]
) -> tuple[list[tuple[_View, _View]], list[_View], list[_View]]:
    """Pair each old alternative with its likeliest counterpart (best score first)."""
    scored = sorted(
        ((_score(a, b), i, j) for i, a in enumerate(olds) for j, b in enumerate(news)),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs = []
    for score, i, j in scored:
        if score <= 0 or i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        pairs.append((olds[i], news[j]))
    lost = [v for i, v in enumerate(olds) if i not in used_old]
    gained = [v for j, v in enumerate(news) if j not in used_new]
    return pairs, lost, gained


# -- operations -------------------------------------------------------------------------------------


_PARAM = re.compile(r"\{[^}/]+\}")


def operation_key(method: str, path: str) -> tuple[str, str]:
    """How an operation is matched across versions: a renamed path parameter is the same route."""
    return method.upper(), _PARAM.sub("{}", path)


def _operations(contract: Contract) -> dict[tuple[str, str], Any]:
    return {operation_key(op.method, op.path): op for op in contract.operations}


def _op_pointer(path: str, method: str) -> str:
    return f"#/paths/{escape(path)}/{method.lower()}"


def _parameters(doc: _Document, op: Any) -> dict[tuple[str, str], tuple[dict[str, Any], str]]:
    """(in, name) -> (the resolved parameter, its pointer); a path parameter keyed by position."""
    item_pointer = f"#/paths/{escape(op.path)}"
    item, item_pointer, _ = doc.deref(doc.document["paths"][op.path], item_pointer)
    found: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    names = [m.group(0)[1:-1] for m in _PARAM.finditer(op.path)]
    for base, raw in ((item_pointer, item), (_op_pointer(op.path, op.method), op.raw)):
        for index, param in enumerate(raw.get("parameters") or []):
            resolved, pointer, _ = doc.deref(param, f"{base}/parameters/{index}")
            if not isinstance(resolved, dict) or "name" not in resolved:
                continue
            name = str(resolved["name"])
            where = str(resolved.get("in"))
            key = (where, f"#{names.index(name)}" if where == "path" and name in names else name)
            found[key] = (resolved, pointer)
    return found


def _body(doc: _Document, op: Any) -> tuple[dict[str, Any], str] | None:
    raw = op.raw.get("requestBody")
    if raw is None:
        return None
    body, pointer, _ = doc.deref(raw, _op_pointer(op.path, op.method) + "/requestBody")
    return (body, pointer) if isinstance(body, dict) else None


def _responses(doc: _Document, op: Any) -> dict[int, tuple[dict[str, Any], str]]:
    out = {}
    for code, raw in (op.raw.get("responses") or {}).items():
        if str(code).isdigit():
            resp, pointer, _ = doc.deref(raw, f"{_op_pointer(op.path, op.method)}/responses/{code}")
            if isinstance(resp, dict):
                out[int(code)] = (resp, pointer)
    return out


def _chunk(doc: _Document, op: Any) -> tuple[Any, str] | None:
    """The chunk schema and its pointer, read as `specfake.compiled.StreamSpec` reads it."""
    for _, (resp, pointer) in sorted(_responses(doc, op).items()):
        media = (resp.get("content") or {}).get(SSE)
        if not isinstance(media, dict):
            continue
        base = f"{pointer}/content/{escape(SSE)}"
        keyword = "itemSchema" if isinstance(media.get("itemSchema"), dict) else "schema"
        event, event_pointer, _ = doc.deref(media.get(keyword) or {}, f"{base}/{keyword}")
        if not isinstance(event, dict):
            return None
        data, data_pointer, _ = doc.deref(
            (event.get("properties") or {}).get("data") or {}, f"{event_pointer}/properties/data"
        )
        if isinstance(data, dict) and isinstance(data.get("contentSchema"), dict):
            return data["contentSchema"], f"{data_pointer}/contentSchema"
        return None
    return None


def _json_media(content: dict[str, Any]) -> str | None:
    return next((t for t in content if is_json(t)), None)


class _Comparison:
    def __init__(self, old: Contract, new: Contract) -> None:
        self.old_contract, self.new_contract = old, new
        self.differ = _Differ(old, new)
        self.old, self.new = self.differ.old, self.differ.new
        self.changes: list[Change] = []

    def run(self) -> list[str]:
        old_ops, new_ops = _operations(self.old_contract), _operations(self.new_contract)
        for key, op in old_ops.items():
            label = f"{op.method} {op.path}"
            if key not in new_ops:
                self.changes.append(
                    Change(
                        "operation-removed",
                        ERROR,
                        label,
                        f"{label} ({op.operation_id}) was removed",
                        _op_pointer(op.path, op.method),
                        "old",
                    )
                )
                continue
            new_op = new_ops[key]
            self._parameters(f"{new_op.method} {new_op.path}", op, new_op)
            self._body(f"{new_op.method} {new_op.path}", op, new_op)
            self._responses(f"{new_op.method} {new_op.path}", op, new_op)
            self._stream(f"{new_op.method} {new_op.path}", op, new_op)
        return [f"{op.method} {op.path}" for op in new_ops.values()]

    def _root(self, label: str, inbound: bool, root_noun: str, noun: str) -> _Root:
        return _Root(label, inbound, root_noun, noun, self.changes)

    def _change(
        self,
        kind: str,
        label: str,
        message: str,
        pointer: str,
        document: str = "new",
        where: str | None = None,
        severity: str = ERROR,
    ) -> None:
        self.changes.append(Change(kind, severity, label, message, pointer, document, where))

    def _parameters(self, label: str, old_op: Any, new_op: Any) -> None:
        olds, news = _parameters(self.old, old_op), _parameters(self.new, new_op)
        for key, (param, pointer) in olds.items():
            where = f"{key[0]}.{param['name']}"
            if key not in news:
                self._change(
                    "request-parameter-removed",
                    label,
                    f"{where}: the parameter was removed",
                    pointer,
                    "old",
                    where,
                )
                continue
            new_param, new_pointer = news[key]
            if new_param.get("required") and not param.get("required") and key[0] != "path":
                self._change(
                    "request-parameter-became-required",
                    label,
                    f"{where}: was optional, now required",
                    new_pointer,
                    where=where,
                )
            root = self._root(label, True, "request-parameter", "request-property")
            self.differ.compare(
                root,
                param.get("schema") or {},
                f"{pointer}/schema",
                new_param.get("schema") or {},
                f"{new_pointer}/schema",
                where,
            )
        for key, (param, pointer) in news.items():
            if key not in olds and param.get("required") and key[0] != "path":
                where = f"{key[0]}.{param['name']}"
                self._change(
                    "new-required-request-parameter",
                    label,
                    f"{where}: a new required parameter",
                    pointer,
                    where=where,
                )

    def _body(self, label: str, old_op: Any, new_op: Any) -> None:
        old, new = _body(self.old, old_op), _body(self.new, new_op)
        if old is None:
            if new is not None and new[0].get("required"):
                self._change("new-required-request-body", label, "a request body is now required", new[1])
            return
        if new is None:
            self._change("request-body-removed", label, "the request body was removed", old[1], "old")
            return
        if new[0].get("required") and not old[0].get("required"):
            self._change(
                "request-body-became-required", label, "the request body was optional, now required", new[1]
            )
        old_content, new_content = old[0].get("content") or {}, new[0].get("content") or {}
        new_types = {media_type(t) for t in new_content}
        for media in old_content:
            if media_type(media) not in new_types:
                self._change(
                    "request-body-media-type-removed",
                    label,
                    f"the body can no longer be sent as {media}",
                    f"{old[1]}/content/{escape(media)}",
                    "old",
                )
        old_json, new_json = _json_media(old_content), _json_media(new_content)
        if old_json and new_json:
            root = self._root(label, True, "request-body", "request-property")
            self.differ.compare(
                root,
                (old_content[old_json] or {}).get("schema") or {},
                f"{old[1]}/content/{escape(old_json)}/schema",
                (new_content[new_json] or {}).get("schema") or {},
                f"{new[1]}/content/{escape(new_json)}/schema",
                "body",
            )

    def _responses(self, label: str, old_op: Any, new_op: Any) -> None:
        olds, news = _responses(self.old, old_op), _responses(self.new, new_op)
        for code in sorted(c for c in olds if 200 <= c < 300 and c not in news):
            now = ", ".join(str(c) for c in sorted(c for c in news if 200 <= c < 300)) or "none"
            self._change(
                "response-success-status-removed",
                label,
                f"success status {code} was removed (now: {now})",
                olds[code][1],
                "old",
            )
        for code in sorted(c for c in news if 200 <= c < 300 and c not in olds):
            self._change(
                "response-success-status-added",
                label,
                f"a new success status {code}",
                news[code][1],
                severity=WARNING,
            )
        for code in sorted(set(olds) & set(news)):
            (old, old_pointer), (new, new_pointer) = olds[code], news[code]
            old_content, new_content = old.get("content") or {}, new.get("content") or {}
            new_types = {media_type(t) for t in new_content}
            for media in old_content:
                if media_type(media) not in new_types and not (is_json(media) and _json_media(new_content)):
                    severity = ERROR if 200 <= code < 300 else WARNING
                    self._change(
                        "response-media-type-removed",
                        label,
                        f"status {code} no longer answers {media}",
                        f"{old_pointer}/content/{escape(media)}",
                        "old",
                        severity=severity,
                    )
            old_json, new_json = _json_media(old_content), _json_media(new_content)
            if old_json and new_json:
                root = self._root(label, False, "response-body", "response-property")
                self.differ.compare(
                    root,
                    (old_content[old_json] or {}).get("schema") or {},
                    f"{old_pointer}/content/{escape(old_json)}/schema",
                    (new_content[new_json] or {}).get("schema") or {},
                    f"{new_pointer}/content/{escape(new_json)}/schema",
                    f"response {code} body",
                )

    def _stream(self, label: str, old_op: Any, new_op: Any) -> None:
        old_spec: StreamSpec | None = self.old_contract.compiled.operation(old_op.operation_id).stream
        new_spec: StreamSpec | None = self.new_contract.compiled.operation(new_op.operation_id).stream
        pointer = _op_pointer(new_op.path, new_op.method)
        if old_spec is None:
            return
        if new_spec is None:
            self._change(
                "stream-removed",
                label,
                "the operation no longer streams (text/event-stream)",
                _op_pointer(old_op.path, old_op.method),
                "old",
            )
            return
        if old_spec.flag != new_spec.flag:
            self._change(
                "stream-flag-changed",
                label,
                f"the body field asking for a stream was {old_spec.flag!r}, now {new_spec.flag!r}",
                pointer,
            )
        if old_spec.terminator != new_spec.terminator:
            self._change(
                "stream-terminator-changed",
                label,
                f"the stream's last event was {old_spec.terminator!r}, now {new_spec.terminator!r}",
                pointer,
            )
        if old_spec.final_path and old_spec.final_path != new_spec.final_path:
            where = ".".join(new_spec.final_path) if new_spec.final_path else "nowhere"
            self._change(
                "stream-final-field-moved",
                label,
                f"finish_reason moved from {'.'.join(old_spec.final_path)} to {where}",
                pointer,
                severity=WARNING,
            )
        old_chunk, new_chunk = _chunk(self.old, old_op), _chunk(self.new, new_op)
        if old_chunk is None:
            return
        if new_chunk is None:
            self._change(
                "stream-chunk-schema-removed",
                label,
                "the chunk schema is no longer documented",
                old_chunk[1],
                "old",
                severity=WARNING,
            )
            return
        root = self._root(label, False, "stream-chunk", "stream-chunk-property")
        self.differ.compare(root, *old_chunk, *new_chunk, "chunk")


def diff_contracts(old: Contract, new: Contract) -> list[Change]:
    """Every breaking change from ``old`` to ``new``, in document order."""
    comparison = _Comparison(old, new)
    comparison.run()
    return comparison.changes


def build_report(old: Contract, new: Contract, old_name: str, new_name: str) -> DiffReport:
    started = time.perf_counter()
    comparison = _Comparison(old, new)
    operations = comparison.run()
    report = DiffReport(old_name, new_name, comparison.changes, operations)
    report.stats = {"operations": len(operations)}
    report.duration = time.perf_counter() - started
    return report


def run(args: Any) -> int:
    """``specfake check diff``: 0 no breaking change, 1 breaking changes, 2 bad usage."""
    import sys

    from specfake.contract import ContractError, load_contract
    from specfake.contracts.harness.replay_check import TrafficError, load_traffic, replay

    started = time.perf_counter()
    try:
        old, new = load_contract(args.old), load_contract(args.new)
        records = [r for path in args.traffic for r in load_traffic(path)]
    except (ContractError, TrafficError) as exc:
        print(f"specfake check diff: {exc}", file=sys.stderr)
        return 2
    report = build_report(old, new, args.old, args.new)
    if args.traffic:
        changes, counts = replay(records, old, new)
        report.changes.extend(changes)
        report.stats.update(counts)
    report.duration = time.perf_counter() - started
    print(report.summary(verbose=args.verbose))
    report.write(junit=args.junit, report=args.report)
    return report.exit_code(args.fail_on)
