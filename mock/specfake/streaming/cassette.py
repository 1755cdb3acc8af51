"""Cassettes: recorded answers (streams chunk by chunk, with their timing) in readable YAML.

One file answers one request::

    format: specfake-cassette/1
    name: short-chat
    request:                      # what it answers
      contract: humanloop
      operation: chats_create
      model: gpt-4o-mini          # model_config.model; null matches any model
      num_samples: 1
      hash: 9c1f0a2b7d3e4f50      # of the normalised subject below; omit it to have it computed
      subject: {messages: [...], inputs: {...}}
    response:
      status: 200
      content_type: text/event-stream
      end: complete               # or "cut": the connection dropped after the last chunk
      chunks:                     # every event, and the time since the previous one
      - {gap_ms: 412.3, data: '{"data":[{"id":"data_…","index":0,"output":"Hel",…}],"project_id":"pr_…"}'}
      - {gap_ms: 18.0, raw: "event text kept byte for byte when it is not the one-line form"}
      final: {...}                # the non-streamed answer's JSON, when known (JSON answers: the body)

``data`` holds the event's JSON payload as the exact text received, so a replay sends the same
bytes; ``raw`` keeps any other framing. The first chunk's gap is measured from the request (the
time to first token).

Request normalisation (what ``hash`` covers). A streamed operation's behaviour may say which part
of a request its recordings answer (a `RecordingKey`: Humanloop's generations hash the messages,
the prompt template and the inputs, so other sampling parameters replay the same recording); any
other operation's subject is ``{"path", "query", "body"}``, with ``stream`` and ``user`` left out of
the body's top level. Then, recursively: object keys sorted; keys with null values dropped (null
and absent are the same request); strings trimmed of surrounding whitespace;
``provider_api_keys`` and every field whose name contains ``api_key`` removed at any depth. The
hash is the first 16 hex digits of SHA-256 over the compact, key-sorted JSON. Matching is on
(contract, operation, hash, sample count), and the model when the cassette names one; a cassette
that names no contract answers any contract's requests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from specfake.contract import is_event_stream
from specfake.streaming.redact import is_secret_field
from specfake.streaming.shape import PLAIN, ChunkShape, RecordingKey, StreamShape
from specfake.streaming.sse import PREFIX, TERMINATOR

FORMAT = "specfake-cassette/1"
_TOP_LEVEL_IGNORED = frozenset({"provider_api_keys", "stream", "user"})


class CassetteError(ValueError):
    """A cassette file that cannot be used; the message names the file and the field."""


# -- request normalisation ------------------------------------------------------------------------


def normalise(value: Any) -> Any:
    """The normal form described in the module docstring (no top-level rule; see ``subject_of``)."""
    if isinstance(value, dict):
        return {
            str(k): normalise(v)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
            if v is not None and k != "provider_api_keys" and not is_secret_field(str(k))
        }
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        return value.strip()
    return value


def subject_of(
    key: RecordingKey, body: Any, path: str | None = None, query: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The normalised part of a request that a cassette's hash covers."""
    if key.subject is not None:
        subject = key.subject(body)
    else:
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in _TOP_LEVEL_IGNORED}
        subject = {"path": path, "query": dict(query or {}), "body": body}
    normalised: dict[str, Any] = normalise(subject)
    return normalised


