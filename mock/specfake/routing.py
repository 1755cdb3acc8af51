"""Path-template routing by segment trie: cost grows with path depth, not with route count.

Matching follows Starlette's (and so FastAPI's) rules: a literal segment beats a parameter, a path
that matches only with another method is a 405 with ``Allow``, and parameters never match an empty
segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Node(Generic[T]):
    literals: dict[str, _Node[T]] = field(default_factory=dict)
    params: dict[str, _Node[T]] = field(default_factory=dict)
    methods: dict[str, T] = field(default_factory=dict)


class Match(Generic[T]):
    """A routing result (a plain slotted class: a frozen dataclass costs a microsecond to build)."""

    __slots__ = ("allowed", "params", "target")

    def __init__(self, target: T | None, params: dict[str, str], allowed: tuple[str, ...]) -> None:
        self.target = target
        self.params = params
        self.allowed = allowed  # methods the path accepts, for 405

    def __repr__(self) -> str:
        return f"Match(target={self.target!r}, params={self.params!r}, allowed={self.allowed!r})"


class Router(Generic[T]):
    def __init__(self) -> None:
        self._root: _Node[T] = _Node()

    def add(self, template: str, method: str, target: T) -> None:
        node = self._root
        for segment in _segments(template):
            if segment.startswith("{") and segment.endswith("}"):
                # One position may carry several names: /projects/{id}/x beside
                # /projects/{project_id}/y. Each name gets its own branch.
                node = node.params.setdefault(segment[1:-1], _Node())
            else:
                node = node.literals.setdefault(segment, _Node())
        if method in node.methods:
            raise ValueError(f"duplicate route {method} {template}")
        node.methods[method] = target

    def find(self, path: str, method: str) -> tuple[T, dict[str, str]] | None:
        """The target and parameters of ``path`` by one descent, or None: then `match` decides.

        The hot path: one descent preferring a literal segment, then the first parameter branch,
        which is the first path `_walk` tries, so when it ends on ``method`` it is `_walk`'s
        answer. A dead end or a missing method is None, and `match`'s full search (backtracking
        to other branches, or naming the allowed methods) answers it."""
        node = self._root
        params: dict[str, str] | None = None
        stripped = path.strip("/")
        for segment in stripped.split("/") if stripped else ():
            child = node.literals.get(segment)
            if child is None:
                if not segment or not node.params:
                    return None
                name, child = next(iter(node.params.items()))
                if params is None:
                    params = {name: segment}
                else:
                    params[name] = segment
            node = child
        target = node.methods.get(method)
        if target is None:
            return None
        return target, params if params is not None else {}

    def match(self, path: str, method: str) -> Match[T] | None:
        segments = _segments(path)
        allowed: list[str] = []
        found = self._walk(self._root, segments, 0, {}, method, allowed)
        if found is not None:
            return Match(found[0], found[1], ())
        if allowed:
            return Match(None, {}, tuple(sorted(set(allowed))))
        return None

    def _walk(
        self,
        node: _Node[T],
        segments: list[str],
        i: int,
        params: dict[str, str],
        method: str,
        allowed: list[str],
    ) -> tuple[T, dict[str, str]] | None:
        if i == len(segments):
            if method in node.methods:
                return node.methods[method], params
            if not allowed:
                # Allow lists the methods of the most specific template only (Starlette's too).
                allowed.extend(node.methods)
            return None
        segment = segments[i]
        child = node.literals.get(segment)
        if child is not None:
            found = self._walk(child, segments, i + 1, params, method, allowed)
            if found is not None:
                return found
        if segment:
            for name, child in node.params.items():
                found = self._walk(child, segments, i + 1, {**params, name: segment}, method, allowed)
                if found is not None:
                    return found
        return None


def _segments(path: str) -> list[str]:
    path = path.strip("/")
    return path.split("/") if path else []
