"""The /model-configs endpoints: register, get, and the .prompt file conversions.

Kept apart from the registry (configs.py) because registering may add the config to an experiment,
and experiments are built on the registry: this module sits above both, so neither imports the other
back.
"""

from __future__ import annotations

from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop.common import EXPERIMENTS, PROJECTS, HumanloopState
from specfake.behaviours.humanloop.configs import (
    config_from_request,
    config_use,
    public,
    register_config,
    require_config,
)
from specfake.behaviours.humanloop.exceptions import NotFound
from specfake.behaviours.humanloop.experiments import add_configs
from specfake.behaviours.humanloop.prompt_files import from_prompt_file, to_prompt_file
from specfake.calls import Call
from specfake.http import Reply

ops: Operations[HumanloopState] = Operations()


@ops("model_configs_register")
def register(hl: HumanloopState, call: Call) -> Reply:
    """Registers the config in its project and, when the body names one, in an experiment."""
    body = call.body
    project = hl.resolve_project(call, body)
    experiment = None
    if body.get("experiment"):
        experiment = next(
            (
                e
                for e in hl.all(call, EXPERIMENTS)
                if e["project_id"] == project["id"] and body["experiment"] in (e["name"], e["id"])
            ),
            None,
        )
        if experiment is None:
            raise NotFound(f"Experiment {body['experiment']!r} not found in project {project['name']!r}")
    config = register_config(hl, call, project, body)
    if experiment is not None:
        add_configs(hl, call, experiment, [config["id"]])
    return Reply(200, config_use(hl, call, project, config["id"]))


def _owned(hl: HumanloopState, call: Call) -> dict[str, Any]:
    """The config in the path, which is gone with its project."""
    config = require_config(hl, call, call.path["id"])
    if hl.get(call, PROJECTS, config["_project_id"]) is None:
        raise NotFound.id("Model config", config["id"])
    return config


@ops("model_configs_get")
def get(hl: HumanloopState, call: Call) -> Reply:
    return Reply(200, public(_owned(hl, call)))


@ops("model_configs_export")
def export(hl: HumanloopState, call: Call) -> Reply:
    return Reply(200, to_prompt_file(public(_owned(hl, call))))


@ops("model_configs_serialize")
def serialize(hl: HumanloopState, call: Call) -> Reply:
    return Reply(200, to_prompt_file(public(config_from_request(hl, call.body))))


@ops("model_configs_deserialize")
def deserialize(hl: HumanloopState, call: Call) -> Reply:
    request = from_prompt_file(call.body["config"], ["body", "config"])
    config = config_from_request(hl, request)
    digest = config.pop("_digest")
    return Reply(200, {"id": f"config_{digest[:24]}", **config})
