"""The official SGP client (strict response validation) through whole evaluation flows: create,
read, page, sort, filter, expand, update, archive, restore; tenancy; and named 422s."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import scale_gp

from specfake.app import create_app
from specfake.contracts.harness.pytest_plugin import RunningFake
from specfake.server import LiveServer
from specfake.validation import SchemaValidator, registry_for

ALL_VIEWS = ["ApplicationSpec", "AsyncJobs", "EvaluationConfig", "EvaluationDatasets"]


def make(client: Any, name: str, spec: str = "spec-a", account: str = "acc-1", **extra: Any) -> Any:
    return client.evaluations.create(
        account_id=account, application_spec_id=spec, description=f"about {name}", name=name, **extra
    )


def builder(client: Any, name: str, **extra: Any) -> Any:
    return make(
        client,
        name,
        type="builder",
        application_variant_id="variant-1",
        evaluation_dataset_id="dataset-1",
        **extra,
    )


def raw(served: RunningFake, key: str = "k1") -> httpx.Client:
    return httpx.Client(base_url=served.base_url("sgp"), headers={"x-api-key": key})


def test_create_reflects_the_request_and_retrieve_returns_it(sgp_client: Callable[..., Any]) -> None:
    client = sgp_client()
    created = builder(
        client,
        "first",
        tags={"team": "search"},
        evaluation_config={"k": 1},
        annotation_config={"components": [[{"data_loc": ["input"], "label": "Input"}]], "direction": "col"},
        metric_config={"components": [{"name": "overlap", "type": "rouge"}]},
        question_id_to_annotation_config={"q1": {"annotation_config_type": "flexible", "direction": "row"}},
        inline_evaluation_config={
            "account_id": "acc-1",
            "question_set_id": "qs-1",
            "evaluation_type": "human",
        },
    )
    assert (created.name, created.description, created.account_id) == ("first", "about first", "acc-1")
    assert (created.application_spec_id, created.application_variant_id) == ("spec-a", "variant-1")
    assert created.tags == {"team": "search"} and created.evaluation_config == {"k": 1}
    assert created.annotation_config.direction == "col"
    assert created.annotation_config.components[0][0].data_loc == ["input"]
    assert created.metric_config.components[0].type == "rouge"
    assert created.question_id_to_annotation_config["q1"].direction == "row"
    assert created.status == "PENDING" and created.archived_at is None and created.completed_at is None
    assert created.created_by_identity_type == "user" and created.created_by_user_id
    assert created.evaluation_config_id  # the inline config became a config of its own
    assert len(created.id) == 36  # a UUID

    fetched = client.evaluations.retrieve(created.id)
    assert fetched.model_dump() == {
        **created.model_dump(),
        "application_spec": None,
        "async_jobs": None,
        "evaluation_config_expanded": None,
        "evaluation_datasets": None,
    }
    generation = make(client, "second", annotation_config={"llm_prompt_template": "Rate {x}"})
    assert generation.annotation_config.annotation_config_type == "generation"
    assert generation.annotation_config.llm_prompt.template == "Rate {x}"
    assert generation.total_test_case_result_count == 0 and generation.evaluation_config_id is None


def test_auto_pagination_yields_every_item_once_and_ends(
    sgp_client: Callable[..., Any], served: RunningFake
) -> None:
    client = sgp_client()
    ids = [make(client, f"e{i}").id for i in range(5)]
    seen = [e.id for e in client.evaluations.list(limit=2)]
    assert seen == ids  # creation order, each exactly once, and the loop ended
    first = client.evaluations.list(limit=2)
    assert (first.current_page, first.items_per_page, first.total_item_count) == (1, 2, 5)
    with raw(served) as http:
        past = http.get("/v4/evaluations", params={"page": 4, "limit": 2}).json()
    assert past == {"items": [], "total_item_count": 5, "current_page": 4, "items_per_page": 2}


def test_sort_by_several_keys_in_turn(sgp_client: Callable[..., Any], served: RunningFake) -> None:
    client = sgp_client()
    for name, spec in [("b", "s2"), ("a", "s1"), ("c", "s1"), ("a", "s2"), ("b", "s1")]:
        make(client, name, spec=spec)
    pairs = [
        (e.application_spec_id, e.name)
        for e in client.evaluations.list(sort_by=["application_spec_id:desc", "name:asc"])
    ]
    assert pairs == [("s2", "a"), ("s2", "b"), ("s1", "a"), ("s1", "b"), ("s1", "c")]
    by_name = [(e.name, e.application_spec_id) for e in client.evaluations.list(sort_by=["name:desc"])]
    assert by_name == [("c", "s1"), ("b", "s2"), ("b", "s1"), ("a", "s1"), ("a", "s2")]  # stable
    with raw(served) as http:  # the same keys sent as a repeated parameter
        repeated = http.get("/v4/evaluations?sort_by=application_spec_id:desc&sort_by=name:asc").json()
    assert [(e["application_spec_id"], e["name"]) for e in repeated["items"]] == pairs


def test_filters_count_the_filtered_set(sgp_client: Callable[..., Any]) -> None:
    client = sgp_client()
    make(client, "x", spec="s1", account="acc-1")
    make(client, "y", spec="s2", account="acc-1")
    make(client, "z", spec="s1", account="acc-2")
    page = client.evaluations.list(application_spec_id="s1")
    assert sorted(e.name for e in page.items) == ["x", "z"] and page.total_item_count == 2
    page = client.evaluations.list(account_id="acc-1", application_spec_id="s1")
    assert [e.name for e in page.items] == ["x"] and page.total_item_count == 1
    assert client.evaluations.list(account_id="nobody").items == []


def test_view_expands_consistent_sub_objects(sgp_client: Callable[..., Any], served: RunningFake) -> None:
    client = sgp_client()
    auto = builder(
        client,
        "auto",
        inline_evaluation_config={
            "account_id": "acc-1",
            "question_set_id": "qs-9",
            "auto_evaluation_model": "gpt-4o",
            "auto_evaluation_parameters": {"temperature": 0.2},
        },
    )
    plain = make(client, "plain", evaluation_config_id="cfg-7")
    legacy = make(client, "legacy", evaluation_config={"evaluation_type": "human"})

    got = client.evaluations.retrieve(auto.id, view=ALL_VIEWS)
    assert got.application_spec.id == "spec-a" and got.application_spec.account_id == "acc-1"
    assert [d.id for d in got.evaluation_datasets] == ["dataset-1"]
    assert len(got.async_jobs) == 1 and got.async_jobs[0].status == "PENDING"
    config = got.evaluation_config_expanded
    assert (config.id, config.question_set_id, config.question_set.id) == (
        auto.evaluation_config_id,
        "qs-9",
        "qs-9",
    )
    assert (config.evaluation_type, config.auto_evaluation_model) == ("llm_auto", "gpt-4o")
    assert config.auto_evaluation_parameters.temperature == 0.2

    listed = {e.id: e for e in client.evaluations.list(view=ALL_VIEWS)}
    assert listed[auto.id].evaluation_config_expanded.model_dump() == config.model_dump()
    assert listed[plain.id].evaluation_config_expanded.id == "cfg-7"
    assert listed[plain.id].evaluation_datasets == [] and listed[plain.id].async_jobs == []
    assert listed[legacy.id].evaluation_config_expanded.evaluation_type == "human"
    bare = client.evaluations.retrieve(plain.id, view=[])  # sent as `view=`: no expansion
    assert bare.application_spec is None and bare.evaluation_config_expanded is None
    only_spec = client.evaluations.retrieve(plain.id, view=["ApplicationSpec"])
    assert only_spec.application_spec is not None and only_spec.evaluation_config_expanded is None

    # The raw answers are valid for the contract too, not only for the SDK's models.
    api = served.app.api("sgp")
    registry = registry_for(api.contract)
    page_schema = SchemaValidator(
        api.contract, {"$ref": "#/components/schemas/SyncPageResponseEvaluationListResponse"}, registry
    )
    with raw(served) as http:
        body = http.get("/v4/evaluations", params={"view": ",".join(ALL_VIEWS)}).json()
    assert page_schema.errors(body, []) == []


def test_update_archive_restore(sgp_client: Callable[..., Any], served: RunningFake) -> None:
    client = sgp_client()
    kept = make(client, "kept")
    gone = make(client, "gone", tags={"v": 1})
    updated = client.evaluations.update(gone.id, name="renamed", tags={"v": 2}, description="new")
    assert (updated.name, updated.tags, updated.description) == ("renamed", {"v": 2}, "new")
    assert updated.application_spec_id == gone.application_spec_id  # untouched fields stay
    ignored = client.evaluations.update(gone.id, extra_body={"account_id": "other", "metric_config": {}})
    assert ignored.account_id == "acc-1" and ignored.metric_config is None  # not in the patch model
    assert client.evaluations.retrieve(gone.id).name == "renamed"

    assert client.evaluations.delete(gone.id).model_dump() == {"count": 1, "success": True}
    with pytest.raises(scale_gp.NotFoundError):
        client.evaluations.retrieve(gone.id)
    with pytest.raises(scale_gp.NotFoundError):
        client.evaluations.delete(gone.id)
    with pytest.raises(scale_gp.ConflictError):
        client.evaluations.update(gone.id, name="while archived")
    assert [e.id for e in client.evaluations.list()] == [kept.id]
    archived = client.evaluations.list(include_archived=True)
    assert [e.id for e in archived] == [kept.id, gone.id] and archived.total_item_count == 2
    assert archived.items[1].archived_at is not None

    restored = client.evaluations.update(gone.id, restore=True)
    assert restored.archived_at is None and restored.name == "renamed"
    assert [e.id for e in client.evaluations.list()] == [kept.id, gone.id]
    assert client.evaluations.retrieve(gone.id).archived_at is None
    assert client.evaluations.update(kept.id, restore=True).archived_at is None  # no-op when live


def test_hybrid_upgrade_and_conflicting_config(sgp_client: Callable[..., Any]) -> None:
    client = sgp_client()
    studio = builder(
        client,
        "studio",
        inline_evaluation_config={
            "account_id": "acc-1",
            "question_set_id": "qs",
            "evaluation_type": "studio",
        },
    )
    with pytest.raises(scale_gp.ConflictError):
        client.evaluations.update(studio.id, evaluation_type="llm_benchmark")
    human = builder(
        client, "human", inline_evaluation_config={"account_id": "acc-1", "question_set_id": "qs"}
    )
    client.evaluations.update(human.id, evaluation_type="llm_benchmark")
    expanded = client.evaluations.retrieve(human.id, view=["EvaluationConfig"]).evaluation_config_expanded
    assert expanded.evaluation_type == "llm_benchmark"
    with pytest.raises(scale_gp.ConflictError):
        builder(
            client,
            "both",
            evaluation_config_id="cfg",
            inline_evaluation_config={"account_id": "acc-1", "question_set_id": "qs"},
        )


def test_one_key_never_sees_anothers_evaluations(sgp_client: Callable[..., Any]) -> None:
    mine, theirs = sgp_client("k1"), sgp_client("k2")
    created = make(mine, "private")
    assert theirs.evaluations.list().items == []
    assert theirs.evaluations.list(include_archived=True).total_item_count == 0
    for action in (
        lambda: theirs.evaluations.retrieve(created.id),
        lambda: theirs.evaluations.update(created.id, name="stolen"),
        lambda: theirs.evaluations.update(created.id, restore=True),
        lambda: theirs.evaluations.delete(created.id),
    ):
        with pytest.raises(scale_gp.NotFoundError):
            action()
    assert mine.evaluations.retrieve(created.id).name == "private"


def test_claim_task_assigns_the_callers_next_task(
    sgp_client: Callable[..., Any], served: RunningFake
) -> None:
    """A claim hands out a pending annotation task about one test case result of the evaluation;
    claiming again without ``skip_current`` answers the task the caller already holds."""
    client = sgp_client()
    created = builder(client, "to annotate", annotation_config={"llm_prompt_template": "Rate {x}"})
    task = client.evaluations.claim_task(created.id)
    assert task is not None and len(task.id) == 36
    assert (task.task_type, task.status, task.priority) == ("EVALUATION_ANNOTATION", "PENDING", 1)
    assert (task.account_id, task.task_entity_parent_id) == ("acc-1", created.id)
    assert task.assigned_to == created.created_by_user_id  # the key's user
    assert task.assignment_expires_at is not None and task.assignment_expires_at > created.created_at
    entity = task.task_entity
    assert entity is not None and entity.id == task.task_entity_id
    assert (entity.evaluation_id, entity.account_id) == (created.id, "acc-1")
    assert entity.application_spec_id == "spec-a"
    assert (entity.evaluation_dataset_id, entity.label_status) == ("dataset-1", "PENDING")
    assert entity.test_case_evaluation_data_schema == "GENERATION" and entity.result is None
    assert client.evaluations.claim_task(created.id) == task  # still the caller's: nothing new taken
    assert client.evaluations.claim_task(created.id, task_type="EVALUATION_ANNOTATION") == task
    assert client.evaluations.claim_task(created.id, task_type="EVALUATION_AUDIT") is None

    components = [[{"data_loc": ["x"], "label": "X"}]]
    flexible = builder(client, "flexible", annotation_config={"components": components})
    claimed = client.evaluations.claim_task(flexible.id)
    assert claimed is not None and claimed.task_entity.test_case_evaluation_data_schema == "FLEXIBLE"
    assert claimed.id != task.id and claimed.task_entity_id != task.task_entity_id
    assert client.evaluations.claim_task(make(client, "no test cases").id) is None  # a default evaluation
    with raw(served) as http:  # the body is optional (the SDK always sends one)
        bare = http.post(f"/v4/evaluations/{created.id}/claim-task")
    assert bare.status_code == 200 and bare.json()["id"] == task.id


def test_claim_task_until_none_is_left(sgp_client: Callable[..., Any]) -> None:
    """``skip_current`` gives up the held task and takes the next: every task once, then null."""
    client = sgp_client()
    created = builder(client, "exhaust")
    total = created.total_test_case_result_count
    assert total >= 3
    first = client.evaluations.claim_task(created.id)
    assert first is not None
    seen, entities = [first.id], {first.task_entity_id}
    while (task := client.evaluations.claim_task(created.id, skip_current=True)) is not None:
        assert task.assigned_to == first.assigned_to and task.status == "PENDING"
        seen.append(task.id)
        entities.add(task.task_entity_id)
        assert len(seen) <= total, "a task was handed out twice"
    assert len(seen) == len(set(seen)) == len(entities) == total
    assert client.evaluations.claim_task(created.id) is None
    assert client.evaluations.claim_task(created.id, skip_current=True) is None
    # the evaluation itself is untouched by claims
    assert client.evaluations.retrieve(created.id).completed_test_case_result_count == 0


def test_claim_task_on_unknown_or_archived_evaluation_is_a_404(sgp_client: Callable[..., Any]) -> None:
    client = sgp_client()
    with pytest.raises(scale_gp.NotFoundError):
        client.evaluations.claim_task("no-such-evaluation")
    created = builder(client, "archived")
    client.evaluations.delete(created.id)
    with pytest.raises(scale_gp.NotFoundError):
        client.evaluations.claim_task(created.id)
    client.evaluations.update(created.id, restore=True)
    assert client.evaluations.claim_task(created.id) is not None


def test_claim_task_is_per_tenant(sgp_client: Callable[..., Any]) -> None:
    """Another key can neither claim nor disturb a key's tasks: its claims are 404s."""
    mine, theirs = sgp_client("k1"), sgp_client("k2")
    created = builder(mine, "private tasks")
    for _ in range(2):
        with pytest.raises(scale_gp.NotFoundError):
            theirs.evaluations.claim_task(created.id, skip_current=True)
    claimed = [mine.evaluations.claim_task(created.id)]  # k2's skips took nothing from k1
    while (task := mine.evaluations.claim_task(created.id, skip_current=True)) is not None:
        claimed.append(task)
    assert len({t.id for t in claimed if t}) == created.total_test_case_result_count
    own = builder(theirs, "theirs")
    their_task = theirs.evaluations.claim_task(own.id)
    assert their_task is not None and claimed[0] is not None
    assert their_task.assigned_to != claimed[0].assigned_to  # each key is its own user
    with pytest.raises(scale_gp.NotFoundError):
        mine.evaluations.claim_task(own.id)


