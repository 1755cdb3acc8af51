"""HTTP hygiene of a served fake (issue 14): raw sockets against a live uvicorn with
``specfake.protocol``. Every broken request gets a clear 4xx and the server keeps answering;
slow heads are closed; a pipelined request before garbage is answered before the 400; a Host
that is not allowed (DNS rebinding) gets a 403 naming ``--allowed-host``."""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson
import pytest
from starlette.types import Receive, Scope, Send

from specfake.app import create_app
from specfake.protocol import HostCheck, HttpPolicy, host_name
from specfake.server import LiveServer, free_port
from tests.spawned import answering

TIMEOUT = 1.0  # the served fake's header timeout here: slowloris cases take about a second
KEY = b"X-API-KEY: k1\r\n"
Answer = tuple[int, dict[str, str], bytes]


class Address(Protocol):
    host: str
    port: int


@dataclass
class Spawned:
    """A ``specfake serve`` process's address."""

    host: str
    port: int


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    app = create_app(["humanloop"], api_keys=["k1"])
    with LiveServer(app, http=HttpPolicy(header_timeout=TIMEOUT)) as live:
        yield live


async def ok_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The protocol alone: any request that reaches the app is a 200 "ok"."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def connect(server: Address) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_all(sock: socket.socket, seconds: float = 5.0) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (True) or ``seconds`` pass (False)."""
    data = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def parse(raw: bytes) -> list[Answer]:
    """The HTTP/1.1 answers in ``raw``, in order (content-length or chunked bodies)."""
    out: list[Answer] = []
    while raw:
        head, sep, raw = raw.partition(b"\r\n\r\n")
        assert sep, f"incomplete answer head: {head[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if "content-length" in headers:
            size = int(headers["content-length"])
            body, raw = raw[:size], raw[size:]
        elif headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, raw = raw.partition(b"\r\n")
                size = int(size_line, 16)
                body, raw = body + raw[:size], raw[size + 2 :]
                if size == 0:
                    break
        else:
            body, raw = raw, b""
        out.append((status, headers, body))
    return out


def exchange(server: Address, data: bytes) -> tuple[list[Answer], bool]:
    with connect(server) as sock:
        sock.sendall(data)
        raw, closed = read_all(sock)
    return parse(raw), closed


def get(host: bytes = b"localhost", path: bytes = b"/humanloop/v4/projects", *, close: bool = True) -> bytes:
    """A GET; ``close=False`` keeps the connection for the next pipelined request."""
    end = b"Connection: close\r\n\r\n" if close else b"\r\n"
    return b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + KEY + end


def refused(server: Address, data: bytes, status: int) -> str:
    """One answer, ``status`` with a JSON ``detail``, then the connection closed; the server still
    answers a good request afterwards. Returns the detail."""
    answers, closed = exchange(server, data)
    assert [a[0] for a in answers] == [status], answers
    assert closed
    assert answers[0][1]["content-type"] == "application/json"
    detail = orjson.loads(answers[0][2])["detail"]
    assert isinstance(detail, str) and detail
    assert_answering(server)
    return detail


def assert_answering(server: Address) -> None:
    root = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    answers, _ = exchange(server, root + root.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    assert [a[0] for a in answers] == [200, 200]


def send_until_answered(server: Address, head: bytes, piece: bytes, limit: int) -> tuple[int, list[Answer]]:
    """Send ``head`` then ``piece`` repeatedly (up to ``limit`` bytes) until the server answers;
    the bytes sent, and the answers. The answer must come before everything is sent."""
    sent = 0
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.sendall(head)
        while sent < limit:
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        raw, closed = read_all(sock)
    assert closed
    return sent, parse(raw)


# The cases of the issue


def test_a_request_line_without_http_version_is_a_400_not_a_hang(server: Address) -> None:
    assert "no HTTP version" in refused(server, b"GET /\r\n\r\n", 400)
    assert "no HTTP version" in refused(server, b"GET /humanloop/v4/projects\r\n", 400)


def test_malformed_request_lines_are_400s(server: Address) -> None:
    refused(server, b"\x01\x02 garbage\r\n\r\n", 400)
    refused(server, b"GET / HTTP/1.1 extra\r\nHost: localhost\r\n\r\n", 400)
    assert "HTTP/1.1" in refused(server, b"GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 505)


def test_ten_thousand_headers_are_a_431_before_they_are_all_read(server: Address) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
    detail = refused(server, b"GET / HTTP/1.1\r\nHost: localhost\r\n" + headers + b"\r\n", 431)
    assert "More than 100 request header fields" in detail


def test_a_head_over_the_size_limit_is_a_431(server: Address) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 2000) for i in range(40))  # 80 KB, 40 fields
    detail = refused(server, b"GET / HTTP/1.1\r\nHost: localhost\r\n" + headers + b"\r\n", 431)
    assert "larger than 65536 bytes" in detail
    # The same head pipelined behind a good request, so it starts inside a read: still measured.
    big = b"GET / HTTP/1.1\r\nHost: localhost\r\n" + headers + b"\r\n"
    answers, closed = exchange(server, get(close=False) + big)
    assert [a[0] for a in answers] == [200, 431] and closed
    assert "longer than 65536" in refused(server, get(path=b"/" + b"a" * 70_000), 414)


