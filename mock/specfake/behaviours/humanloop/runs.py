"""Evaluation runs as the fake drives them: progress worked out lazily, never in the background.

A run with ``hl_generated`` true is driven by the fake: one log per datapoint (through
samples.generate_output and logs.store_log) and a seeded result from every python or llm
evaluator that fits its ``return_type``, moving pending -> running -> completed. External and
human evaluators are left to the client, so such a run waits in ``running`` for its results and
an ``update_status``. Progress is worked out from the run's start on every read. Options
(`HumanloopOptions`, read on every request as ``hl.options``):

- ``evaluation_pace``: seconds per datapoint (default 0: the run is complete when created);
- ``evaluation_hold``: ``pending`` keeps runs pending (nothing generated, an external run is not
  yet open for logs); ``running`` lets generation go on but never marks a run completed;
- ``evaluation_outcome``: ``failed`` ends a fake-driven run as ``failed`` instead of ``completed``.

An external run (``hl_generated`` false) is ``running`` once created.

Public helpers other modules use:

- ``new_run(...)`` -> a run's working state, stored beside its evaluation by ``save_run``.
- ``load_run(hl, call, evaluation_id)`` -> working copies of (evaluation, run), brought up to date;
  ``require_run`` without advancing, ``advance`` to bring one up to date.
- ``record_result(...)`` records an evaluator's result on a log; ``score`` draws the fake's own.
- ``awaits_client(evaluation, run)``: whether the client completes the run (update_status).
- ``drop_project_evaluations(hl, call, project_id)``: a deleted project's runs go with it.
"""

from __future__ import annotations

import copy
import hashlib
import random
from dataclasses import replace
from datetime import datetime
from typing import Any

from specfake.behaviours.humanloop.common import EVALUATIONS, LOGS, HumanloopState
from specfake.behaviours.humanloop.evaluators import evaluator_version
from specfake.behaviours.humanloop.logs import store_log
from specfake.behaviours.humanloop.samples import generate_output
from specfake.calls import Call
from specfake.errors import ApiError

# "<evaluation id>" -> the run's working state (see ``new_run``); never answered as it is
EVALUATION_RUNS = "evaluation_runs"
RESULT_PREFIX = "evr_"
GENERATED_BY_FAKE = ("python", "llm")  # evaluator types whose results the fake draws itself
ORDER = {"pending": 0, "running": 1, "completed": 2, "failed": 2}


def new_run(
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


def require_run(hl: HumanloopState, call: Call, evaluation_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Working copies of an evaluation and its run: a request that advances a run and then fails
    (a 409 after the clock moved it on) must leave the stored run and its logs as they were."""
    evaluation = copy.deepcopy(hl.require(call, EVALUATIONS, evaluation_id, "Evaluation"))
    run = copy.deepcopy(hl.get(call, EVALUATION_RUNS, evaluation_id))
    if run is None:  # stored by something other than this module (an imported state): nothing to drive
        run = {**new_run("", False, [], [], {}, evaluation["created_at"]), "auto": False}
    return evaluation, run


def load_run(hl: HumanloopState, call: Call, evaluation_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    evaluation, run = require_run(hl, call, evaluation_id)
    advance(hl, call, evaluation, run)
    return evaluation, run


def save_run(hl: HumanloopState, call: Call, evaluation: dict[str, Any], run: dict[str, Any]) -> None:
    hl.put(call, EVALUATIONS, evaluation["id"], evaluation)
    hl.put(call, EVALUATION_RUNS, evaluation["id"], run)


def drop_project_evaluations(hl: HumanloopState, call: Call, project_id: str) -> None:
    """Delete a deleted project's evaluation runs (the project is the run's, or else its dataset's)."""
    for evaluation in hl.all(call, EVALUATIONS):
        run = hl.get(call, EVALUATION_RUNS, evaluation["id"])
        owner = run["project_id"] if run and run["project_id"] else evaluation["dataset"].get("project_id")
        if owner == project_id:
            hl.delete(call, EVALUATION_RUNS, evaluation["id"])
            hl.delete(call, EVALUATIONS, evaluation["id"])


# -- the fake's own generation -------------------------------------------------------------------


def _seeded_value(hl: HumanloopState, evaluation_id: str, point_id: str, evaluator: dict[str, Any]) -> Any:
    rng = random.Random(f"{hl.ctx.seed}:{evaluation_id}:{point_id}:{evaluator['id']}")
    if evaluator["return_type"] == "boolean":
        return rng.random() < 0.75
    return round(rng.random(), 3)


def record_result(
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


def score(
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
                record_result(
                    hl, call, evaluation, run, log_id, evaluator["id"], None, "The log has an error"
                )
            else:
                value = _seeded_value(hl, evaluation["id"], point_id, evaluator)
                record_result(hl, call, evaluation, run, log_id, evaluator["id"], value, None)


def _generate(
    hl: HumanloopState, call: Call, evaluation: dict[str, Any], run: dict[str, Any], index: int
) -> None:
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
        hashlib.blake2b(f"{hl.ctx.seed}:{evaluation['id']}".encode(), digest_size=8).digest(), "big"
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
    score(hl, call, evaluation, run, point["id"])


def awaits_client(evaluation: dict[str, Any], run: dict[str, Any]) -> bool:
    """Logs or results come from outside: the client completes the run with update_status."""
    if not run["hl_generated"]:
        return True
    return any(e["type"] not in GENERATED_BY_FAKE for e in evaluation["evaluators"])


def advance(hl: HumanloopState, call: Call, evaluation: dict[str, Any], run: dict[str, Any]) -> None:
    """Bring a fake-driven run up to date with the clock and the options; stores what changed."""
    if not run["auto"]:
        return
    options = hl.options  # read now: the admin API may have replaced them since the last request
    hold = options.evaluation_hold
    total = len(run["datapoints"])
    before = (evaluation["status"], run["generated"])
    if hold == "pending":
        status = "pending"
    elif not run["hl_generated"]:
        status = "running"
    else:
        pace = options.evaluation_pace
        if pace:
            started = datetime.fromisoformat(run["started"].replace("Z", "+00:00"))
            elapsed = (hl.ctx.clock.now() - started).total_seconds()
            due = min(total, max(int(elapsed // pace), 0))
        else:
            due = total
        while run["generated"] < due:
            _generate(hl, call, evaluation, run, run["generated"])
            run["generated"] += 1
        if run["generated"] >= total and not awaits_client(evaluation, run):
            status = options.evaluation_outcome  # "completed", or "failed" to reproduce a failure
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
        save_run(hl, call, evaluation, run)