@pytest.fixture(scope="module")
def sgp_only() -> Iterator[httpx.Client]:
    """One SGP-only fake for the stateless 422 checks (a fresh server each would cost more)."""
    with LiveServer(create_app(["sgp"])) as server:
        with httpx.Client(base_url=server.url + "/sgp", headers={"x-api-key": "k1"}) as http:
            yield http


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "loc"),
    [
        ("GET", "/v4/evaluations", {"sort_by": "bogus:asc"}, None, ["query", "sort_by", 0]),
        ("GET", "/v4/evaluations", {"sort_by": "name:asc,name:sideways"}, None, ["query", "sort_by", 1]),
        ("GET", "/v4/evaluations", {"view": "Everything"}, None, ["query", "view", 0]),
        ("GET", "/v4/evaluations", {"limit": "0"}, None, ["query", "limit"]),
        ("GET", "/v4/evaluations", {"limit": "10001"}, None, ["query", "limit"]),
        ("GET", "/v4/evaluations", {"page": "0"}, None, ["query", "page"]),
        ("GET", "/v4/evaluations", {"include_archived": "maybe"}, None, ["query", "include_archived"]),
        (
            "POST",
            "/v4/evaluations",
            {},
            {"account_id": "a", "application_spec_id": "s", "description": "d", "name": 5},
            ["body", "name"],
        ),
        (
            "POST",
            "/v4/evaluations",
            {},
            {
                "account_id": "a",
                "application_spec_id": "s",
                "description": "d",
                "name": "n",
                "type": "builder",
            },
            ["body", "evaluation_dataset_id"],
        ),
        (
            "POST",
            "/v4/evaluations",
            {},
            {"account_id": "a", "application_spec_id": "s", "description": "d", "name": "n", "type": "odd"},
            ["body", "type"],
        ),
        ("PATCH", "/v4/evaluations/x", {}, {"tags": "x"}, ["body", "tags"]),
        ("PATCH", "/v4/evaluations/x", {}, {"annotation_config": {"direction": "up"}}, None),
        ("POST", "/v4/evaluations/x/claim-task", {"task_type": "REVIEW"}, {}, ["query", "task_type"]),
        ("POST", "/v4/evaluations/x/claim-task", {}, {"skip_current": "yes"}, ["body", "skip_current"]),
    ],
)
def test_wrong_input_is_a_422_naming_the_field(
    sgp_only: httpx.Client, method: str, path: str, params: dict[str, str], body: Any, loc: list[Any] | None
) -> None:
    response = sgp_only.request(method, path, params=params, json=body)
    assert response.status_code == 422, response.text
    locs = [entry["loc"] for entry in response.json()["detail"]]
    expected = loc or ["body", "annotation_config", "direction"]
    assert expected in locs, locs
    assert ["body"] not in locs


