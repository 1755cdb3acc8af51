"""Evaluation runs (Humanloop v4): a config against a pinned dataset version, scored by evaluators.

The endpoints and what they answer; how the fake drives a run (its own generation and results,
paced by the clock and the options) is in runs.py. Status machine, from the v4 docs:

- ``log`` and ``result`` need the run to be ``running`` (else 409);
- ``update_status`` is for runs whose logs or results come from outside (``hl_generated`` false,
  or an external/human evaluator): to ``completed`` only from ``running``, back to ``running``
  only from ``completed``; ``cancelled`` from ``pending`` or ``running``; anything else is a 409.
"""

from __future__ import annotations

from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop.common import (
    CONFIGS,
    DATASETS,
    EVALUATIONS,
    EVALUATORS,
    LOGS,
    PROJECTS,
    HumanloopState,
    json_object,
    page_envelope,
)
from specfake.behaviours.humanloop.datasets import dataset_contents
from specfake.behaviours.humanloop.evaluators import evaluator_version
from specfake.behaviours.humanloop.exceptions import Conflict, NotFound, unprocessable
from specfake.behaviours.humanloop.logs import log_request, log_view
from specfake.behaviours.humanloop.runs import (
    advance,
    awaits_client,
    load_run,
    new_run,
    record_result,
    require_run,
    save_run,
    score,
)
from specfake.calls import Call
from specfake.http import Reply

EVALUATIONS_SIZE = 50
DATAPOINTS_SIZE = 10


def _public(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if not k.startswith("_")}


# -- views ---------------------------------------------------------------------------------------


def _aggregates(evaluation: dict[str, Any], run: dict[str, Any]) -> list[dict[str, Any]]:
    """Per evaluator: the mean of its values on the run's current logs (booleans count 1 or 0)."""
    out = []
    config_id = evaluation["config"]["id"]
    for evaluator in evaluation["evaluators"]:
        values = []
        for log_id in run["logs"].values():
            result = run["results"].get(log_id, {}).get(evaluator["id"])
            if result is not None and result["value"] is not None:
                values.append(float(result["value"]))
        out.append(
            {
                "model_config_id": config_id,
                "evaluator_id": evaluator["id"],
                "evaluator_version_id": run["versions"].get(evaluator["id"], ""),
                "aggregate_value": round(sum(values) / len(values), 6) if values else None,
            }
        )
    return out


def _view(
    hl: HumanloopState, call: Call, evaluation: dict[str, Any], run: dict[str, Any], aggregates: bool
) -> dict[str, Any]:
    """``EvaluationResponse``: the dataset as it is now (or as pinned, once deleted)."""
    dataset = hl.get(call, DATASETS, evaluation["dataset"]["id"])
    view = _public(evaluation)
    if dataset is not None:
        view["dataset"] = dataset
    view["evaluator_aggregates"] = _aggregates(evaluation, run) if aggregates else None
    return view


