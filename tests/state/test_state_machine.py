"""Random create/read/update/delete/list sequences against the fake, checked against a dict model.

Two API keys share one fake: a key never sees another's items (404 on get, update and delete,
absent from its list), and walking the list page by page yields each of its items exactly once,
in creation order. Run for the generic ``notes`` contract (no behaviour module) and for SGP
(archive on delete, restore).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from specfake.app import SpecfakeApp, create_app
from tests.state.helpers import NOTES

with warnings.catch_warnings():  # starlette prefers httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

TENANTS = ("key-one", "key-two")
SETTINGS = settings(
    max_examples=40, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck)
)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)


@dataclass(frozen=True)
class Api:
    """How one contract spells the same resource operations."""

    contract: str
    collection: str
    key_header: str
    size_param: str
    total_field: str
    creates: st.SearchStrategy[dict[str, Any]]
    patches: st.SearchStrategy[dict[str, Any]]
    invalid_patch: dict[str, Any]
    deleted_status: int
    archives: bool  # delete archives (SGP): an archived item is 404 to reads, 409 to updates
    integer_ids: bool = False  # serve a copy of the contract whose ids are integers


NOTES_API = Api(
    contract=str(NOTES),
    collection="/notes/v1/notes",
    key_header="X-API-Key",
    size_param="size",
    total_field="total",
    creates=st.fixed_dictionaries(
        {"title": text.filter(bool), "body": text},
        optional={"tags": st.lists(text, max_size=3), "pinned": st.booleans()},
    ),
    patches=st.fixed_dictionaries(
        {},
        optional={
            "title": text.filter(bool),
            "body": text,
            "pinned": st.booleans(),
            "revision": st.integers(0, 9),
        },
    ),
    invalid_patch={"title": ""},
    deleted_status=204,
    archives=False,
)
INT_NOTES_API = replace(NOTES_API, contract="intnotes", collection="/intnotes/v1/notes", integer_ids=True)
SGP_API = Api(
    contract="sgp",
    collection="/sgp/v4/evaluations",
    key_header="x-api-key",
    size_param="limit",
    total_field="total_item_count",
    creates=st.fixed_dictionaries(
        {
            "account_id": st.just("acct"),
            "application_spec_id": st.sampled_from(["app-a", "app-b"]),
            "name": text,
            "description": text,
            "type": st.just("default"),
        }
    ),
    patches=st.fixed_dictionaries({}, optional={"name": text, "description": text}),
    invalid_patch={"name": 7},
    deleted_status=200,
    archives=True,
)


class FakeVersusModel(RuleBasedStateMachine):
    api: ClassVar[Api]
    app: ClassVar[SpecfakeApp]
    client: ClassVar[TestClient]

    items = Bundle("items")

    def __init__(self) -> None:
        super().__init__()
        # tenant -> id -> [body, archived]; dict order is creation order, as lists answer
        self.model: dict[str, dict[str, list[Any]]] = {t: {} for t in TENANTS}

    @initialize()
    def fresh_store(self) -> None:
        for api in self.app.apis:
            api.store.reset()

    def call(self, method: str, tenant: str, suffix: str = "", **kwargs: Any) -> Any:
        headers = {self.api.key_header: tenant}
        return self.client.request(method, self.api.collection + suffix, headers=headers, **kwargs)

    def live(self, tenant: str, item_id: str) -> dict[str, Any] | None:
        entry = self.model[tenant].get(item_id)
        return entry[0] if entry and not entry[1] else None

    @rule(target=items, tenant=st.sampled_from(TENANTS), data=st.data())
    def create(self, tenant: str, data: st.DataObject) -> tuple[str, str]:
        body = data.draw(self.api.creates)
        answer = self.call("POST", tenant, json=body)
        assert answer.status_code in (200, 201), answer.text
        created = answer.json()
        assert all(created[name] == value for name, value in body.items() if name != "type")
        # Ids never repeat: a string id (hashed with its tenant) anywhere, an integer id (the
        # tenant's own counter: numbering is per tenant) within its tenant.
        scope = [self.model[tenant]] if self.api.integer_ids else list(self.model.values())
        assert all(created["id"] not in known for known in scope)
        assert isinstance(created["id"], int if self.api.integer_ids else str)
        self.model[tenant][created["id"]] = [created, False]
        return tenant, created["id"]

    @rule(item=items, tenant=st.sampled_from(TENANTS))
    def get(self, item: tuple[str, str], tenant: str) -> None:
        answer = self.call("GET", tenant, f"/{item[1]}")
        expected = self.live(tenant, item[1])
        if expected is None:
            assert answer.status_code == 404, answer.text
        else:
            assert answer.status_code == 200 and answer.json() == expected

    @rule(item=items, tenant=st.sampled_from(TENANTS), data=st.data())
    def update(self, item: tuple[str, str], tenant: str, data: st.DataObject) -> None:
        patch = data.draw(self.api.patches)
        answer = self.call("PATCH", tenant, f"/{item[1]}", json=patch)
        entry = self.model[tenant].get(item[1])
        if entry is None:
            assert answer.status_code == 404, answer.text
        elif entry[1]:
            assert answer.status_code == 409, answer.text  # archived: restore first
        else:
            assert answer.status_code == 200, answer.text
            entry[0] = {**entry[0], **patch}
            assert answer.json() == entry[0]

    @rule(item=items, tenant=st.sampled_from(TENANTS))
    def invalid_update_changes_nothing(self, item: tuple[str, str], tenant: str) -> None:
        answer = self.call("PATCH", tenant, f"/{item[1]}", json=self.api.invalid_patch)
        assert answer.status_code == 422, answer.text  # validation comes before lookup

    @rule(item=items, tenant=st.sampled_from(TENANTS))
    def delete(self, item: tuple[str, str], tenant: str) -> None:
        answer = self.call("DELETE", tenant, f"/{item[1]}")
        if self.live(tenant, item[1]) is None:
            assert answer.status_code == 404, answer.text
            return
        assert answer.status_code == self.api.deleted_status, answer.text
        if self.api.archives:
            self.model[tenant][item[1]][1] = True
        else:
            del self.model[tenant][item[1]]

    @rule(item=items)
    def restore(self, item: tuple[str, str]) -> None:
        tenant, item_id = item
        if not self.api.archives:
            return
        answer = self.call("PATCH", tenant, f"/{item_id}", json={"restore": True})
        entry = self.model[tenant].get(item_id)
        assert entry is not None and answer.status_code == 200, answer.text
        entry[1] = False
        assert answer.json() == entry[0]

    @rule(tenant=st.sampled_from(TENANTS), missing=st.integers(10**9, 10**12))
    def unknown_id_is_404(self, tenant: str, missing: int) -> None:
        assert self.call("GET", tenant, f"/{missing}").status_code == 404

    @rule(tenant=st.sampled_from(TENANTS), size=st.integers(1, 4))
    def walk_pages(self, tenant: str, size: int) -> None:
        expected = [body for body, archived in self.model[tenant].values() if not archived]
        seen: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.call("GET", tenant, params={"page": page, self.api.size_param: size})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body[self.api.total_field] == len(expected)
            if not body["items"]:
                break
            assert len(body["items"]) <= size
            seen.extend(body["items"])
            page += 1
        assert seen == expected  # every item exactly once, in order, none of another key's


def integer_id_notes(folder: Path) -> Path:
    """The notes contract with integer ids: the generic layer must hand out integers."""
    document = yaml.safe_load(NOTES.read_text())
    document["components"]["schemas"]["Note"]["properties"]["id"] = {"type": "integer", "format": "int64"}
    document["paths"]["/notes/{note_id}"]["parameters"][0]["schema"] = {"type": "integer"}
    path = folder / "intnotes.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture(
    scope="module", params=[NOTES_API, INT_NOTES_API, SGP_API], ids=lambda a: a.contract.rsplit("/", 1)[-1]
)
def machine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[type[FakeVersusModel]]:
    api: Api = request.param
    contract = integer_id_notes(tmp_path_factory.mktemp("contracts")) if api.integer_ids else api.contract
    app = create_app([contract])
    with TestClient(app) as client:
        attributes = {"api": api, "app": app, "client": client}
        yield type(f"Machine_{app.apis[0].contract.name}", (FakeVersusModel,), attributes)


def test_fake_matches_model(machine: type[FakeVersusModel]) -> None:
    run_state_machine_as_test(machine, settings=SETTINGS)
