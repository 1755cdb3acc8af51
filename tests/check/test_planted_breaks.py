"""Acceptance: `check server` finds each planted break, on the right operation with the right
check, and finds nothing wrong with the fake itself."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from specfake.contracts.harness.server_check import check_server
from specfake.server import LiveServer
from tests.check.broken import API_KEY, BREAKS, Bench, Break, fake

HAVE_INVARIANTS = importlib.util.find_spec("specfake.contracts.harness.invariants") is not None
PREFIX = {"sgp": "/sgp", "humanloop": "/humanloop/v4"}


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[str, Bench]]:
    builders = {b.name: b.build for b in BREAKS}
    builders |= {"clean-sgp": lambda: fake("sgp"), "clean-humanloop": lambda: fake("humanloop")}
    served = Bench(builders)
    with LiveServer(served) as live:
        yield live.url, served


@pytest.mark.parametrize("planted", BREAKS, ids=[b.name for b in BREAKS])
def test_finds_the_planted_break(bench: tuple[str, Bench], planted: Break) -> None:
    if planted.needs_invariants and not HAVE_INVARIANTS:
        pytest.skip("needs specfake.contracts.harness.invariants")
    url, _ = bench
    report = check_server(
        planted.contract,
        f"{url}/{planted.name}{PREFIX[planted.contract]}",
        api_key=API_KEY,
        profile="quick",
        include=planted.include,
        invariants=planted.needs_invariants,
    )
    hits = [f for f in report.findings if f.operation == planted.operation and f.check in planted.checks]
    assert hits, report.summary(verbose=True)
    # One break, one place: nothing is reported on any other operation.
    assert {f.operation for f in report.findings} == {planted.operation}, report.summary(verbose=True)
    if planted.field:
        assert any(f.field == planted.field for f in hits), report.summary(verbose=True)
    for finding in report.findings:
        assert finding.seed == 0 and finding.curl and finding.curl.startswith("curl ")
    assert report.exit_code == 1


@pytest.mark.parametrize("contract", ["sgp", "humanloop"])
def test_the_fake_is_clean(bench: tuple[str, Bench], contract: str) -> None:
    url, _ = bench
    report = check_server(
        contract, f"{url}/clean-{contract}{PREFIX[contract]}", api_key=API_KEY, profile="quick"
    )
    assert report.ok, report.summary(verbose=True)
    assert report.exit_code == 0
    assert report.stats["requests"] > 100
