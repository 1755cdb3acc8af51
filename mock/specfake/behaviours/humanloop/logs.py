"""Logs (datapoints): POST/GET/PATCH/DELETE /logs and /logs/{id} (feedback is in feedback.py).

Public helpers other modules use:

- ``store_log(hl, call, log_fields) -> dict``: build a ``LogResponse``-shaped dict and store it.
  ``log_fields`` must hold ``project_id`` (an existing project) and ``config`` (a config response
  dict as ``configs.register_config`` returns); any other ``LogResponse`` field may be given
  (inputs, output, messages, output_message, session_id, parent_id, reference_id, trial_id,
  source, metadata, prompt_tokens, output_tokens, finish_reason, ...; ``id`` if the caller
  allocated one with ``hl.new_id(LOGS)``). It fills id (``data_``),
  timestamps, feedback, evaluation_results, bumps the project's ``data_count``, counts the log in
  its session and against its config, indexes ``reference_id``, and returns the stored dict.
- ``log_request(hl, call, body, loc) -> dict``: one POST /logs item (``CreateLogResponse``).
- ``resolve_parent(hl, call, body, loc) -> str | None``: ``parent_id`` / ``parent_reference_id``.
- ``forget_log(hl, call, log)``: delete a log and undo what storing it counted.
- ``log_view(hl, call, log) -> dict``: a stored log as answered (current project name).
- ``logs_page(hl, call, project_id, default_size) -> dict``: a page of a project's logs.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop import sessions
from specfake.behaviours.humanloop.common import (
    LOG_REFS,
    LOGS,
    PROJECTS,
    HumanloopState,
    page_bounds,
    page_envelope,
)
from specfake.behaviours.humanloop.configs import (
    count_feedback,
    public,
    register_config,
    require_config,
    touch_config,
)
from specfake.behaviours.humanloop.exceptions import NotFound, unprocessable
from specfake.behaviours.humanloop.experiments import count_trial, find_trial
from specfake.behaviours.humanloop.feedback import add_feedback
from specfake.calls import Call
from specfake.http import Reply

# Every optional LogResponse field; a stored log always carries all of them.
LOG_FIELDS: tuple[str, ...] = (
    "project", "project_id", "session_id", "session_reference_id", "parent_id", "parent_reference_id",
    "inputs", "source", "metadata", "save", "source_datapoint_id", "reference_id", "trial_id", "messages",
    "output", "judgment", "config_id", "environment", "feedback", "created_at", "error", "duration",
    "output_message", "prompt_tokens", "output_tokens", "prompt_cost", "output_cost", "provider_request",
    "provider_response", "user", "provider_latency", "tokens", "raw_output", "finish_reason",
    "metric_values", "tools", "tool_choice", "batch_ids",
)  # fmt: skip
_LOG_FIELD_SET = frozenset(LOG_FIELDS)  # membership tests on the request path
# A new log before its fields are filled in: one C-level copy instead of building 39 keys.
_BLANK_LOG: dict[str, Any] = dict.fromkeys(("id", *LOG_FIELDS))
DEFAULT_SIZE = 50
_FILTERS = ("start_date", "end_date", "version_status", "search", "metadata_search")  # of GET /logs


def store_log(hl: HumanloopState, call: Call, log_fields: dict[str, Any]) -> dict[str, Any]:
    """Store a log built from ``log_fields`` (see the module docstring); returns it."""
    project = hl.require(call, PROJECTS, log_fields["project_id"], "Project")
    config = log_fields["config"]
    now = hl.now()
    log = _BLANK_LOG.copy()
    log["id"] = log_fields.get("id") or hl.new_id(LOGS)
    for key, value in log_fields.items():
        if key in _LOG_FIELD_SET:
            log[key] = value
    prompt_tokens, output_tokens = log.get("prompt_tokens"), log.get("output_tokens")
    if log["tokens"] is None and prompt_tokens is not None and output_tokens is not None:
        log["tokens"] = prompt_tokens + output_tokens
    log.update(
        project=project["name"],
        project_id=project["id"],
        config=config,
        config_id=config["id"],
        evaluation_results=log_fields.get("evaluation_results") or [],
        observability_status=log_fields.get("observability_status") or "completed",
        feedback=[],
        metric_values=log["metric_values"] or [],
        created_at=log["created_at"] or now,
        updated_at=now,
    )
    hl.put(call, LOGS, log["id"], log)
    project["data_count"] += 1
    hl.put(call, PROJECTS, project["id"], project)
    if log["reference_id"]:
        hl.put(call, LOG_REFS, log["reference_id"], {"id": log["id"]})
    sessions.count_log(hl, call, log, 1)
    touch_config(hl, call, project["id"], config["id"], now=now)  # last_used: when the log was stored
    return log


def forget_log(hl: HumanloopState, call: Call, log: dict[str, Any], recount: bool = True) -> None:
    """Delete a log and undo what storing it counted; ``recount=False`` leaves the project's and its
    configs' counters alone (the project is being deleted with all of them)."""
    hl.delete(call, LOGS, log["id"])
    project = hl.get(call, PROJECTS, log["project_id"]) if recount else None
    if project is not None:
        for feedback in log.get("feedback") or []:
            count_feedback(hl, call, log, feedback, -1)
        project["data_count"] = max(project["data_count"] - 1, 0)
        hl.put(call, PROJECTS, project["id"], project)
        touch_config(hl, call, project["id"], log["config_id"], -1)
    if log.get("reference_id"):
        ref = hl.get(call, LOG_REFS, log["reference_id"])
        if ref is not None and ref["id"] == log["id"]:
            hl.delete(call, LOG_REFS, log["reference_id"])
    sessions.count_log(hl, call, log, -1)