def hash_subject(subject: Any) -> str:
    canonical = json.dumps(subject, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def stream_shape(contract: str | None) -> StreamShape:
    """The stream shape the behaviour of ``contract`` declares (none: replay as recorded)."""
    if contract is None:
        return PLAIN
    from specfake.behaviours import declared  # behaviours import this package: found at use

    behaviour = declared(contract)
    return behaviour.streams if behaviour is not None and behaviour.streams is not None else PLAIN


@dataclass
class CassetteRequest:
    """The request a cassette answers (see the module docstring for the matching rules)."""

    contract: str | None  # None: answers any contract's requests
    operation: str | None
    hash: str
    model: str | None = None
    num_samples: int = 1
    method: str | None = None
    path: str | None = None
    subject: dict[str, Any] | None = None  # the normalised subject, for readers (None if redacted)

    @classmethod
    def of(
        cls,
        contract: str | None,
        operation: str | None,
        body: Any,
        *,
        method: str | None = None,
        path: str | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> CassetteRequest:
        """The request as a cassette records it, keyed the way ``contract``'s behaviour says."""
        key = stream_shape(contract).key(operation)
        subject = subject_of(key, body, path, query)
        return cls(
            contract=contract,
            operation=operation,
            hash=hash_subject(subject),
            model=key.model(body),
            num_samples=key.samples(body),
            method=method,
            path=path,
            subject=subject,
        )

    def key(self) -> tuple[str | None, str | None, str, int]:
        return (self.contract, self.operation, self.hash, self.num_samples)


# -- chunks ---------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """One event and the milliseconds since the previous one (since the request, for the first)."""

    gap_ms: float
    data: str | None = None  # the JSON payload text of a one-line ``data: …`` event
    raw: str | None = None  # any other event text, exactly as received

    @classmethod
    def from_bytes(cls, gap_ms: float, event: bytes) -> Chunk:
        if event.startswith(PREFIX) and event.endswith(TERMINATOR):
            payload = event[len(PREFIX) : -len(TERMINATOR)]
            if b"\n" not in payload and b"\r" not in payload:
                try:
                    json.loads(payload)
                except ValueError:
                    pass
                else:
                    return cls(gap_ms, data=payload.decode())
        return cls(gap_ms, raw=event.decode("utf-8", errors="replace"))  # YAML holds text only

    def to_bytes(self) -> bytes:
        if self.data is not None:
            return PREFIX + self.data.encode() + TERMINATOR
        return (self.raw or "").encode()

    def payload(self) -> Any:
        """The parsed JSON of a ``data`` chunk, None for a raw one."""
        return json.loads(self.data) if self.data is not None else None


# -- cassettes ------------------------------------------------------------------------------------


@dataclass
class Cassette:
    name: str
    request: CassetteRequest
    status: int = 200
    content_type: str = "text/event-stream"
    chunks: list[Chunk] = field(default_factory=list)
    final: Any = None
    body: str | None = None  # a non-JSON, non-stream answer's text
    end: str = "complete"  # "cut": the recorded connection dropped after the last chunk
    headers: dict[str, str] = field(default_factory=dict)  # recorded response headers (redacted)
    description: str | None = None
    source: str | None = None  # where it was recorded (upstream URL) or "hand-written"/a script
    file: Path | None = None

    @property
    def is_stream(self) -> bool:
        return is_event_stream(self.content_type)

    @property
    def shape(self) -> ChunkShape:
        """How this cassette's events carry samples: its contract's behaviour says."""
        return stream_shape(self.request.contract).chunks

    def events(self) -> list[bytes]:
        return [c.to_bytes() for c in self.chunks]

    def timeline(self) -> list[tuple[float, bytes]]:
        """(seconds since the request, event bytes) for each chunk."""
        out: list[tuple[float, bytes]] = []
        at = 0.0
        for chunk in self.chunks:
            at += chunk.gap_ms / 1000.0
            out.append((at, chunk.to_bytes()))
        return out

    def items(self) -> Iterator[tuple[int, dict[str, Any], Any]]:
        """(chunk number, sample item, whole payload) for every JSON chunk that carries an item."""
        shape = self.shape
        for number, chunk in enumerate(self.chunks):
            payload = chunk.payload()
            item = shape.item(payload)
            if item is not None:
                yield number, item, payload

    def outputs(self) -> dict[int, str]:
        """Each sample's text: its streamed pieces joined, by sample index."""
        shape = self.shape
        out: dict[int, str] = {}
        for _, item, _ in self.items():
            index = shape.index(item)
            out[index] = out.get(index, "") + shape.text(item)
        return out

    def samples(self) -> list[dict[str, Any]]:
        """Per sample (by index): its last chunk's item, carrying the whole joined text."""
        shape = self.shape
        last: dict[int, dict[str, Any]] = {}
        for _, item, _ in self.items():
            last[shape.index(item)] = item
        texts = self.outputs()
        return [shape.sample(last[index], texts[index]) for index in sorted(last)]

    def envelope(self) -> dict[str, Any]:
        """The fields every event carries besides its item, read from the first one."""
        for _, _, payload in self.items():
            return self.shape.envelope(payload)
        return {}

    # -- YAML --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        request: dict[str, Any] = {"contract": self.request.contract, "operation": self.request.operation}
        if self.request.method is not None:
            request["method"] = self.request.method
        if self.request.path is not None:
            request["path"] = self.request.path
        request["model"] = self.request.model
        request["num_samples"] = self.request.num_samples
        request["hash"] = self.request.hash
        if self.request.subject is not None:
            request["subject"] = self.request.subject
        response: dict[str, Any] = {"status": self.status, "content_type": self.content_type}
        if self.headers:
            response["headers"] = dict(self.headers)
        if self.is_stream:
            response["end"] = self.end
            response["chunks"] = [_FlowMap(_chunk_dict(c)) for c in self.chunks]
        if self.body is not None:
            response["body"] = self.body
        response["final"] = self.final
        out: dict[str, Any] = {"format": FORMAT, "name": self.name}
        if self.description:
            out["description"] = self.description
        if self.source:
            out["source"] = self.source
        out["request"] = request
        out["response"] = response
        return out

    def dumps(self) -> str:
        return yaml.dump(
            self.to_dict(),
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            width=1_000_000,
            default_flow_style=False,
        )

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(self.dumps(), encoding="utf-8")
        tmp.replace(target)  # readers never see half a file
        self.file = target
        return target

    @classmethod
    def from_dict(cls, data: Any, where: str = "<cassette>") -> Cassette:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CassetteError(f"{where}: not a cassette (expected 'format: {FORMAT}')")
        req = data.get("request")
        resp = data.get("response")
        if not isinstance(req, dict) or not isinstance(resp, dict):
            raise CassetteError(f"{where}: 'request' and 'response' must be mappings")
        subject = req.get("subject")
        digest = req.get("hash")
        if subject is not None:
            computed = hash_subject(normalise(subject))
            if digest is None:
                digest = computed
            elif digest != computed:
                raise CassetteError(
                    f"{where}: request.hash {digest} does not match request.subject (computed {computed});"
                    " delete the hash line to have it computed"
                )
        if not isinstance(digest, str):
            raise CassetteError(f"{where}: request needs a 'hash' or a 'subject'")
        chunks = []
        for number, raw in enumerate(resp.get("chunks") or [], 1):
            if not isinstance(raw, dict) or not isinstance(raw.get("gap_ms"), int | float):
                raise CassetteError(f"{where}: response.chunks[{number}] needs a numeric gap_ms")
            if raw["gap_ms"] < 0:
                raise CassetteError(f"{where}: response.chunks[{number}].gap_ms is negative")
            payload = raw.get("data")
            if isinstance(payload, dict | list):  # hand-written: structured JSON, sent compactly
                payload = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
            if payload is None and not isinstance(raw.get("raw"), str):
                raise CassetteError(f"{where}: response.chunks[{number}] needs 'data' or 'raw'")
            if isinstance(payload, str) and ("\n" in payload or "\r" in payload):
                raise CassetteError(f"{where}: response.chunks[{number}].data must be one line")
            chunks.append(Chunk(float(raw["gap_ms"]), data=payload, raw=raw.get("raw")))
        end = resp.get("end", "complete")
        if end not in ("complete", "cut"):
            raise CassetteError(f"{where}: response.end must be 'complete' or 'cut', not {end!r}")
        return cls(
            name=str(data.get("name") or where),
            description=data.get("description"),
            source=data.get("source"),
            request=CassetteRequest(
                contract=str(req["contract"]) if req.get("contract") else None,
                operation=req.get("operation"),
                hash=digest,
                model=req.get("model"),
                num_samples=int(req.get("num_samples") or 1),
                method=req.get("method"),
                path=req.get("path"),
                subject=subject,
            ),
            status=int(resp.get("status", 200)),
            content_type=str(resp.get("content_type") or "text/event-stream"),
            chunks=chunks,
            final=resp.get("final"),
            body=resp.get("body"),
            end=end,
            headers=dict(resp.get("headers") or {}),
        )

    @classmethod
    def load(cls, path: str | Path) -> Cassette:
        target = Path(path)
        try:
            data = yaml.safe_load(target.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise CassetteError(f"{target}: {exc}") from None
        cassette = cls.from_dict(data, str(target))
        cassette.file = target
        return cassette


def _chunk_dict(chunk: Chunk) -> dict[str, Any]:
    out: dict[str, Any] = {"gap_ms": round(chunk.gap_ms, 1)}
    if chunk.data is not None:
        out["data"] = chunk.data
    else:
        out["raw"] = chunk.raw
    return out


class _FlowMap(dict):  # type: ignore[type-arg]
    """A mapping written on one line: one chunk per line keeps a cassette readable."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _FlowMap, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)


# -- a directory of cassettes ---------------------------------------------------------------------


def builtin_streams() -> Path:
    """The shipped fixture cassettes (``fixtures/streams/``)."""
    return Path(str(resources.files("specfake.fixtures") / "streams"))


class CassetteLibrary:
    """Every ``*.yaml`` under a directory, indexed for matching requests to recordings."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._all: list[Cassette] = []
        self._index: dict[tuple[str | None, str | None, str, int], list[Cassette]] = {}
        self._contracts: dict[str | None, None] = {}  # the contracts recorded, in order
        if self.directory is not None:
            if not self.directory.is_dir():
                raise CassetteError(f"{self.directory}: no such cassette directory")
            for path in sorted([*self.directory.rglob("*.yaml"), *self.directory.rglob("*.yml")]):
                self.add(Cassette.load(path))

    @classmethod
    def builtin(cls) -> CassetteLibrary:
        return cls(builtin_streams())

    def add(self, cassette: Cassette) -> None:
        self._all.append(cassette)
        self._index.setdefault(cassette.request.key(), []).append(cassette)
        self._contracts.setdefault(cassette.request.contract, None)

    def __len__(self) -> int:
        return len(self._all)

    def operations(self, contract: str) -> frozenset[str]:
        """The operations of ``contract`` some recording answers (one naming no contract counts)."""
        return frozenset(
            c.request.operation
            for c in self._all
            if c.request.operation is not None and c.request.contract in (contract, None)
        )

    def __iter__(self) -> Iterator[Cassette]:
        return iter(self._all)

    def get(self, name: str) -> Cassette:
        for cassette in self._all:
            if cassette.name == name:
                return cassette
        raise KeyError(name)

    def match(
        self,
        operation_id: str,
        body: Any,
        *,
        contract: str | None = None,
        path: str | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> Cassette | None:
        """The recording answering this request of ``contract`` (None: of any contract recorded),
        if any; the first added when several do (a user's recordings before the built-in ones)."""
        named: list[str | None] = [contract] if contract is not None else [c for c in self._contracts if c]
        for name in named or [None]:
            request = CassetteRequest.of(name, operation_id, body, path=path, query=query)
            _, operation, digest, samples = request.key()
            for recorded_for in (name, None) if name is not None else (None,):
                for cassette in self._index.get((recorded_for, operation, digest, samples), ()):
                    if cassette.request.model is None or cassette.request.model == request.model:
                        return cassette
        return None