def test_a_16_mb_header_line_is_refused_long_before_its_end(server: Address) -> None:
    sent, answers = send_until_answered(
        server, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ", b"a" * 16384, 16 * 1024 * 1024
    )
    assert [a[0] for a in answers] == [431]
    # Answered while the client was still sending: what it sent beyond the 64 KB limit sits in
    # the socket buffers (loopback autotunes the receiving one up to 6 MB), never read.
    assert sent < 8 * 1024 * 1024
    assert_answering(server)


def test_http11_needs_exactly_one_host(server: Address) -> None:
    assert "requires a Host" in refused(server, b"GET / HTTP/1.1\r\n\r\n", 400)
    two = b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n"
    assert "more than one Host" in refused(server, two, 400)
    assert "not a host name" in refused(server, get(host=b"local host:x"), 400)
    answers, closed = exchange(server, b"GET / HTTP/1.0\r\n\r\n")  # HTTP/1.0 may leave it out
    assert [a[0] for a in answers] == [200] and closed


def test_a_head_request_refused_gets_no_body(server: Address) -> None:
    with connect(server) as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        raw, closed = read_all(sock)
    assert raw.startswith(b"HTTP/1.1 403 ") and raw.endswith(b"\r\n\r\n") and closed


def test_slowloris_heads_are_closed_within_the_header_timeout(server: Address) -> None:
    socks = [connect(server) for _ in range(20)]
    try:
        started = time.monotonic()
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        closed_at: dict[int, float] = {}
        answers: dict[int, bytes] = {}
        while len(closed_at) < len(socks) and time.monotonic() - started < TIMEOUT + 3:
            for n, sock in enumerate(socks):
                if n in closed_at:
                    continue
                try:
                    sock.sendall(b"X-Slow: 1\r\n")  # a header every 0.2 s: never complete
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if select.select([sock], [], [], 0)[0]:
                    answers[n], closed = read_all(sock, 1)
                    assert closed
                    closed_at[n] = time.monotonic() - started
            time.sleep(0.2)
        assert len(closed_at) == len(socks), f"still open after {TIMEOUT + 3:g} s"
        assert TIMEOUT * 0.8 <= min(closed_at.values()) and max(closed_at.values()) < TIMEOUT + 2
        statuses = {parse(raw)[0][0] for raw in answers.values() if raw}
        assert statuses == {408}
    finally:
        for sock in socks:
            sock.close()
    assert_answering(server)


def test_a_silent_connection_is_closed_without_an_answer(server: Address) -> None:
    with connect(server) as sock:
        started = time.monotonic()
        raw, closed = read_all(sock, TIMEOUT + 3)
    assert closed and raw == b""
    assert TIMEOUT * 0.8 <= time.monotonic() - started < TIMEOUT + 2


def test_a_keep_alive_connection_outlives_the_header_timeout(server: Address) -> None:
    """The timer times a head under way only: requests a while apart on one connection answer."""
    with connect(server) as sock:
        sock.sendall(get(close=False))
        time.sleep(TIMEOUT * 1.3)
        sock.sendall(get(close=False) + get())
        raw, closed = read_all(sock)
    assert [a[0] for a in parse(raw)] == [200, 200, 200] and closed


