"""``specfake record``: a recording proxy in front of a real service.

Every request is forwarded upstream as it came (API key included: the upstream needs it); the
answer goes back to the client piece by piece as it arrives, so a stream is never held until its
end. Each exchange is then written to ``--out`` as a cassette (``specfake.streaming.cassette``):
streams event by event with the gap before each event, JSON answers (errors included) whole.
The fake replays them offline (``CassetteLibrary(out)``). What is written is always redacted
(``specfake.streaming.redact``): API-key headers, ``provider_api_keys``, ``*api_key*`` fields, and
any of those secrets wherever else it appears.

If the upstream drops the connection mid-answer, the proxy drops its client's connection too and
records the cassette with ``end: cut``, so the replay cuts at the same place. An upstream that
cannot be reached is a 502 and is not recorded. Requests answered identically (same operation,
model, sample count and normalised subject) overwrite each other's cassette: the latest wins.

CLI flags (``add_record_parser``): ``--upstream URL`` (required), ``--out DIR`` (required),
``--contract NAME`` (default humanloop; names the operations and the mount prefix), ``--host``
(default 127.0.0.1), ``--port`` (default 4011), ``--timeout SECONDS`` (upstream read timeout,
default 300), ``--log-level``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from specfake.contract import Contract, ContractError, is_event_stream, load_contract
from specfake.http import BodyTooLarge, Reply, dump_json, lifespan, parse_query, read_body
from specfake.streaming.cassette import Cassette, CassetteLibrary, CassetteRequest, Chunk, hash_subject
from specfake.streaming.faults import StreamCut
from specfake.streaming.redact import redact, redact_headers, scrub, secrets_in
from specfake.streaming.sse import SseSplitter

log = logging.getLogger("specfake.record")
MAX_BODY = 8 * 1024 * 1024
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Dropped from answers: the body is forwarded decoded (see below), and uvicorn frames it itself.
_NOT_FORWARDED_BACK = _HOP_BY_HOP | {"content-encoding", "date", "server"}
# Set by the fake itself when it answers with what the upstream said.
_REPLACED = frozenset({"content-type", "x-request-id"})


DEFAULT_CONTRACT = "humanloop"  # what `specfake record` proxies when no --contract is given


@dataclass
class Proxied:
    """One exchange the proxy forwarded: the request as it came, the answer as it went back."""

    method: str
    path: str  # below the contract's prefix
    query: bytes
    headers: dict[str, str]
    body: bytes
    status: int
    response_headers: dict[str, str]  # as the upstream sent them
    chunks: list[Chunk] = field(default_factory=list)  # a stream's events, each with its gap
    answer: bytes = b""  # any other answer's body
    cut: bool = False  # the upstream dropped the connection mid-answer

    @property
    def response_body(self) -> bytes:
        return b"".join(chunk.to_bytes() for chunk in self.chunks) or self.answer


class Upstream:
    """The real service: requests forwarded as they came, answers relayed piece by piece as they
    arrive, each exchange kept whole (a stream event by event, with the gap before each event)."""

    def __init__(
        self, url: str, *, timeout: float = 300.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = httpx.Timeout(10.0, read=timeout)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def open(
        self, method: str, path: str, query: bytes, headers: list[tuple[str, str]], body: bytes
    ) -> httpx.Response:
        """Send the request; the answer's body is still to be read (``relay``). httpx.HTTPError
        when the upstream cannot be reached."""
        if self._client is None:
            # Accept-Encoding: identity is asked for, and answers are read decoded anyway, so what
            # is recorded is always the plain body.
            self._client = httpx.AsyncClient(timeout=self.timeout, transport=self._transport)
        forward = [(k, v) for k, v in headers if k not in _HOP_BY_HOP and k != "accept-encoding"]
        forward.append(("accept-encoding", "identity"))
        url = self.url + path + ("?" + query.decode("latin-1") if query else "")
        request = self._client.build_request(method, url, headers=forward, content=body)
        return await self._client.send(request, stream=True)

    async def relay(
        self, response: httpx.Response, exchange: Proxied, started: float
    ) -> AsyncIterator[bytes]:
        """Yield the answer's pieces as they arrive, keeping them in ``exchange``; an upstream
        that drops the connection ends the pieces with ``exchange.cut`` set."""
        loop = asyncio.get_running_loop()
        is_stream = is_event_stream(response.headers.get("content-type", ""))
        splitter = SseSplitter()
        parts: list[bytes] = []
        last = started
        try:
            async for piece in response.aiter_bytes():
                now = loop.time()
                yield piece
                if is_stream:
                    for raw_event in splitter.feed(piece):
                        exchange.chunks.append(Chunk.from_bytes((now - last) * 1000.0, raw_event))
                        last = now
                else:
                    parts.append(piece)
        except httpx.TransportError:
            exchange.cut = True  # the upstream dropped the connection (or timed out) mid-answer
        finally:
            await response.aclose()
        if is_stream and splitter.rest():
            exchange.chunks.append(Chunk.from_bytes((loop.time() - last) * 1000.0, splitter.rest()))
        exchange.answer = b"".join(parts)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def answered(response: httpx.Response) -> list[tuple[str, str]]:
    """The upstream's headers a client is given back (framing and hop-by-hop ones are the fake's)."""
    return [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _NOT_FORWARDED_BACK]


class ForwardingProxy:
    """Raw ASGI app: forward each request, stream the answer back as it arrives, and hand the
    exchange to ``keep`` (run in a thread, before the answer ends, so a client that saw the end can
    rely on what ``keep`` did). ``specfake record`` keeps cassettes; ``check client --proxy`` keeps
    exchanges to check."""

    def __init__(
        self,
        upstream: str,
        *,
        contract: str | Path | Contract,
        keep: Callable[[Proxied], None],
        timeout: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = Upstream(upstream, timeout=timeout, transport=transport)
        self.upstream = self.service.url
        self.contract = contract if isinstance(contract, Contract) else load_contract(contract)
        self.keep = keep

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send, on_shutdown=self.service.close)
        elif scope["type"] == "http":
            await self._proxy(scope, receive, send)

    def _below_prefix(self, path: str) -> str:
        prefix = self.contract.prefix
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            return path[len(prefix) :] or "/"
        return path

    async def _proxy(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path = self._below_prefix(scope["path"])
        query: bytes = scope.get("query_string", b"")
        try:
            body = await read_body(receive, MAX_BODY)
        except BodyTooLarge:
            await _send_json(send, 413, {"detail": f"Request body larger than {MAX_BODY} bytes"})
            return
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        started = asyncio.get_running_loop().time()
        try:
            response = await self.service.open(method, path, query, headers, body)
        except httpx.HTTPError as exc:
            await _send_json(send, 502, {"detail": f"Upstream {self.upstream} failed: {type(exc).__name__}"})
            return
        back = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answered(response)]
        await send({"type": "http.response.start", "status": response.status_code, "headers": back})
        status, received = response.status_code, dict(response.headers)
        exchange = Proxied(method, path, query, dict(headers), body, status, received)
        async for piece in self.service.relay(response, exchange, started):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        try:
            await asyncio.to_thread(self.keep, exchange)
        except Exception:  # what keeping fails on must not break the answer the client is getting
            log.exception("specfake: could not keep the exchange %s %s", method, path)
        if exchange.cut:
            raise StreamCut("upstream dropped the connection; dropping the client's too")
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class RecordingProxy(ForwardingProxy):
    """The proxy of ``specfake record``: one cassette per exchange, written to ``out``."""

    def __init__(
        self,
        upstream: str,
        out: str | Path,
        *,
        contract: str | Path | Contract,
        timeout: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(upstream, contract=contract, keep=self.record, timeout=timeout, transport=transport)
        self.out = Path(out)
        self.recorded: list[Path] = []  # files written, in order

    def record(self, exchange: Proxied) -> None:
        cassette = to_cassette(exchange, self.contract, self.upstream)
        self.recorded.append(cassette.save(self.out / f"{_safe(cassette.name)}.yaml"))


class MissRecorder:
    """``specfake serve --upstream URL --record-missing DIR``: a request no recording answers goes
    to the real service; its answer is relayed as it arrives, recorded (redacted) to DIR and added
    to the recordings, so the same request is answered offline from then on."""

    def __init__(
        self,
        upstream: str,
        out: str | Path,
        contract: Contract,
        library: CassetteLibrary,
        *,
        timeout: float = 300.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.service = Upstream(upstream, timeout=timeout, transport=transport)
        self.out = Path(out)
        self.contract = contract
        self.library = library
        self.recorded: list[Path] = []
        self.on_recorded: Callable[[Cassette], None] = lambda cassette: None

    async def answer(
        self, method: str, path: str, query: bytes, headers: dict[str, str], body: bytes
    ) -> Reply:
        """The upstream's answer to this request (below the mount prefix), recorded once complete."""
        started = asyncio.get_running_loop().time()
        try:
            response = await self.service.open(method, path, query, list(headers.items()), body)
        except httpx.HTTPError as exc:
            return Reply(502, body={"detail": f"Upstream {self.service.url} failed: {type(exc).__name__}"})
        status, received = response.status_code, dict(response.headers)
        exchange = Proxied(method, path, query, dict(headers), body, status, received)
        back = {k: v for k, v in answered(response) if k.lower() not in _REPLACED}
        if is_event_stream(received.get("content-type", "")):
            return Reply(status, headers=back, stream=self._relayed(response, exchange, started))
        async for _ in self.service.relay(response, exchange, started):
            pass
        if exchange.cut:
            return Reply(502, body={"detail": f"Upstream {self.service.url} dropped the connection"})
        await asyncio.to_thread(self.record, exchange)
        return Reply(status, raw=exchange.answer or None, headers=back)

    async def _relayed(
        self, response: httpx.Response, exchange: Proxied, started: float
    ) -> AsyncIterator[bytes]:
        async for piece in self.service.relay(response, exchange, started):
            yield piece
        await asyncio.to_thread(self.record, exchange)
        if exchange.cut:
            raise StreamCut("upstream dropped the connection; dropping the client's too")

    def record(self, exchange: Proxied) -> None:
        cassette = to_cassette(exchange, self.contract, self.service.url)
        self.recorded.append(cassette.save(self.out / f"{_safe(cassette.name)}.yaml"))
        self.library.add(cassette)
        self.on_recorded(cassette)


