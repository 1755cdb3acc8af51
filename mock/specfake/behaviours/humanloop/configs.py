"""Model configs: content-addressed per project, so registering the same config twice gives one id.

The registry only: the /model-configs endpoints are in model_configs.py, environments and
deployments in deployments.py, the .prompt file format in prompt_files.py.

Public helpers other modules use:

- ``register_config(hl, call, project, request)`` -> the stored config response (``type`` "model"
  or "tool"); the first config a project gets becomes its active (default-environment) config.
- ``config_from_request(hl, request)`` -> the config a request describes, without storing it.
- ``require_config(hl, call, config_id)`` -> the stored config; ``public(config)`` -> as answered.
- ``config_use(hl, call, project, config)`` -> a ``ProjectConfigResponse``-shaped dict.
- ``touch_config(hl, call, project_id, config_id)`` records a generation/log against a config.
- ``count_feedback(hl, call, log, feedback, delta)`` keeps a config's ``feedback_stats`` counters.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import orjson
from faker import Faker

from specfake.behaviours.humanloop.common import (
    CONFIG_KEYS,
    CONFIGS,
    PROJECT_CONFIGS,
    PROJECTS,
    HumanloopState,
)
from specfake.behaviours.humanloop.deployments import default_deployment, default_environment, deploy
from specfake.behaviours.humanloop.exceptions import NotFound
from specfake.calls import Call

_FAKER = Faker("en_US")

# Fields a model config answers, with the defaults Humanloop fills in when a request omits them.
MODEL_DEFAULTS: dict[str, Any] = {
    "description": None,
    "other": {},
    "name": None,
    "provider": "openai",
    "max_tokens": -1,
    "temperature": 1,
    "top_p": 1,
    "stop": None,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "seed": None,
    "response_format": None,
    "prompt_template": None,
    "chat_template": None,
    "tool_configs": None,
    "tools": None,
    "endpoint": None,
}
TOOL_FIELDS = ("description", "parameters", "other", "source", "source_code", "preset_name")
# Not part of a config's identity: renaming or re-describing keeps the id.
_NOT_IDENTITY = {"name", "description", "project", "project_id", "experiment", "type", "id"}
# Feedback types whose values are free text: they are not labels, so no stats count them.
TEXT_FEEDBACK = frozenset({"correction", "comment"})


def _digest(value: Any) -> str:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS), digest_size=12).hexdigest()


@functools.lru_cache(maxsize=4096)
def _friendly_name(digest: str) -> str:
    """Humanloop names unnamed configs itself; two seeded words stand in for that.

    Cached: reseeding Faker costs more than the rest of a log request, and the same config is
    logged again and again."""
    _FAKER.seed_instance(int(digest[:8], 16))
    return "-".join(_FAKER.words(2, unique=True))


def _tool_response(tool: dict[str, Any], digest: str, index: int) -> dict[str, Any]:
    """A config's tool (inline or linked) as ``ToolResponse``."""
    return {
        "id": tool.get("id") or f"tl_{digest[:16]}{index:02d}",
        "name": tool.get("name") or tool.get("id") or f"tool_{index}",
        "description": tool.get("description"),
        "parameters": tool.get("parameters"),
        "source": tool.get("source") or "inline",
    }


def config_from_request(
    hl: HumanloopState, request: dict[str, Any], *, endpoint: str | None = None
) -> dict[str, Any]:
    """The config response a request describes (without an id): defaults filled, tools shaped."""
    if request.get("type") == "tool":
        body = {k: request.get(k) for k in TOOL_FIELDS}
        digest = _digest({"tool": request.get("name"), **body})
        return {
            "type": "tool",
            "status": "committed",
            "name": request.get("name") or "tool",
            **body,
            "created_by": None,
            "setup_schema": None,
            "signature": None,
            "is_preset": bool(request.get("preset_name")),
            "_digest": digest,
        }
    config: dict[str, Any] = {"type": "model", "model": request.get("model")}
    for key, default in MODEL_DEFAULTS.items():
        value = request.get(key)
        # The only mutable default is ``other`` ({}): a fresh one per config, no deepcopy.
        config[key] = (dict(default) if type(default) is dict else default) if value is None else value
    if config["endpoint"] is None:
        config["endpoint"] = endpoint or ("chat" if config["chat_template"] is not None else "complete")
    identity = {k: v for k, v in config.items() if k not in _NOT_IDENTITY and k != "tools"}
    identity["tools"] = request.get("tools")
    digest = _digest(identity)
    tools = request.get("tools")
    config["tools"] = [_tool_response(t, digest, i) for i, t in enumerate(tools)] if tools else None
    if config["name"] is None:
        config["name"] = _friendly_name(digest)
    config["_digest"] = digest
    return config


_DIGESTS: dict[bytes, str] = {}  # canonical request JSON + endpoint -> its config digest
_DIGESTS_MAX = 4096


