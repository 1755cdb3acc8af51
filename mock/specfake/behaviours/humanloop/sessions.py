"""Sessions: groups of logs, created explicitly or on first use by ``session_reference_id``.

A stored session is a ``SessionResponse``; logs.store_log keeps its counters (datapoints_count,
projects, first_inputs, last_output) current. Logs nest inside a session through ``parent_id``.
"""

from __future__ import annotations

from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop.common import (
    PROJECTS,
    SESSION_REFS,
    SESSIONS,
    HumanloopState,
    page_envelope,
)
from specfake.behaviours.humanloop.exceptions import NotFound, unprocessable
from specfake.calls import Call
from specfake.http import Reply

DEFAULT_SIZE = 10


def create_session(hl: HumanloopState, call: Call, reference_id: str | None = None) -> dict[str, Any]:
    now = hl.now()
    session: dict[str, Any] = {
        "id": hl.new_id(SESSIONS),
        "projects": [],
        "datapoints_count": 0,
        "created_at": now,
        "updated_at": now,
        "reference_id": reference_id,
        "first_inputs": None,
        "last_output": None,
    }
    hl.put(call, SESSIONS, session["id"], session)
    if reference_id is not None:
        hl.put(call, SESSION_REFS, reference_id, {"id": session["id"]})
    return session


def resolve_session(hl: HumanloopState, call: Call, body: dict[str, Any], loc: list[Any]) -> str | None:
    """The session a log goes to: ``session_id`` (must exist) or ``session_reference_id``
    (created on first use); at most one of them."""
    session_id = body.get("session_id")
    reference = body.get("session_reference_id")
    if session_id and reference:
        raise unprocessable(
            [*loc, "session_reference_id"], "Specify at most one of session_id and session_reference_id"
        )
    if session_id:
        if hl.get(call, SESSIONS, session_id) is None:
            raise NotFound.id("Session", session_id)
        return str(session_id)
    if reference:
        ref = hl.get(call, SESSION_REFS, reference)
        if ref is not None and hl.get(call, SESSIONS, ref["id"]) is not None:
            return str(ref["id"])
        return str(create_session(hl, call, reference)["id"])
    return None


def count_log(hl: HumanloopState, call: Call, log: dict[str, Any], delta: int) -> None:
    """A log joined (1), left (-1) or changed (0) in its session: keep the summary current."""
    session_id = log.get("session_id")
    session = hl.get(call, SESSIONS, session_id) if session_id else None  # most logs have none
    if session is None:
        return
    session["datapoints_count"] = max(session["datapoints_count"] + delta, 0)
    if delta > 0:
        if not any(p["id"] == log["project_id"] for p in session["projects"]):
            session["projects"].append({"id": log["project_id"], "name": log["project"], "type": "prompt"})
        if session["first_inputs"] is None:
            session["first_inputs"] = log.get("inputs")
    if delta >= 0 and log.get("output") is not None:
        session["last_output"] = log["output"]
    session["updated_at"] = hl.now()
    hl.put(call, SESSIONS, session["id"], session)


def session_view(hl: HumanloopState, call: Call, session: dict[str, Any]) -> dict[str, Any]:
    """Project names as they are now (a project may have been renamed or deleted since)."""
    projects = []
    for entry in session["projects"]:
        project = hl.get(call, PROJECTS, entry["id"])
        if project is not None:
            projects.append({**entry, "name": project["name"]})
    return {**session, "projects": projects}


# -- operations ----------------------------------------------------------------------------------

ops: Operations[HumanloopState] = Operations()


@ops("sessions_create")
def create(hl: HumanloopState, call: Call) -> Reply:
    return Reply(201, {"id": create_session(hl, call)["id"]})


@ops("sessions_list")
def list_sessions(hl: HumanloopState, call: Call) -> Reply:
    project_id = call.query["project_id"]
    hl.require(call, PROJECTS, project_id, "Project")
    page = call.query.get("page")
    size = call.query.get("size")
    page = 1 if page is None else page
    size = DEFAULT_SIZE if size is None else size
    records = [
        session_view(hl, call, s)
        for s in hl.all(call, SESSIONS)
        if any(p["id"] == project_id for p in s["projects"])
    ]
    return Reply(200, page_envelope(records, page, size, base=1))


@ops("sessions_get")
def get(hl: HumanloopState, call: Call) -> Reply:
    session = hl.require(call, SESSIONS, call.path["id"], "Session")
    return Reply(200, session_view(hl, call, session))
