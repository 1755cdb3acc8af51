"""The journal: one entry type for the admin API, the pytest plugin and the client checker."""

from __future__ import annotations

import warnings

from specfake.app import create_app
from specfake.journal import Journal, JournalEntry
from specfake.scenario import call_in_process
from specfake.tenants import fingerprint
from specfake.world import run_now
from tests.state.helpers import NOTES, PREFIX, key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def test_a_served_fake_keeps_a_bounded_journal_with_the_start_of_each_body() -> None:
    journal = Journal(maxlen=2, body_limit=8)
    app = create_app([NOTES], journal=journal)
    with TestClient(app) as client:
        for title in ("one", "two", "three"):
            client.post(f"{PREFIX}/notes", json={"title": title, "body": "b"}, headers=key("a"))
    entries = journal.entries()
    assert [e.body for e in entries] == [b'{"title"', b'{"title"']  # the last two, 8 bytes each
    tenant = fingerprint("a")
    assert all(isinstance(e, JournalEntry) and e.status == 201 and e.tenant == tenant for e in entries)
    assert entries[0].json is None  # a cut body is not JSON any more


def test_requests_outside_every_mount_are_kept_and_in_process_calls_are_not() -> None:
    app = create_app([NOTES])
    with TestClient(app) as client:
        client.get("/v1/notes", headers=key("a"))  # the prefix forgotten
        client.get("/__admin/journal")  # the admin API itself is not journaled
    run_now(call_in_process(app.api("notes"), "GET", "/notes", {}, None, fingerprint("a")))
    (entry,) = app.journal.entries()
    assert (entry.contract, entry.path, entry.status) == (None, "/v1/notes", 404)
    assert entry.headers["x-api-key"] == "REDACTED"  # read back redacted; the checker reads it raw
    assert app.journal.entries(raw=True)[0].headers["x-api-key"] == "a"


def test_entries_are_filtered_and_cleared_by_contract() -> None:
    app = create_app([NOTES, "sgp"])
    with TestClient(app) as client:
        client.get(f"{PREFIX}/notes", headers=key("a"))
        client.get("/sgp/v4/evaluations", headers={"x-api-key": "b"})
        assert [e.contract for e in app.journal.entries()] == ["notes", "sgp"]
        assert [e.tenant for e in app.journal.entries(tenant="b")] == [fingerprint("b")]  # a key
        assert [e.contract for e in app.journal.entries(tenant=fingerprint("b"))] == ["sgp"]  # or its fp
        app.journal.clear("notes")
        assert [e.contract for e in app.journal.entries()] == ["sgp"]
