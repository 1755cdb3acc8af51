"""Every shipped scenario, end to end, as the official SDKs see it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import scale_gp
from humanloop import Humanloop
from humanloop.exceptions import ApiException

from specfake.app import SpecfakeApp, create_app
from specfake.server import LiveServer

KEY = "k1"
CREATE = {"account_id": "acc-1", "application_spec_id": "spec", "name": "mine", "description": "d"}


def start(scenario: str, **options: str) -> Iterator[tuple[SpecfakeApp, str]]:
    app = create_app(
        ["humanloop", "sgp"], seed=4, scenarios=[scenario], options={"stream_speed": "0", **options}
    )
    with LiveServer(app) as server:
        yield app, server.url


@pytest.fixture
def served(request: pytest.FixtureRequest) -> Iterator[tuple[SpecfakeApp, str]]:
    yield from start(request.param)


def sgp(url: str, retries: int = 0) -> scale_gp.SGPClient:
    return scale_gp.SGPClient(
        api_key=KEY, base_url=url + "/sgp", max_retries=retries, _strict_response_validation=True
    )


def humanloop(url: str) -> Humanloop:
    return Humanloop(api_key=KEY, host=url + "/humanloop/v4")


def move(url: str, scenario: str, step: str) -> None:
    answer = httpx.put(f"{url}/__admin/scenarios/{scenario}", json={"step": step})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("served", ["rate-limited-then-ok"], indirect=True)
def test_rate_limited_then_ok(served: tuple[SpecfakeApp, str]) -> None:
    app, url = served
    started = time.monotonic()
    assert sgp(url, retries=2).evaluations.list().items == []  # it waited out the 429 and got in
    assert time.monotonic() - started >= 0.9
    assert [e.status for e in app.journal.entries()] == [429, 200]
    assert sgp(url).evaluations.list().items == []  # from then on, no limit


@pytest.mark.parametrize("served", ["flaky-5xx"], indirect=True)
def test_flaky_5xx_fails_twice_then_works(served: tuple[SpecfakeApp, str]) -> None:
    _, url = served
    for _ in range(2):
        with pytest.raises(scale_gp.InternalServerError):
            sgp(url).evaluations.create(**CREATE)
    assert sgp(url).evaluations.create(**CREATE).name == "mine"
    assert len(sgp(url).evaluations.list().items) == 1  # the failed calls stored nothing


def _evaluation(client: Humanloop, project: str) -> Any:
    """A python-evaluated, fake-driven run over a one-datapoint dataset."""
    created = client.projects.create(name=project)
    config = client.model_configs.register(
        project_id=created.id, model="gpt-4o", prompt_template="Hi {{who}}"
    )
    dataset = client.datasets.create(project_id=created.id, name="d", description="")
    client.datasets.create_datapoint(dataset_id=dataset.id, body={"inputs": {"who": "you"}})
    evaluator = client.evaluators.create(
        name="e", description="", arguments_type="target_free", return_type="number", type="python", code="x"
    )
    return client.evaluations.create(
        project_id=created.id,
        config_id=config.config.id,
        dataset_id=dataset.id,
        evaluator_ids=[evaluator.id],
        hl_generated=True,
    )


@pytest.mark.parametrize("served", ["slow-evaluation"], indirect=True)
def test_a_slow_evaluation_stays_running_until_released(served: tuple[SpecfakeApp, str]) -> None:
    _, url = served
    client = humanloop(url)
    run = _evaluation(client, "slow")
    assert client.evaluations.get(id=run.id).status == "running"
    assert client.evaluations.get(id=run.id).status == "running"  # the clock does not free it
    move(url, "slow-evaluation", "released")
    assert client.evaluations.get(id=run.id).status == "completed"


@pytest.mark.parametrize("served", ["evaluation-fails"], indirect=True)
def test_an_evaluation_fails(served: tuple[SpecfakeApp, str]) -> None:
    _, url = served
    client = humanloop(url)
    run = _evaluation(client, "failing")
    assert client.evaluations.get(id=run.id).status == "failed"
    assert httpx.delete(f"{url}/__admin/scenarios/evaluation-fails").status_code == 204
    assert (
        client.evaluations.get(id=_evaluation(client, "later").id).status == "completed"
    )  # options restored


@pytest.mark.parametrize("served", ["stream-drops-mid-answer"], indirect=True)
def test_a_stream_drops_after_three_chunks_and_stores_nothing(served: tuple[SpecfakeApp, str]) -> None:
    _, url = served
    client = humanloop(url)
    params = {
        "project": "drops",
        "model_config": {"model": "gpt-4o"},
        "messages": [{"role": "user", "content": "Tell me everything about the weather, please."}],
    }

    async def consume() -> tuple[int, BaseException | None]:
        got = 0
        try:
            response = await client.chat_stream(**params)
            async for _ in response.content:
                got += 1
        except Exception as exc:
            return got, exc
        return got, None

    count, error = asyncio.run(consume())
    assert count == 3 and error is not None
    project = client.projects.list().records[0]
    assert client.logs.list(project_id=project.id).records == []  # a cut generation is not logged
    assert client.chat(**params).data[0].output  # a JSON answer is untouched


@pytest.mark.parametrize("served", ["deployment-switches-mid-test"], indirect=True)
def test_the_deployment_switches_between_two_reads(served: tuple[SpecfakeApp, str]) -> None:
    _, url = served
    client = humanloop(url)
    project = client.projects.create(name="switching")
    first = client.model_configs.register(project_id=project.id, model="gpt-4o", name="first")
    second = client.model_configs.register(project_id=project.id, model="gpt-4o-mini", name="second")
    before = client.projects.get_active_config(id=project.id).config.id
    after = client.projects.get_active_config(id=project.id).config.id
    assert (before, after) == (first.config.id, second.config.id)
    assert client.projects.get_active_config(id=project.id).config.id == second.config.id  # settled


@pytest.mark.parametrize("served", ["paging-under-concurrent-writes"], indirect=True)
def test_totals_grow_while_a_client_pages(served: tuple[SpecfakeApp, str]) -> None:
    _, url = served
    client = sgp(url)
    for number in range(4):
        client.evaluations.create(**{**CREATE, "name": f"mine {number}"})
    first = client.evaluations.list(limit=2, page=1)
    second = client.evaluations.list(limit=2, page=2)
    assert (first.total_item_count, second.total_item_count) == (5, 6)  # one written before each read
    walked = [e.name for e in client.evaluations.list(limit=2, sort_by=["created_at:desc"])]
    assert "written while paging" in walked and len(walked) > len(set(walked))  # items shifted: repeats


@pytest.mark.parametrize("served", ["key-revoked-mid-run"], indirect=True)
def test_a_key_is_revoked_after_three_requests(served: tuple[SpecfakeApp, str]) -> None:
    _, url = served
    client = sgp(url)
    for _ in range(3):
        client.evaluations.list()
    with pytest.raises(scale_gp.AuthenticationError):
        client.evaluations.list()
    with pytest.raises(ApiException) as caught:
        humanloop(url).projects.list()
    assert caught.value.status == 401