def log_view(hl: HumanloopState, call: Call, log: dict[str, Any]) -> dict[str, Any]:
    project = hl.get(call, PROJECTS, log["project_id"])
    return {**log, "project": project["name"]} if project is not None else log


def resolve_parent(hl: HumanloopState, call: Call, body: dict[str, Any], loc: list[Any]) -> str | None:
    parent_id = body.get("parent_id")
    reference = body.get("parent_reference_id")
    if parent_id and reference:
        raise unprocessable(
            [*loc, "parent_reference_id"], "Specify at most one of parent_id and parent_reference_id"
        )
    if parent_id:
        hl.require(call, LOGS, parent_id, "Parent log")
        return str(parent_id)
    if reference:
        ref = hl.get(call, LOG_REFS, reference)
        if ref is None or hl.get(call, LOGS, ref["id"]) is None:
            raise NotFound(f"No log with reference_id {reference!r} to use as parent")
        return str(ref["id"])
    return None


# -- POST /logs ----------------------------------------------------------------------------------

ops: Operations[HumanloopState] = Operations()


def log_request(hl: HumanloopState, call: Call, body: dict[str, Any], loc: list[Any]) -> dict[str, Any]:
    """One POST /logs item (also what an evaluation run's client-posted log goes through)."""
    project = hl.resolve_project(call, body)
    if body.get("config") is not None:
        config = register_config(hl, call, project, body["config"])
    elif body.get("config_id"):
        config = public(require_config(hl, call, body["config_id"]))
    elif body.get("trial_id"):
        found = find_trial(hl, call, body["trial_id"])
        if found is None:
            raise NotFound(f"No experiment trial with id {body['trial_id']!r}")
        config = public(require_config(hl, call, found[1]))
    else:
        raise unprocessable(
            [*loc, "config"], "config is required unless config_id or trial_id is given", "missing"
        )
    session_id = sessions.resolve_session(hl, call, body, loc)
    parent_id = resolve_parent(hl, call, body, loc)
    feedback = body.get("feedback")
    feedback_items = feedback if isinstance(feedback, list) else [feedback] if feedback else []
    fields = {k: v for k, v in body.items() if k in _LOG_FIELD_SET and k != "feedback" and k != "config_id"}
    output_message = body.get("output_message")
    if fields.get("output") is None and output_message and isinstance(output_message.get("content"), str):
        fields["output"] = output_message["content"]
    fields.update(project_id=project["id"], config=config, session_id=session_id, parent_id=parent_id)
    if fields.get("save") is None:
        fields["save"] = True
    log = store_log(hl, call, fields)
    if log["trial_id"]:
        count_trial(hl, call, log["trial_id"])
    for item in feedback_items:
        add_feedback(hl, call, log, item)
    return {"id": log["id"], "project_id": project["id"], "session_id": session_id}


@ops("logs_log")
def create(hl: HumanloopState, call: Call) -> Reply:
    if isinstance(call.body, list):
        return Reply(200, [log_request(hl, call, item, ["body", i]) for i, item in enumerate(call.body)])
    return Reply(200, log_request(hl, call, call.body, ["body"]))


# -- reading and changing logs -------------------------------------------------------------------


@ops("logs_get")
def get(hl: HumanloopState, call: Call) -> Reply:
    return Reply(200, log_view(hl, call, hl.require(call, LOGS, call.path["id"], "Log")))