def _row(hl: HumanloopState, call: Call, run: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """``EvaluationDatapointSnapshotResponse``."""
    log_id = run["logs"].get(point["id"])
    log = hl.get(call, LOGS, log_id) if log_id else None
    results = run["results"].get(log_id, {}) if log_id else {}
    return {
        "datapoint": point,
        "evaluation_results": [results[e] for e in run["evaluator_ids"] if e in results],
        "log": log_view(hl, call, log) if log is not None else None,
    }


# -- operations ----------------------------------------------------------------------------------

ops: Operations[HumanloopState] = Operations()


def _pin_evaluators(
    hl: HumanloopState, call: Call, ids: list[Any], loc: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    evaluators: list[dict[str, Any]] = []
    versions: dict[str, str] = {}
    for position, evaluator_id in enumerate(ids):
        evaluator = hl.get(call, EVALUATORS, str(evaluator_id))
        if evaluator is None:
            raise NotFound.id("Evaluator", evaluator_id, f"{loc}[{position}]")
        if evaluator["id"] not in versions:
            evaluators.append(evaluator)
            versions[evaluator["id"]] = evaluator_version(hl, call, evaluator["id"])
    return evaluators, versions


@ops("evaluations_create")
def create(hl: HumanloopState, call: Call) -> Reply:
    body = call.body
    project = hl.require(call, PROJECTS, call.path["project_id"], "Project")
    config = hl.get(call, CONFIGS, body["config_id"])
    if config is None:
        raise NotFound.id("Model config", body["config_id"], "config_id")
    dataset = hl.get(call, DATASETS, body["dataset_id"])
    if dataset is None:
        raise NotFound.id("Dataset", body["dataset_id"], "dataset_id")
    evaluators, versions = _pin_evaluators(hl, call, body["evaluator_ids"], "evaluator_ids")
    version_id, points = dataset_contents(hl, call, dataset["id"])
    now = hl.now()
    evaluation: dict[str, Any] = {
        "id": hl.new_id(EVALUATIONS),
        "status": "pending",
        "config": _public(config),
        "created_at": now,
        "updated_at": now,
        "evaluators": evaluators,
        "dataset": dict(dataset),
        "dataset_version_id": version_id,
        "dataset_snapshot": dict(dataset),
        "evaluator_aggregates": None,
        "feedback_aggregates": None,
    }
    run = new_run(project["id"], bool(body.get("hl_generated")), points, list(versions), versions, now)
    save_run(hl, call, evaluation, run)
    advance(hl, call, evaluation, run)
    return Reply(201, _view(hl, call, evaluation, run, aggregates=False))


@ops("evaluations_get")
def get(hl: HumanloopState, call: Call) -> Reply:
    evaluation, run = load_run(hl, call, call.path["id"])
    return Reply(200, _view(hl, call, evaluation, run, bool(call.query.get("evaluator_aggregates"))))


def _project_runs(
    hl: HumanloopState, call: Call, project_id: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for evaluation in hl.all(call, EVALUATIONS):
        evaluation, run = require_run(hl, call, evaluation["id"])
        if run["project_id"] == project_id:
            advance(hl, call, evaluation, run)
            out.append((evaluation, run))
    return out


@ops("evaluations_list_all_for_project")
def list_all_for_project(hl: HumanloopState, call: Call) -> Reply:
    project = hl.require(call, PROJECTS, call.path["project_id"], "Project")
    aggregates = bool(call.query.get("evaluator_aggregates"))
    runs = _project_runs(hl, call, project["id"])
    evaluatee = call.query.get("evaluatee_id")
    return Reply(
        200,
        [
            _view(hl, call, e, r, aggregates)
            for e, r in runs
            if not evaluatee or e["config"]["id"] == evaluatee
        ],
    )


@ops("evaluations_list")
def list_evaluations(hl: HumanloopState, call: Call) -> Reply:
    """Paged from 0, oldest first; filters: id (any of), evaluatee_id (the config), a date range."""
    query = call.query
    project = hl.require(call, PROJECTS, query["project_id"], "Project")
    ids = set(query.get("id") or [])
    start, end = query.get("start_date"), query.get("end_date")
    rows = []
    for evaluation, run in _project_runs(hl, call, project["id"]):
        day = evaluation["created_at"][:10]
        if (
            (ids and evaluation["id"] not in ids)
            or (query.get("evaluatee_id") and evaluation["config"]["id"] != query["evaluatee_id"])
            or (start and day < str(start))
            or (end and day > str(end))
        ):
            continue
        rows.append((evaluation, run))
    page = page_envelope(rows, query.get("page", 0), query.get("size", EVALUATIONS_SIZE), base=0)
    page["records"] = [_view(hl, call, e, r, aggregates=True) for e, r in page["records"]]
    return Reply(200, page)


@ops("evaluations_list_datapoints")
def list_datapoints(hl: HumanloopState, call: Call) -> Reply:
    """Paged from 1: each datapoint of the pinned version with its log and results so far."""
    _, run = load_run(hl, call, call.path["id"])
    page = page_envelope(
        run["datapoints"], call.query.get("page", 1), call.query.get("size", DATAPOINTS_SIZE), base=1
    )
    page["records"] = [_row(hl, call, run, point) for point in page["records"]]
    return Reply(200, page)


def _require_running(evaluation: dict[str, Any], what: str) -> None:
    if evaluation["status"] != "running":
        raise Conflict(
            f"Cannot {what}: evaluation {evaluation['id']} has status {evaluation['status']!r}; "
            "the run must have status 'running'"
        )


@ops("evaluations_log")
def log(hl: HumanloopState, call: Call) -> Reply:
    """An external generation for one of the run's datapoints (answers a ``CreateLogResponse``)."""
    evaluation, run = load_run(hl, call, call.path["evaluation_id"])
    _require_running(evaluation, "log to this evaluation")
    body = call.body
    point_id = body["datapoint_id"]
    if not any(p["id"] == point_id for p in run["datapoints"]):
        raise NotFound(f"Datapoint with id {point_id!r} is not in the dataset being evaluated (datapoint_id)")
    request = dict(body["log"]) if isinstance(body["log"], dict) else {}
    request.update(project_id=run["project_id"], project=None, source_datapoint_id=point_id)
    if request.get("config") is None and not request.get("config_id"):
        request["config_id"] = evaluation["config"]["id"]
    created = log_request(hl, call, request, ["body", "log"])
    run["logs"][point_id] = created["id"]
    evaluation["updated_at"] = hl.now()
    save_run(hl, call, evaluation, run)
    return Reply(201, created)


def _check_value(evaluator: dict[str, Any], value: Any) -> None:
    if value is None:
        return
    if evaluator["return_type"] == "boolean" and not isinstance(value, bool):
        raise unprocessable(["body", "result"], "Evaluator returns a boolean: result must be true or false")
    if evaluator["return_type"] == "number" and isinstance(value, bool):
        raise unprocessable(["body", "result"], "Evaluator returns a number: result must be a number")


@ops("evaluations_result")
def result(hl: HumanloopState, call: Call) -> Reply:
    """An evaluator's result (or error) for a log of one of the run's datapoints."""
    evaluation, run = load_run(hl, call, call.path["evaluation_id"])
    _require_running(evaluation, "post a result to this evaluation")
    body = call.body
    evaluator_id, log_id = body["evaluator_id"], body["log_id"]
    evaluator = next((e for e in evaluation["evaluators"] if e["id"] == evaluator_id), None)
    if evaluator is None:
        raise NotFound(
            f"Evaluator {evaluator_id!r} is not part of evaluation {evaluation['id']} (evaluator_id)"
        )
    stored = hl.get(call, LOGS, log_id)
    if stored is None:
        raise NotFound.id("Log", log_id, "log_id")
    if stored.get("source_datapoint_id") not in {p["id"] for p in run["datapoints"]}:
        raise NotFound(f"Log {log_id!r} is not a log of a datapoint in the dataset being evaluated (log_id)")
    if body.get("result") is None and body.get("error") is None:
        raise unprocessable(["body", "result"], "One of result or error must be provided", "missing")
    _check_value(evaluator, body.get("result"))
    point_id = stored["source_datapoint_id"]
    run["logs"].setdefault(point_id, log_id)
    answer = record_result(
        hl, call, evaluation, run, log_id, evaluator_id, body.get("result"), body.get("error")
    )
    evaluation["updated_at"] = hl.now()
    save_run(hl, call, evaluation, run)
    return Reply(201, answer)


@ops("evaluations_add_evaluators")
def add_evaluators(hl: HumanloopState, call: Call) -> Reply:
    evaluation, run = load_run(hl, call, call.path["id"])
    body = json_object(call.body)
    ids = list(body.get("evaluator_ids") or [])
    version_ids = list(body.get("evaluator_version_ids") or [])
    by_version = {}
    if version_ids:
        for evaluator in hl.all(call, EVALUATORS):
            by_version[evaluator_version(hl, call, evaluator["id"])] = evaluator["id"]
    for position, version in enumerate(version_ids):
        if version not in by_version:
            raise NotFound(f"Evaluator version {version!r} not found (evaluator_version_ids[{position}])")
    evaluators, versions = _pin_evaluators(hl, call, ids, "evaluator_ids")
    extra, extra_versions = _pin_evaluators(
        hl, call, [by_version[v] for v in version_ids], "evaluator_version_ids"
    )
    for evaluator in [*evaluators, *extra]:
        if evaluator["id"] in run["versions"]:
            continue
        evaluation["evaluators"].append(evaluator)
        run["evaluator_ids"].append(evaluator["id"])
        run["versions"][evaluator["id"]] = {**versions, **extra_versions}[evaluator["id"]]
    if run["hl_generated"] and evaluation["status"] != "cancelled":
        for point in run["datapoints"][: run["generated"]]:
            score(hl, call, evaluation, run, point["id"])
    evaluation["updated_at"] = hl.now()
    save_run(hl, call, evaluation, run)
    advance(hl, call, evaluation, run)
    return Reply(200, _view(hl, call, evaluation, run, aggregates=False))


@ops("evaluations_update_status")
def update_status(hl: HumanloopState, call: Call) -> Reply:
    evaluation, run = load_run(hl, call, call.path["id"])
    target = call.body["status"]
    current = evaluation["status"]
    if target == "cancelled":
        allowed = current in ("pending", "running")
        rule = "a run can be cancelled only while pending or running"
    elif not awaits_client(evaluation, run):
        allowed = False
        rule = (
            "the status can only be updated for an evaluation run that uses external or human "
            "evaluators or external generations"
        )
    elif target == "completed":
        allowed = current == "running"
        rule = "the evaluation must have status 'running' to switch to 'completed'"
    elif target == "running":
        allowed = current == "completed"
        rule = "the evaluation must have status 'completed' to switch back to 'running'"
    else:
        allowed = False
        rule = "only 'completed', 'running' or 'cancelled' can be set"
    if not allowed:
        raise Conflict(
            f"Cannot set status of evaluation {evaluation['id']} from {current!r} to {target!r}: {rule}"
        )
    evaluation["status"] = target
    evaluation["updated_at"] = hl.now()
    run["auto"] = False
    save_run(hl, call, evaluation, run)
    return Reply(200, _view(hl, call, evaluation, run, aggregates=False))
