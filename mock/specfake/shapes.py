"""Which object keys a schema names, for the client checker's unknown-field rule.

A server built on FastAPI (or the fake) ignores body fields its contract does not name, so a
misspelled optional field silently does nothing; the checker reports it, with the known name it
most likely meant. Shapes are compiled once per contract by walking each body schema through its
``$ref``s and ``allOf``/``anyOf``/``oneOf``s; checking a request only walks the request.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from specfake.errors import Loc, field_path

if TYPE_CHECKING:
    from specfake.contract import Contract

_COMBINATORS = ("allOf", "anyOf", "oneOf")


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


def unknown_fields(value: Any, shape: Shape, loc: Loc, allow_extra: bool) -> list[tuple[Loc, str | None]]:
    """(where, the known name it probably meant) for every key ``shape`` does not name, in field order.

    ``allow_extra``: keys are fine wherever the schema allows extras (not where it forbids them)."""
    out: list[tuple[Loc, str | None]] = []
    stack: list[tuple[Any, Shape, Loc]] = [(value, shape, loc)]
    while stack:
        node, node_shape, where = stack.pop()
        if isinstance(node, dict):
            for key, sub in node.items():
                child = node_shape.children.get(key)
                if child is not None:
                    stack.append((sub, child, (*where, key)))
                elif key in node_shape.known:
                    continue
                elif node_shape.values is not None:
                    stack.append((sub, node_shape.values, (*where, key)))
                elif not node_shape.open and (node_shape.closed or not allow_extra):
                    out.append(((*where, key), closest(key, node_shape.known)))
        elif isinstance(node, list) and node_shape.items is not None:
            stack.extend((item, node_shape.items, (*where, i)) for i, item in enumerate(node))
    return sorted(out, key=lambda found: field_path(found[0]))
