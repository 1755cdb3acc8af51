"""Scale GenAI Platform evaluations: archive-on-delete, restore, multi-key sorting, views.

Facts from ``scale-gp==0.1.0a62`` and the API reference; choices where they are silent:

- **Create** reflects every request field the response model has. ``account_id`` is the body's
  (the SDK requires it); ``created_by_user_id`` is a stable id per API key (identity ``user``).
  A new evaluation is ``PENDING`` with ``completed_at`` null. A *builder* evaluation (``type:
  builder``, or a body that is a valid builder request) has a test-case total drawn from its
  dataset id; a *default* one starts at 0/0. An ``inline_evaluation_config`` is stored as a config
  of its own whose fresh id becomes ``evaluation_config_id``; sending it together with
  ``evaluation_config_id`` ("provide this OR evaluation_config_id, not both") is a 409, since
  the body is schema-valid (a 400/422 would claim it is malformed).
- **Delete archives**: ``archived_at`` is set and the answer is ``{count: 1, success: true}``.
  Deleting an unknown or already archived evaluation is a 404.
- **An archived evaluation is gone for reads**: retrieve answers 404, list hides it unless
  ``include_archived=true``. The API reference only says archived items leave the list, so we
  follow HTTP semantics (and schemathesis' ``use_after_free`` check, which treats a 2xx read
  after a successful DELETE as a bug). ``restore`` is how it comes back. Option
  ``sgp_archived_reads=visible`` (`SgpOptions`) makes retrieve answer an archived evaluation
  (``archived_at`` set) instead, for clients that rely on that.
- **Update**: a partial patch of an archived evaluation is a 409 ("restore it first", as the v5
  reference says updating an archived evaluation is rejected); ``{restore: true}`` un-archives
  (a no-op on a live one). ``evaluation_type: llm_benchmark`` makes it hybrid (its expanded
  config reports ``llm_benchmark``); on a ``studio`` evaluation that is a 409.
- **List**: ``page`` from 1, ``limit`` per the contract; a page past the end is empty (the SDK's
  auto-pagination stops only then). ``sort_by`` keys apply in order (stable; nulls last when
  ascending, first when descending, as Postgres orders them); relation keys sort by their id
  (``application_spec`` by ``application_spec_id``, ``evaluation_config_expanded`` by
  ``evaluation_config_id``, ``evaluation_datasets`` by dataset id, ``test_case_results`` by the
  total count, ``async_jobs`` by creation time); JSON-object keys by their canonical JSON.
  Filters: ``account_id``, ``application_spec_id``. All accounts of the key are listed (the API
  reference: "all evaluations from all accounts the user is associated with").
- **claim_task**: each test case result of an evaluation is one ``EVALUATION_ANNOTATION`` task
  (a builder evaluation has ``total_test_case_result_count`` of them, a default one none), made
  on the first claim and kept in the store. A claim answers the caller's current task (assigned
  to the key's user, assignment not expired) if it has one: ``skip_current`` only makes sense if
  a claim otherwise keeps what you hold. Else, or with ``skip_current=true`` (which releases the
  current task and never offers it to this user again), the next free ``PENDING`` task in order
  is assigned to the caller for ``ASSIGNMENT``; its ``task_entity`` is the test case result
  (``FLEXIBLE`` data when the annotation config is flexible, else ``GENERATION``). Nothing left
  (or no task of the asked ``task_type``) is JSON ``null``, as the SDK's ``Optional[Task]``
  allows. An unknown or archived evaluation is a 404.
- **view** (list and retrieve) fills ``application_spec``, ``async_jobs`` (one job for a builder
  evaluation), ``evaluation_config_expanded`` and ``evaluation_datasets`` with schema-valid
  content generated from, and consistent with, the stored ids.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from specfake.behaviours import Behaviour, BehaviourContext, Operations
from specfake.calls import Call
from specfake.clock import iso
from specfake.errors import ApiError
from specfake.generate import GenContext, Maker
from specfake.http import Reply
from specfake.options import Options, one_of, option

EVALUATIONS = "evaluations"
CONFIGS = "evaluation_configs"  # inline configs created with a builder evaluation
META = "_specfake"  # private part of a stored evaluation, never answered
TASKS = "evaluation_tasks"  # one record per evaluation: its tasks and who skipped what
ASSIGNMENT = timedelta(hours=1)  # how long a claimed task stays the claimer's (our choice)
CLAIMABLE = ("PENDING", "PENDING_REDO")

REFLECTED = (
    "account_id",
    "application_spec_id",
    "application_variant_id",
    "description",
    "name",
    "evaluation_config",
    "evaluation_config_id",
    "metric_config",
    "question_id_to_annotation_config",
    "tags",
)
UPDATABLE = tuple(name for name in REFLECTED if name not in ("account_id", "metric_config"))
BUILDER_ONLY = (
    "evaluation_dataset_id",
    "evaluation_dataset_version",
    "application_test_case_output_group_id",
)
# sort keys that name a relation or a computed field: what they sort by
RELATION_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "application_spec": lambda e: e.get("application_spec_id"),
    "application_variant": lambda e: e.get("application_variant_id"),
    "evaluation_config_expanded": lambda e: e.get("evaluation_config_id"),
    "evaluation_datasets": lambda e: e[META].get("evaluation_dataset_id"),
    "test_case_results": lambda e: e.get("total_test_case_result_count"),
    "async_jobs": lambda e: e["created_at"] if e[META]["type"] == "builder" else None,
}


def _schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


# -- errors and options ------------------------------------------------------------------------------


class SgpError(ApiError):
    """The platform answers errors as FastAPI does: ``{"detail": "..."}``."""


class NotFound(SgpError):
    def __init__(self, evaluation_id: str) -> None:
        super().__init__(404, f"Evaluation {evaluation_id} not found")


class Conflict(SgpError):
    def __init__(self, detail: str) -> None:
        super().__init__(409, detail)


@dataclass(frozen=True)
class SgpOptions(Options):
    sgp_archived_reads: str = option(
        "hidden", one_of("hidden", "visible"), "visible: retrieve answers archived evaluations"
    )


# -- operations --------------------------------------------------------------------------------------

ops: Operations[SgpState] = Operations()


@ops("evaluations_create")
def create(sgp: SgpState, call: Call) -> Reply:
    body: dict[str, Any] = call.body
    kind = "builder" if body.get("type") != "default" and sgp.is_builder(body) else "default"
    if kind == "builder" and "inline_evaluation_config" in body and "evaluation_config_id" in body:
        raise Conflict("Provide inline_evaluation_config or evaluation_config_id, not both")
    meta: dict[str, Any] = {"type": kind, "evaluation_type": None}
    if kind == "builder":
        meta.update({name: body[name] for name in BUILDER_ONLY if name in body})
    ctx = sgp.ctx
    evaluation: dict[str, Any] = {
        "id": ctx.new_uuid(EVALUATIONS),
        "created_at": ctx.now(),
        "created_by_user_id": _user_id(ctx.seed, call.api_key),
        "created_by_identity_type": "user",
        "status": "PENDING",
        "completed_test_case_result_count": 0,
        "total_test_case_result_count": _test_case_total(meta),
        "completed_at": None,
        "archived_at": None,
        "annotation_config": None,
        "application_variant_id": None,
        "evaluation_config": None,
        "evaluation_config_id": None,
        "metric_config": None,
        "question_id_to_annotation_config": None,
        "tags": None,
        META: meta,
    }
    _apply(evaluation, body)
    if kind == "builder" and "inline_evaluation_config" in body:
        config = {
            **body["inline_evaluation_config"],
            "id": ctx.new_uuid(CONFIGS),
            "created_at": evaluation["created_at"],
        }
        ctx.store.put(call.api_key, CONFIGS, config["id"], config)
        evaluation["evaluation_config_id"] = config["id"]
    ctx.store.put(call.api_key, EVALUATIONS, evaluation["id"], evaluation)
    return Reply(200, body=_public(evaluation))


@ops("evaluations_retrieve")
def retrieve(sgp: SgpState, call: Call) -> Reply:
    options = sgp.ctx.options
    visible = isinstance(options, SgpOptions) and options.sgp_archived_reads == "visible"
    evaluation = sgp.live(call, archived_ok=visible)
    return Reply(200, body=sgp.viewed(call, evaluation, call.query.get("view") or []))


@ops("evaluations_update")
def update(sgp: SgpState, call: Call) -> Reply:
    body: dict[str, Any] = call.body
    evaluation_id = str(call.path["evaluation_id"])
    store = sgp.ctx.store
    stored = store.get(call.api_key, EVALUATIONS, evaluation_id)
    if stored is None:
        raise NotFound(evaluation_id)
    if body.get("restore") is True:
        changed = {**stored, "archived_at": None}
    else:
        if stored["archived_at"] is not None:
            raise Conflict(f"Evaluation {evaluation_id} is archived: restore it first")
        changed = {**stored, META: dict(stored[META])}
        if body.get("evaluation_type") == "llm_benchmark":
            if sgp.config_type(call, changed) == "studio":
                raise Conflict("llm_benchmark is not available for studio evaluations")
            changed[META]["evaluation_type"] = "llm_benchmark"
        _apply(changed, body, UPDATABLE)
    store.put(call.api_key, EVALUATIONS, evaluation_id, changed)
    return Reply(200, body=_public(changed))


@ops("evaluations_delete")
def delete(sgp: SgpState, call: Call) -> Reply:
    evaluation = sgp.live(call)
    archived = {**evaluation, "archived_at": sgp.ctx.now()}
    sgp.ctx.store.put(call.api_key, EVALUATIONS, evaluation["id"], archived)
    return Reply(200, body={"count": 1, "success": True})


@ops("evaluations_list")
def list_evaluations(sgp: SgpState, call: Call) -> Reply:
    query = call.query
    items = sgp.ctx.store.list(call.api_key, EVALUATIONS)
    if not query.get("include_archived", False):
        items = [e for e in items if e["archived_at"] is None]
    if "account_id" in query:
        items = [e for e in items if e["account_id"] == query["account_id"]]
    if "application_spec_id" in query:
        wanted = str(query["application_spec_id"])
        items = [e for e in items if e["application_spec_id"] == wanted]
    items = _sorted(items, query.get("sort_by") or ["created_at:asc"])
    page, limit = query.get("page", 1), query.get("limit", 100)
    start = (page - 1) * limit
    view = query.get("view") or []
    return Reply(
        200,
        body={
            "items": [sgp.viewed(call, e, view) for e in items[start : start + limit]],
            "total_item_count": len(items),
            "current_page": page,
            "items_per_page": limit,
        },
    )


@ops("evaluations_claim_task")
def claim_task(sgp: SgpState, call: Call) -> Reply:
    """Rules in the module docstring; the whole task record is copied and put back, so a claim
    answered with an error (rolled back) leaves the previous assignments as they were."""
    evaluation = sgp.live(call)
    ctx = sgp.ctx
    record = ctx.store.get(call.api_key, TASKS, evaluation["id"]) or sgp.new_tasks(evaluation)
    record = {**record, "tasks": [dict(t) for t in record["tasks"]], "skipped": dict(record["skipped"])}
    user = _user_id(ctx.seed, call.api_key)
    now = ctx.clock.now()
    wanted = call.query.get("task_type")
    tasks = [t for t in record["tasks"] if wanted is None or t["task_type"] == wanted]
    current = next((t for t in tasks if _held_by(t, user, now)), None)
    skip = isinstance(call.body, dict) and call.body.get("skip_current") is True
    if current is not None and skip:
        current.update({"assigned_to": None, "assignment_expires_at": None})
        record["skipped"][user] = [*record["skipped"].get(user, []), current["id"]]
        current = None
    if current is None:
        skipped = set(record["skipped"].get(user, []))
        free = [t for t in tasks if t["status"] in CLAIMABLE and t["id"] not in skipped and not _held(t, now)]
        if free:
            current = max(free, key=lambda t: t["priority"])  # first of the highest priority
            current.update({"assigned_to": user, "assignment_expires_at": iso(now + ASSIGNMENT)})
            if current["task_entity"] is None:
                current["task_entity"] = sgp.test_case_result(evaluation, current)
    ctx.store.put(call.api_key, TASKS, evaluation["id"], record)
    return Reply(200, raw=b"null") if current is None else Reply(200, body=current)


# -- state -------------------------------------------------------------------------------------------


class SgpState:
    """What the handlers share: the context and the makers of the content ``view`` expands."""

    def __init__(self, ctx: BehaviourContext) -> None:
        self.ctx = ctx
        # Memory bounds (README "Limits"): evaluations are capped per tenant, tenants in number.
        # Kept plain, not compact: the list filters and sorts every evaluation, and a decode each
        # made it ten times dearer.
        ctx.store.set_max_tenants(ctx.options.max_tenants)
        ctx.store.set_retention(EVALUATIONS, ctx.options.retention, compact=False)
        self.is_builder = ctx.contract.compiled.validator(_schema("EvaluationBuilderRequest")).is_valid
        make = ctx.answers.maker_for
        self._makers: dict[str, Maker] = {
            "application_spec": make(_schema("ApplicationSpec")),
            "dataset": make(_schema("EvaluationDataset")),
            "question_set": make(_schema("QuestionSetWithQuestions")),
            "legacy_config": make(_schema("EvaluationConfigExpandedLegacyEvaluationConfigExpanded")),
            "config": make(_schema("EvaluationConfigExpandedEvaluationConfigExpanded")),
            "GENERATION": make(_schema("GenerationTestCaseResultResponse")),
            "FLEXIBLE": make(_schema("FlexibleTestCaseResultResponse")),
        }

    def live(self, call: Call, archived_ok: bool = False) -> dict[str, Any]:
        evaluation_id = str(call.path["evaluation_id"])
        stored = self.ctx.store.get(call.api_key, EVALUATIONS, evaluation_id)
        if stored is None or (stored["archived_at"] is not None and not archived_ok):
            raise NotFound(evaluation_id)
        return stored

    def new_tasks(self, evaluation: dict[str, Any]) -> dict[str, Any]:
        """The evaluation's tasks as a first claim finds them: one pending annotation task per
        test case result, unassigned, in test case order (equal priority)."""
        tasks = [
            {
                "id": self.ctx.new_uuid(TASKS),
                "account_id": evaluation["account_id"],
                "priority": 1,
                "status": "PENDING",
                "task_entity_id": self.ctx.new_uuid("test_case_results"),
                "task_entity_parent_id": evaluation["id"],
                "task_type": "EVALUATION_ANNOTATION",
                "assigned_to": None,
                "assignment_expires_at": None,
                "task_entity": None,  # generated when first handed out
            }
            for _ in range(evaluation["total_test_case_result_count"])
        ]
        return {"evaluation_id": evaluation["id"], "tasks": tasks, "skipped": {}}

    def test_case_result(self, evaluation: dict[str, Any], task: dict[str, Any]) -> dict[str, Any]:
        """The test case result a task is about: generated content, state-bearing fields ours."""
        annotation = evaluation.get("annotation_config") or {}
        schema = "FLEXIBLE" if annotation.get("annotation_config_type") == "flexible" else "GENERATION"
        meta = evaluation[META]
        result = self._gen(schema, task["task_entity_id"])
        result.update(
            {
                "id": task["task_entity_id"],
                "account_id": evaluation["account_id"],
                "application_spec_id": evaluation["application_spec_id"],
                "created_at": evaluation["created_at"],
                "updated_at": evaluation["created_at"],
                "created_by_identity_type": evaluation["created_by_identity_type"],
                "created_by_user_id": evaluation["created_by_user_id"],
                "evaluation_id": evaluation["id"],
                "evaluation_dataset_id": str(meta.get("evaluation_dataset_id", "")),
                "evaluation_dataset_version_num": str(meta.get("evaluation_dataset_version", 1)),
                "label_status": "PENDING",
                "test_case_evaluation_data_schema": schema,
                "result": None,
                "completed_at": None,
                "archived_at": None,
                "invalidated_at": None,
                "annotated_by_identity_type": None,
                "annotated_by_user_id": None,
                "edited_by": None,
                "edited_by_identity_type": None,
                "edited_by_user_id": None,
                "audit_comment": None,
                "audit_required": None,
                "audit_status": None,
                "time_spent_labeling_s": None,
            }
        )
        return result

    def _gen(self, maker: str, *parts: Any) -> dict[str, Any]:
        """Content for ``view``, seeded by what it describes (an object: the makers build objects)."""
        seed = ":".join(str(p) for p in (self.ctx.seed, maker, *parts))
        generated: dict[str, Any] = self._makers[maker](GenContext(seed))
        return generated

    def viewed(self, call: Call, evaluation: dict[str, Any], view: list[str]) -> dict[str, Any]:
        out = _public(evaluation)
        if "ApplicationSpec" in view:
            out["application_spec"] = self._application_spec(evaluation)
        if "AsyncJobs" in view:
            out["async_jobs"] = self._async_jobs(evaluation)
        if "EvaluationConfig" in view:
            out["evaluation_config_expanded"] = self._config_expanded(call, evaluation)
        if "EvaluationDatasets" in view:
            out["evaluation_datasets"] = self._datasets(evaluation)
        return out

    def _application_spec(self, evaluation: dict[str, Any]) -> dict[str, Any]:
        spec_id = evaluation["application_spec_id"]
        spec = self._gen("application_spec", spec_id)
        spec.update({"id": spec_id, "account_id": evaluation["account_id"], "archived_at": None})
        return spec

    def _async_jobs(self, evaluation: dict[str, Any]) -> list[dict[str, Any]]:
        if evaluation[META]["type"] != "builder":
            return []
        digest = hashlib.blake2b(f"{self.ctx.seed}:job:{evaluation['id']}".encode(), digest_size=16).digest()
        return [
            {
                "id": str(uuid.UUID(bytes=digest, version=4)),
                "created_at": evaluation["created_at"],
                "updated_at": evaluation["created_at"],
                "status": evaluation["status"],
                "job_type": "evaluation_builder",
                "parent_job_id": None,
                "progress": {
                    "completed": evaluation["completed_test_case_result_count"],
                    "total": evaluation["total_test_case_result_count"],
                },
                "job_metadata": {"evaluation_id": evaluation["id"]},
                "status_reason": None,
            }
        ]

    def _datasets(self, evaluation: dict[str, Any]) -> list[dict[str, Any]]:
        dataset_id = evaluation[META].get("evaluation_dataset_id")
        if dataset_id is None:
            return []
        dataset = self._gen("dataset", dataset_id)
        dataset.update({"id": dataset_id, "account_id": evaluation["account_id"], "archived_at": None})
        return [dataset]

    def config_type(self, call: Call, evaluation: dict[str, Any]) -> str | None:
        expanded = self._config_expanded(call, evaluation)
        return expanded["evaluation_type"] if expanded else None

    def _config_expanded(self, call: Call, evaluation: dict[str, Any]) -> dict[str, Any] | None:
        """The config the evaluation points at: a stored inline one, else one generated from its
        id; a legacy ``evaluation_config`` dict expands to the legacy shape."""
        config_id = evaluation.get("evaluation_config_id")
        hybrid = evaluation[META].get("evaluation_type")
        if config_id is None:
            legacy = evaluation.get("evaluation_config")
            if legacy is None:
                return None
            expanded = self._gen("legacy_config", evaluation["id"])
            if legacy.get("evaluation_type") in ("studio", "llm_auto", "human", "llm_benchmark"):
                expanded["evaluation_type"] = legacy["evaluation_type"]
            if hybrid and expanded["evaluation_type"] != "studio":
                expanded["evaluation_type"] = hybrid
            return expanded
        expanded = self._gen("config", config_id)
        inline = self.ctx.store.get(call.api_key, CONFIGS, config_id)
        if inline is not None:
            model = inline.get("auto_evaluation_model")
            expanded.update(
                {
                    "created_at": inline["created_at"],
                    "question_set_id": inline["question_set_id"],
                    "evaluation_type": inline.get("evaluation_type") or ("llm_auto" if model else "human"),
                    "auto_evaluation_model": model,
                    "auto_evaluation_parameters": inline.get("auto_evaluation_parameters"),
                    "studio_project_id": inline.get("studio_project_id"),
                }
            )
        expanded.update(
            {
                "id": config_id,
                "account_id": evaluation["account_id"],
                "created_by_user_id": evaluation["created_by_user_id"],
                "created_by_identity_type": evaluation["created_by_identity_type"],
            }
        )
        if hybrid and expanded["evaluation_type"] != "studio":
            expanded["evaluation_type"] = hybrid
        question_set = self._gen("question_set", expanded["question_set_id"])
        question_set.update({"id": expanded["question_set_id"], "account_id": evaluation["account_id"]})
        expanded["question_set"] = question_set
        return expanded


def _apply(evaluation: dict[str, Any], body: dict[str, Any], fields: tuple[str, ...] = REFLECTED) -> None:
    """Copy the request's fields the response model shares (annotation config converted)."""
    for name in fields:
        if name in body:
            evaluation[name] = body[name]
    if "annotation_config" in body:
        evaluation["annotation_config"] = _annotation_config(body["annotation_config"])