def _moment(value: Any, end: bool) -> datetime | None:
    """A query date or datetime as an aware datetime (a bare date covers its whole day)."""
    if value is None:
        return None
    text = str(value)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
            return moment.replace(hour=23, minute=59, second=59, microsecond=999999) if end else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _matches(log: dict[str, Any], search: str | None, metadata_search: str | None) -> bool:
    if search:
        needle = search.lower()
        haystack = (
            " ".join(str(v) for v in (log.get("inputs") or {}).values()) + " " + (log.get("output") or "")
        )
        if needle not in haystack.lower():
            return False
    if metadata_search:
        if metadata_search.lower() not in str(log.get("metadata") or {}).lower():
            return False
    return True


def filtered_logs(hl: HumanloopState, call: Call, project_id: str) -> list[dict[str, Any]]:
    """The project's stored logs, newest first, after the list's search and date filters.

    As stored: ``logs_page`` views only the page it answers (a list is O(logs) either way, but
    parsing dates nobody filters on and copying logs nobody sees made it ten times slower)."""
    query = call.query
    start, end = _moment(query.get("start_date"), False), _moment(query.get("end_date"), True)
    if query.get("version_status") == "deleted":
        return []
    search, metadata_search = query.get("search"), query.get("metadata_search")
    out = []
    for log in hl.all(call, LOGS):
        if log["project_id"] != project_id or not _matches(log, search, metadata_search):
            continue
        if start or end:
            created = _moment(log["created_at"], False)
            if created is not None and ((start and created < start) or (end and created > end)):
                continue
        out.append(log)
    out.reverse()
    return out


def logs_page(hl: HumanloopState, call: Call, project_id: str, default_size: int) -> dict[str, Any]:
    """One page (``page`` from 0, ``size``) of ``filtered_logs`` as answered.

    Without a filter, the page is read from the store's per-project group: O(page), whatever
    the tenant holds; with one, O(the project's logs)."""
    query = call.query
    page, size = query.get("page"), query.get("size")
    page, size = 0 if page is None else page, size or default_size
    if not any(query.get(name) for name in _FILTERS):
        start, stop = page_bounds(page, size, 0)
        records = hl.store.window(call.api_key, LOGS, start, stop, group=project_id, newest_first=True)
        total = hl.store.count(call.api_key, LOGS, group=project_id)
        envelope = page_envelope(records, page, size, base=0, total=total)
    else:
        envelope = page_envelope(filtered_logs(hl, call, project_id), page, size, base=0)
    envelope["records"] = [log_view(hl, call, log) for log in envelope["records"]]
    return envelope


@ops("logs_list")
def list_logs(hl: HumanloopState, call: Call) -> Reply:
    project_id = call.query["project_id"]
    hl.require(call, PROJECTS, project_id, "Project")
    return Reply(200, logs_page(hl, call, project_id, DEFAULT_SIZE))


def _apply_update(hl: HumanloopState, call: Call, log: dict[str, Any]) -> Reply:
    body = call.body or {}
    for key in ("output", "error", "duration"):
        if body.get(key) is not None:
            log[key] = body[key]
    log["updated_at"] = hl.now()
    hl.put(call, LOGS, log["id"], log)
    if body.get("output") is not None:
        sessions.count_log(hl, call, log, 0)
    return Reply(200, log_view(hl, call, log))


@ops("logs_update")
def update(hl: HumanloopState, call: Call) -> Reply:
    return _apply_update(hl, call, hl.require(call, LOGS, call.path["id"], "Log"))


@ops("logs_update_by_ref")
def update_by_ref(hl: HumanloopState, call: Call) -> Reply:
    reference = call.query["reference_id"]
    ref = hl.get(call, LOG_REFS, reference)
    found = hl.get(call, LOGS, ref["id"]) if ref else None
    if found is None:
        raise NotFound(f"No log with reference_id {reference!r}")
    return _apply_update(hl, call, found)


@ops("logs_delete")
def delete(hl: HumanloopState, call: Call) -> Reply:
    ids = call.query.get("id") or []
    found = [hl.get(call, LOGS, i) for i in ids]
    missing = [i for i, stored in zip(ids, found, strict=True) if stored is None]
    if missing:
        raise NotFound.id("Log", missing[0])
    for stored in found:
        if stored is not None and hl.get(call, LOGS, stored["id"]) is not None:
            forget_log(hl, call, stored)
    return Reply(204)
