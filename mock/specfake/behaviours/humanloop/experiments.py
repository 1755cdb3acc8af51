"""Experiments: A/B sets of a project's model configs; generations sample one active config.

A stored experiment is an ``ExperimentResponse`` whose ``configs`` entries carry the config id
they wrap; the config itself is read fresh when answering. Each (experiment, config) pair has a
stable trial id, which logs carry as ``trial_id``.

Public helpers other modules use:

- ``require_experiment(hl, call, experiment_id)`` -> the stored experiment (404 if its project is gone).
- ``experiment_view(hl, call, experiment)`` -> the ``ExperimentResponse`` answered.
- ``add_configs(hl, call, experiment, config_ids)``: register configs in an experiment.
- ``sample_config(hl, call, experiment)`` -> (one active config, its trial id), seeded by the call.
- ``find_trial(hl, call, trial)`` and ``count_trial(hl, call, trial, count)``: a trial's experiment
  and config, and its ``trials_count``.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop.common import CONFIGS, EXPERIMENTS, PROJECTS, HumanloopState
from specfake.behaviours.humanloop.configs import config_use, public, require_config
from specfake.behaviours.humanloop.deployments import default_environment, deploy, deployments_of, undeploy
from specfake.behaviours.humanloop.exceptions import Conflict, NotFound
from specfake.calls import Call
from specfake.http import Reply

METRIC_ID = "mtr_positive_feedback"


def trial_id(experiment_id: str, config_id: str) -> str:
    return "trial_" + hashlib.blake2b(f"{experiment_id}:{config_id}".encode(), digest_size=12).hexdigest()


def _metric(created_at: str) -> dict[str, Any]:
    """Every experiment is judged on the share of positive feedback, as Humanloop's default."""
    return {
        "description": "Share of logs with feedback among the experiment's positive labels",
        "id": METRIC_ID,
        "name": "Positive feedback rate",
        "code": "def metric(logs): ...",
        "default": True,
        "active": True,
        "created_at": created_at,
        "updated_at": created_at,
    }


def require_experiment(hl: HumanloopState, call: Call, experiment_id: str) -> dict[str, Any]:
    experiment = hl.get(call, EXPERIMENTS, experiment_id)
    if experiment is None or hl.get(call, PROJECTS, experiment["project_id"]) is None:
        raise NotFound.id("Experiment", experiment_id)
    return experiment


def experiment_view(hl: HumanloopState, call: Call, experiment: dict[str, Any]) -> dict[str, Any]:
    configs = []
    for entry in experiment["configs"]:
        config = hl.get(call, CONFIGS, entry["config_id"])
        if config is not None:
            shown = {k: v for k, v in entry.items() if k != "config_id"}
            configs.append({**shown, "config": public(config)})
    return {**experiment, "configs": configs}


def add_configs(hl: HumanloopState, call: Call, experiment: dict[str, Any], config_ids: list[str]) -> None:
    """Register configs in an experiment (already there: made active again)."""
    configs = [require_config(hl, call, c) for c in config_ids]
    now = hl.now()
    for config in configs:
        if config.get("_project_id") != experiment["project_id"]:
            raise Conflict(f"Model config {config['id']!r} belongs to another project")
        entry = next((e for e in experiment["configs"] if e["config_id"] == config["id"]), None)
        if entry is None:
            experiment["configs"].append(
                {
                    "trials_count": 0,
                    "active": True,
                    "id": trial_id(experiment["id"], config["id"]),
                    "display_name": config.get("name") or config["id"],
                    "config_id": config["id"],
                    "created_at": now,
                    "updated_at": now,
                    "mean": None,
                    "spread": None,
                }
            )
        else:
            entry.update(active=True, updated_at=now)
    experiment["updated_at"] = now
    hl.put(call, EXPERIMENTS, experiment["id"], experiment)


def sample_config(
    hl: HumanloopState, call: Call, experiment: dict[str, Any], salt: int = 0
) -> tuple[dict[str, Any], str]:
    """One of the experiment's active configs, chosen by the request's seed; and its trial id."""
    active = [e for e in experiment["configs"] if e["active"] and hl.get(call, CONFIGS, e["config_id"])]
    if not active:
        raise NotFound(f"Experiment {experiment['id']!r} has no active model configs to sample")
    entry = random.Random(f"{call.seed}:{salt}").choice(active)
    return public(hl.get(call, CONFIGS, entry["config_id"]) or {}), entry["id"]


