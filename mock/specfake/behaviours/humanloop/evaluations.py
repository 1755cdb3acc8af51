"""Evaluation runs (Humanloop v4): a config against a pinned dataset version, scored by evaluators.

Status machine, from the v4 docs:

- ``log`` and ``result`` need the run to be ``running`` (else 409);
- ``update_status`` is for runs whose logs or results come from outside (``hl_generated`` false,
  or an external/human evaluator): to ``completed`` only from ``running``, back to ``running``
  only from ``completed``; ``cancelled`` from ``pending`` or ``running``; anything else is a 409.

A run with ``hl_generated`` true is driven by the fake: one log per datapoint (through
generation.generate_output and logs.store_log) and a seeded result from every python or llm
evaluator that fits its ``return_type``, moving pending -> running -> completed. External and
human evaluators are left to the client, so such a run waits in ``running`` for its results and
an ``update_status``. Progress is worked out lazily from the run's start on every read, never in
the background. Options (``hl.ctx.options``):

- ``evaluation_pace``: seconds per datapoint (default 0: the run is complete when created);
- ``evaluation_hold``: ``pending`` keeps runs pending (nothing generated, an external run is not
  yet open for logs); ``running`` lets generation go on but never marks a run completed.

An external run (``hl_generated`` false) is ``running`` once created.
"""

from __future__ import annotations

import copy
import hashlib
import random
from dataclasses import replace
from datetime import datetime
from typing import Any

from specfake.behaviours.humanloop.common import (
    CONFIGS,
    DATASETS,
    EVALUATIONS,
    EVALUATORS,
    LOGS,
    PROJECTS,
    HumanloopState,
    bind,
    json_object,
    page_envelope,
    unprocessable,
)
from specfake.behaviours.humanloop.datasets import dataset_contents
from specfake.behaviours.humanloop.evaluators import evaluator_version
from specfake.calls import Call, Handler
from specfake.errors import ApiError
from specfake.http import Reply

# "<evaluation id>" -> the run's working state (see ``_new_run``); never answered as it is
EVALUATION_RUNS = "evaluation_runs"
RESULT_PREFIX = "evr_"
EVALUATIONS_SIZE = 50
DATAPOINTS_SIZE = 10
GENERATED_BY_FAKE = ("python", "llm")  # evaluator types whose results the fake draws itself
ORDER = {"pending": 0, "running": 1, "completed": 2}


def _public(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if not k.startswith("_")}


