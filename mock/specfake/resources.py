"""Generic resources inferred from any contract: create -> get -> list -> update -> delete.

A contract with no hand-written behaviour still gets consistent state. A *resource* is what a
create operation makes; the OpenAPI links on its success response name the operations that read,
change or delete it and where its id sits (``$response.body#/id``). The list operation is the GET
on the create's own path. Everything here is worked out once, at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from specfake.answers import ContractAnswers
from specfake.calls import Call, Handler
from specfake.compiled import is_boolean
from specfake.contract import Contract, Operation
from specfake.errors import NotFound
from specfake.generate import GenContext
from specfake.http import Reply
from specfake.ids import fresh_id, seeded_hex, seeded_uuid
from specfake.paging import paging_of
from specfake.store import Store
from specfake.validation import SchemaValidator, registry_for


@dataclass
class Resource:
    kind: str
    create: Operation
    schema_ref: str | None  # $ref of the create's success body: the stored shape
    id_pointer: list[str]
    id_schema: dict[str, Any]  # the id's schema: its type and format decide how ids look
    targets: dict[str, str] = field(default_factory=dict)  # operationId -> path parameter
    list_op: Operation | None = None


class ResourceLayer:
    """Builds handlers for every operation that takes part in an inferred resource."""

    def __init__(self, contract: Contract, store: Store, answers: ContractAnswers, seed: int = 0) -> None:
        self.contract = contract
        self.store = store
        self.answers = answers
        self.seed = seed
        self.resources: list[Resource] = []
        self._registry = registry_for(contract)
        self._reflect: dict[str, list[tuple[str, SchemaValidator]]] = {}
        self._infer()

    # -- inference -------------------------------------------------------------------------------

    def _infer(self) -> None:
        self.resources = infer_resources(self.contract)
        by_id = {op.operation_id: op for op in self.contract.operations}
        for resource in self.resources:
            self._reflect[resource.create.operation_id] = self._reflectable(resource.create)
            for target in resource.targets:
                self._reflect[target] = self._reflectable(by_id[target])

    def _reflectable(self, op: Operation) -> list[tuple[str, SchemaValidator]]:
        """Body fields copied into the answer: same name in request and response, valid there."""
        if op.body_schema is None or op.success is None:
            return []
        request = self.contract.resolve(op.body_schema)
        response = self.contract.resolve(json_schema(op))
        if not isinstance(request, dict) or not isinstance(response, dict):
            return []
        out_props = response.get("properties") or {}
        names: dict[str, None] = {}
        for branch in [request, *(self.contract.resolve(b) for b in request.get("anyOf", []))]:
            names.update(dict.fromkeys(branch.get("properties") or {}))
        return [
            (name, SchemaValidator(self.contract, out_props[name], self._registry))
            for name in names
            if name in out_props and name != "id"
        ]

    # -- handlers --------------------------------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        out: dict[str, Handler] = {}
        for resource in self.resources:
            out.setdefault(resource.create.operation_id, self._creator(resource))
            if resource.list_op is not None:
                out.setdefault(resource.list_op.operation_id, self._lister(resource))
        kinds_by_target: dict[str, list[Resource]] = {}
        for resource in self.resources:
            for target in resource.targets:
                kinds_by_target.setdefault(target, []).append(resource)
        for target, resources in kinds_by_target.items():
            out.setdefault(target, self._target(target, resources))
        return out

    def stateless_handlers(self) -> dict[str, Handler]:
        """Every operation answered from the contract alone, storing nothing (``--stateless``):
        the answer echoes the path's ids and the request body's fields it names (as a create's)."""
        out: dict[str, Handler] = {}
        for op in self.contract.operations:
            reflect = self._reflect.get(op.operation_id)
            if reflect is None:
                reflect = self._reflectable(op)
            out[op.operation_id] = self._echoing(reflect) if reflect else self.answers.reply
        return out

    def _echoing(self, reflect: list[tuple[str, SchemaValidator]]) -> Handler:
        def answer(call: Call) -> Reply:
            reply = self.answers.reply(call)
            if reply.stream is not None or not isinstance(call.body, dict):
                return reply
            body = self.answers.body_of(reply)
            if not isinstance(body, dict):
                return reply
            _reflect_into(body, call.body, reflect)
            return Reply(reply.status, body=body, headers=reply.headers)

        return answer

    def _creator(self, resource: Resource) -> Handler:
        reflect = self._reflect[resource.create.operation_id]

        def create(call: Call) -> Reply:
            reply = self.answers.reply(call)
            body = self.answers.body_of(reply)
            if not isinstance(body, (dict, list)):
                return reply
            _reflect_into(body, call.body, reflect)
            new_id = self._new_id(resource, call.api_key)
            if not _set_pointer(body, resource.id_pointer, new_id) or not isinstance(body, dict):
                return reply
            self.store.put(call.api_key, resource.kind, str(new_id), body)
            return Reply(reply.status, body=body)

        return create

    def _target(self, operation_id: str, resources: list[Resource]) -> Handler:
        op = self.contract.operation(operation_id)
        reflect = self._reflect.get(operation_id, [])
        same_shape = {
            r.kind for r in resources if r.schema_ref and r.schema_ref == json_schema(op).get("$ref")
        }
        # An update whatever its method: PATCH and PUT, and a POST to the resource with a body that
        # answers the resource itself (Stripe's and OpenAI's ``POST /things/{id}``).
        merges = op.method in ("PATCH", "PUT") or (
            op.method == "POST" and op.body_schema is not None and bool(same_shape)
        )
        # A delete's answer reports the outcome (``{"id": ..., "deleted": true}``), never a draw.
        answer_props = self.contract.resolve(json_schema(op)).get("properties") or {}
        outcome = op.method == "DELETE" and is_boolean(self.contract, answer_props.get("deleted"))

        def act(call: Call) -> Reply:
            for resource in resources:
                param = resource.targets[operation_id]
                key = str(call.path.get(param, ""))
                stored = self.store.get(call.api_key, resource.kind, key)
                if stored is None:
                    continue
                if op.method == "DELETE":
                    self.store.delete(call.api_key, resource.kind, key)
                elif merges and isinstance(call.body, dict):
                    changed = {
                        name: call.body[name]
                        for name, validator in reflect
                        if name in call.body and validator.is_valid(call.body[name])
                    }
                    if changed:
                        stored = {**stored, **changed}
                        self.store.put(call.api_key, resource.kind, key, stored)
                if resource.kind in same_shape and op.method != "DELETE":
                    return Reply(op.success.status if op.success else 200, body=stored)
                reply = self.answers.reply(call)
                body = self.answers.body_of(reply)
                if not isinstance(body, dict):
                    return reply
                if "id" in body and isinstance(body["id"], (str, int)):
                    body["id"] = _id_like(body["id"], key)
                if outcome:
                    body["deleted"] = True
                return Reply(reply.status, body=body)
            raise NotFound(f"{operation_id}: no such resource")

        return act

    def _lister(self, resource: Resource) -> Handler:
        op = resource.list_op
        assert op is not None
        schema = self.contract.resolve(json_schema(op))
        envelope_items = items_field(self.contract, schema, resource.schema_ref)
        item_schema = (
            ((schema.get("properties") or {}).get(envelope_items) or {}).get("items")
            if envelope_items
            else schema.get("items")
        )
        # Stored objects are the create's answers; a list of another shape gets items of its own
        # shape that carry the stored ids.
        reshape = (
            self.answers.maker_for(item_schema)
            if isinstance(item_schema, dict) and item_schema.get("$ref") != resource.schema_ref
            else None
        )
        paging = paging_of(self.contract, op, schema)
        pointer = resource.id_pointer

        def key_of(item: dict[str, Any]) -> str:
            return str(_get_pointer(item, pointer))

        def list_items(call: Call) -> Reply:
            items, fields = paging.page(self.store.list(call.api_key, resource.kind), key_of, call.query)
            if reshape is not None:
                items = [
                    _with_id(reshape(GenContext(f"{self.seed}:{item.get('id')}")), item) for item in items
                ]
            if envelope_items is None:
                if schema.get("type") == "array":
                    return Reply(op.success.status if op.success else 200, body=items)
                return self.answers.reply(call)
            reply = self.answers.reply(call)
            body = self.answers.body_of(reply)
            if not isinstance(body, dict):
                return reply
            body[envelope_items] = items
            body.update(fields)
            return Reply(reply.status, body=body)

        return list_items

    def _new_id(self, resource: Resource, tenant: str) -> str | int:
        """Unique in the tenant, numbered per tenant; an integer id (``type: integer``) is the
        tenant's counter itself, past any the tenant holds already (a world's, an import's)."""
        kind, seed, id_schema = resource.kind, self.seed, resource.id_schema

        def make(number: int, scope: str) -> str | int:
            if id_schema.get("type") == "integer":
                return number
            if id_schema.get("format") == "uuid":
                return seeded_uuid(seed, kind, number, scope)
            return seeded_hex(seed, kind, number, scope)

        store = self.store
        return fresh_id(store, tenant, kind, make, lambda key: store.get(tenant, kind, key) is not None)


def infer_resources(contract: Contract) -> list[Resource]:
    """Every resource the contract's links describe (also used by the harness's invariants)."""
    resources: list[Resource] = []
    by_id = {op.operation_id: op for op in contract.operations}
    for op in contract.operations:
        success = op.success
        if success is None or not success.links:
            continue
        groups: dict[tuple[str, ...], dict[str, str]] = {}
        for link in success.links.values():
            target = by_id.get(link.get("operationId", ""))
            params = link.get("parameters") or {}
            if target is None or len(params) != 1:
                continue
            ((param, expression),) = params.items()
            if not isinstance(expression, str) or not expression.startswith("$response.body#/"):
                continue
            pointer = tuple(expression.split("#/", 1)[1].split("/"))
            groups.setdefault(pointer, {})[target.operation_id] = param
        for pointer, targets in groups.items():
            getter = next((t for t in targets if by_id[t].method == "GET"), None)
            schema = json_schema(op)
            resources.append(
                Resource(
                    kind=getter or op.operation_id,
                    create=op,
                    schema_ref=schema.get("$ref") if isinstance(schema, dict) else None,
                    id_pointer=list(pointer),
                    id_schema=_id_schema(contract, schema, list(pointer)),
                    targets=targets,
                    list_op=next(
                        (o for o in contract.operations if o.path == op.path and o.method == "GET"), None
                    ),
                )
            )
    return resources


def _id_schema(contract: Contract, schema: Any, pointer: list[str]) -> dict[str, Any]:
    node = contract.resolve(schema)
    for part in pointer:
        if not isinstance(node, dict):
            return {}
        if part.isdigit():
            node = contract.resolve(node.get("items", {}))
        else:
            node = contract.resolve((node.get("properties") or {}).get(part, {}))
    return node if isinstance(node, dict) else {}


def _reflect_into(body: Any, request: Any, reflect: list[tuple[str, SchemaValidator]]) -> None:
    """Copy the request body's fields into the answer where the answer's schema takes them."""
    if not isinstance(request, dict) or not isinstance(body, dict):
        return
    for name, validator in reflect:
        if name in request and validator.is_valid(request[name]):
            body[name] = request[name]


def _id_like(generated: str | int, key: str) -> str | int:
    """The stored key, typed as the answer's schema generated its id (path keys are strings)."""
    if isinstance(generated, int) and not isinstance(generated, bool) and key.lstrip("-").isdigit():
        return int(key)
    return key


def _with_id(generated: Any, stored: dict[str, Any]) -> Any:
    if isinstance(generated, dict) and isinstance(generated.get("id"), (str, int)) and "id" in stored:
        generated["id"] = stored["id"]
    return generated


def json_schema(op: Operation) -> dict[str, Any]:
    success = op.success
    if success is None:
        return {}
    for media_type, schema in success.content.items():
        if "json" in media_type:
            return schema
    return {}


def items_field(contract: Contract, schema: dict[str, Any], item_ref: str | None) -> str | None:
    """The envelope's array of stored items: the one typed like them, else its only array."""
    if schema.get("type") != "object":
        return None
    arrays = [
        (str(name), contract.resolve(prop))
        for name, prop in (schema.get("properties") or {}).items()
        if contract.resolve(prop).get("type") == "array"
    ]
    for name, prop in arrays:
        if item_ref is not None and (prop.get("items") or {}).get("$ref") == item_ref:
            return name
    return arrays[0][0] if len(arrays) == 1 else None


def _get_pointer(body: Any, pointer: list[str]) -> Any:
    node = body
    for part in pointer:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return node


def _set_pointer(body: Any, pointer: list[str], value: str | int) -> bool:
    node = _get_pointer(body, pointer[:-1])
    if isinstance(node, dict):
        node[pointer[-1]] = value
        return True
    return False
