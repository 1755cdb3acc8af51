"""Humanloop v4 datasets, datapoints, evaluators and evaluations through the official Python SDK.

Every call passes ``validate=True``: the SDK checks the answer with its own pydantic models
(rebuilt once here, as client-facts.md says six of them need).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from specfake.api import MountedApi
from specfake.app import create_app
from specfake.clock import Clock
from specfake.server import LiveServer
from tests.contracts.test_sdk_models import humanloop_namespace

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module", autouse=True)
def sdk_models() -> dict[str, Any]:
    """Rebuilding the models once makes every ``validate=True`` below check with them."""
    return humanloop_namespace()


def status_of(call: Callable[[], Any]) -> tuple[int, str]:
    """The status and body text of the ApiException ``call`` raises."""
    from humanloop.exceptions import ApiException

    with pytest.raises(ApiException) as caught:
        call()
    return caught.value.status, str(caught.value.body)


def project_and_config(hl: Any, name: str = "support-bot") -> tuple[str, str]:
    """A project (made on first use by registering a config in it) and that config's id."""
    registered = hl.model_configs.register(
        project=name, model="gpt-4", provider="openai", prompt_template="Answer: {{question}}", validate=True
    )
    return registered.project_id, registered.config.id


def dataset_with(hl: Any, project_id: str, count: int) -> tuple[str, list[str]]:
    dataset = hl.datasets.create(
        project_id=project_id, name="faq", description="FAQ questions", validate=True
    )
    points = hl.datasets.create_datapoint(
        dataset_id=dataset.id,
        body=[
            {"inputs": {"question": f"question {i}?"}, "target": {"answer": f"answer {i}"}}
            for i in range(count)
        ],
        validate=True,
    )
    return dataset.id, [p.id for p in points]


def evaluator(hl: Any, name: str, return_type: str, kind: str = "python") -> str:
    created = hl.evaluators.create(
        name=name,
        description=f"{name} check",
        arguments_type="target_required",
        return_type=return_type,
        type=kind,
        code="def evaluate(log, testcase):\n    return True" if kind == "python" else None,
        validate=True,
    )
    return created.id


@dataclass
class Bench:
    """A project with a config and a dataset of ``count`` datapoints, ready to evaluate."""

    hl: Any
    project_id: str
    config_id: str
    dataset_id: str
    point_ids: list[str]

    @classmethod
    def build(cls, hl: Any, count: int) -> Bench:
        project_id, config_id = project_and_config(hl)
        return cls(hl, project_id, config_id, *dataset_with(hl, project_id, count))

    def run(self, evaluator_ids: list[str], hl_generated: bool) -> Any:
        return self.hl.evaluations.create(
            project_id=self.project_id,
            config_id=self.config_id,
            dataset_id=self.dataset_id,
            evaluator_ids=evaluator_ids,
            hl_generated=hl_generated,
            validate=True,
        )


def walk(fetch: Callable[[int], Any], first: int) -> list[Any]:
    """Every record of a paged list, page by page from ``first`` until ``total`` is reached."""
    records: list[Any] = []
    page = first
    while True:
        answer = fetch(page)
        records.extend(answer.records)
        if not answer.records or len(records) >= answer.total:
            return records
        page += 1


# -- datasets and datapoints ---------------------------------------------------------------------


