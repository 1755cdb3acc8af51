"""A small SGP client test run for coverage: a few operations, one injected 429, nothing else.

It never deletes, updates or claims a task, and never meets a 5xx, a reset or a cut: the coverage
report must say so.
"""

from __future__ import annotations

import sys

from scale_gp import RateLimitError, SGPClient


def main() -> int:
    client = SGPClient(max_retries=0)
    assert list(client.evaluations.list()) == []  # the fake starts empty: an empty list
    created = client.evaluations.create(
        account_id="acc-1", application_spec_id="spec-1", description="nightly", name="nightly"
    )
    assert client.evaluations.retrieve(created.id).name == "nightly"
    assert [e.id for e in client.evaluations.list()] == [created.id]
    try:
        client.evaluations.list(extra_headers={"X-Specfake-Fault": "status=429"})
    except RateLimitError:
        pass
    else:
        raise AssertionError("the injected 429 did not reach the client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
