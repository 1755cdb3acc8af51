"""One mounted contract: the request pipeline, then the call's behaviour, inside one transaction.

``specfake.pipeline`` decides whether a request is answered (in FastAPI's order: 404, 405, 401,
413, then one 422 listing every invalid field); the operation's handler (a behaviour's, the
generic resource layer's, or the contract's own example) answers it. A handler's writes are
committed when it returns and rolled back when it raises, so a refused request leaves nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Iterator, Mapping
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

import orjson
from starlette.types import Receive, Scope, Send

from specfake.answers import ContractAnswers
from specfake.behaviours import BehaviourContext, declared
from specfake.calls import Call, Handler
from specfake.clock import Clock
from specfake.compiled import CompiledOperation
from specfake.contract import Contract
from specfake.errors import ApiError, FieldError
from specfake.fault_rules import FaultRules
from specfake.faults import HEADER as FAULT_HEADER
from specfake.faults import ConnectionReset, Fault, error_reply, reset_connection, send_shaped
from specfake.http import BodyTooLarge, Reply, dump_json, header_map, parse_query, read_body, send_reply
from specfake.journal import JOURNAL_SIZE, Journal
from specfake.limits import Limiter
from specfake.options import OptionError, Options
from specfake.pipeline import DEFAULT_MAX_BODY, Refusal, RequestPipeline
from specfake.prefer import HEADER as PREFER_HEADER
from specfake.prefer import read as read_preference
from specfake.resources import ResourceLayer
from specfake.scenario import Scenario as Script
from specfake.scenario import ScenarioError
from specfake.scenarios import Scenarios
from specfake.store import MemoryStore, Store, StoreWriteError
from specfake.streaming.faults import StreamFaults
from specfake.streaming.settings import Streams
from specfake.streaming.shape import PLAIN
from specfake.tenants import SCOPE_KEY, fingerprint

if TYPE_CHECKING:
    from specfake.record import MissRecorder

log = logging.getLogger("specfake")

__all__ = ["DEFAULT_MAX_BODY", "MountedApi"]


class MountedApi:
    def __init__(
        self,
        contract: Contract,
        *,
        seed: int = 0,
        handlers: Mapping[str, Handler] | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        api_keys: frozenset[str] | None = None,
        store: Store | None = None,
        clock: Clock | None = None,
        options: Options | Mapping[str, str] | None = None,
        journal: Journal | None = None,
        journal_size: int = JOURNAL_SIZE,
        fault_rules: FaultRules | None = None,
        request_ids: Iterator[int] | None = None,
        scenarios: Scenarios | None = None,
        stateless: bool = False,
        dynamic: bool = False,
    ) -> None:
        self.contract = contract
        self.stateless = stateless
        self.name = contract.name
        self.compiled = contract.compiled
        self.pipeline = RequestPipeline(self.compiled, api_keys=api_keys, max_body=max_body)
        self.api_keys = api_keys  # None: any non-empty key is valid (and is its own tenant)
        self.prefix = contract.prefix
        self.seed = seed
        self._seed_head = f"{seed}|".encode()
        self.max_body = max_body
        self.answers = ContractAnswers(contract)
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock or Clock()
        self.resources = ResourceLayer(contract, self.store, self.answers, seed=seed)
        self.behaviour = declared(contract.name)
        options_type = self.behaviour.options if self.behaviour is not None else Options
        if not isinstance(options, Options):
            options = options_type.parse(options or {})
        self.context = BehaviourContext(
            contract, self.store, self.answers, self.resources, seed, self.clock, options
        )
        shape = self.behaviour.streams if self.behaviour is not None else None
        self.context.streams = Streams(contract.name, shape or PLAIN, lambda: self.context.options)
        # Recordings of the operations a behaviour keys itself (a generation that also stores
        # logs) are its to replay; the engine replays the others before any handler runs.
        # Stateless, no behaviour runs: the engine replays every recording.
        self._keyed = frozenset(shape.keys) if shape is not None and not stateless else frozenset()
        self.recorder = self._miss_recorder(options)
        self._replayed = self._replayable()
        self._refresh()
        self.journal = journal if journal is not None else Journal(journal_size)
        self.journal.secret_query(self.name, frozenset(self.compiled.auth_query("")))
        self.fault_rules = fault_rules if fault_rules is not None else FaultRules(seed)
        self.scenarios = scenarios if scenarios is not None else Scenarios()
        self.errors = self.behaviour.errors if self.behaviour is not None else ApiError
        self._request_ids = request_ids if request_ids is not None else itertools.count(1)
        self.limiter = Limiter()
        if stateless:  # every operation answered from the contract; nothing is stored
            chosen = {**self.resources.stateless_handlers(), **(handlers or {})}
        else:
            chosen = {
                **self.resources.handlers(),
                **(self.behaviour.bind(self.context) if self.behaviour is not None else {}),
                **(handlers or {}),
            }
        self.handlers: dict[str, Handler] = {
            op_id: chosen.get(op_id, self.answers.reply) for op_id in self.compiled.operations
        }
        # Prism's -d: every operation but those given ``handlers`` answers as if asked for
        # ``Prefer: dynamic=true`` (a request's ``dynamic=false`` gets the example back).
        self._dynamic = frozenset(self.compiled.operations) - set(handlers or ()) if dynamic else frozenset()
        self._openapi = Reply(200, raw=contract.document_bytes)

    @property
    def options(self) -> Options:
        return self.context.options

    def set_options(self, changes: Mapping[str, str] | Options) -> Options:
        """Change options at run time (``""`` unsets one), or put back an options object (a
        stopped scenario's); OptionError names a bad one, and then nothing changes."""
        options = changes if isinstance(changes, Options) else self.context.options.changed(changes)
        self.context.options = options
        self._refresh()
        return options

    def _refresh(self) -> None:
        """Whether anything before the handler is on: the hot path reads this one flag."""
        options = self.context.options
        self._extras = bool(
            options.rate_limit
            or options.token_limit is not None
            or options.replay == "only"
            or self.recorder is not None
            or self._replayed
        )

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, path: str, *, record: bool = True
    ) -> None:
        """Answer one request (``path`` below the prefix). ``record`` False: an in-process call (a
        fixture script's, a scenario step's), which the journal does not keep and which no fault,
        limit, recording or scenario shapes."""
        # The tenant, the body, the headers and what shaped the answer (for the journal), the
        # fault that shapes the body as it is sent, the rate-limit headers, and whether the request
        # came over HTTP (an in-process call is shaped by nothing).
        seen: list[Any] = ["", b"", {}, None, None, {}, record]
        request_id = b"req_%08d" % next(self._request_ids)
        try:
            reply = await self._handle(scope, receive, path, seen)
            if reply.raw is None and reply.body is not None and reply.stream is None:
                # Serialised before the commit: an answer that cannot be sent stores nothing. (Every
                # handler answers a fresh Reply; the only shared one, /openapi.json, is raw already.)
                try:  # the usual answer, orjson straight away; anything else as _serialised says
                    reply.raw = orjson.dumps(reply.body)
                except (TypeError, ValueError, RecursionError):
                    reply.raw = self._serialised(reply.body)
            self.store.commit()
        except ApiError as exc:
            self.store.rollback()
            reply = Reply(exc.status, body=exc.body(), headers=exc.headers)
        except StoreWriteError as exc:  # the state file refused the write: memory is rolled back too
            self.store.rollback()
            error = self.errors(exc.status, exc.detail)
            reply = Reply(exc.status, body=error.body(), headers=error.headers)
        except ConnectionReset:
            self.store.rollback()
            reply = Reply(0)
        except Exception:
            self.store.rollback()  # a bug in a behaviour must not leave half a write behind
            raise
        if record:
            body: bytes = seen[1]
            limit = self.journal.body_limit
            self.journal.record(
                (
                    time.time(),
                    self.name,
                    seen[0],
                    scope["method"],
                    scope["path"],
                    scope.get("query_string", b""),
                    seen[2],
                    body if len(body) <= limit else body[:limit],
                    reply.status,
                    request_id,
                    seen[3],
                )
            )
        if reply.status == 0:
            await reset_connection(send)
        elif seen[4] is not None and reply.stream is None:
            await send_shaped(send, reply, seen[4], request_id)
        else:
            await send_reply(send, reply, request_id)

    def _serialised(self, body: Any) -> bytes:
        """``body`` as JSON; a value JSON cannot carry (a cycle, a value nested past the encoder's
        limit) is a 422 in the API's shape, raised before anything is committed."""
        try:
            return dump_json(body)
        except (TypeError, ValueError, RecursionError) as exc:
            message = f"The answer cannot be serialised as JSON ({type(exc).__name__}): nothing was stored"
            raise self.errors(422, [FieldError(("body",), message, "unserialisable").entry()]) from None

    async def _handle(self, scope: Scope, receive: Receive, path: str, seen: list[Any]) -> Reply:
        method = scope["method"]
        headers = seen[2] = header_map(scope)
        if path == "/openapi.json" and method == "GET":
            return self._openapi
        pipeline = self.pipeline
        op, params = pipeline.route(method, path)  # a Refusal is answered as any ApiError
        raw_query: bytes = scope.get("query_string", b"")
        query = parse_query(raw_query) if raw_query else {}
        # The tenant is the credential's fingerprint (cached), never the credential itself; an
        # in-process call (``record`` False) names its tenant, already a fingerprint, in its scope.
        if seen[6] or SCOPE_KEY not in scope:
            api_key = seen[0] = fingerprint(pipeline.authenticate(op, headers, query))
        else:
            api_key = seen[0] = scope[SCOPE_KEY] if op.key_headers or op.auth is not None else ""
        asked = None
        if PREFER_HEADER in headers or b"__" in raw_query or self._dynamic:  # Prism's controls
            dynamic = op.operation_id in self._dynamic
            asked = read_preference(headers, query, op.operation, dynamic=dynamic)
        raw_body = b""
        # An operation without a request body, asked without Content-Length or Transfer-Encoding
        # (in HTTP/1.1: with no body), is not read: a receive round saved on every GET.
        if op.body_expected or "content-length" in headers or "transfer-encoding" in headers:
            try:
                raw_body = await read_body(receive, self.max_body)
            except BodyTooLarge:
                raise pipeline.too_large() from None
            seen[1] = raw_body
        path_values, query_values, body, violations = pipeline.validate(op, params, query, headers, raw_body)
        if asked is not None and asked.problems:
            violations = [*violations, *asked.problems]
        if violations:
            raise Refusal(violations)
        # The seed: the server's, the method, the path, the query and the body (one hash call), so
        # the same request to the same server answers the same generated data.
        seed_data = b"%s%s|%s|%s|%s" % (self._seed_head, method.encode(), path.encode(), raw_query, raw_body)
        call = Call(
            operation=op.operation,
            path=path_values,
            query=query_values,
            headers=headers,
            body=body,
            api_key=api_key,
            seed=int.from_bytes(blake2b(seed_data, digest_size=8).digest(), "big"),
        )
        fault = None
        external = seen[6]
        # The only cost without faults: one header lookup and two flags.
        if external and (FAULT_HEADER in headers or self.fault_rules.active or self.scenarios.active):
            fault = await self._fault(call, seen)
            if fault is not None:
                if fault.latency is not None:
                    await asyncio.sleep(fault.delay(call.seed))
                if fault.reset:
                    raise ConnectionReset
                if fault.status is not None:
                    return error_reply(fault, self.compiled, op, self.errors)
                if fault.shapes_body:
                    seen[4] = fault
        stream = op.stream
        if stream is not None and isinstance(body, dict) and body.get(stream.flag or "") is True:
            call.stream_faults = self._stream_faults(headers, fault)
        if asked is not None:  # the contract's answer for what the request prefers; no state touched
            seen[3] = f"prefer {asked}"
            return self.answers.preferred(call, asked)
        if external and self._extras:  # rate limits or recordings: off, this costs one flag
            answered = await self._extras_first(call, op, headers, raw_body, scope, path, seen)
            if answered is not None:
                return answered
        result = self.handlers[op.operation_id](call)
        if not isinstance(result, Reply):
            result = await result
        if seen[5]:  # rate-limit headers, and what a generation spent
            result = dataclasses.replace(result, headers={**result.headers, **seen[5]})
            token_limit = self.context.options.token_limit
            if call.tokens and token_limit is not None and op.stream is not None:
                self.limiter.spend_tokens(call.api_key, call.tokens, token_limit, self._now())
        return result

    async def _extras_first(
        self,
        call: Call,
        op: CompiledOperation,
        headers: dict[str, str],
        raw_body: bytes,
        scope: Scope,
        path: str,
        seen: list[Any],
    ) -> Reply | None:
        """What answers before the handler when limits or recordings are on: a 429, a recording,
        the upstream; None: the handler answers."""
        options = self.context.options
        if options.rate_limit or options.token_limit is not None:
            refused = self._limit(call, op.stream is not None, seen)
            if refused is not None:
                return refused
        if op.operation_id in self._replayed or options.replay == "only" or self.recorder is not None:
            query = scope.get("query_string", b"")
            return await self._recorded(call, headers, raw_body, query, path, seen)
        return None

    def _limit(self, call: Call, generates: bool, seen: list[Any]) -> Reply | None:
        """Count the request against the rate limits (and, for a generation, check the token
        quota); a 429 in the API's shape when one is spent. The headers go on the answer."""
        options = self.context.options
        tokens = options.token_limit if generates else None
        operation = call.operation.operation_id
        verdict = self.limiter.admit(call.api_key, operation, self._now(), options.rate_limit, tokens)
        seen[5] = verdict.headers
        if not verdict.refused:
            return None
        seen[3] = "rate limit"
        error = self.errors(429, f"Rate limit exceeded: {verdict.headers['x-ratelimit-limit']} per window")
        headers = {**error.headers, **verdict.headers, "retry-after": str(verdict.retry_after)}
        return Reply(429, body=error.body(), headers=headers)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    async def _recorded(
        self, call: Call, headers: dict[str, str], raw: bytes, query: bytes, path: str, seen: list[Any]
    ) -> Reply | None:
        """The recorded answer to ``call``, or the upstream's (``record_missing``), or a 404 under
        ``--replay only``; None: the fake answers (or the behaviour replays what it keys itself)."""
        streams = self.context.streams
        if self.context.options.replay == "off":
            return None
        cassette = streams.match(call)
        operation = call.operation.operation_id
        if cassette is not None:
            if operation in self._keyed:
                return None
            seen[3] = f"cassette {cassette.name}"
            return streams.replay(cassette, call)
        if self.recorder is not None:
            seen[3] = f"upstream {self.recorder.service.url}"
            return await self.recorder.answer(call.operation.method, path, query, headers, raw)
        if self.context.options.replay == "only":
            method = call.operation.method
            raise self.errors(
                404,
                f"No recording answers {method} {self.prefix}{path} ({operation}), and replay is 'only': "
                "record it (specfake record, or serve --upstream URL --record-missing DIR)",
            )
        return None

    def _recorded_one(self) -> None:
        self._replayed = self._replayable()
        self._refresh()

    def _replayable(self) -> frozenset[str]:
        return self.context.streams.library.operations(self.name) - self._keyed

    def _miss_recorder(self, options: Options) -> MissRecorder | None:
        if options.upstream is None and options.record_missing is None:
            return None
        if options.upstream is None or options.record_missing is None:
            raise OptionError("record_missing", "needs upstream too (--upstream URL --record-missing DIR)")
        from specfake.record import MissRecorder  # httpx comes with it: only a recording fake pays

        library = self.context.streams.library
        recorder = MissRecorder(options.upstream, options.record_missing, self.contract, library)
        recorder.on_recorded = lambda cassette: self._recorded_one()
        return recorder

    async def _fault(self, call: Call, seen: list[Any]) -> Fault | None:
        """The request's own X-Specfake-Fault (a bad one is a 422), else a running scenario's
        (whose step also runs, whatever the header), else the first rule that fires."""
        fault = Fault.from_headers(call.headers)
        staged = await self.scenarios.on_request(self, call) if self.scenarios.active else None
        if fault is not None:
            seen[3] = f"header {FAULT_HEADER}: {fault}"
            return fault
        if staged is not None:
            seen[3] = staged[1]
            return staged[0]
        rule = self.fault_rules.fault_for(self.name, call) if self.fault_rules.active else None
        if rule is None:
            return None
        seen[3] = f"rule {rule.id}: {rule.text}"
        return rule.fault

    async def run_calls(self, calls: list[dict[str, Any]], call: Call) -> None:
        """A scenario step's API calls, in process as the request's tenant; ``${request.path.X}``,
        ``.query``, ``.body`` and ``.tenant`` read ``call``. A call that fails is the scenario's
        mistake, not the client's: it is logged and the request is answered as it would be."""
        request = {"path": call.path, "query": call.query, "body": call.body, "tenant": call.api_key}
        try:
            await Script(calls, "scenario calls").run(self, call.api_key, call.seed, {"request": request})
        except ScenarioError as exc:
            log.warning("specfake: a scenario step's calls failed: %s", exc)

    def _stream_faults(self, headers: dict[str, str], fault: Fault | None) -> StreamFaults | None:
        """A stream's faults: its X-Specfake-Stream-Fault header (a bad one is a 422), else the
        stream entries of its fault, else the contract's ``stream_faults`` option."""
        asked = StreamFaults.from_headers(headers)
        if fault is not None:
            return fault.for_stream(asked)
        return asked if asked is not None else self.context.options.stream_faults