def count_trial(hl: HumanloopState, call: Call, trial: str, count: int = 1) -> None:
    """Logs were recorded for a trial: its config's ``trials_count`` moves."""
    found = find_trial(hl, call, trial)
    if found is None:
        return
    experiment = found[0]
    for entry in experiment["configs"]:
        if entry["id"] == trial:
            entry["trials_count"] = max(entry["trials_count"] + count, 0)
    hl.put(call, EXPERIMENTS, experiment["id"], experiment)


def find_trial(hl: HumanloopState, call: Call, trial: str) -> tuple[dict[str, Any], str] | None:
    """(experiment, config id) for a trial id, if some experiment has it."""
    for experiment in hl.all(call, EXPERIMENTS):
        for entry in experiment["configs"]:
            if entry["id"] == trial:
                return experiment, entry["config_id"]
    return None


# -- operations ----------------------------------------------------------------------------------

ops: Operations[HumanloopState] = Operations()


@ops("experiments_create")
def create(hl: HumanloopState, call: Call) -> Reply:
    project = hl.require(call, PROJECTS, call.path["project_id"], "Project")
    body = call.body
    now = hl.now()
    experiment: dict[str, Any] = {
        "id": hl.new_id(EXPERIMENTS),
        "project_id": project["id"],
        "name": body["name"],
        "status": "Initialized",
        "metric": _metric(now),
        "positive_labels": body["positive_labels"],
        "created_at": now,
        "updated_at": now,
        "configs": [],
    }
    for config_id in body.get("config_ids") or []:
        require_config(hl, call, config_id)
    add_configs(hl, call, experiment, body.get("config_ids") or [])
    if body.get("set_active"):
        deploy(hl, call, project, default_environment(hl, call), experiment_id=experiment["id"])
    return Reply(200, experiment_view(hl, call, experiment))


@ops("experiments_list")
def list_experiments(hl: HumanloopState, call: Call) -> Reply:
    project = hl.require(call, PROJECTS, call.path["project_id"], "Project")
    found = [e for e in hl.all(call, EXPERIMENTS) if e["project_id"] == project["id"]]
    return Reply(200, [experiment_view(hl, call, e) for e in found])


@ops("experiments_update")
def update(hl: HumanloopState, call: Call) -> Reply:
    experiment = require_experiment(hl, call, call.path["experiment_id"])
    body = call.body or {}
    register = body.get("config_ids_to_register") or []
    deregister = set(body.get("config_ids_to_deregister") or [])
    for config_id in [*register, *deregister]:
        require_config(hl, call, config_id)
    add_configs(hl, call, experiment, register)
    now = hl.now()
    for entry in experiment["configs"]:
        if entry["config_id"] in deregister:
            entry.update(active=False, updated_at=now)
    for key in ("name", "positive_labels"):
        if body.get(key) is not None:
            experiment[key] = body[key]
    experiment["updated_at"] = now
    hl.put(call, EXPERIMENTS, experiment["id"], experiment)
    return Reply(200, experiment_view(hl, call, experiment))


@ops("experiments_delete")
def delete(hl: HumanloopState, call: Call) -> Reply:
    experiment = require_experiment(hl, call, call.path["experiment_id"])
    for env_id, dep in deployments_of(hl, call, experiment["project_id"]).items():
        if dep.get("experiment_id") == experiment["id"]:
            undeploy(hl, call, experiment["project_id"], env_id)
    hl.delete(call, EXPERIMENTS, experiment["id"])
    return Reply(204)


@ops("experiments_sample")
def sample(hl: HumanloopState, call: Call) -> Reply:
    experiment = require_experiment(hl, call, call.path["experiment_id"])
    project = hl.require(call, PROJECTS, experiment["project_id"], "Project")
    config, trial = sample_config(hl, call, experiment)
    found = config_use(hl, call, project, config["id"])
    found.update(experiment_id=experiment["id"], trial_id=trial, environment_id=None)
    return Reply(200, found)
