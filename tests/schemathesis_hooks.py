"""schemathesis hooks for two SGP facts its checks cannot know (load with ``hooks = "<this file>"``
in schemathesis.toml, or ``SCHEMATHESIS_HOOKS``). Every check stays on; only two kinds of
generated input are left out, and the SDK flow tests (tests/sdk/test_sgp_flows.py) cover them.

The hooks themselves are the harness's (`specfake.contracts.harness.profiles`), which
``specfake check server`` registers on the SGP schema only; the schemathesis CLI has no per-schema
hooks, so here they are registered globally (both leave every Humanloop request alone).
"""

from __future__ import annotations

import schemathesis

from specfake.contracts.harness.profiles import sgp_filter_body, sgp_filter_query

filter_query = schemathesis.hook("filter_query")(sgp_filter_query)
filter_body = schemathesis.hook("filter_body")(sgp_filter_body)
