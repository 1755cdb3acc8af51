"""Projects: CRUD, feedback types, configs, deployments to environments, export of logs.

A project's active config / experiment is what is deployed to the default environment
("production"); ``project_view`` reads them fresh, so answers never go stale.
"""

from __future__ import annotations

from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop.common import (
    CONFIG_KEYS,
    CONFIGS,
    DATASETS,
    DEPLOYMENTS,
    EXPERIMENTS,
    LOGS,
    PROJECT_CONFIGS,
    PROJECT_NAMES,
    PROJECTS,
    HumanloopState,
    page_envelope,
)
from specfake.behaviours.humanloop.configs import config_use, public, require_config
from specfake.behaviours.humanloop.datasets import drop_dataset
from specfake.behaviours.humanloop.deployments import (
    default_environment,
    deploy,
    deployed_view,
    deployment,
    deployments_of,
    environments,
    find_environment,
    require_deployment,
    require_environment,
    undeploy,
)
from specfake.behaviours.humanloop.exceptions import Conflict, NotFound, unprocessable
from specfake.behaviours.humanloop.experiments import experiment_view, require_experiment, sample_config
from specfake.behaviours.humanloop.finetunes import FINETUNES
from specfake.behaviours.humanloop.logs import forget_log, logs_page
from specfake.behaviours.humanloop.runs import drop_project_evaluations
from specfake.calls import Call
from specfake.http import Reply

DEFAULT_SIZE = 10
EXPORT_SIZE = 50


def project_view(hl: HumanloopState, call: Call, project: dict[str, Any]) -> dict[str, Any]:
    """The stored project with its active config and experiment as deployed now."""
    dep = deployment(hl, call, project["id"], default_environment(hl, call)["id"]) or {}
    active_config = None
    if dep.get("config_id") and hl.get(call, CONFIGS, dep["config_id"]) is not None:
        active_config = config_use(hl, call, project, dep["config_id"])
    experiment = hl.get(call, EXPERIMENTS, dep["experiment_id"]) if dep.get("experiment_id") else None
    active_experiment = experiment_view(hl, call, experiment) if experiment else None
    return {
        **public(project),
        "active_config": active_config,
        "active_experiment": active_experiment,
    }


def _require(hl: HumanloopState, call: Call, key: str = "id") -> dict[str, Any]:
    return hl.require(call, PROJECTS, call.path[key], "Project")


def _feedback_type(request: dict[str, Any]) -> dict[str, Any]:
    values = request.get("values")
    labels = None
    if values is not None:
        labels = [{"value": v["value"], "sentiment": v.get("sentiment") or "unset"} for v in values]
    return {"type": request["type"], "values": labels}