def test_every_sort_key_and_view_answers(sgp_client: Callable[..., Any], served: RunningFake) -> None:
    """Each of the 52 sort keys, on evaluations that leave different fields null, with every view."""
    client = sgp_client()
    builder(client, "full", tags={"t": 1}, metric_config={"components": [{"name": "m", "type": "f1"}]})
    make(client, "bare")
    make(client, "legacy", evaluation_config={"x": [1]}, annotation_config={"llm_prompt_template": "p"})
    keys = served.app.api("sgp").contract.operation("evaluations_list").parameters
    enum = next(p for p in keys if p.name == "sort_by").schema["items"]["enum"]
    assert len(enum) == 52
    for key in enum:
        page = client.evaluations.list(sort_by=[key, "id:asc"], view=ALL_VIEWS)
        assert page.total_item_count == 3 and len(page.items) == 3, key
    with raw(served) as http:
        huge = http.get("/v4/evaluations", params={"page": str(2**70), "limit": 10000})
    assert huge.status_code == 200 and huge.json()["items"] == []


def test_archived_reads_can_be_made_visible() -> None:
    """``sgp_archived_reads=visible``: retrieve answers an archived evaluation with archived_at set."""
    with LiveServer(create_app(["sgp"], options={"sgp_archived_reads": "visible"})) as server:
        client = scale_gp.SGPClient(
            api_key="k1", base_url=server.url + "/sgp", _strict_response_validation=True, max_retries=0
        )
        created = make(client, "kept around")
        client.evaluations.delete(created.id)
        assert client.evaluations.retrieve(created.id).archived_at is not None
        assert client.evaluations.list().items == []
        with pytest.raises(scale_gp.NotFoundError):
            client.evaluations.delete(created.id)
