"""Rate limits and token quotas: per key, per contract or per operation, fixed windows on the
fake's clock, real 429s with Retry-After and X-RateLimit-* headers."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

import pytest

from specfake.app import create_app
from specfake.clock import Clock
from specfake.limits import Limit, parse_limits
from specfake.options import OptionError
from tests.state.helpers import NOTES, PREFIX, key

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


class HandClock(Clock):
    """A clock the test moves."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self.moment


def test_limits_parse_and_a_bad_one_is_refused_naming_the_option() -> None:
    assert parse_limits("60/min; logs_log=10/s, 1000/day") == (
        Limit(60, 60),
        Limit(10, 1, "logs_log"),
        Limit(1000, 86400),
    )
    with pytest.raises(OptionError, match="rate_limit: cannot read '10/fortnight'"):
        create_app([NOTES], options={"rate_limit": "10/fortnight"})
    with pytest.raises(OptionError, match="token_limit"):
        create_app([NOTES], options={"token_limit": "logs_log=10/s"})


def test_a_key_over_its_limit_gets_429s_until_the_window_turns() -> None:
    clock = HandClock()
    app = create_app([NOTES], clock=clock, options={"rate_limit": "2/min"})
    with TestClient(app) as client:
        first = client.get(f"{PREFIX}/notes", headers=key("a"))
        assert first.headers["x-ratelimit-limit"] == "2" and first.headers["x-ratelimit-remaining"] == "1"
        assert first.headers["x-ratelimit-reset"] == "60"
        assert client.get(f"{PREFIX}/notes", headers=key("a")).headers["x-ratelimit-remaining"] == "0"
        clock.moment += timedelta(seconds=15)
        refused = client.post(f"{PREFIX}/notes", json={"title": "t", "body": "b"}, headers=key("a"))
        assert refused.status_code == 429 and refused.headers["retry-after"] == "45"
        assert refused.json()["detail"].startswith("Rate limit exceeded")
        assert client.get(f"{PREFIX}/notes", headers=key("b")).status_code == 200  # another key
        clock.moment += timedelta(seconds=45)
        assert client.get(f"{PREFIX}/notes", headers=key("a")).json()["items"] == []  # nothing was stored
    assert [e.shaped_by for e in app.journal.entries(tenant="a")] == [None, None, "rate limit", None]


def test_an_operation_limit_counts_that_operation_only() -> None:
    app = create_app([NOTES], clock=HandClock(), options={"rate_limit": "createNote=1/s"})
    with TestClient(app) as client:
        body = {"title": "t", "body": "b"}
        assert client.post(f"{PREFIX}/notes", json=body, headers=key("a")).status_code == 201
        assert client.post(f"{PREFIX}/notes", json=body, headers=key("a")).status_code == 429
        listed = client.get(f"{PREFIX}/notes", headers=key("a"))
        assert listed.status_code == 200 and "x-ratelimit-limit" not in listed.headers


def test_limits_change_at_run_time_through_the_admin_api() -> None:
    app = create_app([NOTES], clock=HandClock())
    with TestClient(app) as client:
        assert "x-ratelimit-limit" not in client.get(f"{PREFIX}/notes", headers=key("a")).headers
        url = "/__admin/options?contract=notes"
        assert client.put(url, json={"rate_limit": "1/h"}).status_code == 200
        assert client.get(f"{PREFIX}/notes", headers=key("a")).status_code == 200
        assert client.get(f"{PREFIX}/notes", headers=key("a")).status_code == 429
        assert client.put(url, json={"rate_limit": ""}).status_code == 200
        assert client.get(f"{PREFIX}/notes", headers=key("a")).status_code == 200