def upsert_feedback_types(project: dict[str, Any], requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add types and values that do not exist yet; update the sentiment of those that do."""
    types = project["feedback_types"]
    touched = []
    for request in requests:
        wanted = _feedback_type(request)
        entry = next((t for t in types if t["type"] == wanted["type"]), None)
        if entry is None:
            types.append(wanted)
            touched.append(wanted)
            continue
        for label in wanted["values"] or []:
            values = entry["values"] if entry["values"] is not None else []
            existing = next((v for v in values if v["value"] == label["value"]), None)
            if existing is None:
                values.append(label)
            elif label["sentiment"] != "unset":
                existing["sentiment"] = label["sentiment"]
            entry["values"] = values
        touched.append(entry)
    return touched


# -- CRUD ----------------------------------------------------------------------------------------

ops: Operations[HumanloopState] = Operations()


@ops("projects_create")
def create(hl: HumanloopState, call: Call) -> Reply:
    body = call.body
    if hl.project_by_name(call, body["name"]) is not None:
        raise Conflict(f"A project named {body['name']!r} already exists")
    project = hl.create_project(call, body["name"], directory_id=body.get("directory_id"))
    if body.get("feedback_types"):
        upsert_feedback_types(project, body["feedback_types"])
        hl.put(call, PROJECTS, project["id"], project)
    return Reply(201, project_view(hl, call, project))


@ops("projects_list")
def list_projects(hl: HumanloopState, call: Call) -> Reply:
    query = call.query
    found = hl.all(call, PROJECTS)
    if query.get("filter"):
        needle = query["filter"].lower()
        found = [p for p in found if needle in p["name"].lower()]
    if query.get("user_filter"):
        found = [p for p in found if _has_user(p, query["user_filter"])]
    if query.get("sort_by"):
        key = query["sort_by"]
        found = sorted(found, key=lambda p: p[key].lower() if key == "name" else p[key])
    if query.get("order") == "desc":
        found = list(reversed(found))
    records = [project_view(hl, call, p) for p in found]
    page, size = query.get("page"), query.get("size")
    return Reply(200, page_envelope(records, 0 if page is None else page, size or DEFAULT_SIZE, base=0))


def _has_user(project: dict[str, Any], needle: str) -> bool:
    """``user_filter``: per the SDK docs, a case-insensitive match against both the email address and
    the name of the project's users. A substring match, like the name ``filter``; a project's users
    are the API key's user that created it (see ``common.tenant_user``), so a tenant's own email or
    name finds its projects and anything else finds none."""
    needle = needle.lower()
    return any(
        needle in u["email_address"].lower() or needle in (u.get("full_name") or "").lower()
        for u in project["users"]
    )


@ops("projects_get")
def get(hl: HumanloopState, call: Call) -> Reply:
    return Reply(200, project_view(hl, call, _require(hl, call)))


@ops("projects_update")
def update(hl: HumanloopState, call: Call) -> Reply:
    project = _require(hl, call)
    body = call.body or {}
    if body.get("active_config_id") and body.get("active_experiment_id"):
        raise unprocessable(
            ["body", "active_experiment_id"], "At most one of active_experiment_id and active_config_id"
        )
    name = body.get("name")
    if name and name != project["name"]:
        if hl.project_by_name(call, name) is not None:
            raise Conflict(f"A project named {name!r} already exists")
    env = default_environment(hl, call)
    if body.get("active_config_id"):
        config = require_config(hl, call, body["active_config_id"])
        _check_owner(config, project)
        deploy(hl, call, project, env, config_id=config["id"])
    if body.get("active_experiment_id"):
        experiment = require_experiment(hl, call, body["active_experiment_id"])
        if experiment["project_id"] != project["id"]:
            raise Conflict(f"Experiment {experiment['id']!r} belongs to another project")
        deploy(hl, call, project, env, experiment_id=experiment["id"])
    if name and name != project["name"]:
        hl.delete(call, PROJECT_NAMES, project["name"])
        hl.put(call, PROJECT_NAMES, name, {"id": project["id"]})
        project["name"] = name
    if body.get("positive_labels") is not None:
        project["_positive_labels"] = body["positive_labels"]
    if "directory_id" in body and body["directory_id"] is not None:
        project["directory_id"] = body["directory_id"]
    project["updated_at"] = hl.now()
    hl.put(call, PROJECTS, project["id"], project)
    return Reply(200, project_view(hl, call, project))


def _check_owner(config: dict[str, Any], project: dict[str, Any]) -> None:
    if config.get("_project_id") != project["id"]:
        raise Conflict(f"Model config {config['id']!r} belongs to another project")


@ops("projects_delete")
def delete(hl: HumanloopState, call: Call) -> Reply:
    """A deleted project's children go with it, in the same request (so all or nothing): its logs,
    configs, experiments, deployments, datasets (with datapoints), finetunes and evaluations answer 404 after,
    as they would in the real service. Sessions span projects, so they stay, without its logs."""
    project = _require(hl, call)
    pid = project["id"]
    for log in hl.all(call, LOGS):
        if log["project_id"] == pid:
            forget_log(hl, call, log, recount=False)
    for dataset in hl.all(call, DATASETS):
        if dataset["project_id"] == pid:
            drop_dataset(hl, call, dataset)
    drop_project_evaluations(hl, call, pid)
    for finetune in hl.all(call, FINETUNES):
        if finetune["dataset"]["project_id"] == pid:
            hl.delete(call, FINETUNES, finetune["id"])
    for use in hl.all(call, PROJECT_CONFIGS):
        if use["project_id"] == pid:
            hl.delete(call, PROJECT_CONFIGS, f"{pid}:{use['config_id']}")
            config = hl.get(call, CONFIGS, use["config_id"])
            if config is not None:
                hl.delete(call, CONFIG_KEYS, f"{pid}:{config['_digest']}")
                hl.delete(call, CONFIGS, config["id"])
    for experiment in hl.all(call, EXPERIMENTS):
        if experiment["project_id"] == pid:
            hl.delete(call, EXPERIMENTS, experiment["id"])
    hl.delete(call, DEPLOYMENTS, pid)
    hl.delete(call, PROJECT_NAMES, project["name"])
    hl.delete(call, PROJECTS, pid)
    return Reply(204)


# -- configs and deployments ---------------------------------------------------------------------


@ops("projects_list_configs")
def list_configs(hl: HumanloopState, call: Call) -> Reply:
    project = _require(hl, call)
    uses = [u for u in hl.all(call, PROJECT_CONFIGS) if u["project_id"] == project["id"]]
    return Reply(200, [config_use(hl, call, project, u["config_id"]) for u in uses])


@ops("projects_get_active_config")
def get_active_config(hl: HumanloopState, call: Call) -> Reply:
    project = _require(hl, call)
    env, dep = require_deployment(hl, call, project, call.query.get("environment"))
    trial = experiment_id = None
    config_id = dep.get("config_id")
    if dep.get("experiment_id"):
        experiment = require_experiment(hl, call, dep["experiment_id"])
        config, trial = sample_config(hl, call, experiment)
        config_id, experiment_id = config["id"], experiment["id"]
    found = config_use(hl, call, project, str(config_id))
    found.update(experiment_id=experiment_id, trial_id=trial, environment_id=env["id"])
    return Reply(200, found)


def _deactivate(hl: HumanloopState, call: Call, what: str) -> Reply:
    """Undeploy from the environment only if what is deployed there is a ``what``."""
    project = _require(hl, call)
    env = require_environment(hl, call, call.query.get("environment"))
    undeploy(hl, call, project["id"], env["id"], what)
    return Reply(200, project_view(hl, call, project))


@ops("projects_deactivate_config")
def deactivate_config(hl: HumanloopState, call: Call) -> Reply:
    return _deactivate(hl, call, "config")


@ops("projects_deactivate_experiment")
def deactivate_experiment(hl: HumanloopState, call: Call) -> Reply:
    return _deactivate(hl, call, "experiment")


@ops("projects_list_deployed_configs")
def list_deployed_configs(hl: HumanloopState, call: Call) -> Reply:
    project = _require(hl, call)
    deployed = deployments_of(hl, call, project["id"])
    envs = {e["id"]: e for e in environments(hl, call)}
    return Reply(
        200, [deployed_view(hl, call, project, envs[e], d) for e, d in deployed.items() if e in envs]
    )


@ops("projects_deploy_config")
def deploy_config(hl: HumanloopState, call: Call) -> Reply:
    project = _require(hl, call, "project_id")
    body = call.body or {}
    config_id, experiment_id = body.get("config_id"), body.get("experiment_id")
    if bool(config_id) == bool(experiment_id):
        raise unprocessable(["body", "config_id"], "Give exactly one of config_id and experiment_id")
    if config_id:
        _check_owner(require_config(hl, call, config_id), project)
    elif experiment_id:  # exactly one of them is given
        experiment = require_experiment(hl, call, experiment_id)
        if experiment["project_id"] != project["id"]:
            raise Conflict(f"Experiment {experiment_id!r} belongs to another project")
    targets = []
    for i, request in enumerate(body.get("environments") or [None]):
        if request is None:
            env = default_environment(hl, call)
        else:
            found = find_environment(hl, call, request["id"], name=request.get("name"), create=True)
            if found is None:
                raise NotFound(f"Environment {request['id']!r} not found (body.environments.{i}.id)")
            env = found
        targets.append(env)
    out = []
    for env in targets:
        deploy(hl, call, project, env, config_id=config_id, experiment_id=experiment_id)
        out.append(deployed_view(hl, call, project, env, deployment(hl, call, project["id"], env["id"])))
    return Reply(200, out)


@ops("projects_delete_deployed_config")
def delete_deployed_config(hl: HumanloopState, call: Call) -> Reply:
    project = _require(hl, call, "project_id")
    env = find_environment(hl, call, call.path["environment_id"])
    if env is None:
        raise NotFound.id("Environment", call.path["environment_id"])
    undeploy(hl, call, project["id"], env["id"])
    return Reply(200, {})


# -- feedback types and export -------------------------------------------------------------------


@ops("projects_create_feedback_type")
def create_feedback_type(hl: HumanloopState, call: Call) -> Reply:
    project = _require(hl, call)
    if any(t["type"] == call.body["type"] for t in project["feedback_types"]):
        raise Conflict(f"Feedback type {call.body['type']!r} already exists in this project")
    (created,) = upsert_feedback_types(project, [call.body])
    hl.put(call, PROJECTS, project["id"], project)
    return Reply(201, created)


@ops("projects_update_feedback_types")
def update_feedback_types(hl: HumanloopState, call: Call) -> Reply:
    project = _require(hl, call)
    upsert_feedback_types(project, call.body)
    project["updated_at"] = hl.now()
    hl.put(call, PROJECTS, project["id"], project)
    return Reply(200, project["feedback_types"])


@ops("projects_export")
def export(hl: HumanloopState, call: Call) -> Reply:
    project = _require(hl, call)
    return Reply(200, logs_page(hl, call, project["id"], EXPORT_SIZE))
