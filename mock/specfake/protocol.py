"""The HTTP/1.1 protocol of a served fake: uvicorn's httptools protocol, made hard to break.

uvicorn 0.55 alone reads request heads of any size and header count, never times out a slow
head, leaves an HTTP/0.9 request line (no version) unanswered, answers HTTP/1.1 with no Host or
two, and writes a parse error's 400 over a pipelined request it is still answering (the client
then never sees that request's answer, though it was applied). Any browser tab can also reach a
loopback server through DNS rebinding, which only a Host check stops. This subclass fixes each
where it costs least: byte counts per read (exact sizes only when a read is large), one lazily
re-armed timer per connection, and checks once per request head (a set lookup for a Host that
has passed before).

Written against uvicorn 0.55's ``HttpToolsProtocol`` (pinned in pyproject.toml): ``on_header``
repeats its few lines rather than paying a second call per header.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

# Names that only ever reach this machine: Host values a rebinding page cannot produce for them.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
LOOPBACK_SUFFIXES = (".localhost",)  # RFC 6761: *.localhost resolves to loopback
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
# RFC 3986 host (an IP literal or a reg-name) and an optional port, lower-cased first.
_HOST_RE = re.compile(r"(?:\[([0-9a-f:.]+)\]|([a-z0-9._~!$&'()*+,;=%-]+))(?::[0-9]{0,5})?")
NO_VERSION = "Invalid HTTP request: the request line has no HTTP version (HTTP/1.1 expected)"
_VERSIONS = frozenset({"1.1", "1.0"})
_PASSED_CACHE = 1024  # Host values remembered as allowed (bounded: ports and *.localhost vary)
# The parent's callbacks, called straight: Python 3.11's super() builds an object on every call.
_BASE = HttpToolsProtocol


@dataclass(frozen=True)
class HttpPolicy:
    """Limits of a served fake's HTTP layer; the defaults are documented in the README (Limits)."""

    max_header_bytes: int = 64 * 1024  # request line target + header names and values
    max_headers: int = 100
    header_timeout: float = 10.0  # seconds to complete a request head once it has begun
    allowed_hosts: tuple[str, ...] = ()  # beyond loopback and the bind host; "*" allows any

    def __post_init__(self) -> None:
        if self.max_header_bytes < 1024:
            raise ValueError(f"max_header_bytes must be at least 1024, got {self.max_header_bytes}")
        if self.max_headers < 1:
            raise ValueError(f"max_headers must be at least 1, got {self.max_headers}")
        if not self.header_timeout > 0:
            raise ValueError(f"header_timeout must be a number of seconds > 0, got {self.header_timeout}")
        for name in self.allowed_hosts:
            if name != "*" and _allowed_name(name) is None:
                raise ValueError(f"--allowed-host expects a host name, got {name!r}")


def host_name(value: bytes) -> str | None:
    """The host of a Host header value, lower-cased, without port, brackets or a final dot;
    None when it is not a host (RFC 9110: answered 400)."""
    match = _HOST_RE.fullmatch(value.decode("latin-1").strip().lower())
    if match is None:
        return None
    name = match.group(1) or match.group(2)
    return name[:-1] if name.endswith(".") and len(name) > 1 else name


def _allowed_name(text: str) -> str | None:
    """The host of an allowlist entry: ``.example.com``, ``[::1]`` or a bare ``::1`` alike."""
    text = text.strip().lstrip(".")
    if text.count(":") > 1 and not text.startswith("["):
        text = f"[{text}]"
    return host_name(text.encode("latin-1", "replace"))


class HostCheck:
    """The Host allowlist: loopback names, the bind host, then ``--allowed-host`` names (a name
    starting with ``.`` also allows its subdomains, as Vite's ``allowedHosts``)."""

    def __init__(self, names: Iterable[str]) -> None:
        exact, suffixes = set(LOOPBACK_NAMES), list(LOOPBACK_SUFFIXES)
        for name in names:
            parsed = _allowed_name(name)
            if parsed is None:
                continue
            exact.add(parsed)
            if name.strip().startswith("."):
                suffixes.append("." + parsed)
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)
        self.passed: set[bytes] = set()

    def allows(self, value: bytes) -> bool:
        if value in self.passed:
            return True
        name = host_name(value)
        allowed = name is not None and (name in self.exact or name.endswith(self.suffixes))
        if allowed and len(self.passed) < _PASSED_CACHE:
            self.passed.add(value)
        return allowed