def test_datasets_grow_by_committed_adds_and_page_from_zero(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client("k1")
    project_id, config_id = project_and_config(hl)
    dataset = hl.datasets.create(project_id=project_id, name="faq", description="FAQ", validate=True)
    assert dataset.id.startswith("evts_") and dataset.datapoint_count == 0

    one = hl.datasets.create_datapoint(
        dataset_id=dataset.id, inputs={"question": "hours?"}, target={"answer": "9-5"}, validate=True
    )
    many = hl.datasets.create_datapoint(
        dataset_id=dataset.id,
        body=[
            {"inputs": {"question": "refund?"}, "target": {"answer": "30 days"}},
            {"messages": [{"role": "user", "content": "hi"}], "inputs": {}},
        ],
        validate=True,
    )
    log = hl.log(project_id=project_id, config_id=config_id, inputs={"question": "ship?"}, output="in 2 days")
    from_log = hl.datasets.create_datapoint(dataset_id=dataset.id, log_ids=[log.id], validate=True)
    assert [len(one), len(many), len(from_log)] == [1, 2, 1]
    assert from_log[0].inputs == {"question": "ship?"} and from_log[0].target == {"output": "in 2 days"}
    assert all(p.id.startswith("evdp_") and p.dataset_id == dataset.id for p in one + many + from_log)

    status, body = status_of(
        lambda: hl.datasets.create_datapoint(dataset_id=dataset.id, log_ids=["data_nope"])
    )
    assert status == 404 and "log_ids[0]" in body

    current = hl.datasets.get(id=dataset.id, validate=True)
    assert current.datapoint_count == 4 and current.updated_at > dataset.updated_at
    assert [d.id for d in hl.datasets.list_all_for_project(project_id=project_id, validate=True)] == [
        dataset.id
    ]
    assert [d.id for d in hl.datasets.list(validate=True)] == [dataset.id]

    created = [p.id for p in one + many + from_log]
    pages = walk(
        lambda n: hl.datasets.list_datapoints(dataset_id=dataset.id, page=n, size=3, validate=True), 0
    )
    assert [p.id for p in pages] == created

    assert hl.datapoints.get(id=created[1], validate=True).target == {"answer": "30 days"}
    # decommissioned in v4: a known datapoint answers 409, an unknown one 404
    assert status_of(lambda: hl.datapoints.update(id=created[1]))[0] == 409
    assert status_of(lambda: hl.datapoints.update(id="evdp_nope"))[0] == 404
    assert status_of(lambda: hl.datapoints.delete())[0] == 409

    renamed = hl.datasets.update(id=dataset.id, name="faq v2", validate=True)
    assert renamed.name == "faq v2" and renamed.description == "FAQ"
    hl.datasets.delete(id=dataset.id)
    assert status_of(lambda: hl.datasets.get(id=dataset.id))[0] == 404
    assert status_of(lambda: hl.datapoints.get(id=created[0]))[0] == 404
    assert status_of(lambda: hl.datasets.create(project_id="pr_nope", name="x", description="y"))[0] == 404


def test_evaluators_crud(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client("k1")
    code = "def evaluate(log, testcase):\n    return log['output'] == testcase['target']['answer']"
    created = hl.evaluators.create(
        name="exact match",
        description="output equals the target answer",
        arguments_type="target_required",
        return_type="boolean",
        type="python",
        code=code,
        validate=True,
    )
    assert created.id.startswith("evfn_") and created.code == code
    llm = hl.evaluators.create(
        name="helpfulness",
        description="an LLM judge",
        arguments_type="target_free",
        return_type="number",
        type="llm",
        model_config={"model": "gpt-4", "prompt_template": "Rate 0-1: {{log.output}}"},
        validate=True,
    )
    assert llm.model_config_.model == "gpt-4" and llm.model_config_.type == "model"
    assert [e.id for e in hl.evaluators.list(validate=True)] == [created.id, llm.id]
    assert hl.evaluators.get(id=created.id, validate=True) == created

    updated = hl.evaluators.update(id=created.id, name="exact", return_type="number", validate=True)
    assert (updated.name, updated.return_type, updated.code) == ("exact", "number", code)
    assert updated.updated_at >= created.updated_at

    hl.evaluators.delete(id=created.id)
    assert status_of(lambda: hl.evaluators.get(id=created.id))[0] == 404
    assert status_of(lambda: hl.evaluators.delete(id=created.id))[0] == 404
    assert [e.id for e in hl.evaluators.list(validate=True)] == [llm.id]


# -- evaluations ---------------------------------------------------------------------------------


def test_hl_generated_run_logs_and_scores_every_datapoint(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client("k1")
    bench = Bench.build(hl, 7)
    project_id, config_id, dataset_id, point_ids = (
        bench.project_id,
        bench.config_id,
        bench.dataset_id,
        bench.point_ids,
    )
    judge, score = evaluator(hl, "correct", "boolean"), evaluator(hl, "quality", "number", "llm")

    run = bench.run([judge, score], hl_generated=True)
    assert run.id.startswith("ev_") and run.status == "completed"
    assert run.config.id == config_id and run.dataset.id == dataset_id
    assert [e.id for e in run.evaluators] == [judge, score] and run.dataset_version_id

    rows = walk(lambda n: hl.evaluations.list_datapoints(id=run.id, page=n, size=3, validate=True), 1)
    assert [r.datapoint.id for r in rows] == point_ids
    assert len({r.log.id for r in rows}) == len(point_ids)
    values: dict[str, list[float]] = {judge: [], score: []}
    for row in rows:
        assert row.log.source_datapoint_id == row.datapoint.id and row.log.output
        assert row.log.inputs == row.datapoint.inputs and row.log.config.id == config_id
        assert [r.evaluator_id for r in row.evaluation_results] == [judge, score]
        judged, scored = row.evaluation_results
        assert isinstance(judged.value, bool) and isinstance(scored.value, float)
        assert all(r.log_id == row.log.id and r.evaluation_id == run.id for r in row.evaluation_results)
        values[judge].append(float(judged.value))
        values[score].append(scored.value)
    assert hl.logs.get(id=rows[0].log.id, validate=True).source_datapoint_id == point_ids[0]

    got = hl.evaluations.get(id=run.id, evaluator_aggregates=True, validate=True)
    aggregates = {a.evaluator_id: a.aggregate_value for a in got.evaluator_aggregates}
    assert aggregates == pytest.approx({k: sum(v) / len(v) for k, v in values.items()})
    assert hl.evaluations.get(id=run.id, validate=True).evaluator_aggregates is None

    listed = hl.evaluations.list(project_id=project_id, page=0, size=10, validate=True)
    assert (listed.total, listed.records[0].id) == (1, run.id)
    assert [e.id for e in hl.evaluations.list_all_for_project(project_id=project_id, validate=True)] == [
        run.id
    ]
    # the fake drives this run: only runs fed from outside take status updates
    assert status_of(lambda: hl.evaluations.update_status(id=run.id, status="running"))[0] == 409

    # a datapoint added later is not in the run: it pinned the version it started on
    hl.datasets.create_datapoint(dataset_id=dataset_id, inputs={"question": "late?"})
    assert hl.evaluations.list_datapoints(id=run.id, page=1, size=50, validate=True).total == 7


def test_unknown_references_name_their_field(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client("k1")
    project_id, config_id = project_and_config(hl)
    dataset_id, _ = dataset_with(hl, project_id, 1)
    judge = evaluator(hl, "correct", "boolean")
    base = {
        "project_id": project_id,
        "config_id": config_id,
        "dataset_id": dataset_id,
        "evaluator_ids": [judge],
    }
    for field, value, where in [
        ("config_id", "config_nope", "config_id"),
        ("dataset_id", "evts_nope", "dataset_id"),
        ("evaluator_ids", [judge, "evfn_nope"], "evaluator_ids[1]"),
        ("project_id", "pr_nope", "Project"),
    ]:
        status, body = status_of(lambda f=field, v=value: hl.evaluations.create(**{**base, f: v}))
        assert status == 404 and where in body


def test_external_run_follows_the_status_rules(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client("k1")
    bench = Bench.build(hl, 3)
    project_id, point_ids = bench.project_id, bench.point_ids
    judge, score = evaluator(hl, "correct", "boolean"), evaluator(hl, "rating", "number", "external")
    run = bench.run([judge], hl_generated=False)
    assert run.status == "running"

    created = hl.evaluations.log(
        evaluation_id=run.id,
        datapoint_id=point_ids[0],
        log={"inputs": {"question": "question 0?"}, "output": "answer 0"},
        validate=True,
    )
    assert created.project_id == project_id
    result = hl.evaluations.result(
        evaluation_id=run.id, log_id=created.id, evaluator_id=judge, result=True, validate=True
    )
    assert (result.value, result.log_id, result.evaluation_id) == (True, created.id, run.id)
    assert (
        status_of(lambda: hl.evaluations.result(evaluation_id=run.id, log_id=created.id, evaluator_id=judge))[
            0
        ]
        == 422
    )
    assert (
        status_of(
            lambda: hl.evaluations.result(
                evaluation_id=run.id, log_id=created.id, evaluator_id=judge, result=0.5
            )
        )[0]
        == 422
    )
    status, body = status_of(
        lambda: hl.evaluations.log(evaluation_id=run.id, datapoint_id="evdp_nope", log={"output": "x"})
    )
    assert status == 404 and "datapoint_id" in body
    status, body = status_of(
        lambda: hl.evaluations.result(evaluation_id=run.id, log_id=created.id, evaluator_id=score, result=1.0)
    )
    assert status == 404 and "evaluator_id" in body

    added = hl.evaluations.add_evaluators(id=run.id, evaluator_ids=[score], validate=True)
    assert [e.id for e in added.evaluators] == [judge, score]
    hl.evaluations.result(
        evaluation_id=run.id, log_id=created.id, evaluator_id=score, result=4.0, validate=True
    )

    rows = hl.evaluations.list_datapoints(id=run.id, page=1, size=10, validate=True).records
    assert rows[0].log.id == created.id and rows[0].log.source_datapoint_id == point_ids[0]
    assert [(r.evaluator_id, r.value) for r in rows[0].evaluation_results] == [(judge, True), (score, 4)]
    assert [r.log for r in rows[1:]] == [None, None]

    assert status_of(lambda: hl.evaluations.update_status(id=run.id, status="running"))[0] == 409
    done = hl.evaluations.update_status(id=run.id, status="completed", validate=True)
    assert done.status == "completed"
    status, body = status_of(
        lambda: hl.evaluations.log(evaluation_id=run.id, datapoint_id=point_ids[1], log={"output": "late"})
    )
    assert status == 409 and "running" in body
    assert (
        status_of(
            lambda: hl.evaluations.result(
                evaluation_id=run.id, log_id=created.id, evaluator_id=judge, result=False
            )
        )[0]
        == 409
    )
    assert status_of(lambda: hl.evaluations.update_status(id=run.id, status="completed"))[0] == 409
    assert hl.evaluations.update_status(id=run.id, status="running", validate=True).status == "running"
    hl.evaluations.log(evaluation_id=run.id, datapoint_id=point_ids[1], log={"output": "now"}, validate=True)
    assert hl.evaluations.get(id=run.id, validate=True).status == "running"


def test_tenants_see_none_of_each_other(humanloop_client: Callable[..., Any]) -> None:
    hl, other = humanloop_client("k1"), humanloop_client("k2")
    bench = Bench.build(hl, 2)
    project_id, dataset_id, point_ids = bench.project_id, bench.dataset_id, bench.point_ids
    judge = evaluator(hl, "correct", "boolean")
    run = bench.run([judge], hl_generated=True)
    assert other.datasets.list(validate=True) == [] and other.evaluators.list(validate=True) == []
    for call in (
        lambda: other.datasets.get(id=dataset_id),
        lambda: other.datapoints.get(id=point_ids[0]),
        lambda: other.evaluators.get(id=judge),
        lambda: other.evaluations.get(id=run.id),
        lambda: other.evaluations.list_datapoints(id=run.id),
        lambda: other.evaluations.list(project_id=project_id),
        lambda: other.datasets.create_datapoint(dataset_id=dataset_id, inputs={"q": "x"}),
    ):
        assert status_of(call)[0] == 404
    assert hl.datasets.get(id=dataset_id, validate=True).datapoint_count == 2


# -- pacing and holding, on a clock the test moves -----------------------------------------------


class ManualClock(Clock):
    def __init__(self) -> None:
        self.moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def paced() -> Iterator[tuple[Any, ManualClock, MountedApi]]:
    """A client on a fake whose clock the test moves and whose options it may change."""
    from humanloop import Humanloop

    clock = ManualClock()
    app = create_app(["humanloop"], seed=3, clock=clock, options={"evaluation_pace": "10"})
    with LiveServer(app) as server:
        hl = Humanloop(api_key="k1", host=server.url + app.api("humanloop").prefix)
        yield hl, clock, app.api("humanloop")


def test_paced_run_moves_with_the_clock(paced: tuple[Any, ManualClock, MountedApi]) -> None:
    hl, clock, _ = paced
    bench = Bench.build(hl, 3)
    run = bench.run([evaluator(hl, "correct", "boolean")], hl_generated=True)

    def logged() -> int:
        rows = hl.evaluations.list_datapoints(id=run.id, page=1, size=10, validate=True).records
        assert all(hl.logs.get(id=r.log.id, validate=True) for r in rows if r.log is not None)
        return sum(r.log is not None for r in rows)

    assert (run.status, logged()) == ("pending", 0)
    clock.moment += timedelta(seconds=15)
    assert (hl.evaluations.get(id=run.id, validate=True).status, logged()) == ("running", 1)
    clock.moment += timedelta(seconds=15)
    # this request finds the run completed and fails; what the clock did must not be lost with it
    late = {"evaluation_id": run.id, "datapoint_id": bench.point_ids[2], "log": {"output": "x"}}
    assert status_of(lambda: hl.evaluations.log(**late))[0] == 409
    assert (hl.evaluations.get(id=run.id, validate=True).status, logged()) == ("completed", 3)


def test_held_runs_stay_where_they_are_held(paced: tuple[Any, ManualClock, MountedApi]) -> None:
    hl, _, api = paced
    bench = Bench.build(hl, 2)
    judge = evaluator(hl, "correct", "boolean")
    api.set_options({"evaluation_pace": "0", "evaluation_hold": "running"})
    generated = bench.run([judge], hl_generated=True)
    assert generated.status == "running"
    api.set_options({"evaluation_hold": "pending"})
    external = bench.run([judge], hl_generated=False)
    assert external.status == "pending"
    status, body = status_of(
        lambda: hl.evaluations.log(
            evaluation_id=external.id, datapoint_id=bench.point_ids[0], log={"output": "x"}
        )
    )
    assert status == 409 and "pending" in body
    api.set_options({"evaluation_hold": ""})
    assert hl.evaluations.get(id=external.id, validate=True).status == "running"
    assert hl.evaluations.get(id=generated.id, validate=True).status == "completed"
