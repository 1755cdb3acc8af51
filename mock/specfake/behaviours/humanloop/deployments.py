"""Environments and what each project has deployed to them.

Every tenant has a default "production" environment (created on first need); deploy_config may
name others, created on first use when the request gives a name. A project deploys a config or an
experiment per environment; what is deployed to the default environment is the project's active
config or experiment.

Public helpers other modules use:

- ``default_environment(hl, call)``, ``environments(hl, call)``, ``find_environment(...)`` and
  ``require_environment(hl, call, ref)`` (404 when there is none).
- ``deployments_of``, ``deployment``, ``default_deployment``: what a project has deployed where;
  ``require_deployment`` -> (environment, deployment), 404 when nothing is deployed there.
- ``deploy`` / ``undeploy`` change a deployment; ``deployed_view`` answers one
  (``EnvironmentProjectConfigResponse``).
"""

from __future__ import annotations

from typing import Any

from specfake.behaviours.humanloop.common import (
    CONFIGS,
    DEPLOYMENTS,
    ENVIRONMENTS,
    EXPERIMENTS,
    HumanloopState,
)
from specfake.behaviours.humanloop.exceptions import NotFound
from specfake.calls import Call

DEFAULT_ENVIRONMENT = "production"


def environments(hl: HumanloopState, call: Call) -> list[dict[str, Any]]:
    found = hl.all(call, ENVIRONMENTS)
    return found if found else [default_environment(hl, call)]


def default_environment(hl: HumanloopState, call: Call) -> dict[str, Any]:
    for env in hl.all(call, ENVIRONMENTS):
        if env["tag"] == "default":
            return env
    env = {"id": hl.new_id(ENVIRONMENTS), "name": DEFAULT_ENVIRONMENT, "tag": "default"}
    hl.put(call, ENVIRONMENTS, env["id"], env)
    return env


def find_environment(
    hl: HumanloopState, call: Call, ref: str | None, *, name: str | None = None, create: bool = False
) -> dict[str, Any] | None:
    """By id or by name (``None`` means the default); with ``create`` and a name, made on first use."""
    if not ref and not name:
        return default_environment(hl, call)
    default_environment(hl, call)
    for env in hl.all(call, ENVIRONMENTS):
        if env["id"] == ref or env["name"] == ref or (name is not None and env["name"] == name):
            return env
    if create and name:
        env = {"id": hl.new_id(ENVIRONMENTS), "name": name, "tag": "other"}
        hl.put(call, ENVIRONMENTS, env["id"], env)
        return env
    return None


def require_environment(hl: HumanloopState, call: Call, ref: str | None) -> dict[str, Any]:
    """An environment by name or id (``None``: the default one); 404 if there is none."""
    env = find_environment(hl, call, ref)
    if env is None:
        raise NotFound(f"Environment {ref!r} not found")
    return env


def require_deployment(
    hl: HumanloopState, call: Call, project: dict[str, Any], env_ref: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(environment, deployment) of a project, 404 when nothing is deployed there."""
    env = require_environment(hl, call, env_ref)
    dep = deployment(hl, call, project["id"], env["id"])
    if dep is None:
        raise NotFound(f"Project {project['name']!r} has nothing deployed to environment {env['name']!r}")
    return env, dep


def deployments_of(hl: HumanloopState, call: Call, project_id: str) -> dict[str, dict[str, Any]]:
    """environment id -> {"config_id", "experiment_id"} (one of them set)."""
    found = hl.get(call, DEPLOYMENTS, project_id)
    return dict(found["envs"]) if found else {}


def deployment(hl: HumanloopState, call: Call, project_id: str, env_id: str) -> dict[str, Any] | None:
    return deployments_of(hl, call, project_id).get(env_id)


def default_deployment(hl: HumanloopState, call: Call, project_id: str) -> dict[str, Any] | None:
    return deployment(hl, call, project_id, default_environment(hl, call)["id"])


def deploy(
    hl: HumanloopState,
    call: Call,
    project: dict[str, Any],
    env: dict[str, Any],
    *,
    config_id: str | None = None,
    experiment_id: str | None = None,
) -> None:
    """Deploy a config or an experiment to ``env``, replacing what was there."""
    envs = deployments_of(hl, call, project["id"])
    envs[env["id"]] = {"config_id": config_id, "experiment_id": experiment_id}
    hl.put(call, DEPLOYMENTS, project["id"], {"envs": envs})


def undeploy(hl: HumanloopState, call: Call, project_id: str, env_id: str, what: str | None = None) -> None:
    """Remove the deployment to ``env_id`` (only if it is a ``what``: "config" or "experiment")."""
    envs = deployments_of(hl, call, project_id)
    current = envs.get(env_id)
    if current is None or (what is not None and current.get(f"{what}_id") is None):
        return
    del envs[env_id]
    hl.put(call, DEPLOYMENTS, project_id, {"envs": envs})


def deployed_view(
    hl: HumanloopState, call: Call, project: dict[str, Any], env: dict[str, Any], dep: dict[str, Any] | None
) -> dict[str, Any]:
    """``EnvironmentProjectConfigResponse``."""
    config = hl.get(call, CONFIGS, dep["config_id"]) if dep and dep.get("config_id") else None
    experiment = hl.get(call, EXPERIMENTS, dep["experiment_id"]) if dep and dep.get("experiment_id") else None
    return {
        "project_id": project["id"],
        "project_name": project["name"],
        "environment_id": env["id"],
        "environment_name": env["name"],
        "environment_tag": env["tag"],
        "model_config_id": config["id"] if config else None,
        "model_config_name": config.get("name") if config else None,
        "experiment_id": experiment["id"] if experiment else None,
        "experiment_name": experiment["name"] if experiment else None,
    }