def to_cassette(exchange: Proxied, contract: Contract, upstream: str) -> Cassette:
    """An exchange as a cassette, redacted (see the module docstring)."""
    try:
        parsed: Any = json.loads(exchange.body) if exchange.body.strip() else None
    except ValueError:
        parsed = None
    secrets = secrets_in(exchange.headers, parsed)
    ordered = sorted(secrets, key=len, reverse=True)
    method, path = exchange.method, exchange.path
    found = contract.compiled.match(method, path)
    operation = found.target.operation_id if found is not None and found.target is not None else None
    queries = parse_query(exchange.query)
    request = CassetteRequest.of(contract.name, operation, parsed, method=method, path=path, query=queries)
    if redact(request.subject, ordered) != request.subject:
        request.subject = None  # it held a secret: keep only the hash
    content_type = exchange.response_headers.get("content-type", "")
    final: Any = None
    text: str | None = None
    if exchange.answer:
        try:
            final = redact(json.loads(exchange.answer), ordered)
        except ValueError:
            text = scrub(exchange.answer.decode("utf-8", errors="replace"), ordered)
    kept = {k: v for k, v in exchange.response_headers.items() if k.lower() not in _NOT_FORWARDED_BACK}
    key = hash_subject([list(request.key()), request.model, method, path])[:12]
    name = f"{operation or method.lower() + '-unmatched'}-{key}"
    return Cassette(
        name=name,
        request=request,
        status=exchange.status,
        content_type=content_type or "application/json",
        chunks=[_redact_chunk(c, ordered) for c in exchange.chunks],
        final=final,
        body=text,
        end="cut" if exchange.cut else "complete",
        headers=redact_headers(kept, ordered),
        source=f"recorded by specfake record from {upstream}",
    )


