"""How a list operation pages, read from its contract: page numbers, id cursors or opaque tokens.

Real APIs page in three styles, and an SDK's auto-pagination follows exactly one of them:

- **page numbers**: ``page`` plus ``size``/``limit``/``page_size``/``per_page``; the answer may
  carry ``total``, ``page`` and ``size`` fields (Humanloop, SGP).
- **id cursors**: ``after``/``before`` (or ``starting_after``/``ending_before``, Stripe's, or
  ``after_id``/``before_id``) plus ``limit``; the answer says ``has_more`` and may carry
  ``first_id``/``last_id`` (OpenAI, Anthropic, Stripe). An optional ``order`` (``asc``/``desc``)
  sorts by creation.
- **tokens**: ``cursor``/``page_token``/``next_token`` in, ``next_cursor``/``next_page_token``/
  ``next_token`` out, null (or ``""`` where the schema has no null) on the last page.

The style is worked out once per list operation (``paging_of``); the fake pages its stored items
with it and the harness walks a list the same way. A cursor or token naming an item that is not
(or no longer) there gives an empty last page, so a walk always ends. A token is the id of the
last item of the page before, which keeps it stable across replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specfake.contract import Contract, Operation

PAGE_PARAMS = ("page",)
SIZE_PARAMS = ("size", "limit", "page_size", "per_page")
AFTER_PARAMS = ("after", "starting_after", "after_id")
BEFORE_PARAMS = ("before", "ending_before", "before_id")
TOKEN_PARAMS = ("cursor", "page_token", "next_token", "continuation_token")
TOKEN_FIELDS = ("next_cursor", "next_page_token", "next_token")
TOTAL_FIELDS = ("total", "total_item_count", "total_count", "count")
PAGE_FIELDS = ("page", "current_page")
SIZE_FIELDS = ("size", "items_per_page", "page_size", "limit")
HAS_MORE_FIELDS = ("has_more",)
FIRST_ID_FIELDS = ("first_id",)
LAST_ID_FIELDS = ("last_id",)
DEFAULT_LIMIT = 20  # a cursor list's page when its limit parameter has no default
DEFAULT_PAGE_SIZE = 50  # a numbered list's page when its size parameter has no default


@dataclass(frozen=True)
class Paging:
    """One list operation's paging: which parameters it reads and which answer fields it fills."""

    style: str  # "page" | "cursor" | "token" | "none"
    size_param: str | None = None
    default_size: int = 0
    page_param: str | None = None
    page_base: int = 0
    after_param: str | None = None
    before_param: str | None = None
    token_param: str | None = None
    order_param: str | None = None
    default_order: str = "asc"
    total_fields: tuple[str, ...] = ()
    page_fields: tuple[str, ...] = ()
    size_fields: tuple[str, ...] = ()
    has_more_field: str | None = None
    first_id_field: str | None = None
    last_id_field: str | None = None
    token_field: str | None = None
    token_nullable: bool = True

    def page(
        self, items: list[dict[str, Any]], key_of: Callable[[dict[str, Any]], str], query: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The items of the page ``query`` asks for, and the answer fields that describe it."""
        fields: dict[str, Any] = dict.fromkeys(self.total_fields, len(items))
        if self.order_param is not None and query.get(self.order_param, self.default_order) == "desc":
            items = items[::-1]
        if self.style == "page":
            page = query.get(self.page_param or "", self.page_base)
            size = query.get(self.size_param or "", self.default_size)
            start = max(page - self.page_base, 0) * max(size, 0)
            fields.update(dict.fromkeys(self.page_fields, page))
            fields.update(dict.fromkeys(self.size_fields, size))
            return items[start : start + max(size, 0)], fields
        if self.style == "none":  # one page of everything (a page number alone is echoed)
            fields.update(dict.fromkeys(self.page_fields, query.get(self.page_param or "", self.page_base)))
            fields.update(dict.fromkeys(self.size_fields, len(items)))
            return items, fields
        limit = max(int(query.get(self.size_param or "", self.default_size)), 0)
        after = query.get(self.after_param or "") or query.get(self.token_param or "")
        before = query.get(self.before_param or "")
        if after or before:
            keys = [key_of(item) for item in items]
            cursor = str(after or before)
            if cursor not in keys:
                chosen, more = [], False
            elif after:
                rest = items[keys.index(cursor) + 1 :]
                chosen, more = rest[:limit], len(rest) > limit
            else:
                rest = items[: keys.index(cursor)]
                chosen, more = rest[max(len(rest) - limit, 0) :], len(rest) > limit
        else:
            chosen, more = items[:limit], len(items) > limit
        fields.update(dict.fromkeys(self.size_fields, limit))
        if self.has_more_field:
            fields[self.has_more_field] = more
        if self.first_id_field:
            fields[self.first_id_field] = key_of(chosen[0]) if chosen else None
        if self.last_id_field:
            fields[self.last_id_field] = key_of(chosen[-1]) if chosen else None
        if self.token_field:
            empty = None if self.token_nullable else ""
            fields[self.token_field] = key_of(chosen[-1]) if more and chosen else empty
        return chosen, fields


def paging_of(contract: Contract, op: Operation, answer: dict[str, Any]) -> Paging:
    """The paging ``op`` (a list operation whose resolved answer schema is ``answer``) follows."""
    query = {p.name: contract.resolve(p.schema) for p in op.parameters if p.location == "query"}
    props = {name: contract.resolve(prop) for name, prop in (answer.get("properties") or {}).items()}

    def param(names: tuple[str, ...]) -> str | None:
        return next((name for name in names if name in query), None)

    def field(names: tuple[str, ...]) -> str | None:
        return next((name for name in names if name in props), None)

    size = param(SIZE_PARAMS)
    declared = query[size].get("default") if size else None
    default_size = int(declared) if isinstance(declared, int) else 0
    order = query.get("order") or {}
    order_param = "order" if {"asc", "desc"} <= set(order.get("enum") or ()) else None
    common: dict[str, Any] = {
        "size_param": size,
        "default_size": default_size,
        "order_param": order_param,
        "default_order": str(order.get("default", "asc")) if order_param else "asc",
        "total_fields": tuple(name for name in TOTAL_FIELDS if name in props),
    }
    page = param(PAGE_PARAMS)
    numbered: dict[str, Any] = {
        "page_param": page,
        "page_base": _page_base(query[page]) if page is not None else 0,
        "page_fields": tuple(name for name in PAGE_FIELDS if name in props),
        "size_fields": tuple(name for name in SIZE_FIELDS if name in props),
    }
    if page is not None and size is not None:
        return Paging("page", **numbered, **{**common, "default_size": default_size or DEFAULT_PAGE_SIZE})
    after, before, token = param(AFTER_PARAMS), param(BEFORE_PARAMS), param(TOKEN_PARAMS)
    token_field = field(TOKEN_FIELDS)
    if after is not None or before is not None or (token is not None and token_field is not None):
        return Paging(
            "cursor" if token is None else "token",
            after_param=after,
            before_param=before,
            token_param=token if token_field is not None else None,
            has_more_field=field(HAS_MORE_FIELDS),
            first_id_field=field(FIRST_ID_FIELDS),
            last_id_field=field(LAST_ID_FIELDS),
            token_field=token_field if token is not None else None,
            token_nullable=_nullable(props.get(token_field or "") or {}),
            **{**common, "default_size": default_size or DEFAULT_LIMIT},
        )
    return Paging("none", **numbered, **common)


def _page_base(schema: dict[str, Any]) -> int:
    for key in ("minimum", "default"):
        if isinstance(schema.get(key), int):
            return int(schema[key])
    return 0


def _nullable(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if schema.get("nullable") is True or kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(branch.get("type") == "null" for branch in schema.get("anyOf") or schema.get("oneOf") or [])
