"""Humanloop behaviours that used to be stubs: feedback stats, user_filter, project delete, num_samples.

Through the official Python SDK (humanloop==0.7.30) with ``validate=True`` against a live fake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.sdk.test_humanloop_core import INPUTS, NAMESPACE, model_config, user

pytestmark = pytest.mark.sdk

assert NAMESPACE  # the SDK models are rebuilt on import (see test_humanloop_core)


def _stats(config_response: Any) -> list[tuple[str, str, int]]:
    return [(s.feedback_type, s.feedback_value, s.feedback_count) for s in config_response.feedback_stats]


def test_feedback_stats_count_labels_per_config(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    project = hl.projects.create(name="stats", validate=True)
    config = hl.model_configs.register(project_id=project.id, **model_config(), validate=True)
    assert config.feedback_stats == []
    ids = [
        hl.logs.log(project_id=project.id, config_id=config.config.id, inputs=INPUTS, output=f"o{i}").id
        for i in range(3)
    ]
    hl.feedback_api.feedback(
        body=[
            {"type": "rating", "value": "good", "data_id": ids[0]},
            {"type": "rating", "value": "good", "data_id": ids[1]},
            {"type": "rating", "value": "bad", "data_id": ids[2]},
            {"type": "action", "value": "copied", "data_id": ids[0]},
            {"type": "comment", "value": "free text is not a label", "data_id": ids[0]},
        ],
        validate=True,
    )
    active = hl.projects.get(id=project.id, validate=True).active_config
    assert _stats(active) == [("rating", "bad", 1), ("rating", "good", 2), ("action", "copied", 1)]
    rating_id = next(s.feedback_type_id for s in active.feedback_stats if s.feedback_type == "rating")
    assert all(s.feedback_type_id == rating_id for s in active.feedback_stats if s.feedback_type == "rating")

    # a rating replaces the log's previous one; unset removes it; deleting a log removes its labels
    hl.feedback_api.feedback(type="rating", value="bad", data_id=ids[1], validate=True)
    hl.feedback_api.feedback(type="action", value="", unset=True, data_id=ids[0], validate=True)
    hl.logs.delete(id=[ids[2]])
    (listed,) = hl.projects.list_configs(id=project.id, validate=True)
    assert _stats(listed) == [("rating", "bad", 1), ("rating", "good", 1)]
    deployed = hl.projects.get_active_config(id=project.id, validate=True)
    assert _stats(deployed) == _stats(listed)

    # another config of the same project keeps its own counts
    other = hl.model_configs.register(project_id=project.id, **model_config(temperature=0.9), validate=True)
    hl.chats.create(project_id=project.id, model_config=model_config(temperature=0.9), messages=user("x"),
                    inputs=INPUTS, validate=True)  # fmt: skip
    configs = {c.config.id: _stats(c) for c in hl.projects.list_configs(id=project.id, validate=True)}
    assert configs[other.config.id] == []


def test_user_filter_matches_the_creating_users_email_or_name(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    hl.projects.create(name="mine-1", validate=True)
    (member,) = hl.projects.create(name="mine-2", validate=True).users
    assert member.id.startswith("usr_") and "@" in member.email_address and member.full_name
    assert "k1" not in member.email_address  # derived from the key, never the key itself

    def names(user_filter: str) -> list[str]:
        return [p.name for p in hl.projects.list(user_filter=user_filter, validate=True).records]

    assert names(member.email_address.upper()) == ["mine-1", "mine-2"]
    assert names(member.email_address.split("@")[0][2:]) == ["mine-1", "mine-2"]
    assert names(member.full_name.lower()) == ["mine-1", "mine-2"]
    assert names("nobody@example.com") == []
    other = humanloop_client(api_key="k2").projects.create(name="theirs", validate=True)
    assert other.users[0].email_address != member.email_address


def test_project_delete_takes_its_datasets_evaluations_and_logs(humanloop_client: Callable[..., Any]) -> None:
    from tests.sdk.test_humanloop_evaluations import Bench, evaluator, status_of

    hl = humanloop_client()
    bench = Bench.build(hl, 3)
    run = bench.run([evaluator(hl, "correct", "boolean")], hl_generated=True)
    log_ids = [r.log.id for r in hl.evaluations.list_datapoints(id=run.id, page=1, size=10).records]
    session = hl.logs.log(project_id=bench.project_id, config_id=bench.config_id, output="x",
                          session_reference_id="s-1", reference_id="r-1")  # fmt: skip
    kept_id = hl.model_configs.register(project="kept", model="gpt-4", validate=True).project_id
    kept_dataset = hl.datasets.create(project_id=kept_id, name="kept", description="d", validate=True)

    hl.projects.delete(id=bench.project_id)
    for read in (
        lambda: hl.datasets.get(id=bench.dataset_id),
        lambda: hl.datasets.list_datapoints(dataset_id=bench.dataset_id),
        lambda: hl.evaluations.get(id=run.id),
        lambda: hl.evaluations.list_datapoints(id=run.id),
        *(lambda i=i: hl.logs.get(id=i) for i in [*log_ids, session.id]),
        lambda: hl.logs.update_by_ref(reference_id="r-1", output="y"),
        lambda: hl.projects.get(id=bench.project_id),
    ):
        assert status_of(read)[0] == 404
    assert [d.id for d in hl.datasets.list(validate=True)] == [kept_dataset.id]
    assert hl.sessions.get(id=session.session_id, validate=True).datapoints_count == 0
    assert hl.projects.get(id=kept_id, validate=True).name == "kept"


def test_num_samples_above_the_cap_is_a_422_naming_it(humanloop_client: Callable[..., Any]) -> None:
    from humanloop.exceptions import ApiException

    from specfake.behaviours.humanloop.generation import MAX_SAMPLES

    hl = humanloop_client()
    kwargs: dict[str, Any] = {"project": "cap", "model_config": model_config(), "messages": user("Ideas"),
                              "inputs": INPUTS, "save": False}  # fmt: skip
    with pytest.raises(ApiException) as caught:
        hl.chats.create(**kwargs, num_samples=MAX_SAMPLES + 1)
    assert caught.value.status == 422
    assert [e["loc"] for e in caught.value.body["detail"]] == [["body", "num_samples"]]
    assert hl.projects.list(filter="cap", validate=True).total == 0  # the rejected call wrote nothing
    answer = hl.chats.create(**kwargs, num_samples=MAX_SAMPLES, validate=True)
    assert len(answer.data) == answer.num_samples == MAX_SAMPLES