def _redact_chunk(chunk: Chunk, secrets: list[str]) -> Chunk:
    """Re-serialise an event only when it held a secret: otherwise its bytes stay as received."""
    if chunk.data is not None:
        payload = json.loads(chunk.data)
        cleaned = redact(payload, secrets)
        if cleaned != payload:
            return Chunk(chunk.gap_ms, data=json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False))
        return chunk
    return Chunk(chunk.gap_ms, raw=scrub(chunk.raw or "", secrets))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


async def _send_json(send: Send, status: int, body: Any) -> None:
    payload = dump_json(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


# -- command line (the integrator wires these into ``specfake``) ----------------------------------


def add_record_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``record`` to ``specfake``'s subcommands; it runs :func:`main_record`."""
    record: argparse.ArgumentParser = subparsers.add_parser(
        "record", help="record a real service's answers as cassettes"
    )
    record.add_argument("--upstream", required=True, help="base URL, e.g. https://api.humanloop.com/v4")
    record.add_argument("--out", required=True, metavar="DIR", help="where cassettes are written")
    record.add_argument(
        "--contract", default=DEFAULT_CONTRACT, help=f"contract naming the operations ({DEFAULT_CONTRACT})"
    )
    record.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    record.add_argument("--port", type=int, default=4011)
    record.add_argument("--timeout", type=float, default=300.0, help="upstream read timeout (seconds)")
    record.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    record.set_defaults(func=main_record)
    return record


def main_record(args: argparse.Namespace) -> int:
    import uvicorn

    from specfake.server import uvicorn_config

    try:
        proxy = RecordingProxy(args.upstream, args.out, contract=args.contract, timeout=args.timeout)
    except ContractError as exc:
        print(f"specfake: {exc}", file=sys.stderr)
        return 2
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "localhost", "") else args.host
    print(f"specfake record: http://{shown}:{args.port}{proxy.contract.prefix} -> {proxy.upstream}")
    print(f"specfake record: cassettes to {proxy.out} (API and provider keys redacted); Ctrl-C stops")
    uvicorn.Server(uvicorn_config(proxy, args.host, args.port, args.log_level)).run()
    return 0
