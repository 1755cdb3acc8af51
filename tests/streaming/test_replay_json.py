"""Recorded JSON answers are served, for every operation: record from a service, replay offline
(``prefer``, ``only``, ``off``), and record what is missing on the way."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from specfake.app import create_app
from specfake.record import RecordingProxy
from specfake.server import LiveServer

KEY = {"x-api-key": "k1"}
CREATE = {"account_id": "acc", "application_spec_id": "spec", "name": "recorded", "description": "d"}


def record_session(out: Path) -> dict[str, str]:
    """Record three exchanges from a real-enough service (another fake): a create, a read, a 404."""
    with LiveServer(create_app(["sgp"], seed=11)) as upstream:
        proxy = RecordingProxy(upstream.url + "/sgp", out, contract="sgp")
        with LiveServer(proxy) as recorder, httpx.Client(base_url=recorder.url + "/sgp", headers=KEY) as http:
            created = http.post("/v4/evaluations", json=CREATE).json()
            read = http.get(f"/v4/evaluations/{created['id']}", params={"view": "AsyncJobs"}).json()
            missing = http.get("/v4/evaluations/nope")
    assert missing.status_code == 404 and len(proxy.recorded) == 3
    return {"id": created["id"], "name": read["name"]}


def test_recorded_answers_are_replayed_for_matching_requests(tmp_path: Path) -> None:
    recorded = record_session(tmp_path)
    app = create_app(["sgp"], seed=99, options={"streams_dir": str(tmp_path)})
    with LiveServer(app) as served, httpx.Client(base_url=served.url + "/sgp", headers=KEY) as http:
        # The fake never made this evaluation: the recording answers, with the upstream's id.
        read = http.get(f"/v4/evaluations/{recorded['id']}", params={"view": "AsyncJobs"})
        assert read.status_code == 200 and read.json()["id"] == recorded["id"]
        assert read.headers["x-request-id"].startswith("req_")  # the fake's own id, not the upstream's
        assert http.get("/v4/evaluations/nope").status_code == 404
        created = http.post("/v4/evaluations", json=CREATE)
        assert created.json()["id"] == recorded["id"]  # a recorded create: stores nothing
        assert http.get("/v4/evaluations").json()["items"] == []  # no recording: the fake's own
        other = http.post("/v4/evaluations", json={**CREATE, "name": "not recorded"})
        assert other.status_code == 200 and other.json()["id"] != recorded["id"]  # made by the fake
    shaped = [e.shaped_by or "" for e in app.journal.entries()]
    assert [s.startswith("cassette evaluations_") for s in shaped] == [True, True, True, False, False]


def test_replay_only_refuses_what_no_recording_answers_and_off_ignores_them(tmp_path: Path) -> None:
    recorded = record_session(tmp_path)
    only = create_app(["sgp"], options={"streams_dir": str(tmp_path), "replay": "only"})
    with LiveServer(only) as served, httpx.Client(base_url=served.url + "/sgp", headers=KEY) as http:
        assert http.get(f"/v4/evaluations/{recorded['id']}", params={"view": "AsyncJobs"}).status_code == 200
        miss = http.get("/v4/evaluations")
        assert miss.status_code == 404
        assert "No recording answers GET /sgp/v4/evaluations (evaluations_list)" in miss.json()["detail"]
    off = create_app(["sgp"], options={"streams_dir": str(tmp_path), "replay": "off"})
    with LiveServer(off) as served, httpx.Client(base_url=served.url + "/sgp", headers=KEY) as http:
        assert http.get(f"/v4/evaluations/{recorded['id']}", params={"view": "AsyncJobs"}).status_code == 404


def test_what_is_missing_is_fetched_recorded_and_then_answered_offline(tmp_path: Path) -> None:
    out = tmp_path / "recorded"
    with LiveServer(create_app(["sgp"], seed=5)) as upstream:
        options = {"upstream": upstream.url + "/sgp", "record_missing": str(out)}
        app = create_app(["sgp"], seed=6, options=options)
        with LiveServer(app) as served, httpx.Client(base_url=served.url + "/sgp", headers=KEY) as http:
            first = http.post("/v4/evaluations", json=CREATE).json()
            assert http.get(f"/v4/evaluations/{first['id']}").json()["name"] == "recorded"
            # The upstream goes away: what was recorded is still answered.
    assert len(list(out.glob("*.yaml"))) == 2
    with LiveServer(app) as served, httpx.Client(base_url=served.url + "/sgp", headers=KEY) as http:
        assert http.get(f"/v4/evaluations/{first['id']}").json()["name"] == "recorded"
        assert http.get("/v4/evaluations").status_code == 502  # missing, and the upstream is gone
    assert not any("k1" in path.read_text() for path in out.glob("*.yaml"))  # keys never written


def test_record_missing_needs_an_upstream() -> None:
    with pytest.raises(ValueError, match="record_missing: needs upstream"):
        create_app(["sgp"], options={"record_missing": "somewhere"})