def _require(hl: HumanloopState, call: Call, evaluation_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Working copies of an evaluation and its run: a request that advances a run and then fails
    (a 409 after the clock moved it on) must leave the stored run and its logs as they were."""
    evaluation = copy.deepcopy(hl.require(call, EVALUATIONS, evaluation_id, "Evaluation"))
    run = copy.deepcopy(hl.get(call, EVALUATION_RUNS, evaluation_id))
    if run is None:  # stored by something other than this module (an imported state): nothing to drive
        run = {**_new_run("", False, [], [], {}, evaluation["created_at"]), "auto": False}
    return evaluation, run


def _new_run(
    project_id: str,
    hl_generated: bool,
    datapoints: list[dict[str, Any]],
    evaluator_ids: list[str],
    versions: dict[str, str],
    started: str,
) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "hl_generated": hl_generated,
        "auto": True,  # the fake drives the status until a client sets one
        "started": started,
        "datapoints": datapoints,  # snapshots of the pinned version's datapoints, in order
        "evaluator_ids": evaluator_ids,
        "versions": versions,  # evaluator id -> the version this run pinned
        "generated": 0,  # datapoints the fake has already logged and scored
        "logs": {},  # datapoint id -> its (latest) log id
        "results": {},  # log id -> {evaluator id: EvaluationResultResponse}
    }


def drop_project_evaluations(hl: HumanloopState, call: Call, project_id: str) -> None:
    """Delete a deleted project's evaluation runs (the project is the run's, or else its dataset's)."""
    for evaluation in hl.all(call, EVALUATIONS):
        run = hl.get(call, EVALUATION_RUNS, evaluation["id"])
        owner = run["project_id"] if run and run["project_id"] else evaluation["dataset"].get("project_id")
        if owner == project_id:
            hl.delete(call, EVALUATION_RUNS, evaluation["id"])
            hl.delete(call, EVALUATIONS, evaluation["id"])


def _save(hl: HumanloopState, call: Call, evaluation: dict[str, Any], run: dict[str, Any]) -> None:
    hl.put(call, EVALUATIONS, evaluation["id"], evaluation)
    hl.put(call, EVALUATION_RUNS, evaluation["id"], run)


# -- the fake's own generation -------------------------------------------------------------------


def _option_pace(hl: HumanloopState) -> float:
    try:
        pace = float(hl.ctx.options.get("evaluation_pace", "0") or 0)
    except ValueError:
        return 0.0
    return pace if pace > 0 else 0.0


def _seeded_value(hl: HumanloopState, evaluation_id: str, point_id: str, evaluator: dict[str, Any]) -> Any:
    rng = random.Random(f"{hl.ctx.seed}:{evaluation_id}:{point_id}:{evaluator['id']}")
    if evaluator["return_type"] == "boolean":
        return rng.random() < 0.75
    return round(rng.random(), 3)


def _result(
    hl: HumanloopState,
    call: Call,
    evaluation: dict[str, Any],
    run: dict[str, Any],
    log_id: str,
    evaluator_id: str,
    value: Any,
    error: str | None,
) -> dict[str, Any]:
    """Record (or replace) the result of one evaluator on one log; returns it."""
    now = hl.now()
    by_evaluator = run["results"].setdefault(log_id, {})
    previous = by_evaluator.get(evaluator_id)
    version = run["versions"].get(evaluator_id) or evaluator_version(hl, call, evaluator_id)
    result = {
        "id": previous["id"] if previous else hl.ctx.new_id(RESULT_PREFIX),
        "evaluator_id": evaluator_id,
        "evaluator_version_id": version,
        "log_id": log_id,
        "updated_at": now,
        "created_at": previous["created_at"] if previous else now,
        "version": None,
        "evaluation_id": evaluation["id"],
        "log": None,
        "version_id": version,
        "value": value,
        "error": error,
        "llm_evaluator_log": None,
    }
    by_evaluator[evaluator_id] = result
    log = hl.get(call, LOGS, log_id)
    if log is not None and isinstance(log.get("evaluation_results"), list):
        log["evaluation_results"] = [r for r in log["evaluation_results"] if r.get("id") != result["id"]]
        log["evaluation_results"].append(result)
        hl.put(call, LOGS, log_id, log)
    return result


def _score(
    hl: HumanloopState, call: Call, evaluation: dict[str, Any], run: dict[str, Any], point_id: str
) -> None:
    """Seeded results for a datapoint's log from every evaluator the fake runs itself."""
    log_id = run["logs"].get(point_id)
    if log_id is None:
        return
    log = hl.get(call, LOGS, log_id)
    failed = log.get("error") if log is not None else None
    for evaluator in evaluation["evaluators"]:
        if evaluator["type"] in GENERATED_BY_FAKE and evaluator["id"] not in run["results"].get(log_id, {}):
            if failed:
                _result(hl, call, evaluation, run, log_id, evaluator["id"], None, "The log has an error")
            else:
                value = _seeded_value(hl, evaluation["id"], point_id, evaluator)
                _result(hl, call, evaluation, run, log_id, evaluator["id"], value, None)


def _generate(
    hl: HumanloopState, call: Call, evaluation: dict[str, Any], run: dict[str, Any], index: int
) -> None:
    from specfake.behaviours.humanloop.generation import generate_output
    from specfake.behaviours.humanloop.logs import store_log

    point = run["datapoints"][index]
    config = evaluation["config"]
    inputs = point.get("inputs") or {}
    messages = point.get("messages")
    if messages is None and (config.get("chat_template") is not None or config.get("endpoint") == "chat"):
        messages = []
    fields: dict[str, Any] = {"inputs": inputs, "messages": messages}
    # The run's own seed, not the request's: the same run generates the same logs whichever
    # read happens to bring it up to date.
    seed = int.from_bytes(
        hashlib.blake2b(f"{hl.ctx.seed}:{evaluation['id']}".encode(), digest_size=8).digest()
    )
    try:
        fields.update(
            generate_output(hl, replace(call, body=None, seed=seed), config, inputs, messages, index)
        )
    except ApiError as exc:  # e.g. a template variable the datapoint has no input for
        fields["error"] = f"Generation failed: {exc.detail}"
    fields.update(
        project_id=run["project_id"],
        config=config,
        source_datapoint_id=point["id"],
        source="evaluation",
        save=True,
    )
    log = store_log(hl, call, fields)
    run["logs"][point["id"]] = log["id"]
    _score(hl, call, evaluation, run, point["id"])


def _awaits_client(evaluation: dict[str, Any], run: dict[str, Any]) -> bool:
    """Logs or results come from outside: the client completes the run with update_status."""
    if not run["hl_generated"]:
        return True
    return any(e["type"] not in GENERATED_BY_FAKE for e in evaluation["evaluators"])


def _advance(hl: HumanloopState, call: Call, evaluation: dict[str, Any], run: dict[str, Any]) -> None:
    """Bring a fake-driven run up to date with the clock and the options; stores what changed."""
    if not run["auto"]:
        return
    hold = hl.ctx.options.get("evaluation_hold", "")
    total = len(run["datapoints"])
    before = (evaluation["status"], run["generated"])
    if hold == "pending":
        status = "pending"
    elif not run["hl_generated"]:
        status = "running"
    else:
        pace = _option_pace(hl)
        if pace:
            started = datetime.fromisoformat(run["started"].replace("Z", "+00:00"))
            elapsed = (hl.ctx.clock.now() - started).total_seconds()
            due = min(total, max(int(elapsed // pace), 0))
        else:
            due = total
        while run["generated"] < due:
            _generate(hl, call, evaluation, run, run["generated"])
            run["generated"] += 1
        if run["generated"] >= total and not _awaits_client(evaluation, run):
            status = "completed"
        elif run["generated"] > 0:
            status = "running"
        else:
            status = "pending"
        if hold == "running":
            status = "running"
    if ORDER[status] < ORDER.get(evaluation["status"], 0):
        status = evaluation["status"]  # a hold set later stops a run, it never turns it back
    if (status, run["generated"]) != before:
        evaluation["status"] = status
        evaluation["updated_at"] = hl.now()
        _save(hl, call, evaluation, run)


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
    from specfake.behaviours.humanloop.logs import log_view

    log_id = run["logs"].get(point["id"])
    log = hl.get(call, LOGS, log_id) if log_id else None
    results = run["results"].get(log_id, {}) if log_id else {}
    return {
        "datapoint": point,
        "evaluation_results": [results[e] for e in run["evaluator_ids"] if e in results],
        "log": log_view(hl, call, log) if log is not None else None,
    }


def _load(hl: HumanloopState, call: Call, evaluation_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    evaluation, run = _require(hl, call, evaluation_id)
    _advance(hl, call, evaluation, run)
    return evaluation, run


# -- handlers ------------------------------------------------------------------------------------


def _pin_evaluators(
    hl: HumanloopState, call: Call, ids: list[Any], loc: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    evaluators: list[dict[str, Any]] = []
    versions: dict[str, str] = {}
    for position, evaluator_id in enumerate(ids):
        evaluator = hl.get(call, EVALUATORS, str(evaluator_id))
        if evaluator is None:
            raise ApiError(404, f"Evaluator with id {evaluator_id!r} not found ({loc}[{position}])")
        if evaluator["id"] not in versions:
            evaluators.append(evaluator)
            versions[evaluator["id"]] = evaluator_version(hl, call, evaluator["id"])
    return evaluators, versions


def create(hl: HumanloopState, call: Call) -> Reply:
    body = call.body
    project = hl.require(call, PROJECTS, call.path["project_id"], "Project")
    config = hl.get(call, CONFIGS, body["config_id"])
    if config is None:
        raise ApiError(404, f"Model config with id {body['config_id']!r} not found (config_id)")
    dataset = hl.get(call, DATASETS, body["dataset_id"])
    if dataset is None:
        raise ApiError(404, f"Dataset with id {body['dataset_id']!r} not found (dataset_id)")
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
    run = _new_run(project["id"], bool(body.get("hl_generated")), points, list(versions), versions, now)
    _save(hl, call, evaluation, run)
    _advance(hl, call, evaluation, run)
    return Reply(201, _view(hl, call, evaluation, run, aggregates=False))


def get(hl: HumanloopState, call: Call) -> Reply:
    evaluation, run = _load(hl, call, call.path["id"])
    return Reply(200, _view(hl, call, evaluation, run, bool(call.query.get("evaluator_aggregates"))))


def _project_runs(
    hl: HumanloopState, call: Call, project_id: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for evaluation in hl.all(call, EVALUATIONS):
        evaluation, run = _require(hl, call, evaluation["id"])
        if run["project_id"] == project_id:
            _advance(hl, call, evaluation, run)
            out.append((evaluation, run))
    return out


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


def list_datapoints(hl: HumanloopState, call: Call) -> Reply:
    """Paged from 1: each datapoint of the pinned version with its log and results so far."""
    _, run = _load(hl, call, call.path["id"])
    page = page_envelope(
        run["datapoints"], call.query.get("page", 1), call.query.get("size", DATAPOINTS_SIZE), base=1
    )
    page["records"] = [_row(hl, call, run, point) for point in page["records"]]
    return Reply(200, page)


def _require_running(evaluation: dict[str, Any], what: str) -> None:
    if evaluation["status"] != "running":
        raise ApiError(
            409,
            f"Cannot {what}: evaluation {evaluation['id']} has status {evaluation['status']!r}; "
            "the run must have status 'running'",
        )


def log(hl: HumanloopState, call: Call) -> Reply:
    """An external generation for one of the run's datapoints (answers a ``CreateLogResponse``)."""
    from specfake.behaviours.humanloop.logs import log_request

    evaluation, run = _load(hl, call, call.path["evaluation_id"])
    _require_running(evaluation, "log to this evaluation")
    body = call.body
    point_id = body["datapoint_id"]
    if not any(p["id"] == point_id for p in run["datapoints"]):
        raise ApiError(
            404, f"Datapoint with id {point_id!r} is not in the dataset being evaluated (datapoint_id)"
        )
    request = dict(body["log"]) if isinstance(body["log"], dict) else {}
    request.update(project_id=run["project_id"], project=None, source_datapoint_id=point_id)
    if request.get("config") is None and not request.get("config_id"):
        request["config_id"] = evaluation["config"]["id"]
    created = log_request(hl, call, request, ["body", "log"])
    run["logs"][point_id] = created["id"]
    evaluation["updated_at"] = hl.now()
    _save(hl, call, evaluation, run)
    return Reply(201, created)


def _check_value(evaluator: dict[str, Any], value: Any) -> None:
    if value is None:
        return
    if evaluator["return_type"] == "boolean" and not isinstance(value, bool):
        raise unprocessable(["body", "result"], "Evaluator returns a boolean: result must be true or false")
    if evaluator["return_type"] == "number" and isinstance(value, bool):
        raise unprocessable(["body", "result"], "Evaluator returns a number: result must be a number")


def result(hl: HumanloopState, call: Call) -> Reply:
    """An evaluator's result (or error) for a log of one of the run's datapoints."""
    evaluation, run = _load(hl, call, call.path["evaluation_id"])
    _require_running(evaluation, "post a result to this evaluation")
    body = call.body
    evaluator_id, log_id = body["evaluator_id"], body["log_id"]
    evaluator = next((e for e in evaluation["evaluators"] if e["id"] == evaluator_id), None)
    if evaluator is None:
        raise ApiError(
            404, f"Evaluator {evaluator_id!r} is not part of evaluation {evaluation['id']} (evaluator_id)"
        )
    stored = hl.get(call, LOGS, log_id)
    if stored is None:
        raise ApiError(404, f"Log with id {log_id!r} not found (log_id)")
    if stored.get("source_datapoint_id") not in {p["id"] for p in run["datapoints"]}:
        raise ApiError(
            404, f"Log {log_id!r} is not a log of a datapoint in the dataset being evaluated (log_id)"
        )
    if body.get("result") is None and body.get("error") is None:
        raise unprocessable(["body", "result"], "One of result or error must be provided", "missing")
    _check_value(evaluator, body.get("result"))
    point_id = stored["source_datapoint_id"]
    run["logs"].setdefault(point_id, log_id)
    answer = _result(hl, call, evaluation, run, log_id, evaluator_id, body.get("result"), body.get("error"))
    evaluation["updated_at"] = hl.now()
    _save(hl, call, evaluation, run)
    return Reply(201, answer)


def add_evaluators(hl: HumanloopState, call: Call) -> Reply:
    evaluation, run = _load(hl, call, call.path["id"])
    body = json_object(call.body)
    ids = list(body.get("evaluator_ids") or [])
    version_ids = list(body.get("evaluator_version_ids") or [])
    by_version = {}
    if version_ids:
        for evaluator in hl.all(call, EVALUATORS):
            by_version[evaluator_version(hl, call, evaluator["id"])] = evaluator["id"]
    for position, version in enumerate(version_ids):
        if version not in by_version:
            raise ApiError(
                404, f"Evaluator version {version!r} not found (evaluator_version_ids[{position}])"
            )
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
            _score(hl, call, evaluation, run, point["id"])
    evaluation["updated_at"] = hl.now()
    _save(hl, call, evaluation, run)
    _advance(hl, call, evaluation, run)
    return Reply(200, _view(hl, call, evaluation, run, aggregates=False))


def update_status(hl: HumanloopState, call: Call) -> Reply:
    evaluation, run = _load(hl, call, call.path["id"])
    target = call.body["status"]
    current = evaluation["status"]
    if target == "cancelled":
        allowed = current in ("pending", "running")
        rule = "a run can be cancelled only while pending or running"
    elif not _awaits_client(evaluation, run):
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
        raise ApiError(
            409, f"Cannot set status of evaluation {evaluation['id']} from {current!r} to {target!r}: {rule}"
        )
    evaluation["status"] = target
    evaluation["updated_at"] = hl.now()
    run["auto"] = False
    _save(hl, call, evaluation, run)
    return Reply(200, _view(hl, call, evaluation, run, aggregates=False))


def handlers(hl: HumanloopState) -> dict[str, Handler]:
    return bind(
        hl,
        {
            "evaluations_create": create,
            "evaluations_get": get,
            "evaluations_list": list_evaluations,
            "evaluations_list_all_for_project": list_all_for_project,
            "evaluations_list_datapoints": list_datapoints,
            "evaluations_log": log,
            "evaluations_result": result,
            "evaluations_add_evaluators": add_evaluators,
            "evaluations_update_status": update_status,
        },
    )
