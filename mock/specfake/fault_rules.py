"""Fault rules: faults for requests that match, without touching the client.

A rule names what it matches (any of ``contract``, ``operation``, ``method``, ``path`` (the
contract's path template), ``tenant``, ``query``, ``body`` (dotted paths to values) and
``headers``), the ``fault`` it gives (``X-Specfake-Fault`` syntax), and when it fires: on every
match (the default), the first ``times`` matches, ``every`` Nth match, only ``after`` N matches, or
with a seeded ``probability``. The first rule that matches and fires wins; a request's own
``X-Specfake-Fault`` header wins over every rule. Rules come from ``--faults FILE`` (a YAML list)
and ``/__admin/faults``; each counts its matches and the times it fired.

    - id: flaky-logs
      operation: logs_log
      fault: status=503
      times: 2
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from specfake.faults import Fault
from specfake.tenants import tenant_of

if TYPE_CHECKING:
    from specfake.calls import Call

MATCHERS = ("contract", "operation", "method", "path", "tenant", "query", "body", "headers")
FIRING = ("times", "every", "after", "probability")
KNOWN = frozenset({"id", "fault", *MATCHERS, *FIRING})


class RuleError(ValueError):
    """A rule that cannot be used: ``loc`` names the field (``("fault",)``), ``line`` its line in a file."""

    def __init__(self, loc: tuple[str | int, ...], message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.loc = loc
        self.line = line
        self.message = message


@dataclass
class FaultRule:
    id: str
    fault: Fault
    text: str  # the fault as given
    contract: str | None = None
    operation: str | None = None
    method: str | None = None
    path: str | None = None
    tenant: str | None = None
    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None
    every: int | None = None
    after: int = 0
    probability: float | None = None
    matched: int = 0
    fired: int = 0

    def matches(self, contract: str, call: Call) -> bool:
        op = call.operation
        if self.contract is not None and self.contract != contract:
            return False
        if self.operation is not None and self.operation != op.operation_id:
            return False
        if self.method is not None and self.method != op.method:
            return False
        if self.path is not None and self.path != op.path:
            return False
        if self.tenant is not None and self.tenant != call.api_key:
            return False
        if any(not _same(call.query.get(name, _ABSENT), value) for name, value in self.query.items()):
            return False
        if any(not _same(_at(call.body, name), value) for name, value in self.body.items()):
            return False
        return all(call.headers.get(name) == value for name, value in self.headers.items())

    def fires(self, seed: int) -> bool:
        """Count a match; whether the rule fires for it (deterministic for the seed and the count)."""
        self.matched += 1
        since = self.matched - self.after
        if since <= 0 or (self.every is not None and since % self.every != 0):
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.probability is not None:
            if random.Random(f"{seed}:{self.id}:{self.matched}").random() >= self.probability:
                return False
        self.fired += 1
        return True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "fault": self.text}
        for name in MATCHERS:
            value = getattr(self, name)
            if value not in (None, {}):
                out[name] = value
        for name in FIRING:
            value = getattr(self, name)
            if value is not None and not (name == "after" and value == 0):
                out[name] = value
        out.update(matched=self.matched, fired=self.fired)
        return out


_ABSENT = object()


def _same(found: Any, wanted: Any) -> bool:
    """A query or body value against a rule's: equal as JSON, or as text (``page: 2`` and ``"2"``)."""
    if found is _ABSENT:
        return False
    return bool(found == wanted or (not isinstance(found, (dict, list)) and str(found) == str(wanted)))


def _at(body: Any, dotted: str) -> Any:
    node = body
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _ABSENT
    return node


def parse_rule(spec: Any, rule_id: str) -> FaultRule:
    """A rule from its mapping; RuleError names the field that cannot be used."""
    if not isinstance(spec, Mapping):
        raise RuleError((), "a rule is a mapping with at least a fault")
    for name in spec:
        if name not in KNOWN:
            raise RuleError((str(name),), f"unknown field; a rule has {', '.join(sorted(KNOWN))}")
    text = spec.get("fault")
    if not isinstance(text, str) or not text.strip():
        raise RuleError(("fault",), "a fault is required, in X-Specfake-Fault syntax (e.g. status=503)")
    try:
        fault = Fault.parse(text)
    except ValueError as exc:
        raise RuleError(("fault",), str(exc)) from None
    rule = FaultRule(id=str(spec.get("id") or rule_id), fault=fault, text=text.strip())
    for name in ("contract", "operation", "method", "path", "tenant"):
        value = spec.get(name)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise RuleError((name,), "expected a non-empty string")
            if name == "tenant":  # a key or its fingerprint; kept (and listed) as the fingerprint
                value = tenant_of(value)
            setattr(rule, name, value.upper() if name == "method" else value)
    for name in ("query", "body", "headers"):
        value = spec.get(name)
        if value is not None:
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise RuleError((name,), "expected a mapping of names to values")
            if name == "headers" and not all(isinstance(v, str) for v in value.values()):
                raise RuleError((name,), "header values are strings")
            setattr(rule, name, {k.lower() if name == "headers" else k: v for k, v in value.items()})
    for name in ("times", "every", "after"):
        value = spec.get(name)
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "after" else 1):
                raise RuleError((name,), f"expected a whole number {'>= 0' if name == 'after' else '>= 1'}")
            setattr(rule, name, value)
    probability = spec.get("probability")
    if probability is not None:
        number = isinstance(probability, (int, float)) and not isinstance(probability, bool)
        if not number or not 0 <= probability <= 1:
            raise RuleError(("probability",), "expected a number from 0 to 1")
        rule.probability = float(probability)
    return rule


class FaultRules:
    """A fake's rules, in order (shared by its contracts); ``active`` is what the hot path reads."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.active = False
        self._numbers = 0
        self._lock = threading.Lock()

    def add(self, spec: Any) -> FaultRule:
        with self._lock:
            rule = parse_rule(spec, f"r{self._numbers + 1}")
            if any(r.id == rule.id for r in self.rules):
                raise RuleError(("id",), f"a rule with id {rule.id!r} exists")
            self._numbers += 1
            self.rules = [*self.rules, rule]
            self.active = True
            return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            kept = [r for r in self.rules if r.id != rule_id]
            removed = len(kept) != len(self.rules)
            self.rules, self.active = kept, bool(kept)
            return removed

    def clear(self) -> None:
        with self._lock:
            self.rules, self.active = [], False

    def fault_for(self, contract: str, call: Call) -> FaultRule | None:
        """The first rule that matches ``call`` and fires (each match is counted)."""
        for rule in self.rules:
            if rule.matches(contract, call) and rule.fires(self.seed):
                return rule
        return None


def load_rules(path: str | Path) -> list[Any]:
    """A rules file's mappings, each checked; RuleError carries the file's line of the bad field."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        specs = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError((), f"{source}: {exc}") from None
    if specs is None:
        return []
    if not isinstance(specs, list) or node is None or not isinstance(node, yaml.SequenceNode):
        raise RuleError((), f"{source}: a rules file is a YAML list of rules", 1)
    for number, (spec, item) in enumerate(zip(specs, node.value, strict=True)):
        try:
            parse_rule(spec, f"r{number + 1}")
        except RuleError as exc:
            line = item.start_mark.line + 1
            if exc.loc and isinstance(item, yaml.MappingNode):
                line = next((k.start_mark.line + 1 for k, _ in item.value if k.value == exc.loc[0]), line)
            message = f"{source}:{line}: rule {number + 1}: {exc.message}"
            raise RuleError((number, *exc.loc), message, line) from None
    return specs