def _request_digest(hl: HumanloopState, request: dict[str, Any], endpoint: str | None) -> str:
    """``config_from_request(...)["_digest"]``, remembered: a client logs the same config over
    and over, and only a new one needs the whole config built."""
    try:
        key = orjson.dumps([request, endpoint], option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers past 64 bits: no key, just compute
        return str(config_from_request(hl, request, endpoint=endpoint)["_digest"])
    digest = _DIGESTS.get(key)
    if digest is None:
        if len(_DIGESTS) >= _DIGESTS_MAX:
            _DIGESTS.clear()
        digest = _DIGESTS[key] = config_from_request(hl, request, endpoint=endpoint)["_digest"]
    return digest


def public(config: dict[str, Any]) -> dict[str, Any]:
    """A stored config (or project) without its internal bookkeeping keys."""
    out = config.copy()  # a C-level copy, then drop the few private keys: twice a comprehension's speed
    for key in config:
        if key[:1] == "_":
            del out[key]
    return out


def register_config(
    hl: HumanloopState,
    call: Call,
    project: dict[str, Any],
    request: dict[str, Any],
    *,
    endpoint: str | None = None,
) -> dict[str, Any]:
    """Find or create the project's config for ``request``; returns the public config dict."""
    digest = _request_digest(hl, request, endpoint)
    key = f"{project['id']}:{digest}"
    ref = hl.get(call, CONFIG_KEYS, key)
    if ref is not None:
        stored = hl.get(call, CONFIGS, ref["id"])
        if stored is not None:
            name, description = request.get("name"), request.get("description")
            # Usually neither is sent: two tests, no dict built on the hot path.
            if (name is not None and stored.get("name") != name) or (
                description is not None and stored.get("description") != description
            ):
                stored.update({k: request[k] for k in ("name", "description") if request.get(k) is not None})
                hl.put(call, CONFIGS, stored["id"], stored)
            return public(stored)
    candidate = config_from_request(hl, request, endpoint=endpoint)
    del candidate["_digest"]
    config = {"id": hl.new_id(CONFIGS), **candidate, "_digest": digest, "_project_id": project["id"]}
    hl.put(call, CONFIGS, config["id"], config)
    hl.put(call, CONFIG_KEYS, key, {"id": config["id"]})
    touch_config(hl, call, project["id"], config["id"], 0)
    if project.get("config_type") is None:
        project["config_type"] = config["type"]
        hl.put(call, PROJECTS, project["id"], project)
    first = config["type"] == "model" and _config_count(hl, call, project["id"]) == 1
    if first and default_deployment(hl, call, project["id"]) is None:
        deploy(hl, call, project, default_environment(hl, call), config_id=config["id"])
    return public(config)


def _config_count(hl: HumanloopState, call: Call, project_id: str) -> int:
    return sum(1 for use in hl.all(call, PROJECT_CONFIGS) if use["project_id"] == project_id)


def require_config(hl: HumanloopState, call: Call, config_id: str) -> dict[str, Any]:
    config = hl.get(call, CONFIGS, config_id)
    if config is None:
        raise NotFound.id("Model config", config_id)
    return config


def touch_config(
    hl: HumanloopState, call: Call, project_id: str, config_id: str, count: int = 1, now: str | None = None
) -> None:
    """A log was recorded against this config in this project: last_used and num_datapoints move.

    ``now``: the moment of the log, when the caller has read the clock already (one reading per log)."""
    key = f"{project_id}:{config_id}"
    use = hl.get(call, PROJECT_CONFIGS, key)
    now = now or hl.now()
    if use is None:
        use = {
            "project_id": project_id,
            "config_id": config_id,
            "created_at": now,
            "updated_at": now,
            "last_used": now,
            "num_datapoints": 0,
        }
    use["last_used"] = now
    use["num_datapoints"] = max(use["num_datapoints"] + count, 0)
    hl.put(call, PROJECT_CONFIGS, key, use)


def count_feedback(
    hl: HumanloopState, call: Call, log: dict[str, Any], feedback: dict[str, Any], delta: int
) -> None:
    """A label feedback was added (+1) to or removed (-1) from ``log``: move its config's counter.

    Counted on write so reading a config's ``feedback_stats`` never scans the logs; only
    categorical labels (a string value of a type other than free text) are counted."""
    kind, value = feedback["type"], feedback.get("value")
    if kind in TEXT_FEEDBACK or not isinstance(value, str) or not log.get("config_id"):
        return
    key = f"{log['project_id']}:{log['config_id']}"
    use = hl.get(call, PROJECT_CONFIGS, key)
    if use is None:
        return
    counts = use.get("feedback") or {}
    values = counts.get(kind) or {}
    values[value] = values.get(value, 0) + delta
    if values[value] <= 0:
        del values[value]
    if values:
        counts[kind] = values
    else:
        counts.pop(kind, None)
    use["feedback"] = counts
    hl.put(call, PROJECT_CONFIGS, key, use)


def feedback_stats(project: dict[str, Any], use: dict[str, Any]) -> list[dict[str, Any]]:
    """``ProjectModelConfigFeedbackStatsResponse`` items: one per (type, label) given at least once.

    ``feedback_type_id`` is the type's 1-based position among the project's feedback types (types
    are only ever appended, so it is stable), and the items are ordered by it, then by label."""
    positions = {t["type"]: i for i, t in enumerate(project["feedback_types"], start=1)}
    counts: dict[str, dict[str, int]] = use.get("feedback") or {}
    rows = [
        {
            "feedback_type_id": positions.get(kind, len(positions) + 1),
            "feedback_type": kind,
            "feedback_value": value,
            "feedback_count": count,
        }
        for kind, values in counts.items()
        for value, count in values.items()
    ]
    return sorted(rows, key=lambda r: (r["feedback_type_id"], r["feedback_type"], r["feedback_value"]))


def config_use(hl: HumanloopState, call: Call, project: dict[str, Any], config_id: str) -> dict[str, Any]:
    """``ProjectConfigResponse``: a config as used by a project."""
    config = require_config(hl, call, config_id)
    use = hl.get(call, PROJECT_CONFIGS, f"{project['id']}:{config_id}") or {}
    now = hl.now()
    return {
        "project_id": project["id"],
        "project_name": project["name"],
        "created_at": use.get("created_at", now),
        "updated_at": use.get("updated_at", now),
        "last_used": use.get("last_used", now),
        "config": public(config),
        "feedback_stats": feedback_stats(project, use),
        "num_datapoints": use.get("num_datapoints", 0),
        "experiment_id": None,
        "evaluation_aggregates": None,
    }
