"""The official ``openai`` SDK against a contract with no behaviour code (issue 12's third contract).

tests/contracts/openai_style.yaml uses the styles the built-in contracts do not: bearer auth,
cursor paging, updates through POST, a delete that answers ``{id, deleted}``, a path id that is
not a stored resource, and a stream ended by ``data: [DONE]``. Everything here comes from the
generic engine; the plugin's strict mode also fails the test if the SDK sent anything the contract
forbids.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from specfake.contracts.harness.pytest_plugin import RunningFake

CONTRACT = str(Path(__file__).resolve().parents[1] / "contracts" / "openai_style.yaml")
pytestmark = pytest.mark.specfake(CONTRACT)


@pytest.fixture
def client(served: RunningFake) -> Callable[..., Any]:
    def make(api_key: str = "k1") -> Any:
        return openai.OpenAI(api_key=api_key, base_url=served.base_url("openai_style"), max_retries=0)

    return make


def test_create_read_update_delete(client: Callable[..., Any]) -> None:
    sdk = client()
    created = sdk.vector_stores.create(name="docs", metadata={"team": "search"})
    assert created.name == "docs" and created.metadata == {"team": "search"}
    assert sdk.vector_stores.retrieve(created.id) == created
    updated = sdk.vector_stores.update(created.id, name="renamed")  # POST /vector_stores/{id}
    assert updated.id == created.id and updated.name == "renamed"
    assert sdk.vector_stores.retrieve(created.id).name == "renamed"
    deleted = sdk.vector_stores.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "vector_store.deleted")
    with pytest.raises(openai.NotFoundError):
        sdk.vector_stores.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.vector_stores.delete(created.id)


def test_auto_pagination_walks_every_item_once_and_ends(client: Callable[..., Any]) -> None:
    sdk = client()
    made = [sdk.vector_stores.create(name=f"store {i}").id for i in range(7)]
    pages = list(sdk.vector_stores.list(limit=3).iter_pages())
    assert [len(page.data) for page in pages] == [3, 3, 1]
    assert [page.has_more for page in pages] == [True, True, False]
    walked = [store.id for page in pages for store in page.data]
    assert walked == made[::-1]  # newest first: the contract's default order is desc
    assert [s.id for s in sdk.vector_stores.list(limit=2, order="asc")] == made
    first = pages[0]
    assert (first.first_id, first.last_id) == (walked[0], walked[2])  # type: ignore[attr-defined]
    before = sdk.vector_stores.list(limit=2, before=walked[3])
    assert [s.id for s in before.data] == walked[1:3] and before.has_more


def test_each_bearer_token_is_its_own_tenant(client: Callable[..., Any]) -> None:
    mine = client("k1").vector_stores.create(name="mine")
    other = client("k2")
    with pytest.raises(openai.NotFoundError):
        other.vector_stores.retrieve(mine.id)
    assert [s.id for s in other.vector_stores.list()] == []


def test_no_token_is_a_401(served: RunningFake) -> None:
    url = served.base_url("openai_style")
    answer = httpx.get(f"{url}/vector_stores")
    assert answer.status_code == 401
    assert "authorization" in str(answer.json()["detail"]).lower()
    wrong = openai.OpenAI(api_key="", base_url=url, max_retries=0, default_headers={"Authorization": ""})
    with pytest.raises(openai.AuthenticationError):
        wrong.models.retrieve("gpt-4o")
    # Both requests broke the contract on purpose: the checker names them, then they are forgotten.
    assert [(v.check, v.field) for v in served.violations()] == [("auth", "header.authorization")] * 2
    served.clear_journal()


def test_a_path_id_is_echoed(client: Callable[..., Any]) -> None:
    assert client().models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"


def test_answers_fill_optional_fields(client: Callable[..., Any]) -> None:
    completion = client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert isinstance(completion.choices[0].message.content, str) and completion.choices[0].message.content


def test_a_stream_joins_up_and_ends_with_done(client: Callable[..., Any], served: RunningFake) -> None:
    sdk = client()
    chunks = list(
        sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    )
    assert len(chunks) >= 2
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
    assert text.strip()
    assert chunks[-1].choices[-1].finish_reason is not None
    raw = httpx.post(
        f"{served.base_url('openai_style')}/chat/completions",
        headers={"Authorization": "Bearer k1"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    )
    assert raw.text.rstrip().endswith("data: [DONE]")
