"""Answers an operation from its contract alone: the documented example, or generated data.

This is what every operation gets when no behaviour module claims it: schema-valid, and
deterministic for a given seed and request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from specfake.compiled import WILDCARD, StreamSpec, values_at
from specfake.contract import is_json
from specfake.generate import GenContext, Maker, SchemaCompiler
from specfake.http import Reply
from specfake.streaming.faults import build_plan
from specfake.streaming.replay import play, split_tokens
from specfake.streaming.sse import event, event_raw

if TYPE_CHECKING:
    from specfake.calls import Call
    from specfake.contract import Contract, Operation
    from specfake.prefer import Preference

MAX_PIECES = 16  # chunks of a synthetic stream, at most
DRAWS = 16  # draws of one chunk before the first draw is sent as it is


class ContractAnswers:
    """Per-operation canned answers, prepared at start-up."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.compiler = SchemaCompiler(lambda ref: contract.resolve({"$ref": ref}))
        self._json: dict[str, tuple[int, bytes | None, Maker | None]] = {}
        self._stream: dict[str, tuple[StreamSpec, str, Maker]] = {}  # op id -> (spec, flag, chunk maker)
        self._echoes: dict[str, list[tuple[str, str, bool]]] = {}  # operation id -> path echoes
        self._makers: dict[int, tuple[dict[str, Any], Maker]] = {}  # id(schema) -> its maker (Prefer)
        for op in contract.operations:
            self._prepare(op)

    def _prepare(self, op: Operation) -> None:
        success = op.success
        if success is None:
            self._json[op.operation_id] = (200, None, None)
            return
        json_type = next((t for t in success.content if is_json(t)), None)
        echoes = self._path_echoes(op, success.content[json_type]) if json_type else []
        if echoes:
            self._echoes[op.operation_id] = echoes
        if json_type is None:
            self._json[op.operation_id] = (success.status, None, None)
        elif json_type in success.examples:
            self._json[op.operation_id] = (success.status, orjson.dumps(success.examples[json_type]), None)
        else:
            maker = self.compiler.compile(success.content[json_type])
            self._json[op.operation_id] = (success.status, None, maker)
        stream = self.contract.compiled.operation(op.operation_id).stream
        if stream is not None and stream.flag is not None and stream.chunk_schema is not None:
            self._stream[op.operation_id] = (stream, stream.flag, self.compiler.compile(stream.chunk_schema))

    def _path_echoes(self, op: Operation, schema: dict[str, Any]) -> list[tuple[str, str, bool]]:
        """(path parameter, answer field, as an integer) for each path value the answer names:
        a field of the parameter's name, else ``id`` for the last segment (``/models/{model}``),
        so reading a thing by its id gives that id back."""
        props = self.contract.resolve(schema).get("properties") or {}
        out: list[tuple[str, str, bool]] = []
        for param in (p for p in op.parameters if p.location == "path"):
            last = op.path.rstrip("/").endswith("{" + param.name + "}")
            name = param.name if param.name in props else "id" if last and "id" in props else None
            if name is None:
                continue
            kind = self.contract.resolve(props[name]).get("type")
            kinds = set(kind) if isinstance(kind, list) else {kind}
            if "string" in kinds or "integer" in kinds:
                out.append((param.name, name, "string" not in kinds))
        return out

    def maker_for(self, schema: dict[str, Any]) -> Maker:
        return self.compiler.compile(schema)

    def reply(self, call: Call) -> Reply:
        op = call.operation
        stream = self._stream.get(op.operation_id)
        if stream is not None and isinstance(call.body, dict) and call.body.get(stream[1]) is True:
            return Reply(200, stream=self._events(stream[0], stream[2], call))
        status, raw, maker = self._json[op.operation_id]
        echoes = self._echoes.get(op.operation_id)
        if echoes is not None and raw is not None:
            return Reply(status, body=_echo(orjson.loads(raw), echoes, call.path))
        if echoes is not None and maker is not None:
            return Reply(status, body=_echo(maker(GenContext(call.seed)), echoes, call.path))
        if raw is not None:
            return Reply(status, raw=raw)
        if maker is None:
            return Reply(status)
        return Reply(status, body=maker(GenContext(call.seed)))

    def preferred(self, call: Call, asked: Preference) -> Reply:
        """The answer Prism's controls choose (`specfake.prefer`): the declared response for the
        status, its named example, its example, else data generated from its schema (also with
        ``dynamic``). A streamed request answered with the success status still streams."""
        op = call.operation
        status = asked.status
        success = op.success is not None and status == op.success.status
        stream = self._stream.get(op.operation_id)
        streamed = stream is not None and isinstance(call.body, dict) and call.body.get(stream[1]) is True
        if success and streamed and stream is not None:
            return Reply(status, stream=self._events(stream[0], stream[2], call))
        spec = op.responses.get(status)
        json_type = next((t for t in spec.content if is_json(t)), None) if spec is not None else None
        if spec is None or json_type is None:
            return Reply(status)
        if asked.dynamic or (asked.example is None and json_type not in spec.examples):
            schema = spec.content[json_type]
            found = self._makers.get(id(schema))
            if found is None:  # the schema is kept with its maker: its id is not reused
                found = self._makers[id(schema)] = (schema, self.compiler.compile(schema))
            body = found[1](GenContext(call.seed))
        elif asked.example is not None:
            named = next(v for t, v in spec.named.items() if is_json(t))  # `prefer.read` checked it
            body = orjson.loads(orjson.dumps(named[asked.example]))
        else:
            body = orjson.loads(orjson.dumps(spec.examples[json_type]))
        echoes = self._echoes.get(op.operation_id)
        if success and echoes is not None:
            body = _echo(body, echoes, call.path)
        return Reply(status, body=body)

    @staticmethod
    def body_of(reply: Reply) -> Any:
        """A fresh, mutable copy of a JSON reply's body (None for streams and empty bodies)."""
        if reply.raw is not None:
            return orjson.loads(reply.raw)
        return reply.body

    def _events(self, spec: StreamSpec, maker: Maker, call: Call) -> AsyncIterator[bytes]:
        """The chunks `_chunks` draws, then the contract's terminator (``data: [DONE]``) if its
        example shows one, sent at once, broken as the call's stream faults say."""
        timeline = [(0.0, event(chunk)) for chunk in self._chunks(spec, maker, call.seed)]
        if spec.terminator is not None:
            timeline.append((0.0, event_raw(spec.terminator)))
        return play(build_plan(timeline, call.stream_faults), 0.0)

    def _chunks(self, spec: StreamSpec, maker: Maker, seed: int) -> list[Any]:
        """A stream's chunks drawn from the chunk schema, made to read as one stream: a seeded text
        in token-sized pieces, one piece a chunk (where the chunk has a text field; else three
        chunks), the ``steady`` fields (``id``, ``created``...) of the first chunk in every chunk,
        and ``finish_reason`` (where the chunk has one) null until the last chunk, where every one
        is set. A chunk is drawn again (a few times) until it fits and stays schema-valid; the
        schema wins (the first draw is sent as it is)."""
        assert spec.chunk_schema is not None
        validator = self.contract.compiled.validator(spec.chunk_schema)
        pieces: list[str | None] = [None] * 3
        if spec.text_path is not None:
            words = GenContext(f"{seed}:stream:text")
            pieces = [piece for piece in split_tokens(words.words(words.rng.randint(4, 10)))[:MAX_PIECES]]
        steady: dict[tuple[str, ...], list[Any]] | None = None
        out: list[Any] = []
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            draws = (maker(GenContext(f"{seed}:stream:{number}:{attempt}")) for attempt in range(DRAWS))
            fitted = (_fit(drawn, spec, steady, piece, last) for drawn in draws)
            chunk = next((c for c in fitted if c is not None and validator.is_valid(c)), None)
            if chunk is None:
                chunk = maker(GenContext(f"{seed}:stream:{number}:0"))
            if steady is None and isinstance(chunk, dict):
                steady = {path: values_at(chunk, path) for path in spec.steady}
            out.append(chunk)
        return out


