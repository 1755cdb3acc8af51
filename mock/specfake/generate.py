"""Schema-valid data from JSON Schema, deterministic for a seed.

A schema is compiled once into a tree of small functions (``Maker``); a request only runs them
with its own ``random.Random``. Faker supplies realistic words and names, seeded from the same
random source so the output depends only on the seed.

Answers are *filled* by default, the way Prism's dynamic mode answers: every optional property is
present and a nullable schema (``type: [X, "null"]``, an ``anyOf``/``oneOf`` with a null branch, an
``enum`` listing ``null``, OpenAPI 3.0's ``nullable: true``) gets a non-null value, so the field a
client reads first (a chat message's ``content``) is there. Two ``GenContext`` knobs bring back
the variety: ``optional_rate`` (the chance an optional property is present, 1.0 by default) and
``null_rate`` (the chance a nullable schema answers ``null``, 0.0 by default);
``GenContext.varied(seed)`` sets both to one half, the mix of absent and null fields the fake's
answers had before. Clients' resilience to absent and null fields is exercised by the response
fuzzer (``contracts/harness/fuzz.py``), whose answers come from Hypothesis strategies
(``contracts/harness/strategies.py``: schemathesis' generator plus its "unusual" twists), not from
this module.

Recursive schemas terminate: deeper than ``SchemaCompiler.MAX_DEPTH`` objects leave their
optional properties out, nullable schemas answer ``null`` and arrays hold only ``minItems``
items. A recursion that none of these ends (a required, non-nullable self-reference: a schema
with no finite instance) stops at ``HARD_DEPTH``, where objects are answered empty.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from faker import Faker

Maker = Callable[["GenContext"], Any]

_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
_WORDS = Faker("en_US")


class GenContext:
    """Per-call state: the random source, the fill rates and a depth guard against recursion.

    ``optional_rate`` is the chance an optional property is present, ``null_rate`` the chance a
    nullable schema answers ``null``; the defaults (1.0 and 0.0) fill everything.
    """

    __slots__ = ("depth", "null_rate", "optional_rate", "rng")

    def __init__(
        self, seed: int | str | bytes, *, optional_rate: float = 1.0, null_rate: float = 0.0
    ) -> None:
        self.rng = random.Random(seed)
        self.depth = 0
        self.optional_rate = optional_rate
        self.null_rate = null_rate

    @classmethod
    def varied(cls, seed: int | str | bytes) -> GenContext:
        """Optional properties absent and nullable ones null about half the time each."""
        return cls(seed, optional_rate=0.5, null_rate=0.5)

    def optional(self) -> bool:
        """Whether to include one optional property (no draw at the usual 1.0 and 0.0)."""
        rate = self.optional_rate
        return rate >= 1.0 or (rate > 0.0 and self.rng.random() < rate)

    def null(self) -> bool:
        """Whether a nullable schema answers ``null``: when asked to, and always deep down (in a
        container deeper than ``MAX_DEPTH``, as ``SchemaCompiler._object`` counts)."""
        if self.depth > SchemaCompiler.MAX_DEPTH + 1:
            return True
        rate = self.null_rate
        return rate >= 1.0 or (rate > 0.0 and self.rng.random() < rate)

    def words(self, n: int) -> str:
        _WORDS.seed_instance(self.rng.getrandbits(32))
        return " ".join(_WORDS.words(n))


class SchemaCompiler:
    """Turns schemas into makers; ``resolve`` follows $refs within the owning document."""

    MAX_DEPTH = 4  # deeper, optional properties are left out and nullable schemas are null
    HARD_DEPTH = 24  # deeper, objects are empty: only a schema with no finite instance gets here

    def __init__(self, resolve: Callable[[str], dict[str, Any]]) -> None:
        self._resolve = resolve
        self._refs: dict[str, Maker] = {}

    def compile(self, schema: Any, hint: str = "") -> Maker:
        """``hint`` is the property name, used to make strings look like what they name."""
        if schema is True or schema == {} or schema is None:
            return _any_value
        if schema is False:
            raise ValueError("cannot generate for a false schema")
        if "$ref" in schema:
            return self._ref(schema["$ref"], {k: v for k, v in schema.items() if k != "$ref"})
        if schema.get("nullable") is True:  # OpenAPI 3.0
            rest = {k: v for k, v in schema.items() if k != "nullable"}
            return _nullable([self.compile(rest, hint)], True)
        if "const" in schema:
            value = schema["const"]
            return lambda ctx: value
        if "enum" in schema:
            choices = [c for c in schema["enum"] if c is not None]
            if not choices:
                return _null_value
            return _nullable([lambda ctx: ctx.rng.choice(choices)], None in schema["enum"])
        if "allOf" in schema:
            merged = dict(schema)
            parts = merged.pop("allOf")
            return self.compile(_merge_all_of([self._deref(p) for p in parts] + [merged]), hint)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                base = {k: v for k, v in schema.items() if k not in (key, "default")}
                branches = [
                    self.compile({**base, **self._deref(b)}, hint) if base else self.compile(b, hint)
                    for b in schema[key]
                    if not _is_null(self._deref(b))
                ]
                return _nullable(branches, any(_is_null(self._deref(b)) for b in schema[key]))
        types = schema.get("type")
        if isinstance(types, list):
            branches = [self.compile({**schema, "type": t}, hint) for t in types if t != "null"]
            return _nullable(branches, "null" in types)
        if types is None:
            if "properties" in schema or "required" in schema:
                types = "object"
            elif "items" in schema:
                types = "array"
            else:
                return _any_value
        if types == "string":
            return self._string(schema, hint)
        # _null/_boolean/_integer/_number/_array/_object, looked up by the schema's type name.
        by_type: Callable[[dict[str, Any]], Maker] = getattr(self, f"_{types}")
        return by_type(schema)

    def _deref(self, schema: Any) -> Any:
        while isinstance(schema, dict) and "$ref" in schema and len(schema) == 1:
            schema = self._resolve(schema["$ref"])
        return schema

    def _ref(self, ref: str, siblings: dict[str, Any]) -> Maker:
        if siblings:
            return self.compile({**self._resolve(ref), **siblings})
        if ref not in self._refs:
            slot: list[Maker] = []
            self._refs[ref] = lambda ctx: slot[0](ctx)  # placeholder for recursive schemas
            slot.append(self.compile(self._resolve(ref)))
            self._refs[ref] = slot[0]
        return self._refs[ref]

    # -- types ---------------------------------------------------------------------------------

    def _null(self, schema: dict[str, Any]) -> Maker:
        return lambda ctx: None

    def _boolean(self, schema: dict[str, Any]) -> Maker:
        return lambda ctx: ctx.rng.random() < 0.5

    def _integer(self, schema: dict[str, Any]) -> Maker:
        lo, hi = _bounds(schema, 0, 1000)
        lo, hi = int(-(-lo // 1)), int(hi // 1)
        step = int(schema.get("multipleOf", 1))
        lo = -(-lo // step) * step
        if lo > hi:
            hi = lo
        return lambda ctx: ctx.rng.randrange(lo, hi + 1, step)

    def _number(self, schema: dict[str, Any]) -> Maker:
        lo, hi = _bounds(schema, 0.0, 1.0 if "maximum" not in schema else float(schema["maximum"]))
        if "multipleOf" in schema:
            return self._integer(schema)
        return lambda ctx: round(ctx.rng.uniform(lo, hi), 4)

    def _string(self, schema: dict[str, Any], hint: str = "") -> Maker:
        fmt = schema.get("format")
        min_len = int(schema.get("minLength", 0))
        max_len = int(schema.get("maxLength", max(min_len, 40)))
        if fmt in _FORMATS:
            return _FORMATS[fmt]
        if "pattern" in schema:
            return _pattern_maker(schema["pattern"], min_len, max_len)
        named = _by_name(hint)
        if named is not None and min_len <= 8 and max_len >= 24:
            return named

        def make(ctx: GenContext) -> str:
            text = ctx.words(ctx.rng.randint(1, 4))
            if len(text) < min_len:
                text = (text + " " + "x" * min_len)[: max(min_len, 1)]
            return text[:max_len] if max_len >= min_len else text

        return make

    def _array(self, schema: dict[str, Any]) -> Maker:
        item = self.compile(schema.get("items", {}))
        lo = int(schema.get("minItems", 0))
        hi = int(schema.get("maxItems", max(lo, 2)))
        unique = bool(schema.get("uniqueItems"))

        def make(ctx: GenContext) -> list[Any]:
            if ctx.depth > self.MAX_DEPTH:
                count = lo
            else:
                count = ctx.rng.randint(lo, max(lo, min(hi, lo + 2)))
            ctx.depth += 1
            try:
                out: list[Any] = []
                tries = 0
                while len(out) < count and tries < count * 5 + 5:
                    value = item(ctx)
                    tries += 1
                    if unique and value in out:
                        continue
                    out.append(value)
                return out
            finally:
                ctx.depth -= 1

        return make

    def _object(self, schema: dict[str, Any]) -> Maker:
        required = set(schema.get("required", []))
        props = [
            (name, name in required, self.compile(sub, name))
            for name, sub in (schema.get("properties") or {}).items()
        ]
        extra = schema.get("additionalProperties")
        extra_maker = self.compile(extra) if isinstance(extra, dict) and not props else None
        min_props = int(schema.get("minProperties", 0))
        max_props = int(schema.get("maxProperties", 1 << 30))
        # Room for optional properties once every required one is in (maxProperties counts both).
        optional_room = max_props - sum(1 for _, is_required, _ in props if is_required)

        def make(ctx: GenContext) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if ctx.depth > self.HARD_DEPTH:
                return out
            deep = ctx.depth > self.MAX_DEPTH
            ctx.depth += 1
            try:
                room = optional_room
                for name, is_required, maker in props:
                    if is_required:
                        out[name] = maker(ctx)
                    elif not deep and room > 0 and ctx.optional():
                        room -= 1
                        out[name] = maker(ctx)
                if extra_maker is not None:  # a map: one or two entries when filling, else up to two
                    fewest = 1 if ctx.optional_rate >= 1.0 else 0
                    count = max(min_props, 0 if deep else ctx.rng.randint(fewest, 2))
                    for i in range(min(count, max_props - len(out))):
                        out[f"{ctx.words(1)}_{i}"] = extra_maker(ctx)
                return out
            finally:
                ctx.depth -= 1

        return make


def _bounds(schema: dict[str, Any], lo: float, hi: float) -> tuple[float, float]:
    if "minimum" in schema:
        lo = float(schema["minimum"])
    if "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
        lo = float(schema["exclusiveMinimum"]) + 1
    if "maximum" in schema:
        hi = float(schema["maximum"])
    if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
        hi = float(schema["exclusiveMaximum"]) - 1
    if hi < lo:
        hi = lo + (1000 if "maximum" not in schema else 0)
    return lo, hi


def _choice(branches: list[Maker]) -> Maker:
    if len(branches) == 1:
        return branches[0]
    return lambda ctx: ctx.rng.choice(branches)(ctx)


def _null_value(ctx: GenContext) -> None:
    return None


def _nullable(branches: list[Maker], can_be_null: bool) -> Maker:
    """One of ``branches``, or ``null`` when the schema allows it and the context asks for it."""
    if not branches:
        return _null_value
    some = _choice(branches)
    if not can_be_null:
        return some
    return lambda ctx: None if ctx.null() else some(ctx)


def _is_null(schema: Any) -> bool:
    """A branch that only admits ``null``: ``{type: "null"}``, ``{const: null}``, ``{enum: [null]}``."""
    if not isinstance(schema, dict):
        return False
    if schema.get("type") == "null" or ("const" in schema and schema["const"] is None):
        return True
    return schema.get("enum") == [None]


def _merge_all_of(parts: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key == "properties":
                merged.setdefault("properties", {}).update(value)
            elif key == "required":
                merged["required"] = sorted(set(merged.get("required", [])) | set(value))
            else:
                merged[key] = value
    return merged


def _any_value(ctx: GenContext) -> Any:
    kind = ctx.rng.randrange(4)
    if kind == 0:
        return ctx.words(1)
    if kind == 1:
        return ctx.rng.randint(0, 100)
    if kind == 2:
        return ctx.rng.random() < 0.5
    return {ctx.words(1): ctx.words(2)}


def _datetime(ctx: GenContext) -> str:
    moment = _EPOCH + timedelta(seconds=ctx.rng.randrange(0, 3 * 365 * 86400))
    return moment.isoformat().replace("+00:00", "Z")


_FORMATS: dict[str, Maker] = {
    "date-time": _datetime,
    "date": lambda ctx: _datetime(ctx)[:10],
    "time": lambda ctx: _datetime(ctx)[11:],
    "uuid": lambda ctx: str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4)),
    "email": lambda ctx: f"{ctx.words(1).lower()}{ctx.rng.randint(1, 99)}@example.com",
    "uri": lambda ctx: f"https://example.com/{ctx.words(1).lower()}",
    "url": lambda ctx: f"https://example.com/{ctx.words(1).lower()}",
    "hostname": lambda ctx: f"{ctx.words(1).lower()}.example.com",
    "ipv4": lambda ctx: ".".join(str(ctx.rng.randint(1, 254)) for _ in range(4)),
}


def _token(ctx: GenContext) -> str:
    return f"{ctx.rng.getrandbits(64):016x}"


def _by_name(hint: str) -> Maker | None:
    """Realistic strings for common field names; generic on purpose (no API's id prefixes)."""
    hint = hint.lower()
    if hint == "id" or hint.endswith("_id") or hint.endswith("_ref"):
        return _token
    if hint == "email" or hint.endswith("_email"):
        return _FORMATS["email"]
    if hint in ("url", "uri", "endpoint_url") or hint.endswith("_url"):
        return _FORMATS["uri"]
    if hint in ("name", "title", "label"):
        return lambda ctx: ctx.words(2).title()
    if hint in ("description", "instructions", "text", "output", "content", "prompt"):
        return lambda ctx: ctx.words(ctx.rng.randint(4, 10)).capitalize() + "."
    return None


def _pattern_maker(pattern: str, min_len: int, max_len: int) -> Maker:
    """Only literal-ish patterns are supported; others fall back to alphanumerics."""
    import re

    compiled = re.compile(pattern)

    def make(ctx: GenContext) -> str:
        for _ in range(50):
            length = ctx.rng.randint(max(min_len, 1), max(min_len, min(max_len, 12)))
            text = "".join(ctx.rng.choice(string.ascii_lowercase + string.digits) for _ in range(length))
            if compiled.search(text):
                return text
        return text

    return make
