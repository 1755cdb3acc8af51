"""schemathesis hooks for two SGP facts its checks cannot know (load with ``hooks = "<this file>"``
in schemathesis.toml, or ``SCHEMATHESIS_HOOKS``). Every check stays on; only two kinds of
generated input are left out, and the SDK flow tests (tests/sdk/test_sgp_flows.py) cover them."""

from __future__ import annotations

from typing import Any

import schemathesis

SGP_EVALUATION = "/v4/evaluations/{evaluation_id}"
FORM_ARRAYS = ("view", "sort_by")  # SGP's comma-joined (explode: false) array query parameters


@schemathesis.hook
def filter_query(ctx: Any, query: Any) -> bool:
    """On the wire ``view=`` is both ``[]`` (valid, and what the SGP SDK sends for ``view=[]``) and
    ``[""]`` (invalid). schemathesis sends it as valid data in its coverage and stateful phases and
    as invalid data when fuzzing, so no server passes both: leave the empty value out (hooks see
    it already joined, as ``""``)."""
    return not (isinstance(query, dict) and any(query.get(name) in ("", [""]) for name in FORM_ARRAYS))


@schemathesis.hook
def filter_body(ctx: Any, body: Any) -> bool:
    """SGP's delete archives and ``PATCH {"restore": true}`` brings the evaluation back; use_after_free
    counts the restore, and every read after it, as a deleted resource in use. Leave restores out."""
    operation = ctx.operation
    if operation is None or operation.method.upper() != "PATCH" or operation.path != SGP_EVALUATION:
        return True
    return not (isinstance(body, dict) and body.get("restore") is True)