def _held(task: dict[str, Any], now: datetime) -> bool:
    """Assigned, and the assignment has not run out (an expired one frees the task)."""
    expires = task["assignment_expires_at"]
    return task["assigned_to"] is not None and expires is not None and datetime.fromisoformat(expires) > now


def _held_by(task: dict[str, Any], user: str, now: datetime) -> bool:
    return task["assigned_to"] == user and task["status"] in CLAIMABLE and _held(task, now)


def _test_case_total(meta: dict[str, Any]) -> int:
    dataset = meta.get("evaluation_dataset_id")
    if dataset is None:
        return 0
    return 3 + int.from_bytes(hashlib.blake2b(str(dataset).encode(), digest_size=2).digest(), "big") % 48


@functools.lru_cache(maxsize=1024)
def _user_id(seed: int, api_key: str) -> str:
    """Cached: every create names its key's user, and there are few keys."""
    digest = hashlib.blake2b(f"{seed}:user:{api_key}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


def _public(evaluation: dict[str, Any]) -> dict[str, Any]:
    out = evaluation.copy()  # a C-level copy minus one key: a third of a comprehension's cost
    out.pop(META, None)
    return out


def _annotation_config(request: dict[str, Any]) -> dict[str, Any]:
    """A request annotation config (one of five shapes) as the response's ``AnnotationConfig``."""
    if "llm_prompt_template" in request:
        return {
            "annotation_config_type": "generation",
            "components": None,
            "direction": None,
            "llm_prompt": {"template": request["llm_prompt_template"], "variables": []},
        }
    for marker, kind in (
        ("messages_loc", "multiturn"),
        ("document_loc", "summarization"),
        ("original_text_loc", "translation"),
    ):
        if marker in request:
            return {
                "direction": None,
                "components": None,
                "llm_prompt": None,
                **request,
                "annotation_config_type": kind,
            }
    return {
        "annotation_config_type": "flexible",
        "components": request.get("components"),
        "direction": request.get("direction", "row"),
        "llm_prompt": request.get("llm_prompt"),
    }


def _sort_value(evaluation: dict[str, Any], field: str) -> Any:
    relation = RELATION_KEYS.get(field)
    value = relation(evaluation) if relation is not None else evaluation.get(field)
    if isinstance(value, (dict, list)):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value


def _sorted(items: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """``field:asc|desc`` keys, the first most significant: stable sorts from the last key."""
    for key in reversed(keys):
        field, _, direction = key.rpartition(":")
        descending = direction == "desc"

        def order(evaluation: dict[str, Any], field: str = field) -> tuple[bool, Any]:
            value = _sort_value(evaluation, field)
            return (value is None, "" if value is None else value)

        items = sorted(items, key=order, reverse=descending)
    return items


# What a stored evaluation must be for every handler to read it: the create answer's model plus
# the fields read by key and the private part (what an admin import is checked against).
STORED = {
    EVALUATIONS: {
        "allOf": [
            _schema("EvaluationCreateResponse"),
            {
                "type": "object",
                "required": ["archived_at", META],
                "properties": {
                    META: {
                        "type": "object",
                        "required": ["type", "evaluation_type"],
                        "properties": {"type": {"enum": ["builder", "default"]}},
                    }
                },
            },
        ]
    },
}

BEHAVIOUR = Behaviour(state=SgpState, operations=[ops], options=SgpOptions, errors=SgpError, stored=STORED)