def test_a_pipelined_post_before_garbage_is_answered_then_the_400(server: Address) -> None:
    """The documented behaviour: the POST is applied and answered, then the 400, then close."""
    body = orjson.dumps({"project": "pipelined", "output": "o", "config": {"model": "gpt-4"}})
    post = b"POST /humanloop/v4/logs HTTP/1.1\r\nHost: localhost\r\n" + KEY
    post += b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    answers, closed = exchange(server, post + b"\x01garbage \x02\r\n\r\n")
    assert [a[0] for a in answers] == [200, 400] and closed
    log_id = orjson.loads(answers[0][2])["id"]
    again, _ = exchange(server, get(path=f"/humanloop/v4/logs/{log_id}".encode()))
    assert again[0][0] == 200 and orjson.loads(again[0][2])["id"] == log_id
    # Two good requests before a bad one: both answered, in order, before the 400.
    answers, closed = exchange(server, get(close=False) * 2 + b"GET / HTTP/1.1\r\n\r\n")
    assert [a[0] for a in answers] == [200, 200, 400] and closed


# The Host allowlist (DNS rebinding)


def test_a_foreign_host_cannot_read_the_admin_journal(server: Address) -> None:
    detail = refused(server, get(host=b"rebind.evil.example", path=b"/__admin/journal"), 403)
    assert "rebind.evil.example" in detail and "--allowed-host" in detail and "DNS rebinding" in detail
    refused(server, get(host=b"127.0.0.1.evil.example:80"), 403)
    refused(server, get(host=b"localhost.evil.example"), 403)


@pytest.mark.parametrize(
    "host", [b"localhost", b"LOCALHOST:4010", b"localhost.", b"app.localhost:1", b"127.0.0.1:9", b"[::1]:80"]
)
def test_loopback_names_are_allowed_on_any_port(server: Address, host: bytes) -> None:
    answers, _ = exchange(server, get(host=host, path=b"/__admin/journal?limit=1"))
    assert answers[0][0] == 200


def test_allowed_hosts_add_names_subdomains_or_anything() -> None:
    policy = HttpPolicy(allowed_hosts=("fake.test", ".corp.example"))
    with LiveServer(ok_app, http=policy) as live:
        for host, status in [
            (b"fake.test:4010", 200),
            (b"a.fake.test", 403),
            (b"corp.example", 200),
            (b"x.y.corp.example", 200),
            (b"evilcorp.example", 403),
            (b"localhost", 200),
        ]:
            answers, _ = exchange(live, get(host=host, path=b"/"))
            assert answers[0][0] == status, host
    with LiveServer(ok_app, http=HttpPolicy(allowed_hosts=("*",))) as live:
        answers, _ = exchange(live, get(host=b"rebind.evil.example", path=b"/"))
        assert answers[0][0] == 200


def test_host_parsing_and_policy_checks() -> None:
    assert host_name(b"Example.COM:8080") == "example.com"
    assert host_name(b"[::1]:80") == "::1"
    assert host_name(b"localhost.") == "localhost"
    for bad in (b"", b"a b", b"host:port", b"[::1", b"a/b", b"h:123456", b"\xb2"):
        assert host_name(bad) is None, bad
    check = HostCheck(["10.0.0.5", "::2"])
    assert check.allows(b"10.0.0.5:4010") and check.allows(b"[::2]") and not check.allows(b"10.0.0.6")
    for kwargs in ({"header_timeout": 0.0}, {"max_headers": 0}, {"allowed_hosts": ("a b",)}):
        with pytest.raises(ValueError):
            HttpPolicy(**kwargs)


def test_serve_flags_set_the_allowlist_and_limits() -> None:
    """``specfake serve --allowed-host --max-headers`` reach the protocol."""
    port = free_port()
    specfake = str(Path(sys.executable).with_name("specfake"))
    args = ["serve", "--port", str(port), "--empty", "--contract", "sgp", "--allowed-host", "fake.test"]
    proc = subprocess.Popen([specfake, *args, "--max-headers", "5"], stdout=subprocess.PIPE, text=True)
    try:
        answering(f"http://127.0.0.1:{port}", proc)
        live = Spawned("127.0.0.1", port)
        answers, _ = exchange(live, get(host=b"fake.test", path=b"/"))
        assert answers[0][0] == 200
        refused(live, b"GET / HTTP/1.1\r\nHost: evil.test\r\n\r\n", 403)
        many = b"".join(b"X-%d: v\r\n" % i for i in range(5))
        refused(live, b"GET / HTTP/1.1\r\nHost: localhost\r\n" + many + b"\r\n", 431)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