def _fit(
    chunk: Any,
    spec: StreamSpec,
    steady: dict[tuple[str, ...], list[Any]] | None,
    piece: str | None,
    last: bool,
) -> Any | None:
    """``chunk`` made one of its stream's (see `ContractAnswers._chunks`); None: it cannot be."""
    if not isinstance(chunk, dict):
        return None
    for path, values in (steady or {}).items():
        if values:
            _put_aligned(chunk, path, values)
        elif len(path) == 1:
            chunk.pop(path[0], None)
    if spec.text_path is not None and piece is not None and not _put(chunk, spec.text_path, piece):
        return None
    if spec.final_path is not None:
        if not last:
            _put(chunk, spec.final_path, None)
        elif None in (finals := values_at(chunk, spec.final_path)) or not finals:
            return None  # the last chunk ends every sample it carries
    return chunk


def _put_aligned(chunk: dict[str, Any], path: tuple[str, ...], values: list[Any]) -> None:
    """The first chunk's values at ``path`` into ``chunk``: a top-level field as it was, and in a
    top-level array (``data.*.id``) item by item (one id per sample), the last one repeated."""
    if len(path) == 1:
        chunk[path[0]] = values[0]
        return
    items = chunk.get(path[0])
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        if len(path) == 3 and isinstance(item, dict):
            item[path[2]] = values[min(index, len(values) - 1)]


def _put(node: Any, path: tuple[str, ...], value: Any) -> bool:
    """Set ``value`` at ``path`` (``*``: in every array item; the last key may be new); whether
    it was set anywhere."""
    head, rest = path[0], path[1:]
    if head == WILDCARD:
        keys: list[Any] = list(range(len(node))) if isinstance(node, list) else []
    else:
        keys = [head] if isinstance(node, dict) and (not rest or head in node) else []
    done = False
    for key in keys:
        if rest:
            done = _put(node[key], rest, value) or done
        else:
            node[key] = value
            done = True
    return done


def _echo(body: Any, echoes: list[tuple[str, str, bool]], path: dict[str, Any]) -> Any:
    if isinstance(body, dict):
        for param, name, integer in echoes:
            value = path.get(param)
            if value is None:
                continue
            if integer:
                if isinstance(value, str) and not value.lstrip("-").isdigit():
                    continue
                value = int(value)
            body[name] = value if integer else str(value)
    return body
