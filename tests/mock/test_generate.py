"""Generated data (specfake.generate): always schema-valid; filled by default (every optional
property present, nullable fields not null); absent and null fields on request; recursive schemas
terminate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specfake.answers import ContractAnswers
from specfake.contract import load_contract, resolve_pointer
from specfake.generate import GenContext, SchemaCompiler
from specfake.validation import SchemaValidator, registry_for

SCHEMAS: dict[str, Any] = {
    "Message": {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"type": "string", "enum": ["assistant", "user"]},
            "content": {"type": ["string", "null"]},
            "refusal": {"anyOf": [{"type": "string", "maxLength": 20}, {"type": "null"}]},
            "phase": {"type": ["string", "null"], "enum": ["start", "end", None]},
            "usage": {"oneOf": [{"$ref": "#/components/schemas/Usage"}, {"type": "null"}]},
            "metadata": {"$ref": "#/components/schemas/Metadata"},
            "score": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
            "count": {"type": ["integer", "null"], "minimum": 1, "maximum": 8},
            "created_at": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "flag": {"const": None},
        },
        "additionalProperties": False,
    },
    "Usage": {
        "type": "object",
        "required": ["total"],
        "properties": {"total": {"type": "integer", "minimum": 0}, "detail": {"type": "string"}},
    },
    "Metadata": {
        "type": ["object", "null"],
        "maxProperties": 2,
        "additionalProperties": {"type": "string", "maxLength": 16},
    },
    "Crowded": {
        "type": "object",
        "maxProperties": 3,
        "required": ["a"],
        "properties": {name: {"type": "integer"} for name in "abcdef"},
    },
    # An optional self-reference, a nullable one and a list of children: filled, yet finite.
    "Node": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "child": {"$ref": "#/components/schemas/Node"},
            "parent": {"anyOf": [{"$ref": "#/components/schemas/Node"}, {"type": "null"}]},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
        },
    },
    # A required nullable self-reference: ends with null.
    "Chain": {
        "type": "object",
        "required": ["next"],
        "properties": {"next": {"anyOf": [{"$ref": "#/components/schemas/Chain"}, {"type": "null"}]}},
    },
    # A required list of at least one child: no finite instance, so only bounded.
    "Tree": {
        "allOf": [{"$ref": "#/components/schemas/Usage"}],
        "required": ["kids"],
        "properties": {
            "kids": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Tree"}}
        },
    },
}
# OpenAPI 3.0's nullable, which JSON Schema validators do not know: checked separately.
LEGACY = {"type": "object", "properties": {"note": {"type": "string", "nullable": True}}}
DOCUMENT: dict[str, Any] = {"components": {"schemas": SCHEMAS}}
COMPILER = SchemaCompiler(lambda ref: resolve_pointer(DOCUMENT, ref))
MAKERS = {name: COMPILER.compile({"$ref": f"#/components/schemas/{name}"}) for name in SCHEMAS}
VALIDATORS = {
    name: jsonschema_rs.Draft202012Validator(
        {**DOCUMENT, "$ref": f"#/components/schemas/{name}"}, validate_formats=True
    )
    for name in SCHEMAS
}
RATES = st.floats(0.0, 1.0)
FINITE = sorted(name for name in SCHEMAS if name != "Tree")  # schemas that have a valid instance


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(FINITE), seed=st.integers(0, 2**64), optional=RATES, null=RATES)
def test_every_generated_value_is_valid(name: str, seed: int, optional: float, null: float) -> None:
    value = MAKERS[name](GenContext(seed, optional_rate=optional, null_rate=null))
    assert VALIDATORS[name].is_valid(value), list(VALIDATORS[name].iter_errors(value))[:3]


def _walk(value: Any, depth: int = 0) -> Iterator[tuple[int, Any]]:
    """(depth, value) for every value inside ``value``, ``value`` included."""
    yield depth, value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for child in children:
        yield from _walk(child, depth + 1)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**64))
def test_by_default_every_optional_field_is_there_and_not_null(seed: int) -> None:
    message = MAKERS["Message"](GenContext(seed))
    assert set(message) == set(SCHEMAS["Message"]["properties"])
    assert [key for key, value in message.items() if value is None] == ["flag"]  # its only value
    assert isinstance(message["content"], str) and message["content"]
    assert set(message["usage"]) == {"total", "detail"}
    assert isinstance(message["metadata"], dict) and 1 <= len(message["metadata"]) <= 2
    legacy = COMPILER.compile(LEGACY)(GenContext(seed))
    assert isinstance(legacy["note"], str)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**64), optional=RATES, null=RATES)
def test_max_properties_holds_however_many_are_optional(seed: int, optional: float, null: float) -> None:
    ctx = GenContext(seed, optional_rate=optional, null_rate=null)
    crowded = MAKERS["Crowded"](ctx)
    assert "a" in crowded and len(crowded) <= 3
    metadata = MAKERS["Metadata"](GenContext(seed))
    assert metadata is not None and len(metadata) <= 2


def test_the_varied_mode_still_leaves_fields_out_and_null() -> None:
    messages = [MAKERS["Message"](GenContext.varied(seed)) for seed in range(60)]
    for name in ("content", "refusal", "phase", "usage", "metadata", "score", "count"):
        assert any(name not in m for m in messages), f"{name} always present"
        assert any(m.get(name, 0) is None for m in messages), f"{name} never null"
        assert any(m.get(name) is not None for m in messages), f"{name} always null or absent"
    legacy = COMPILER.compile(LEGACY)
    assert any(legacy(GenContext(s, null_rate=0.5))["note"] is None for s in range(40))
    assert all(set(MAKERS["Message"](GenContext(s, optional_rate=0.0))) == {"role"} for s in range(10))


@pytest.mark.parametrize("name", ["Node", "Chain", "Tree"])
def test_recursive_schemas_end_filled_but_finite(name: str) -> None:
    """Optional recursion stops past MAX_DEPTH (optional fields out, nullable ones null, arrays at
    minItems); the required, nullable ``Chain.next`` ends in null; ``Tree`` needs a child per level
    and is bounded by HARD_DEPTH."""
    for seed in range(20):
        value = MAKERS[name](GenContext(seed))
        deepest = max(depth for depth, _ in _walk(value))
        assert deepest <= SchemaCompiler.HARD_DEPTH + 2
        if name != "Tree":  # Tree has no finite instance: a child of every node is required
            assert VALIDATORS[name].is_valid(value)
            assert deepest <= SchemaCompiler.MAX_DEPTH + 2
    node = MAKERS["Node"](GenContext(1))
    assert {"name", "child", "parent", "children"} <= set(node)  # filled at the top
    assert node["parent"] is not None and set(node["child"]) >= {"name", "child", "parent", "children"}


def test_a_self_reference_with_no_null_branch_is_bounded() -> None:
    schema = {"type": "object", "required": ["me"], "properties": {"me": {"$ref": "#/Loop"}}}
    compiler = SchemaCompiler(lambda ref: schema)
    value = compiler.compile({"$ref": "#/Loop"})(GenContext(0))
    assert max(depth for depth, _ in _walk(value)) == SchemaCompiler.HARD_DEPTH + 1


def test_output_follows_the_seed_and_the_rates() -> None:
    maker = MAKERS["Message"]
    assert maker(GenContext(3)) == maker(GenContext(3))
    assert maker(GenContext.varied(3)) == maker(GenContext.varied(3))
    assert maker(GenContext(3)) != maker(GenContext(4))


@pytest.mark.parametrize("contract_name", ["humanloop", "sgp", "tests/contracts/openai_style.yaml"])
def test_every_component_schema_of_the_contracts_gets_valid_filled_data(contract_name: str) -> None:
    """Filled answers for every schema of the three contracts validate, and stay small."""
    contract = load_contract(contract_name)
    answers = ContractAnswers(contract)
    registry = registry_for(contract)
    for component in contract.document["components"]["schemas"]:
        schema = {"$ref": f"#/components/schemas/{component}"}
        validator = SchemaValidator(contract, schema, registry)
        maker = answers.maker_for(schema)
        for ctx in (GenContext(f"{component}:1"), GenContext(f"{component}:2"), GenContext.varied(component)):
            value = maker(ctx)
            assert validator.is_valid(value), (component, validator.errors(value, ())[:3])
            assert sum(1 for _ in _walk(value)) < 2000, component
