"""A realistic SGP client (official SDK, scale-gp==0.1.0a62) for ``specfake check client``.

The SDK finds the fake by itself: ``specfake check client`` sets SGP_CLIENT_BASE_URL and SGP_API_KEY.
"""

from __future__ import annotations

import sys

from scale_gp import SGPClient


def main() -> int:
    client = SGPClient(_strict_response_validation=True, max_retries=0)
    created = client.evaluations.create(
        account_id="acc-1",
        application_spec_id="spec-1",
        description="nightly regression",
        name="nightly",
        type="builder",
        application_variant_id="variant-1",
        evaluation_dataset_id="dataset-1",
        tags={"team": "search"},
    )
    client.evaluations.create(
        account_id="acc-1", application_spec_id="spec-1", description="second", name="second"
    )
    got = client.evaluations.retrieve(created.id, view=["ApplicationSpec"])
    assert got.name == "nightly"
    names = [e.name for e in client.evaluations.list(sort_by=["name:asc"], limit=1)]
    assert "nightly" in names and "second" in names, names
    client.evaluations.update(created.id, description="renamed")
    deleted = client.evaluations.delete(created.id)
    assert deleted.success
    return 0


if __name__ == "__main__":
    sys.exit(main())
