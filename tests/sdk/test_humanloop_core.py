"""Humanloop core flows through the official Python SDK (humanloop==0.7.30) against a live fake.

Every call passes ``validate=True``, so each answer is checked against the SDK's own pydantic
models (the six broken ones are rebuilt first, as the contract generator does).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from humanloop.exceptions import ApiException

from tests.contracts.test_sdk_models import humanloop_namespace

pytestmark = pytest.mark.sdk

NAMESPACE = humanloop_namespace()  # rebuilds the SDK models that forward-reference missing names

PERSONA = [{"role": "system", "content": "You are {{persona}}. Answer in {{language}}."}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "unit"],
    },
}


def model_config(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "provider": "openai", "chat_template": PERSONA, "temperature": 0.3, **extra}


def user(content: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def failure(method: Callable[..., Any], **kwargs: Any) -> tuple[int, Any]:
    """(status, body) of a call that must fail."""
    with pytest.raises(ApiException) as caught:
        method(**kwargs)
    return caught.value.status, caught.value.body


def status_of(method: Callable[..., Any], **kwargs: Any) -> int:
    return failure(method, **kwargs)[0]


INPUTS = {"persona": "a patient librarian", "language": "English"}


def test_project_config_chat_log_feedback_sessions_deploy_experiment_export_delete(
    humanloop_client: Callable[..., Any],
) -> None:
    hl = humanloop_client()
    project = hl.projects.create(name="support-bot", validate=True)
    assert project.id.startswith("pr_") and project.data_count == 0 and project.active_config is None

    # register: same config twice -> same id; the first config becomes the active one
    first = hl.model_configs.register(
        project_id=project.id, name="librarian", **model_config(), validate=True
    )
    again = hl.model_configs.register(project_id=project.id, **model_config(), validate=True)
    assert first.config.id.startswith("config_") and again.config.id == first.config.id
    other = hl.model_configs.register(project_id=project.id, **model_config(temperature=0.9), validate=True)
    assert other.config.id != first.config.id
    active = hl.projects.get(id=project.id, validate=True).active_config
    assert active is not None and active.config.id == first.config.id
    configs = hl.projects.list_configs(id=project.id, validate=True)
    assert [c.config.id for c in configs] == [first.config.id, other.config.id]
    assert hl.model_configs.get(id=first.config.id, validate=True).name == "librarian"

    # chat with a template rendered from inputs, in a session created by reference
    chat = hl.chats.create(
        project_id=project.id,
        model_config=model_config(),
        messages=user("Recommend a book."),
        inputs=INPUTS,
        session_reference_id="conversation-1",
        validate=True,
    )
    item = chat.data[0]
    assert item.id.startswith("data_") and item.index == 0 and item.output
    assert item.model_config_id_ == first.config.id and item.output_message.role == "assistant"
    assert chat.project_id == project.id and chat.session_id and chat.session_id.startswith("sesh_")
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.generation_tokens
    assert isinstance(chat.provider_responses, list) and chat.provider_responses

    # an external generation, nested under the chat's log in the same session
    logged = hl.logs.log(
        project="support-bot",
        session_reference_id="conversation-1",
        parent_id=item.id,
        reference_id="tool-step-1",
        inputs={"query": "weather"},
        output="Sunny",
        config={"model": "gpt-4o", "type": "model"},
        validate=True,
    )
    assert logged.project_id == project.id and logged.session_id == chat.session_id

    feedback = hl.feedback_api.feedback(type="rating", value="good", data_id=item.id, validate=True)
    assert feedback.id.startswith("ann_")
    batch = hl.feedback_api.feedback(
        body=[{"type": "comment", "value": "helpful", "data_id": item.id}], validate=True
    )
    assert [f.value for f in batch] == ["helpful"]
    got = hl.logs.get(id=item.id, validate=True)
    assert {(f.type, f.value) for f in got.feedback} == {("rating", "good"), ("comment", "helpful")}
    assert got.config.id == first.config.id and got.inputs == INPUTS and got.output == item.output
    rating = next(
        t for t in hl.projects.get(id=project.id, validate=True).feedback_types if t.type == "rating"
    )
    assert [(v.value, v.sentiment) for v in rating.values] == [("good", "positive")]
    assert status_of(hl.feedback_api.feedback, type="rating", value="bad", data_id="data_nope") == 404

    listed = hl.logs.list(project_id=project.id, validate=True)
    assert listed.total == 2 and listed.page == 0
    assert [r.id for r in listed.records] == [logged.id, item.id]  # newest first
    assert hl.logs.list(project_id=project.id, search="weather", validate=True).total == 1
    updated = hl.logs.update(id=logged.id, output="Sunny, 24C", duration=1.5, validate=True)
    assert updated.output == "Sunny, 24C" and updated.duration == 1.5
    by_ref = hl.logs.update_by_ref(reference_id="tool-step-1", error="timeout", validate=True)
    assert by_ref.id == logged.id and by_ref.error == "timeout"

    session = hl.sessions.get(id=chat.session_id, validate=True)
    assert session.reference_id == "conversation-1" and session.datapoints_count == 2
    assert [p.id for p in session.projects] == [project.id] and session.first_inputs == INPUTS
    assert session.last_output == "Sunny, 24C"
    assert hl.logs.get(id=logged.id, validate=True).parent_id == item.id
    sessions = hl.sessions.list(project_id=project.id, page=1, size=10, validate=True)
    assert sessions.page == 1 and [s.id for s in sessions.records] == [chat.session_id]
    empty = hl.sessions.create(validate=True)
    assert empty.id.startswith("sesh_") and hl.sessions.get(id=empty.id, validate=True).datapoints_count == 0

    # deploy the second config to a new "staging" environment, then chat with it
    deployed = hl.projects.deploy_config(
        project_id=project.id, config_id=other.config.id, environments=[{"id": "staging", "name": "staging"}],
        validate=True,
    )  # fmt: skip
    assert deployed[0].environment_name == "staging" and deployed[0].environment_id.startswith("env_")
    staged = hl.chats.create_deployed(
        project_id=project.id, environment="staging", messages=user("Hi"), inputs=INPUTS, validate=True
    )
    assert staged.data[0].model_config_id_ == other.config.id
    production = hl.chats.create_deployed(
        project_id=project.id, messages=user("Hi"), inputs=INPUTS, validate=True
    )
    assert production.data[0].model_config_id_ == first.config.id
    envs = {d.environment_name: d.model_config_id_ for d in hl.projects.list_deployed_configs(id=project.id)}
    assert envs == {"production": first.config.id, "staging": other.config.id}
    by_model_config = hl.chats.create_model_config(
        model_config_id=other.config.id, messages=user("Hi"), inputs=INPUTS, validate=True
    )
    assert by_model_config.data[0].model_config_id_ == other.config.id

    # an experiment over both configs, active in production
    experiment = hl.experiments.create(
        project_id=project.id,
        name="temperature",
        positive_labels=[{"type": "rating", "value": "good"}],
        config_ids=[first.config.id, other.config.id],
        set_active=True,
        validate=True,
    )
    assert experiment.id.startswith("exp_") and len(experiment.configs) == 2
    seen = set()
    for question in ("a", "b", "c", "d", "e", "f"):
        answer = hl.chats.create_experiment(
            experiment_id=experiment.id, messages=user(question), inputs=INPUTS, validate=True
        )
        seen.add(answer.data[0].model_config_id_)
    assert seen == {first.config.id, other.config.id}
    sampled = hl.experiments.sample(experiment_id=experiment.id, validate=True)
    assert sampled.config.id in seen and sampled.trial_id
    by_trial = hl.logs.log(project_id=project.id, trial_id=sampled.trial_id, output="manual", validate=True)
    assert hl.logs.get(id=by_trial.id, validate=True).config.id == sampled.config.id
    assert hl.projects.get(id=project.id, validate=True).active_experiment.id == experiment.id
    renamed = hl.experiments.update(
        experiment_id=experiment.id,
        name="sweep",
        config_ids_to_deregister=[other.config.id],
        validate=True,
    )
    assert renamed.name == "sweep" and [c.active for c in renamed.configs] == [True, False]
    assert sum(c.trials_count for c in renamed.configs) == 7
    assert [e.id for e in hl.experiments.list(project_id=project.id, validate=True)] == [experiment.id]
    hl.projects.deactivate_experiment(id=project.id, validate=True)
    hl.experiments.delete(experiment_id=experiment.id)
    assert status_of(hl.experiments.sample, experiment_id=experiment.id) == 404

    # export, delete logs, delete the deployment, delete the project
    exported = hl.projects.export(id=project.id, page=0, size=5, validate=True)
    assert exported.total == 12 and len(exported.records) == 5
    hl.logs.delete(id=[logged.id])
    assert status_of(hl.logs.get, id=logged.id) == 404
    assert hl.projects.get(id=project.id, validate=True).data_count == 11
    hl.projects.delete_deployed_config(project_id=project.id, environment_id=deployed[0].environment_id)
    assert [d.environment_name for d in hl.projects.list_deployed_configs(id=project.id)] == []
    hl.projects.delete(id=project.id)
    assert status_of(hl.projects.get, id=project.id) == 404
    assert status_of(hl.logs.get, id=item.id) == 404
    assert status_of(hl.model_configs.get, id=first.config.id) == 404


def test_project_is_created_by_name_on_first_use(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    completion = hl.completions.create(
        project="summaries",
        model_config={"model": "gpt-4o-mini", "prompt_template": "Summarise: {{text}}"},
        inputs={"text": "Llamas are friendly."},
        validate=True,
    )
    item = completion.data[0]
    assert item.inputs == {"text": "Llamas are friendly."} and item.output
    found = hl.projects.list(filter="SUMM", validate=True)
    assert [p.name for p in found.records] == ["summaries"] and found.records[0].id == completion.project_id
    assert found.records[0].data_count == 1 and found.records[0].active_config is not None
    # the same name later means the same project
    hl.logs.log(project="summaries", output="x", config={"model": "gpt-4o-mini"}, validate=True)
    assert hl.projects.list(validate=True).total == 1
    assert status_of(hl.projects.create, name="summaries") == 409


def test_missing_template_variable_and_missing_project_are_422s_naming_the_field(
    humanloop_client: Callable[..., Any],
) -> None:
    hl = humanloop_client()
    status, body = failure(
        hl.chats.create,
        project="p",
        model_config=model_config(),
        messages=user("hi"),
        inputs={"persona": "a cat"},
    )
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "inputs", "language"]
    status, body = failure(hl.chats.create, model_config=model_config(), messages=user("hi"))
    assert status == 422 and body["detail"][0]["loc"] == ["body", "project"]
    assert hl.projects.list(validate=True).total == 0  # nothing half-created


def test_save_false_stores_nothing_but_answers(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    project = hl.projects.create(name="drafts", validate=True)
    answer = hl.chats.create(
        project_id=project.id, model_config=model_config(), messages=user("hi"), inputs=INPUTS, save=False,
        validate=True,
    )  # fmt: skip
    assert answer.data[0].id.startswith("data_") and answer.data[0].output
    assert hl.logs.list(project_id=project.id, validate=True).total == 0
    assert hl.projects.get(id=project.id, validate=True).data_count == 0
    assert status_of(hl.logs.get, id=answer.data[0].id) == 404


def test_num_samples_and_determinism(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    kwargs: dict[str, Any] = {
        "project": "samples", "model_config": model_config(), "messages": user("Two ideas"), "inputs": INPUTS,
        "num_samples": 2, "save": False,
    }  # fmt: skip
    answer = hl.chats.create(**kwargs, validate=True)
    assert [d.index for d in answer.data] == [0, 1]
    assert answer.data[0].output != answer.data[1].output
    repeat = hl.chats.create(**kwargs, validate=True)
    assert [d.output for d in repeat.data] == [d.output for d in answer.data]
    stored = hl.chats.create(**{**kwargs, "save": True}, validate=True)
    assert hl.logs.list(project_id=stored.project_id, validate=True).total == 2


def test_json_object_output_parses(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    answer = hl.chats.create(
        project="json", model_config=model_config(), messages=user("As JSON"), inputs=INPUTS,
        response_format={"type": "json_object"}, validate=True,
    )  # fmt: skip
    assert isinstance(json.loads(answer.data[0].output), dict)


def test_forced_tool_gives_a_tool_call_with_valid_arguments(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    answer = hl.chats.create(
        project="tools",
        model_config=model_config(tools=[WEATHER_TOOL]),
        messages=user("Weather in Paris?"),
        inputs=INPUTS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        validate=True,
    )
    item = answer.data[0]
    (call,) = item.output_message.tool_calls
    assert (
        call.type == "function" and call.function.name == "get_weather" and item.finish_reason == "tool_calls"
    )
    arguments = json.loads(call.function.arguments)
    assert isinstance(arguments["city"], str) and arguments["unit"] in ("celsius", "fahrenheit")
    assert 1 <= arguments.get("days", 1) <= 7
    assert item.tool_calls[0].function.arguments == call.function.arguments
    auto = hl.chats.create(
        project="tools", model_config=model_config(tools=[WEATHER_TOOL]), messages=user("Hi"), inputs=INPUTS,
        tool_choice="auto", validate=True,
    )  # fmt: skip
    assert auto.data[0].output and auto.data[0].output_message.tool_calls is None


def test_prompt_file_round_trip(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    request = {**model_config(max_tokens=200, stop=["\n\n"]), "tools": [WEATHER_TOOL]}
    text = hl.model_configs.serialize(**request, validate=True)
    assert isinstance(text, str) and text.startswith("---\n")
    back = hl.model_configs.deserialize(config=text, validate=True)
    assert back.model == "gpt-4o" and back.temperature == 0.3 and back.max_tokens == 200
    assert [m.model_dump(exclude_none=True) for m in back.chat_template] == PERSONA
    assert back.stop == ["\n\n"] and back.tools[0].name == "get_weather"
    registered = hl.model_configs.register(project="prompts", **request, validate=True)
    exported = hl.model_configs.export(id=registered.config.id, validate=True)
    assert hl.model_configs.deserialize(config=exported, validate=True).chat_template == back.chat_template
    assert status_of(hl.model_configs.deserialize, config="not a prompt file") == 422


def test_unknown_ids_and_missing_deployments_are_404(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    project = hl.projects.create(name="empty", validate=True)
    assert status_of(hl.chats.create_deployed, project_id=project.id, messages=user("hi")) == 404
    assert status_of(hl.chats.create_model_config, model_config_id="config_nope", messages=user("x")) == 404
    assert status_of(hl.chats.create_experiment, experiment_id="exp_nope", messages=user("x")) == 404
    assert status_of(hl.projects.get_active_config, id=project.id) == 404
    assert status_of(hl.sessions.get, id="sesh_nope") == 404
    assert status_of(hl.logs.update, id="data_nope", output="x") == 404


def test_api_keys_never_see_each_others_state(humanloop_client: Callable[..., Any]) -> None:
    alice, bob = humanloop_client("alice"), humanloop_client("bob")
    answer = alice.chats.create(
        project="private", model_config=model_config(), messages=user("hi"), inputs=INPUTS, validate=True
    )
    assert status_of(bob.projects.get, id=answer.project_id) == 404
    assert status_of(bob.logs.get, id=answer.data[0].id) == 404
    assert status_of(bob.logs.list, project_id=answer.project_id) == 404
    assert bob.projects.list(validate=True).total == 0
    # the same name is a different project for another key
    theirs = bob.logs.log(project="private", output="x", config={"model": "m"}, validate=True)
    assert theirs.project_id != answer.project_id
    assert alice.logs.list(project_id=answer.project_id, validate=True).total == 1


def test_async_chat_and_stream(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()

    async def run() -> tuple[Any, list[dict[str, Any]]]:
        answer = await hl.achat(
            project="async", model_config=model_config(), messages=user("hi"), inputs=INPUTS
        )
        stream = await hl.chat_stream(
            project="async", model_config=model_config(), messages=user("stream please"), inputs=INPUTS
        )
        return answer, [chunk async for chunk in stream.content]

    answer, chunks = asyncio.run(run())
    NAMESPACE["ChatResponse"].model_validate(answer.model_dump(by_alias=True))
    assert answer.data[0].output
    assert (
        chunks
        and chunks[-1]["finish_reason"] == "stop"
        and all(c["finish_reason"] is None for c in chunks[:-1])
    )
    assert len({c["id"] for c in chunks}) == 1
    text = "".join(c["output"] for c in chunks)
    stored = hl.logs.get(id=chunks[0]["id"], validate=True)
    assert stored.output == text and stored.project_id == chunks[0]["project_id"]


def test_active_config_and_feedback_types(humanloop_client: Callable[..., Any]) -> None:
    hl = humanloop_client()
    project = hl.projects.create(name="feedback-kinds", validate=True)
    first = hl.model_configs.register(project_id=project.id, **model_config(), validate=True)
    active = hl.projects.get_active_config(id=project.id, validate=True)
    assert active.config.id == first.config.id
    hl.projects.deactivate_config(id=project.id, validate=True)
    assert hl.projects.get(id=project.id, validate=True).active_config is None
    assert status_of(hl.projects.get_active_config, id=project.id) == 404

    created = hl.projects.create_feedback_type(
        id=project.id, type="tone", values=[{"value": "warm"}, {"value": "curt"}], validate=True
    )
    assert created.type == "tone" and [v.value for v in created.values or []] == ["warm", "curt"]
    kinds = {t.type for t in hl.projects.get(id=project.id, validate=True).feedback_types}
    assert {"rating", "tone"} <= kinds
    updated = hl.projects.update_feedback_types(
        id=project.id,
        body=[{"type": "tone", "values": [{"value": "warm"}, {"value": "formal"}]}],
        validate=True,
    )
    tone = next(t for t in updated if t.type == "tone")
    # values are added to (not replaced): update also sets values' status, so old ones stay listed
    assert {"warm", "formal"} <= {v.value for v in tone.values or []}
    other = humanloop_client("someone-else")
    assert status_of(other.projects.create_feedback_type, id=project.id, type="x") == 404
