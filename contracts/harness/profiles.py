"""How hard `check server` tries (profiles), and what the built-in contracts cannot say (allowances).

Profiles trade depth for time: ``quick`` is for every commit (the whole Humanloop contract in under
30 s on two cores), ``thorough`` is the default (under 3 minutes). Both run every schemathesis phase
and every check; they differ in examples per operation, stateful depth and in the coverage phase's
data: its negative cases (about two thirds of its ~10,000 Humanloop requests) are left to the
fuzzing phase's negative examples in ``quick``.

Allowances are facts about a built-in contract that its OpenAPI document cannot state, so that a
correct server (the real service, or the fake) gets no findings. They live here, with the harness,
and not in the repository's tests, because an installed ``specfake check server`` must carry them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PHASES = ("examples", "coverage", "fuzzing", "stateful")


@dataclass(frozen=True)
class Profile:
    """Budget of one run; every phase and every check stay on in every profile."""

    name: str
    max_examples: int  # hypothesis examples per operation in the fuzzing phase
    stateful_max_steps: int  # transitions per stateful scenario
    invariant_examples: int  # examples per invariant state machine
    coverage_mode: str = "all"  # "all" or "positive": the coverage phase's generated data
    max_stream_events: int = 200  # events read from one SSE response before it counts as cut short
    request_timeout: float = 10.0


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        "quick", max_examples=3, stateful_max_steps=6, invariant_examples=5, coverage_mode="positive"
    ),
    "thorough": Profile("thorough", max_examples=40, stateful_max_steps=20, invariant_examples=25),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"no profile {name!r}; choose one of {', '.join(PROFILES)}") from None


# --- allowances -----------------------------------------------------------------------------------

Hook = Callable[[Any, Any], bool]


@dataclass(frozen=True)
class Allowances:
    """What a correct server of one contract does that schemathesis would otherwise report."""

    # Operations whose schema-valid requests may be answered with these statuses by the
    # positive_data_acceptance check: rules the contract cannot state, enforced with a 4xx.
    positive_statuses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # schemathesis hooks (name -> function), registered on this contract's schema only.
    hooks: Mapping[str, Hook] = field(default_factory=dict)
    # Request bodies a correct server accepts from an empty state, added to the operation's
    # examples: requests the fuzzer almost never finds by chance (e.g. a streamed generation
    # needs a project and a model config), so that the stream checks always see a stream.
    request_examples: Mapping[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)


# Humanloop rules the contract cannot state, which the real service (FastAPI validators) answers
# with 422 naming the field: `project` or `project_id` on chats, completions, logs and config
# registration; an input for every {{variable}} of a template; num_samples >= 1; at most one of
# session_id/session_reference_id, parent_id/parent_reference_id and
# active_config_id/active_experiment_id; feedback needs data_id and, unless unsetting, a value;
# deserialize needs a .prompt file; a finetune (and its data summary) trains on a dataset of the
# project in its path. Schema-valid requests breaking them are rejected on purpose. This is the one
# list: the fake may answer such a 422 only here (tests/mock/test_validation.py, and the clean
# control, tests/check/test_clean_control.py), schemathesis.toml mirrors it, and the contract must
# declare the 422 (`schemathesis_config` never excuses a status the operation does not declare).
HUMANLOOP_422_OPERATIONS = (
    "chats_create",
    "chats_create_deployed",
    "chats_create_experiment",
    "chats_create_model_config",
    "completions_create",
    "completions_create_deployed",
    "completions_create_experiment",
    "completions_create_model_config",
    "logs_log",
    "model_configs_register",
    "model_configs_deserialize",
    "projects_update",
    "projects_deploy_config",
    "feedback_feedback",
    "finetunes_create",
    "finetunes_summary",
)
POSITIVE_WITH_422 = ("2xx", "401", "403", "404", "409", "422", "429")

SGP_EVALUATION = "/v4/evaluations/{evaluation_id}"
SGP_FORM_ARRAYS = ("view", "sort_by")  # SGP's comma-joined (explode: false) array query parameters


def sgp_filter_query(ctx: Any, query: Any) -> bool:
    """On the wire ``view=`` is both ``[]`` (valid, and what the SGP SDK sends for ``view=[]``) and
    ``[""]`` (invalid). schemathesis sends it as valid data in its coverage and stateful phases and
    as invalid data when fuzzing, so no server passes both: leave the empty value out (hooks see
    it already joined, as ``""``)."""
    return not (isinstance(query, dict) and any(query.get(name) in ("", [""]) for name in SGP_FORM_ARRAYS))


def sgp_filter_body(ctx: Any, body: Any) -> bool:
    """SGP's delete archives and ``PATCH {"restore": true}`` brings the evaluation back; use_after_free
    counts the restore, and every read after it, as a deleted resource in use. Leave restores out."""
    operation = ctx.operation
    if operation is None or operation.method.upper() != "PATCH" or operation.path != SGP_EVALUATION:
        return True
    return not (isinstance(body, dict) and body.get("restore") is True)


HUMANLOOP_MODEL = {"model": "gpt-4", "prompt_template": "Say hello to {{name}}"}
HUMANLOOP_STREAMS: dict[str, tuple[dict[str, Any], ...]] = {
    "chats_create": (
        {
            "project": "specfake-check",
            "model_config": HUMANLOOP_MODEL,
            "messages": [{"role": "user", "content": "Hello"}],
            "inputs": {"name": "Ada"},
            "stream": True,
        },
    ),
    "completions_create": (
        {
            "project": "specfake-check",
            "model_config": HUMANLOOP_MODEL,
            "inputs": {"name": "Ada"},
            "num_samples": 2,
            "stream": True,
        },
    ),
}

ALLOWANCES: dict[str, Allowances] = {
    "humanloop": Allowances(
        positive_statuses=dict.fromkeys(HUMANLOOP_422_OPERATIONS, POSITIVE_WITH_422),
        request_examples=HUMANLOOP_STREAMS,
    ),
    "sgp": Allowances(hooks={"filter_query": sgp_filter_query, "filter_body": sgp_filter_body}),
}


def allowances_for(contract_name: str) -> Allowances:
    """The built-in contract's allowances; none for any other contract."""
    return ALLOWANCES.get(contract_name, Allowances())
