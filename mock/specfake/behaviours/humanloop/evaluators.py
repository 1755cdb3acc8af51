"""Evaluators (Humanloop v4): organisation-wide, versioned on every change.

A code evaluator's code is stored and answered back, never executed; evaluation runs draw
seeded results that fit the evaluator's ``return_type`` instead (see evaluations.py).

Public helpers other modules use:

- ``require_evaluator(hl, call, evaluator_id)`` -> the stored ``EvaluatorResponse``.
- ``evaluator_version(hl, call, evaluator_id)`` -> the id of its current version.
"""

from __future__ import annotations

from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop.common import CONFIGS, EVALUATORS, HumanloopState, json_object
from specfake.behaviours.humanloop.configs import config_from_request, public
from specfake.calls import Call
from specfake.http import Reply

# "<evaluator id>" -> {"version_id": the current version's id}; a new one on every update
EVALUATOR_VERSIONS = "evaluator_versions"
VERSION_PREFIX = "evv_"
EDITABLE = ("description", "name", "arguments_type", "return_type", "code")


def require_evaluator(hl: HumanloopState, call: Call, evaluator_id: str) -> dict[str, Any]:
    return hl.require(call, EVALUATORS, evaluator_id, "Evaluator")


def evaluator_version(hl: HumanloopState, call: Call, evaluator_id: str) -> str:
    found = hl.get(call, EVALUATOR_VERSIONS, evaluator_id)
    return found["version_id"] if found else _new_version(hl, call, evaluator_id)


def _new_version(hl: HumanloopState, call: Call, evaluator_id: str) -> str:
    version = hl.ctx.new_id(VERSION_PREFIX)
    hl.put(call, EVALUATOR_VERSIONS, evaluator_id, {"version_id": version})
    return version


def _model_config(hl: HumanloopState, request: Any) -> dict[str, Any] | None:
    """A ``ModelConfigCompletionRequest`` answered as a ``ModelConfigResponse`` (defaults filled)."""
    if not isinstance(request, dict):
        return None
    return {"id": hl.new_id(CONFIGS), **public(config_from_request(hl, request, endpoint="complete"))}


# -- operations ----------------------------------------------------------------------------------

ops: Operations[HumanloopState] = Operations()


@ops("evaluators_create")
def create(hl: HumanloopState, call: Call) -> Reply:
    body = call.body
    now = hl.now()
    evaluator: dict[str, Any] = {
        "description": body["description"],
        "name": body["name"],
        "arguments_type": body["arguments_type"],
        "return_type": body["return_type"],
        "type": body["type"],
        "id": hl.new_id(EVALUATORS),
        "created_at": now,
        "updated_at": now,
        "code": body.get("code"),
        "model_config": _model_config(hl, body.get("model_config")),
        "logging_project": None,
    }
    hl.put(call, EVALUATORS, evaluator["id"], evaluator)
    _new_version(hl, call, evaluator["id"])
    return Reply(201, evaluator)


@ops("evaluators_list")
def list_evaluators(hl: HumanloopState, call: Call) -> Reply:
    return Reply(200, hl.all(call, EVALUATORS))


@ops("evaluators_get")
def get(hl: HumanloopState, call: Call) -> Reply:
    return Reply(200, require_evaluator(hl, call, call.path["id"]))


@ops("evaluators_update")
def update(hl: HumanloopState, call: Call) -> Reply:
    evaluator = require_evaluator(hl, call, call.path["id"])
    body = json_object(call.body)
    changes: dict[str, Any] = {k: body[k] for k in EDITABLE if body.get(k) is not None}
    if body.get("model_config") is not None:
        changes["model_config"] = _model_config(hl, body["model_config"])
    if changes:
        evaluator.update(changes)
        evaluator["updated_at"] = hl.now()
        hl.put(call, EVALUATORS, evaluator["id"], evaluator)
        _new_version(hl, call, evaluator["id"])
    return Reply(200, evaluator)


@ops("evaluators_delete")
def delete(hl: HumanloopState, call: Call) -> Reply:
    evaluator = require_evaluator(hl, call, call.path["id"])
    hl.delete(call, EVALUATORS, evaluator["id"])
    hl.delete(call, EVALUATOR_VERSIONS, evaluator["id"])
    return Reply(204)
