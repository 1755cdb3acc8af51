"""Shared state helpers for the Humanloop behaviour modules.

Every stored object is kept in the exact shape the SDK reads back (the contract's response
model), so get/list answer the stored dict as it is. Kinds (store buckets) are named here once.
"""

from __future__ import annotations

import hashlib
from typing import Any

from specfake.behaviours import BehaviourContext
from specfake.behaviours.humanloop.exceptions import NotFound, unprocessable
from specfake.behaviours.humanloop.options import HumanloopOptions
from specfake.calls import Call

# store kinds
PROJECTS = "projects"
PROJECT_NAMES = "project_names"  # name -> {"id": project id}
CONFIGS = "model_configs"
LOGS = "logs"
SESSIONS = "sessions"
FEEDBACK = "feedback"
EXPERIMENTS = "experiments"
DATASETS = "datasets"
DATAPOINTS = "datapoints"
EVALUATORS = "evaluators"
EVALUATIONS = "evaluations"
ENVIRONMENTS = "environments"
# internal indexes (never answered as they are)
PROJECT_CONFIGS = "project_configs"  # "<project id>:<config id>" -> a config's use in a project
CONFIG_KEYS = "config_keys"  # "<project id>:<content hash>" -> {"id": config id}
LOG_REFS = "log_refs"  # log reference_id -> {"id": log id}
SESSION_REFS = "session_refs"  # session reference_id -> {"id": session id}
DEPLOYMENTS = "deployments"  # project id -> {"envs": {environment id: {config_id, experiment_id}}}

# id prefixes the SDK model docs name
PREFIX = {
    PROJECTS: "pr_",
    CONFIGS: "config_",
    LOGS: "data_",
    SESSIONS: "sesh_",
    EVALUATIONS: "ev_",
    DATASETS: "evts_",
    EVALUATORS: "evfn_",
    EXPERIMENTS: "exp_",
    ENVIRONMENTS: "env_",
    FEEDBACK: "ann_",
    DATAPOINTS: "evdp_",
}
TEAM_ID = "tm_specfake"
USER_NAME = "Specfake User"
_DEFAULT_OPTIONS = HumanloopOptions()


def tenant_user(api_key: str) -> dict[str, Any]:
    """The user behind an API key (``ProjectUserResponse``): the fake has no user directory, so each
    key stands for one user whose id and email derive from a hash of the key (never the key)."""
    tag = hashlib.blake2b(api_key.encode(), digest_size=12).hexdigest()
    return {"id": f"usr_{tag}", "email_address": f"user-{tag[:8]}@specfake.invalid", "full_name": USER_NAME}


def json_object(body: Any) -> dict[str, Any]:
    """A request body as an object: the handlers that tolerate a missing or non-object body."""
    return body if isinstance(body, dict) else {}


class HumanloopState:
    """The tenant-scoped view of the store every Humanloop module works through."""

    def __init__(self, ctx: BehaviourContext) -> None:
        self.ctx = ctx
        self.store = ctx.store
        # Memory bounds (README "Limits"): logs and datapoints are capped per tenant, and logs are
        # grouped by project so a project's page of logs reads only that page.
        options = ctx.options
        self.store.set_max_tenants(options.max_tenants)
        for kind in (LOGS, DATAPOINTS):
            self.store.set_retention(kind, options.retention)
        self.store.set_grouping(LOGS, "project_id")

    @property
    def options(self) -> HumanloopOptions:
        """The options now: the admin API replaces them as a whole, so never keep a copy."""
        options = self.ctx.options
        return options if isinstance(options, HumanloopOptions) else _DEFAULT_OPTIONS

    def new_id(self, kind: str) -> str:
        return self.ctx.new_id(PREFIX[kind])

    def now(self) -> str:
        return self.ctx.now()

    # -- generic access --------------------------------------------------------------------------

    def get(self, call: Call, kind: str, key: str) -> dict[str, Any] | None:
        return self.store.get(call.api_key, kind, key)

    def require(self, call: Call, kind: str, key: str, what: str) -> dict[str, Any]:
        found = self.store.get(call.api_key, kind, key)
        if found is None:
            raise NotFound.id(what, key)
        return found

    def put(self, call: Call, kind: str, key: str, value: dict[str, Any]) -> None:
        self.store.put(call.api_key, kind, key, value)

    def delete(self, call: Call, kind: str, key: str) -> bool:
        return self.store.delete(call.api_key, kind, key)

    def all(self, call: Call, kind: str) -> list[dict[str, Any]]:
        return self.store.list(call.api_key, kind)

    # -- projects --------------------------------------------------------------------------------

    def project_by_name(self, call: Call, name: str) -> dict[str, Any] | None:
        ref = self.store.get(call.api_key, PROJECT_NAMES, name)
        return self.store.get(call.api_key, PROJECTS, ref["id"]) if ref else None

    def create_project(self, call: Call, name: str, **fields: Any) -> dict[str, Any]:
        now = self.now()
        project: dict[str, Any] = {
            "id": self.new_id(PROJECTS),
            "name": name,
            "users": [tenant_user(call.api_key)],  # the creating user is the project's first member
            "data_count": 0,
            "feedback_types": [
                {"type": t, "values": None} for t in ("rating", "action", "issue", "correction", "comment")
            ],
            "team_id": TEAM_ID,
            "created_at": now,
            "updated_at": now,
            "active_experiment": None,
            "active_config": None,
            "config_type": None,
            "active_evaluators": None,
            "directory_id": None,
            **fields,
        }
        self.put(call, PROJECTS, project["id"], project)
        self.store.put(call.api_key, PROJECT_NAMES, name, {"id": project["id"]})
        return project

    def resolve_project(self, call: Call, body: dict[str, Any], create: bool = True) -> dict[str, Any]:
        """``project`` (a name, created on first use) or ``project_id``; one is required."""
        project_id = body.get("project_id")
        if project_id:
            return self.require(call, PROJECTS, project_id, "Project")
        name = body.get("project")
        if name:
            found = self.project_by_name(call, name)
            if found is not None:
                return found
            if create:
                return self.create_project(call, name)
            raise NotFound.id("Project", name)
        raise unprocessable(["body", "project"], "Either project or project_id must be provided")


def page_bounds(page: int, size: int, base: int) -> tuple[int, int]:
    """The ``start:stop`` positions page ``page`` (the first numbered ``base``) of ``size`` covers."""
    start = max(page - base, 0) * max(size, 0)
    return start, start + max(size, 0)


def page_envelope(
    records: list[Any], page: int, size: int, base: int, total: int | None = None
) -> dict[str, Any]:
    """``{records, page, size, total}``; ``base`` is the first page's number (0 or 1). With
    ``total``, ``records`` already is the page (a store `window`), else it is every record."""
    if total is None:
        start, stop = page_bounds(page, size, base)
        records, total = records[start:stop], len(records)
    return {"records": records, "page": page, "size": size, "total": total}
