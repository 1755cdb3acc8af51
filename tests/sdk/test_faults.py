"""Faults as the official SDKs meet them: a 429 the SGP client waits out, a 503 the Humanloop client
raises, a reset and a cut body as transport errors, a stream cut after three chunks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import scale_gp
from humanloop import Humanloop
from humanloop.exceptions import ApiException

from specfake.app import SpecfakeApp, create_app
from specfake.server import LiveServer

KEY = "k1"


@pytest.fixture
def fake() -> Iterator[tuple[SpecfakeApp, str]]:
    app = create_app(["humanloop", "sgp"], seed=3, options={"stream_speed": "0"})
    with LiveServer(app) as server:
        yield app, server.url


def add_rule(url: str, **rule: Any) -> dict[str, Any]:
    answer = httpx.post(url + "/__admin/faults", json=rule)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["rules"][0])


def sgp(url: str, retries: int = 0) -> scale_gp.SGPClient:
    return scale_gp.SGPClient(
        api_key=KEY, base_url=url + "/sgp", max_retries=retries, _strict_response_validation=True
    )


def humanloop(url: str) -> Humanloop:
    return Humanloop(api_key=KEY, host=url + "/humanloop/v4")


def test_the_sgp_client_waits_out_a_429_and_succeeds(fake: tuple[SpecfakeApp, str]) -> None:
    app, url = fake
    add_rule(url, operation="evaluations_list", fault="status=429; retry-after=1", times=1)
    started = time.monotonic()
    page = sgp(url, retries=2).evaluations.list()
    assert page.items == [] and time.monotonic() - started >= 0.9  # it honoured Retry-After: 1
    statuses = [(e.status, e.shaped_by) for e in app.journal.entries(contract="sgp")]
    assert statuses == [(429, "rule r1: status=429; retry-after=1"), (200, None)]
    rules = httpx.get(url + "/__admin/faults").json()["rules"]
    assert [(r["id"], r["matched"], r["fired"]) for r in rules] == [("r1", 2, 1)]


def test_the_humanloop_client_raises_a_503_then_succeeds(fake: tuple[SpecfakeApp, str]) -> None:
    """A POST: urllib3 (under the SDK) retries a GET's 503 by itself when it carries Retry-After."""
    app, url = fake
    add_rule(url, operation="projects_create", fault="status=503", times=1)
    client = humanloop(url)
    with pytest.raises(ApiException) as caught:
        client.projects.create(name="first try")
    assert caught.value.status == 503 and caught.value.headers["retry-after"] == "1"
    assert client.projects.create(name="first try").name == "first try"
    assert [e.status for e in app.journal.entries()] == [503, 201]  # the refused call stored nothing


def test_urllib3_under_the_humanloop_client_waits_out_a_503_on_a_read(fake: tuple[SpecfakeApp, str]) -> None:
    app, url = fake
    add_rule(url, operation="projects_list", fault="status=503", times=1)
    assert humanloop(url).projects.list().records == []
    assert [e.status for e in app.journal.entries()] == [503, 200]


@pytest.mark.parametrize("fault", ["reset", "empty", "truncate=10"])
def test_a_reset_or_a_cut_body_is_a_transport_error_for_the_sgp_client(
    fake: tuple[SpecfakeApp, str], fault: str
) -> None:
    _, url = fake
    add_rule(url, operation="evaluations_list", fault=fault)
    with pytest.raises(scale_gp.APIConnectionError):
        sgp(url).evaluations.list()


def test_a_malformed_body_is_a_decoding_error_for_the_sdks(fake: tuple[SpecfakeApp, str]) -> None:
    _, url = fake
    add_rule(url, operation="projects_list", fault="malformed")
    add_rule(url, operation="evaluations_list", fault="malformed")
    with pytest.raises((ValueError, TypeError)):  # humanloop 0.7.30 fails building its model from it
        humanloop(url).projects.list()
    with pytest.raises(ValueError):  # the SGP client's json.JSONDecodeError
        sgp(url).evaluations.list()


def test_a_reset_is_a_transport_error_for_the_humanloop_client(fake: tuple[SpecfakeApp, str]) -> None:
    _, url = fake
    add_rule(url, operation="projects_list", fault="reset")
    with pytest.raises(Exception) as caught:
        humanloop(url).projects.list()
    assert "reset" in repr(caught.value).lower() or "aborted" in repr(caught.value).lower()


def test_a_stream_cut_after_three_chunks_gives_the_consumer_exactly_three(
    fake: tuple[SpecfakeApp, str],
) -> None:
    _, url = fake
    add_rule(url, operation="chats_create", fault="cut-after=3")
    params = {
        "project": "faults",
        "model_config": {"model": "gpt-4o-mini"},
        "messages": [{"role": "user", "content": "Tell me a long story about the sea, please."}],
    }

    async def consume() -> tuple[list[Any], BaseException | None]:
        got: list[Any] = []
        try:
            response = await humanloop(url).chat_stream(**params)
            async for chunk in response.content:
                got.append(chunk)
        except Exception as exc:  # the cut: aiohttp's payload error
            return got, exc
        return got, None

    chunks, error = asyncio.run(consume())
    assert len(chunks) == 3 and error is not None


def test_the_sgp_client_backs_off_a_rate_limit_and_succeeds() -> None:
    app = create_app(["sgp"], options={"rate_limit": "1/s"})
    with LiveServer(app) as server:
        while time.time() % 1 > 0.2:  # start in the first part of a second: both calls in one window
            time.sleep(0.01)
        client = sgp(server.url, retries=2)
        client.evaluations.list()
        started = time.monotonic()
        assert client.evaluations.list().items == []
        assert time.monotonic() - started >= 0.5  # it waited for the window to turn
    assert [e.status for e in app.journal.entries()] == [200, 429, 200]


def test_a_token_quota_refuses_generations_once_spent() -> None:
    from tests.mock.test_limits import HandClock

    clock = HandClock()
    app = create_app(["humanloop"], clock=clock, options={"token_limit": "5/min", "stream_speed": "0"})
    with LiveServer(app) as server:
        client = humanloop(server.url)
        chat = {
            "project": "quota",
            "model_config": {"model": "gpt-4o"},
            "messages": [{"role": "user", "content": "hi"}],
        }
        first = client.chat(**chat)
        assert first.usage.generation_tokens > 5  # admitted: the quota was not spent before it
        with pytest.raises(ApiException) as caught:
            client.chat(**chat)
        assert caught.value.status == 429 and int(caught.value.headers["retry-after"]) <= 60
        assert client.projects.list().total == 1  # other operations are not metered
        clock.moment += timedelta(minutes=1)
        assert client.chat(**chat).usage.generation_tokens > 0
