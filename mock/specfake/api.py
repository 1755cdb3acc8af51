"""One mounted contract: route, authenticate, validate, then hand the call to its behaviour.

The order mirrors FastAPI, which both real services run on: unknown path 404, wrong method 405,
missing key 401, oversized body 413, then one 422 listing every invalid field.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from specfake.answers import ContractAnswers
from specfake.behaviours import BehaviourContext, Options, behaviour_for
from specfake.calls import Call, Handler
from specfake.clock import Clock
from specfake.contract import Contract, Operation
from specfake.errors import ApiError, RequestValidationError
from specfake.http import BodyTooLarge, Reply, header_map, query_map, read_body, send_reply
from specfake.resources import ResourceLayer
from specfake.routing import Router
from specfake.store import MemoryStore, Store
from specfake.validation import OperationValidator, registry_for

DEFAULT_MAX_BODY = 8 * 1024 * 1024
JOURNAL_SIZE = 1000
JOURNAL_BODY = 4096  # bytes of each request body the journal keeps


class _Route:
    __slots__ = ("api_key_headers", "body_expected", "body_required", "handler", "operation", "validator")

    def __init__(
        self,
        operation: Operation,
        validator: OperationValidator,
        handler: Handler,
        api_key_headers: tuple[str, ...],
    ) -> None:
        self.operation = operation
        self.validator = validator
        self.handler = handler
        self.body_expected = operation.body_schema is not None
        self.body_required = operation.body_required
        self.api_key_headers = api_key_headers


class MountedApi:
    def __init__(
        self,
        contract: Contract,
        *,
        seed: int = 0,
        handlers: dict[str, Handler] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        api_keys: frozenset[str] | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
        options: Options | None = None,
        journal_size: int = JOURNAL_SIZE,
    ) -> None:
        self.contract = contract
        self.api_keys = api_keys  # None: any non-empty key is valid (and is its own tenant)
        self.prefix = contract.prefix
        self.seed = seed
        self.max_body = max_body
        self.answers = ContractAnswers(contract)
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock or Clock()
        self.resources = ResourceLayer(contract, self.store, self.answers, seed=seed)
        self.context = BehaviourContext(
            contract, self.store, self.answers, self.resources, seed, self.clock, options or Options()
        )
        self.behaviour = behaviour_for(self.context)
        # Bounded: (unix time, tenant, method, path, query, request body, status).
        self.journal: deque[tuple[float, str, str, str, bytes, bytes, int]] = deque(maxlen=journal_size)
        registry = registry_for(contract)
        self.router: Router[_Route] = Router()
        handlers = {
            **self.resources.handlers(),
            **(self.behaviour.handlers() if self.behaviour else {}),
            **(handlers or {}),
        }
        for op in contract.operations:
            schemes = [name for requirement in op.security for name in requirement]
            key_headers = tuple(contract.api_key_headers[s] for s in schemes if s in contract.api_key_headers)
            route = _Route(
                op,
                OperationValidator(contract, op, registry),
                handlers.get(op.operation_id, self.answers.reply),
                key_headers,
            )
            self.router.add(op.path, op.method, route)
        self._openapi = Reply(200, raw=contract.document_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        seen: list[Any] = ["", b""]  # the tenant and the body, for the journal
        try:
            reply = await self._handle(scope, receive, path, seen)
            self.store.commit()
        except ApiError as exc:
            self.store.rollback()
            reply = Reply(exc.status, body={"detail": exc.detail}, headers=exc.headers)
        except Exception:
            self.store.rollback()  # a bug in a behaviour must not leave half a write behind
            raise
        self.journal.append(
            (
                time.time(),
                seen[0],
                scope["method"],
                path,
                scope.get("query_string", b""),
                seen[1],
                reply.status,
            )
        )
        await send_reply(send, reply)

    async def _handle(self, scope: Scope, receive: Receive, path: str, seen: list[Any]) -> Reply:
        method = scope["method"]
        if path == "/openapi.json" and method == "GET":
            return self._openapi
        match = self.router.match(path, method)
        if match is None:
            raise ApiError(404, "Not Found")
        route = match.target
        if route is None:
            raise ApiError(405, "Method Not Allowed", {"allow": ", ".join(match.allowed)})
        headers = header_map(scope)
        api_key = ""
        if route.api_key_headers:
            for name in route.api_key_headers:
                api_key = headers.get(name, "")
                if api_key:
                    break
            else:
                raise ApiError(
                    401, f"Not authenticated: send an API key in the {route.api_key_headers[0]} header"
                )
            if self.api_keys is not None and api_key not in self.api_keys:
                raise ApiError(401, "Invalid API key")
        seen[0] = api_key
        raw_body = b""
        # An operation without a request body, asked without Content-Length or Transfer-Encoding
        # (in HTTP/1.1: with no body), is not read: a receive round saved on every GET.
        if route.body_expected or "content-length" in headers or "transfer-encoding" in headers:
            try:
                raw_body = await read_body(receive, self.max_body)
            except BodyTooLarge:
                raise ApiError(413, f"Request body larger than {self.max_body} bytes") from None
            seen[1] = raw_body[:JOURNAL_BODY]
        validator = route.validator
        path_values, query_values, errors = validator.params(match.params, query_map(scope), headers)
        body: Any = None
        if route.body_expected:
            body, body_errors = _parse_body(raw_body, headers, route.body_required)
            if not body_errors and (body is not None or route.body_required):
                body_errors = validator.body_errors(body)
            errors.extend(body_errors)
        if errors:
            raise RequestValidationError(errors)
        call = Call(
            operation=route.operation,
            path=path_values,
            query=query_values,
            headers=headers,
            body=body,
            api_key=api_key,
            seed=self._request_seed(method, path, scope.get("query_string", b""), raw_body),
        )
        result = route.handler(call)
        if not isinstance(result, Reply):
            result = await result
        return result

    def _request_seed(self, method: str, path: str, query: bytes, body: bytes) -> int:
        data = f"{self.seed}|{method}|{path}|".encode() + query + b"|" + body  # one hash call
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _parse_body(raw: bytes, headers: dict[str, str], required: bool) -> tuple[Any, list[dict[str, Any]]]:
    if not raw or raw.isspace():
        if required:
            return None, [{"loc": ["body"], "msg": "Field required", "type": "missing"}]
        return None, []
    content_type = headers.get("content-type", "")
    if content_type != "application/json":  # what every SDK sends: no parsing
        content_type = content_type.split(";", 1)[0].strip().lower()
    if content_type and not (content_type == "application/json" or content_type.endswith("+json")):
        return None, [
            {
                "loc": ["body"],
                "msg": f"Expected a JSON body (application/json), got {content_type}",
                "type": "model_attributes_type",
            }
        ]
    try:
        return orjson.loads(raw), []
    except orjson.JSONDecodeError as exc:
        return None, [
            {"loc": ["body", exc.pos], "msg": f"JSON decode error: {exc.msg}", "type": "json_invalid"}
        ]