class _Refused(Exception):
    """Raised in a parser callback to stop parsing; ``_refusal`` holds the answer."""


class SpecfakeHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head limits, a head timeout, Host checks and in-order
    error answers. Configured per server by ``protocol_class``."""

    policy: ClassVar[HttpPolicy] = HttpPolicy()
    host_check: ClassVar[HostCheck | None] = HostCheck(())

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._in_head = True  # between two requests' heads: the next bytes are a head
        self._head_started: float | None = None  # loop time the current head began to arrive
        self._head_bytes = 0  # bytes of reads that began and ended inside one head
        self._large_read = False  # the read being parsed could hold half a head over the limit
        self._measure = False  # so could one of the current head's: measure it once complete
        self._hosts = 0
        self._host = b""
        self._timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str, bool] | None = None  # status, why, HEAD request
        self._pending: bytes | None = None  # an error answer waiting for earlier answers
        # The policy's figures the common path compares against, read once per connection.
        self._half_head = self.policy.max_header_bytes // 2
        self._max_headers = self.policy.max_headers

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_started = self.loop.time()  # a connection that never speaks is closed too
        self._timer = self.loop.call_later(self.policy.header_timeout, self._head_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._pending is not None:
            return  # an error answer is queued and the connection closes after it
        in_head = self._in_head
        if in_head and self._head_started is None:
            self._head_started = self.loop.time()
            if self._timer is None:
                self._timer = self.loop.call_later(self.policy.header_timeout, self._head_timeout)
        # A head over the limit has over half of it in its first read, or in the reads after.
        if len(data) + self._head_bytes > self._half_head:
            self._large_read = self._measure = True
        else:
            self._large_read = False
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as exc:
            status, why, head = self._refusal or (400, f"Invalid HTTP request: {exc}", False)
            self._refuse(status, why, head)
            return
        # Still inside the head that was under way before this read: all of it was head bytes.
        if in_head and self._head_started is not None:
            if self.parser.get_http_version() == "0.0" and b"\n" in data.lstrip(b"\r\n"):
                # llhttp waits for headers after a request line with no version (HTTP/0.9).
                self._refuse(400, NO_VERSION, False)
                return
            self._head_bytes += len(data)
            if len(self.headers) > self.policy.max_headers:
                self._refuse(431, self._too_many(), False)
            elif self._head_bytes > self.policy.max_header_bytes:
                self._refuse(431, self._too_large(), False)

    # Parser callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        """uvicorn 0.55's ``on_header`` plus the Host count; sizes are checked per read and once
        the head is complete (counting here costs every request a microsecond)."""
        name = name.lower()
        value = value.rstrip(b" \t")
        if name == b"host":
            self._hosts += 1
            self._host = value
        elif name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_started = None
        self._head_bytes = 0
        check = self.host_check
        if (  # the usual head: small, one Host already allowed, HTTP/1.x
            self._hosts == 1
            and not self._measure
            and (check is None or self._host in check.passed)
            and len(self.headers) <= self._max_headers
            and self.parser.get_http_version() in _VERSIONS
        ):
            _BASE.on_headers_complete(self)
            return
        refusal = self._check_head()
        if refusal is not None:
            self._refusal = (*refusal, self.parser.get_method() == b"HEAD")
            raise _Refused
        _BASE.on_headers_complete(self)

    def on_message_complete(self) -> None:
        self._in_head = True
        self._hosts = 0  # trailers are not the next request's headers
        # Whether the next head is measured starts as this read's size (a next head begun in a
        # later, small read is then measured at most once more: still exact, and no
        # on_message_begin override, a call per request, is needed).
        self._measure = self._large_read
        _BASE.on_message_complete(self)

    def on_response_complete(self) -> None:
        if self._pending is not None and not self.pipeline:
            # The last request read before the bad one is answered: now the error, then close.
            self.server_state.total_requests += 1
            if not self.transport.is_closing():
                self.transport.write(self._pending)
                self.transport.close()
            return
        _BASE.on_response_complete(self)

    # Checks and answers

    def _check_head(self) -> tuple[int, str] | None:
        limit = self.policy.max_header_bytes
        if len(self.url) > limit:
            return 414, f"The request target is longer than {limit} bytes"
        if len(self.headers) > self.policy.max_headers:
            return 431, self._too_many()
        if len(self.url) + sum(len(name) + len(value) for name, value in self.headers) > limit:
            return 431, self._too_large()
        version = self.parser.get_http_version()
        if version != "1.1" and version != "1.0":
            if version == "0.9":
                return 400, NO_VERSION
            return 505, f"HTTP/{version} is not supported: send HTTP/1.1"
        if self._hosts > 1:
            return 400, "Invalid HTTP request: more than one Host header"
        if not self._hosts:
            if version == "1.1":
                return 400, "Invalid HTTP request: HTTP/1.1 requires a Host header"
            return None
        check = self.host_check
        if check is not None and not check.allows(self._host):
            shown = self._host.decode("latin-1")
            if host_name(self._host) is None:
                return 400, f"Invalid HTTP request: Host {shown!r} is not a host name"
            return 403, (
                f"Host {shown!r} is not allowed: this server answers loopback names and the names "
                "it was started with (a guard against DNS rebinding). Start it with "
                f"--allowed-host {host_name(self._host)} to allow this one, or --allowed-host '*' for any."
            )
        return None

    def _too_large(self) -> str:
        return f"The request head is larger than {self.policy.max_header_bytes} bytes"

    def _too_many(self) -> str:
        return f"More than {self.policy.max_headers} request header fields"

    def _refuse(self, status: int, why: str, head: bool) -> None:
        """Answer ``status`` and close, after the answers of requests already read (pipelining)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._unset_keepalive_if_required()
        body = orjson.dumps({"detail": why})
        lines = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            lines += [name, b": ", value, b"\r\n"]
        lines.append(b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body))
        lines.append(b"connection: close\r\n\r\n")
        answer = b"".join(lines) if head else b"".join(lines) + body
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.more_body:
            # Every request read so far is whole: queue the error behind their answers.
            self._pending = answer
            self.flow.pause_reading()
            return
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # broken inside its own body: its app reads a disconnect
            cycle.message_event.set()
        self.transport.write(answer)
        self.transport.close()

    def _head_timeout(self) -> None:
        """Close a connection whose request head has taken longer than ``header_timeout``."""
        self._timer = None
        started = self._head_started
        if started is None or self.transport.is_closing():
            return  # no head under way: an idle connection is uvicorn's keep-alive timeout
        timeout = self.policy.header_timeout
        if self.cycle is not None and not self.cycle.response_complete:
            # Reading is paused behind an earlier request's answer: not the client's delay.
            self._head_started = self.loop.time()
            self._timer = self.loop.call_later(timeout, self._head_timeout)
            return
        left = started + timeout - self.loop.time()
        if left > 0:
            self._timer = self.loop.call_later(left, self._head_timeout)
        elif self._head_bytes:
            self._refuse(408, f"The request head took longer than {timeout:g} s", False)
        else:
            self.transport.close()


def protocol_class(policy: HttpPolicy, bind_host: str) -> type[SpecfakeHttpProtocol]:
    """The protocol class for one server: ``policy``, and the bind host allowed unless it is a
    wildcard address (a wildcard bind names no host)."""
    names = list(policy.allowed_hosts)
    if bind_host not in WILDCARD_BINDS:
        names.append(bind_host)

    class Configured(SpecfakeHttpProtocol):
        pass

    Configured.policy = policy
    Configured.host_check = None if "*" in names else HostCheck(names)
    return Configured
