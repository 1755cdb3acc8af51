"""Paging styles read from a contract, and walks over them that visit every item once and end."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from specfake.contract import Contract, load_contract
from specfake.paging import Paging, paging_of


def _contract(params: dict[str, dict[str, Any]], answer: dict[str, Any]) -> tuple[Contract, Any]:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/things": {
                "get": {
                    "operationId": "things_list",
                    "parameters": [{"name": n, "in": "query", "schema": s} for n, s in params.items()],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"type": "object", "properties": answer}}
                            },
                        }
                    },
                }
            }
        },
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.json"
        path.write_text(json.dumps(document))
        contract = load_contract(path)
    return contract, contract.operation("things_list")


def _paging(params: dict[str, dict[str, Any]], answer: dict[str, Any]) -> Paging:
    contract, op = _contract(params, answer)
    return paging_of(contract, op, {"type": "object", "properties": answer})


CURSOR = _paging(
    {
        "after": {"type": "string"},
        "before": {"type": "string"},
        "limit": {"type": "integer", "default": 20},
        "order": {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
    },
    {
        "data": {"type": "array"},
        "has_more": {"type": "boolean"},
        "first_id": {"type": ["string", "null"]},
        "last_id": {"type": ["string", "null"]},
    },
)
TOKEN = _paging(
    {"cursor": {"type": "string"}, "limit": {"type": "integer"}},
    {"items": {"type": "array"}, "next_cursor": {"type": "string"}},
)
PAGES = _paging(
    {"page": {"type": "integer", "minimum": 1}, "size": {"type": "integer", "default": 50}},
    {"items": {"type": "array"}, "total": {"type": "integer"}, "page": {"type": "integer"}},
)


def _items(n: int) -> list[dict[str, Any]]:
    return [{"id": f"t{i}"} for i in range(n)]


def _key(item: dict[str, Any]) -> str:
    return str(item["id"])


def test_styles_are_read_from_the_contract() -> None:
    assert (CURSOR.style, CURSOR.after_param, CURSOR.before_param, CURSOR.default_order) == (
        "cursor",
        "after",
        "before",
        "desc",
    )
    assert (CURSOR.has_more_field, CURSOR.first_id_field, CURSOR.last_id_field) == (
        "has_more",
        "first_id",
        "last_id",
    )
    assert (TOKEN.style, TOKEN.token_param, TOKEN.token_field, TOKEN.token_nullable) == (
        "token",
        "cursor",
        "next_cursor",
        False,
    )
    assert (PAGES.style, PAGES.page_param, PAGES.page_base, PAGES.default_size) == ("page", "page", 1, 50)
    stripe = _paging(
        {"starting_after": {"type": "string"}, "limit": {"type": "integer"}},
        {"has_more": {"type": "boolean"}},
    )
    assert (stripe.style, stripe.after_param, stripe.default_size) == ("cursor", "starting_after", 20)
    assert _paging({"q": {"type": "string"}}, {"items": {"type": "array"}}).style == "none"


@given(st.integers(0, 30), st.integers(1, 7), st.sampled_from(["asc", "desc"]))
def test_an_after_walk_visits_every_item_once_and_ends(n: int, limit: int, order: str) -> None:
    items, walked, query = _items(n), [], {"limit": limit, "order": order}
    for _ in range(n + 2):
        page, fields = CURSOR.page(items, _key, query)
        walked += [_key(item) for item in page]
        assert fields["first_id"] == (_key(page[0]) if page else None)
        assert fields["last_id"] == (_key(page[-1]) if page else None)
        if not fields["has_more"]:
            break
        assert page, "has_more on an empty page"
        query = {**query, "after": _key(page[-1])}
    else:
        raise AssertionError("the walk did not end")
    expected = [_key(item) for item in items]
    assert walked == (expected if order == "asc" else expected[::-1])


@given(st.integers(1, 30), st.integers(1, 7), st.data())
def test_before_gives_the_page_just_before(n: int, limit: int, data: st.DataObject) -> None:
    items = _items(n)
    at = data.draw(st.integers(0, n - 1))
    page, fields = CURSOR.page(items, _key, {"limit": limit, "order": "asc", "before": f"t{at}"})
    assert [_key(i) for i in page] == [f"t{i}" for i in range(max(at - limit, 0), at)]
    assert fields["has_more"] == (at > limit)


@given(st.integers(0, 30), st.integers(1, 7))
def test_a_token_walk_ends_with_an_empty_token(n: int, limit: int) -> None:
    items, walked, query = _items(n), [], {"limit": limit}
    for _ in range(n + 2):
        page, fields = TOKEN.page(items, _key, query)
        walked += [_key(item) for item in page]
        if not fields["next_cursor"]:
            assert fields["next_cursor"] == ""  # the schema has no null
            break
        query = {**query, "cursor": fields["next_cursor"]}
    else:
        raise AssertionError("the walk did not end")
    assert walked == [_key(item) for item in items]


def test_an_unknown_cursor_is_an_empty_last_page() -> None:
    page, fields = CURSOR.page(_items(3), _key, {"after": "gone"})
    assert page == [] and fields["has_more"] is False and fields["first_id"] is None


def test_page_numbers_keep_their_fields() -> None:
    page, fields = PAGES.page(_items(5), _key, {"page": 2, "size": 2})
    assert [_key(i) for i in page] == ["t2", "t3"]
    assert fields == {"total": 5, "page": 2}
