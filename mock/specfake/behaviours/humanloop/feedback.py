"""Feedback on logs: POST /feedback, and the feedback a POST /logs item carries.

Rating, correction and comment are single-valued (the latest replaces the one before); other
types accumulate. ``unset`` removes a type's feedback. A new categorical label joins the project's
feedback types, and the log's config counts it (``configs.count_feedback``).

Public helpers other modules use:

- ``add_feedback(hl, call, log, item) -> dict``: attach one feedback (a ``FeedbackResponse``).
"""

from __future__ import annotations

from typing import Any

from specfake.behaviours import Operations
from specfake.behaviours.humanloop.common import FEEDBACK, LOGS, PROJECTS, HumanloopState
from specfake.behaviours.humanloop.configs import TEXT_FEEDBACK, count_feedback
from specfake.behaviours.humanloop.exceptions import unprocessable
from specfake.calls import Call
from specfake.http import Reply

SENTIMENT = {"good": "positive", "bad": "negative", "positive": "positive", "negative": "negative"}


def add_feedback(hl: HumanloopState, call: Call, log: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """Attach one feedback to ``log`` (or unset that type's feedback); returns the FeedbackResponse."""
    kind = item["type"]
    value = item.get("value")
    if item.get("unset"):
        removed: list[dict[str, Any]] = [f for f in log["feedback"] if f["type"] == kind]
        log["feedback"] = [f for f in log["feedback"] if f["type"] != kind]
        log["updated_at"] = hl.now()
        hl.put(call, LOGS, log["id"], log)
        for gone in removed:
            count_feedback(hl, call, log, gone, -1)
        if removed:
            return removed[-1]
        value = "" if value is None else value
    feedback = {
        "id": hl.new_id(FEEDBACK),
        "type": kind,
        "value": value,
        "data_id": log["id"],
        "user": item.get("user"),
        "created_at": item.get("created_at") or hl.now(),
    }
    if item.get("unset"):
        return feedback
    if kind in ("rating", "correction", "comment"):  # single-valued: the latest replaces
        for gone in (f for f in log["feedback"] if f["type"] == kind):
            count_feedback(hl, call, log, gone, -1)
        log["feedback"] = [f for f in log["feedback"] if f["type"] != kind]
    log["feedback"].append(feedback)
    log["updated_at"] = hl.now()
    hl.put(call, LOGS, log["id"], log)
    count_feedback(hl, call, log, feedback, 1)
    _learn_label(hl, call, log["project_id"], kind, value)
    return feedback


def _learn_label(hl: HumanloopState, call: Call, project_id: str, kind: str, value: Any) -> None:
    """A new categorical value shows up among the project's feedback types."""
    project = hl.get(call, PROJECTS, project_id)
    if project is None or kind in TEXT_FEEDBACK or not isinstance(value, str):
        return
    types = project["feedback_types"]
    entry = next((t for t in types if t["type"] == kind), None)
    if entry is None:
        entry = {"type": kind, "values": []}
        types.append(entry)
    values = entry["values"] if entry["values"] is not None else []
    if any(v["value"] == value for v in values):
        return
    values.append({"value": value, "sentiment": SENTIMENT.get(value.lower(), "unset")})
    entry["values"] = values
    hl.put(call, PROJECTS, project["id"], project)


def _check_feedback(item: dict[str, Any], loc: list[Any]) -> None:
    if item.get("value") is None and not item.get("unset"):
        raise unprocessable([*loc, "value"], "value is required unless unset is true", "missing")
    if not item.get("data_id"):
        raise unprocessable([*loc, "data_id"], "data_id is required to submit feedback", "missing")


# -- operations ----------------------------------------------------------------------------------

ops: Operations[HumanloopState] = Operations()


@ops("feedback_feedback")
def feedback(hl: HumanloopState, call: Call) -> Reply:
    """One item or a list; every item is checked before any is attached."""
    items = call.body if isinstance(call.body, list) else [call.body]
    locs: list[list[Any]] = (
        [["body", i] for i in range(len(items))] if isinstance(call.body, list) else [["body"]]
    )
    for item, loc in zip(items, locs, strict=True):
        _check_feedback(item, loc)
        hl.require(call, LOGS, item["data_id"], "Log")
    out = [add_feedback(hl, call, hl.require(call, LOGS, i["data_id"], "Log"), i) for i in items]
    return Reply(200, out if isinstance(call.body, list) else out[0])
