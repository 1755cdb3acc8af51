"""Answers an operation from its contract alone: the documented example, or generated data.

This is what every operation gets when no behaviour module claims it: schema-valid, and
deterministic for a given seed and request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from specfake.contract import is_json
from specfake.generate import GenContext, Maker, SchemaCompiler
from specfake.http import Reply
from specfake.streaming.faults import build_plan
from specfake.streaming.replay import play
from specfake.streaming.sse import event

if TYPE_CHECKING:
    from specfake.calls import Call
    from specfake.contract import Contract, Operation


class ContractAnswers:
    """Per-operation canned answers, prepared at start-up."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.compiler = SchemaCompiler(lambda ref: contract.resolve({"$ref": ref}))
        self._json: dict[str, tuple[int, bytes | None, Maker | None]] = {}
        self._stream: dict[str, tuple[str, Maker]] = {}  # operation id -> (stream flag, chunk maker)
        for op in contract.operations:
            self._prepare(op)

    def _prepare(self, op: Operation) -> None:
        success = op.success
        if success is None:
            self._json[op.operation_id] = (200, None, None)
            return
        json_type = next((t for t in success.content if is_json(t)), None)
        if json_type is None:
            self._json[op.operation_id] = (success.status, None, None)
        elif json_type in success.examples:
            self._json[op.operation_id] = (success.status, orjson.dumps(success.examples[json_type]), None)
        else:
            maker = self.compiler.compile(success.content[json_type])
            self._json[op.operation_id] = (success.status, None, maker)
        stream = self.contract.compiled.operation(op.operation_id).stream
        if stream is not None and stream.flag is not None and stream.chunk_schema is not None:
            self._stream[op.operation_id] = (stream.flag, self.compiler.compile(stream.chunk_schema))

    def maker_for(self, schema: dict[str, Any]) -> Maker:
        return self.compiler.compile(schema)

    def reply(self, call: Call) -> Reply:
        op = call.operation
        stream = self._stream.get(op.operation_id)
        if stream is not None and isinstance(call.body, dict) and call.body.get(stream[0]) is True:
            return Reply(200, stream=self._events(stream[1], call))
        status, raw, maker = self._json[op.operation_id]
        if raw is not None:
            return Reply(status, raw=raw)
        if maker is None:
            return Reply(status)
        return Reply(status, body=maker(GenContext(call.seed)))

    @staticmethod
    def body_of(reply: Reply) -> Any:
        """A fresh, mutable copy of a JSON reply's body (None for streams and empty bodies)."""
        if reply.raw is not None:
            return orjson.loads(reply.raw)
        return reply.body

    def _events(self, maker: Maker, call: Call) -> AsyncIterator[bytes]:
        """Three generated events, sent at once, broken as the call's stream faults say."""
        ctx = GenContext(call.seed)
        timeline = [(0.0, event(maker(ctx))) for _ in range(3)]
        return play(build_plan(timeline, call.stream_faults), 0.0)
