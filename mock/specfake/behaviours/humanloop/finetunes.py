"""Finetunes (Humanloop v4): only the TypeScript SDK (humanloop@0.5.36) still calls them.

A finetune trains ``config.base_model`` on a project's dataset. Nothing trains here: a finetune is
created ``pending`` (the SDK types ``status`` as a plain string; the fake never moves it on) with
no ``model_name`` or ``provider_id`` yet, so a client sees a run that has not finished.

The data summary (``/finetunes/summary`` and a finetune's ``data_summary``) is computed from the
dataset's latest version: a datapoint without a ``target`` has nothing to train towards and counts
as an error; tokens are estimated at one per four characters of the datapoint's JSON (inputs,
messages, target); nothing is truncated; cost is ``TRAINING_COST_PER_TOKEN`` per token.
"""

from __future__ import annotations

import json
import math
from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop.common import DATASETS, PROJECTS, HumanloopState, json_object
from specfake.behaviours.humanloop.datasets import dataset_contents
from specfake.behaviours.humanloop.exceptions import NotFound, unprocessable
from specfake.calls import Call
from specfake.http import Reply

FINETUNES = "finetunes"
FINETUNE_PREFIX = "ft_"
STATUS_STARTED = "pending"
TRAINING_COST_PER_TOKEN = 0.000008  # $0.008 per 1K training tokens
CONFIG_FIELDS = ("parameters", "provider", "base_model")


def _tokens(point: dict[str, Any]) -> int:
    text = json.dumps([point.get("inputs"), point.get("messages"), point.get("target")], sort_keys=True)
    return math.ceil(len(text) / 4)


def _project_dataset(hl: HumanloopState, call: Call, project_id: str, dataset_id: Any) -> dict[str, Any]:
    """The dataset ``dataset_id`` names, which must belong to the project in the path: another
    project's is a 422 naming ``dataset_id`` (a rule the schema cannot state; the contract declares
    the 422, and the harness's list of such operations, ``HUMANLOOP_422_OPERATIONS``, has both)."""
    dataset = hl.get(call, DATASETS, str(dataset_id))
    if dataset is None:
        raise NotFound.id("Dataset", dataset_id, "dataset_id")
    if dataset["project_id"] != project_id:
        msg = f"Dataset {dataset_id!r} is not in project {project_id!r}"
        raise unprocessable(["body", "dataset_id"], msg)
    return dataset


def _summary(hl: HumanloopState, call: Call, dataset: dict[str, Any]) -> dict[str, Any]:
    """A ``FinetuneDataSummary`` of the dataset's latest version."""
    _, points = dataset_contents(hl, call, dataset["id"])
    errors = [
        {"datapoint_id": p["id"], "msg": "Datapoint has no target to train towards"}
        for p in points
        if not p.get("target")
    ]
    tokens = sum(_tokens(p) for p in points if p.get("target"))
    return {
        "data_count": len(points) - len(errors),
        "error_count": len(errors),
        "truncated_data_count": 0,
        "token_count": tokens,
        "truncated_token_count": 0,
        "cost": round(tokens * TRAINING_COST_PER_TOKEN, 6),
        "errors": errors,
        "dataset_name": dataset["name"],
        "dataset_id": dataset["id"],
    }


def _request_dataset(hl: HumanloopState, call: Call) -> dict[str, Any]:
    project = hl.require(call, PROJECTS, call.path["project_id"], "Project")
    return _project_dataset(hl, call, project["id"], json_object(call.body).get("dataset_id"))


# -- operations ----------------------------------------------------------------------------------

ops: Operations[HumanloopState] = Operations()


@ops("finetunes_create")
def create(hl: HumanloopState, call: Call) -> Reply:
    dataset = _request_dataset(hl, call)
    body = json_object(call.body)
    config = json_object(body.get("config"))
    now = hl.now()
    finetune: dict[str, Any] = {
        "id": hl.ctx.new_id(FINETUNE_PREFIX),
        "name": body["name"],
        "status": STATUS_STARTED,
        "data_summary": _summary(hl, call, dataset),
        "config": {k: config[k] for k in CONFIG_FIELDS if k in config},
        "dataset": dict(dataset),
        "created_at": now,
        "updated_at": now,
    }
    if isinstance(body.get("metadata"), dict):
        finetune["metadata"] = body["metadata"]
    hl.put(call, FINETUNES, finetune["id"], finetune)
    return Reply(200, finetune)


@ops("finetunes_list_all_for_project")
def list_all_for_project(hl: HumanloopState, call: Call) -> Reply:
    project = hl.require(call, PROJECTS, call.path["project_id"], "Project")
    return Reply(200, [f for f in hl.all(call, FINETUNES) if f["dataset"]["project_id"] == project["id"]])


@ops("finetunes_summary")
def summary(hl: HumanloopState, call: Call) -> Reply:
    return Reply(200, _summary(hl, call, _request_dataset(hl, call)))


@ops("finetunes_update")
def update(hl: HumanloopState, call: Call) -> Reply:
    """Renames; ``project_id`` (query, required by the SDK) must be the finetune's project."""
    project = hl.require(call, PROJECTS, call.query["project_id"], "Project")
    finetune = hl.require(call, FINETUNES, call.path["id"], "Finetune")
    if finetune["dataset"]["project_id"] != project["id"]:
        raise NotFound(f"Finetune with id {call.path['id']!r} not found in project (project_id)")
    name = json_object(call.body).get("name")
    if name is not None:
        finetune["name"] = name
        finetune["updated_at"] = hl.now()
        hl.put(call, FINETUNES, finetune["id"], finetune)
    return Reply(200, finetune)
