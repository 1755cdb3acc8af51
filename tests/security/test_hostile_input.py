"""Hostile input (issue 14): every case gets a clear 4xx naming what is wrong, never a 5xx; the
fake keeps answering and no tenant's state changes.

The corpus is sent as raw ASGI messages, shaped as uvicorn hands them over (``raw_path`` as sent,
``path`` percent-decoded with U+FFFD for invalid UTF-8, the body in as many messages as given):
httpx, under starlette's TestClient, refuses to send several of these requests at all (URLs over
64 KB, some methods and encodings), and would not split a body or disconnect mid-body.

"Refused" cases must be a 4xx with a JSON ``detail`` (a 422's entries each with ``loc``, ``msg``
and ``type``). A few cases are inputs the contract accepts (a body on a GET, duplicate query
parameters: the last wins, as in FastAPI): those must get their normal answer, so a test that
refused everything would fail too. The ``*_twin_*`` tests send the valid twin of the refused
bodies, so a refusal here is the hostile part's doing, not a broken template.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, unquote

import orjson
import pytest

from specfake.app import create_app
from specfake.http import http_scope
from specfake.pipeline import MAX_DEPTH
from specfake.tenants import fingerprint

KEY = "hostile-tenant-1"
OTHER = "hostile-tenant-2"
WRITER = "hostile-writer"  # the only tenant the tests write to (valid twins, read-back checks)
ADMIN = "hostile-admin-token"
APP = create_app(api_keys=[KEY, OTHER, WRITER], fixtures="builtin", admin_token=ADMIN)
HL = "/humanloop/v4"
SGP = "/sgp/v4"
JSON_TYPE = ("content-type", b"application/json")
HEADER_VALUE = str | bytes


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the app sent nothing (the client had gone)
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


def send(
    method: str,
    target: str,
    headers: Sequence[tuple[str, HEADER_VALUE]] = (),
    chunks: Sequence[bytes] = (b"",),
    *,
    key: HEADER_VALUE | None = KEY,
    disconnect: bool = False,
) -> Answer:
    """One request, in process, as uvicorn would pass it on; ``disconnect``: the client leaves
    after the last chunk, before the body is complete."""
    raw, _, query = target.encode("ascii").partition(b"?")
    listed = [(b"host", b"127.0.0.1:4010")]
    if key is not None:
        listed.append((b"x-api-key", key.encode() if isinstance(key, str) else key))
    listed += [
        (name.encode(), value.encode() if isinstance(value, str) else value) for name, value in headers
    ]
    scope = http_scope(method, unquote(raw.decode("ascii")), listed, query, raw_path=raw)
    pending = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1 or disconnect}
        for index, chunk in enumerate(chunks)
    ]
    status: list[int] = []
    response_headers: dict[str, str] = {}
    parts: list[bytes] = []

    async def run() -> None:
        finished = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop(0)
            if not disconnect:
                await finished.wait()
            return {"type": "http.disconnect"}

        async def send_message(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                response_headers.update(
                    (k.decode().lower(), v.decode("latin-1")) for k, v in message["headers"]
                )
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if not message.get("more_body"):
                    finished.set()

        await asyncio.wait_for(APP(scope, receive, send_message), 20)

    asyncio.run(run())
    return Answer(status[0] if status else None, response_headers, b"".join(parts))


def get(target: str, key: str = KEY) -> Any:
    answer = send("GET", target, key=key)
    assert answer.status == 200, (target, answer.status, answer.body[:300])
    return answer.json()


def _world(key: str) -> dict[str, str]:
    """Ids of the demo world every tenant starts from."""
    project = get(f"{HL}/projects", key)["records"][0]["id"]
    deployed = get(f"{HL}/projects/{project}/deployed-configs", key)[0]
    return {
        "project": project,
        "environment": deployed["environment_id"],
        "dataset": get(f"{HL}/projects/{project}/datasets", key)[0]["id"],
        "hl_evaluation": get(f"{HL}/projects/{project}/evaluations", key)[0]["id"],
        "log": get(f"{HL}/logs?project_id={project}", key)["records"][0]["id"],
        "evaluation": get(f"{SGP}/evaluations", key)["items"][0]["id"],
    }


WORLD = _world(KEY)
assert _world(OTHER) == WORLD  # both tenants start from the demo world (and exist from now on)


def snapshot() -> list[Any]:
    """Every tenant's state (the admin export, as bytes) and reads a client would make."""
    export = send("GET", "/__admin/state", [("x-specfake-admin-token", ADMIN)], key=None)
    assert export.status == 200, export.body[:300]
    reads = [
        f"{HL}/logs?project_id={WORLD['project']}",
        f"{SGP}/evaluations?include_archived=true",
        f"{SGP}/evaluations/{WORLD['evaluation']}",
    ]
    return [export.body, *(get(target) for target in reads), get(f"{HL}/projects", OTHER)]


def assert_refused(
    answer: Answer, loc: tuple[str | int, ...] | None = None, status: int | None = None
) -> None:
    """A clear 4xx: JSON with ``detail``; a 422 lists ``{loc, msg, type}`` entries, one naming
    ``loc`` when given."""
    shown = f"{answer.status} {answer.body[:400]!r}"
    assert answer.status is not None and 400 <= answer.status < 500, shown
    if status is not None:
        assert answer.status == status, shown
    assert answer.headers.get("content-type", "").startswith("application/json"), shown
    body = answer.json()
    assert isinstance(body, dict) and body.get("detail"), shown
    if answer.status == 422 and isinstance(body["detail"], list):
        for entry in body["detail"]:
            assert {"loc", "msg", "type"} <= set(entry) and isinstance(entry["loc"], list), shown
        if loc is not None:
            assert any(tuple(e["loc"][: len(loc)]) == loc for e in body["detail"]), shown
    elif loc is not None:
        pytest.fail(f"expected a 422 naming {loc}: {shown}")


def assert_unharmed(before: list[Any]) -> None:
    """The fake still answers, and no tenant's state changed."""
    assert snapshot() == before


# Bodies the contracts accept (``test_valid_twins_are_accepted`` proves it); the cases below break
# one thing about them.
LOG = b'{"project":"support-assistant","output":"hello","config":{"type":"model","model":"gpt-4o"}}'
FEEDBACK = b'{"type":"rating","value":"good","data_id":"%s"}' % WORLD["log"].encode()
SGP_CREATE = (
    b'{"account_id":"acct_demo","application_spec_id":"app_support_bot","name":"n","description":"d",'
    b'"type":"default"}'
)
SGP_PATCH = b'{"name":"renamed"}'
EVALUATION = f"{SGP}/evaluations/{WORLD['evaluation']}"


def arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def objects(depth: int, leaf: bytes = b"1") -> bytes:
    return b'{"a":' * depth + leaf + b"}" * depth


@dataclass(frozen=True)
class Case:
    method: str
    target: str
    chunks: tuple[bytes, ...] = (b"",)
    headers: tuple[tuple[str, HEADER_VALUE], ...] = (JSON_TYPE,)
    key: HEADER_VALUE | None = KEY
    expect: Literal["refused", "answered"] = "refused"
    loc: tuple[str | int, ...] | None = None
    status: int | None = None
    disconnect: bool = False
    marks: tuple[Any, ...] = field(default=())


def post(target: str, body: bytes, **kw: Any) -> Case:
    return Case("POST", target, (body,), **kw)


def patch(target: str, body: bytes, **kw: Any) -> Case:
    return Case("PATCH", target, (body,), **kw)


def fullwidth(text: str) -> str:
    """The NFKC twin of ASCII text: letters and digits in their fullwidth forms."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def sgp_import(evaluation: bytes) -> bytes:
    """A state import replacing the first tenant's SGP evaluations with ``evaluation``."""
    tenant = fingerprint(KEY).encode()
    return b'{"sgp":{"format":"specfake-state/1","tenants":{"%s":{"evaluations":{"x":%s}}}}}' % (
        tenant,
        evaluation,
    )


ADMIN_JSON = (JSON_TYPE, ("x-specfake-admin-token", ADMIN))
TEXT = (("content-type", b"text/plain"),)
CASES: dict[str, Case] = {
    # invalid UTF-8 and unpaired surrogates
    "utf8-invalid-body-logs": post(f"{HL}/logs", b'{"project":"\xff\xfe","output":"x"}', loc=("body",)),
    "utf8-overlong-body-logs": post(f"{HL}/logs", b'{"project":"\xc0\xaf","output":"x"}', loc=("body",)),
    "utf8-lone-surrogate-escape": post(f"{HL}/logs", b'{"project":"\\ud800","output":"x"}', loc=("body",)),
    "utf8-invalid-body-feedback": post(f"{HL}/feedback", b'{"type":"rating","value":"\xff"}', loc=("body",)),
    "utf8-invalid-body-sgp-patch": patch(EVALUATION, b'{"name":"\xff\xfe"}', loc=("body",)),
    "utf8-invalid-body-sgp-create": post(f"{SGP}/evaluations", b'{"account_id":"\xe2\x82"}', loc=("body",)),
    "utf8-invalid-path": Case("GET", f"{HL}/projects/%ff%fe", status=404),
    "utf8-invalid-query-int": Case("GET", f"{HL}/projects?page=%ff", loc=("query", "page")),
    "utf8-invalid-query-enum": Case("GET", f"{SGP}/evaluations?view=%ff", loc=("query", "view")),
    # numbers JSON cannot carry
    "1e400-in-free-form": post(f"{HL}/logs", LOG[:-1] + b',"metadata":{"a":1e400}}', loc=("body",)),
    "minus-1e400-feedback-value": post(
        f"{HL}/feedback", FEEDBACK.replace(b'"good"', b"-1e400"), loc=("body",)
    ),
    "huge-integer-literal": post(
        f"{HL}/logs", LOG[:-1] + b',"metadata":{"a":' + b"9" * 400 + b"}}", loc=("body",)
    ),
    "NaN-literal-logs": post(f"{HL}/logs", LOG[:-1] + b',"duration":NaN}', loc=("body",)),
    "Infinity-literal-feedback": post(
        f"{HL}/feedback", FEEDBACK.replace(b'"good"', b"Infinity"), loc=("body",)
    ),
    "minus-Infinity-sgp-patch": patch(EVALUATION, b'{"name":-Infinity}', loc=("body",)),
    "NaN-literal-sgp-create": post(
        f"{SGP}/evaluations", SGP_CREATE[:-1] + b',"tags":{"a":NaN}}', loc=("body",)
    ),
    "1e400-query-page": Case("GET", f"{HL}/projects?page=1e400", loc=("query", "page")),
    "NaN-query-size": Case("GET", f"{HL}/logs?project_id={WORLD['project']}&size=NaN", loc=("query", "size")),
    "Infinity-query-sgp-limit": Case("GET", f"{SGP}/evaluations?limit=Infinity", loc=("query", "limit")),
    # wrong content types, with a body that is valid JSON for the operation
    "text-plain-logs": post(f"{HL}/logs", LOG, headers=TEXT, loc=("body",)),
    "text-plain-feedback": post(f"{HL}/feedback", FEEDBACK, headers=TEXT, loc=("body",)),
    "text-plain-sgp-create": post(f"{SGP}/evaluations", SGP_CREATE, headers=TEXT, loc=("body",)),
    "text-plain-sgp-patch": patch(EVALUATION, SGP_PATCH, headers=TEXT, loc=("body",)),
    "form-urlencoded-logs": post(
        f"{HL}/logs",
        b"project=support-assistant&output=hello",
        headers=(("content-type", b"application/x-www-form-urlencoded"),),
        loc=("body",),
    ),
    "form-content-type-json-body": post(
        f"{HL}/logs", LOG, headers=(("content-type", b"application/x-www-form-urlencoded"),), loc=("body",)
    ),
    "multipart-logs": post(
        f"{HL}/logs",
        b'--b\r\nContent-Disposition: form-data; name="project"\r\n\r\nsupport-assistant\r\n--b--\r\n',
        headers=(("content-type", b"multipart/form-data; boundary=b"),),
        loc=("body",),
    ),
    "multipart-sgp-create": post(
        f"{SGP}/evaluations",
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.json"\r\n\r\n'
        + SGP_CREATE
        + b"\r\n--b--\r\n",
        headers=(("content-type", b"multipart/form-data; boundary=b"),),
        loc=("body",),
    ),
    # no content type: read as JSON (FastAPI does the same), so a body that is not JSON is refused
    "no-content-type-form-body": post(
        f"{HL}/logs", b"project=support-assistant&output=hi", headers=(), loc=("body",)
    ),
    "xml-logs": post(f"{HL}/logs", b"<log/>", headers=(("content-type", b"application/xml"),), loc=("body",)),
    "utf16-json-logs": post(
        f"{HL}/logs",
        LOG.decode().encode("utf-16"),
        headers=(("content-type", b"application/json; charset=utf-16"),),
        loc=("body",),
    ),
    "nul-in-content-type": post(
        f"{HL}/logs", LOG, headers=(("content-type", b"application/json\x00"),), loc=("body",)
    ),
    "json-bom": post(f"{HL}/logs", b"\xef\xbb\xbf" + LOG, loc=("body",)),
    # bodies in odd pieces (what chunked transfer coding becomes at the ASGI layer)
    "empty-body-content-length-0": post(
        f"{HL}/logs", b"", headers=(JSON_TYPE, ("content-length", b"0")), loc=("body",)
    ),
    "content-length-longer-than-body": post(
        f"{HL}/logs", b"{}", headers=(JSON_TYPE, ("content-length", b"100")), loc=("body",)
    ),
    "content-length-not-a-number": post(
        f"{SGP}/evaluations", b"{}", headers=(JSON_TYPE, ("content-length", b"abc")), loc=("body",)
    ),
    "chunked-empty-pieces": Case(
        "POST",
        f"{HL}/logs",
        (b"", b"", b""),
        headers=(JSON_TYPE, ("transfer-encoding", b"chunked")),
        loc=("body",),
    ),
    "chunked-truncated-json": Case(
        "POST", f"{HL}/logs", (b'{"project":', b'"support-assistant",', b'"output":'), loc=("body",)
    ),
    # split inside a two-byte character: joined first, so only the missing field is named
    "chunked-split-utf8": Case(
        "POST", f"{HL}/logs", (b'{"output":"caf\xc3', b'\xa9"}'), loc=("body", "project")
    ),
    "disconnect-mid-body": Case(
        "POST", f"{SGP}/evaluations", (SGP_CREATE[:40],), disconnect=True, expect="answered"
    ),
    "oversized-body-in-pieces": Case(
        "POST", f"{HL}/logs", (b"[" + b"1," * (3 << 20), b"1," * (2 << 20) + b"1]"), status=413
    ),
    "body-on-get-answered-as-without": Case(
        "GET", f"{HL}/projects", (b'{"page":', b"nonsense"), expect="answered"
    ),
    "body-on-get-unknown-id": Case("GET", f"{SGP}/evaluations/nope", (b"\xff\xfe",), status=404),
    "body-on-delete-unknown-id": Case("DELETE", f"{SGP}/evaluations/nope", (SGP_PATCH,), status=404),
    # API keys
    "key-100kb": Case("GET", f"{HL}/projects", key="k" * 100_000, status=401),
    "key-100kb-on-write": post(f"{HL}/logs", LOG, key="k" * 100_000, status=401),
    "key-nul": Case("GET", f"{HL}/projects", key=KEY + "\x00", status=401),
    "key-control-chars": Case("GET", f"{SGP}/evaluations", key=KEY + "\x01\x1b[2J", status=401),
    "key-crlf-injection": Case("GET", f"{HL}/projects", key=KEY + "\r\nx-api-key: " + OTHER, status=401),
    "key-del": Case("GET", f"{SGP}/evaluations", key=KEY + "\x7f", status=401),
    "key-invalid-utf8": Case("GET", f"{HL}/projects", key=KEY.encode() + b"\xff", status=401),
    "key-fullwidth-nfkc-twin": Case(
        "GET", f"{HL}/projects", key=fullwidth("hostile") + "-tenant-1", status=401
    ),
    "key-zero-width-space": Case("GET", f"{SGP}/evaluations", key=KEY + "\u200b", status=401),
    "key-combining-mark": post(f"{SGP}/evaluations", SGP_CREATE, key="ho\u0301stile-tenant-1", status=401),
    "key-empty": Case("GET", f"{HL}/projects", key="", status=401),
    # methods
    "method-PROPFIND": Case("PROPFIND", f"{HL}/projects", status=405),
    "method-TRACE": Case("TRACE", f"{SGP}/evaluations", status=405),
    "method-CONNECT": Case("CONNECT", f"{HL}/projects/{WORLD['project']}", status=405),
    "method-lowercase-get": Case("get", f"{HL}/projects", status=405),
    "method-lowercase-delete": Case("delete", EVALUATION, status=405),
    "method-mixed-case-patch": Case("Patch", EVALUATION, (SGP_PATCH,), status=405),
    "method-garbage": Case("X-SPECFAKE", f"{SGP}/evaluations", status=405),
    # deep nesting (300 levels): raw, as a free-form value, next to an invalid field
    "deep-arrays-logs": post(f"{HL}/logs", arrays(300), loc=("body",)),
    "deep-objects-logs": post(f"{HL}/logs", objects(300), loc=("body",)),
    "deep-arrays-feedback": post(f"{HL}/feedback", arrays(300), loc=("body",)),
    "deep-arrays-sgp-patch": patch(EVALUATION, arrays(300), loc=("body",)),
    "deep-objects-sgp-patch": patch(EVALUATION, objects(300), loc=("body",)),
    "deep-free-form-inputs-300": post(
        f"{HL}/logs", LOG[:-1] + b',"inputs":' + objects(300) + b"}", loc=("body", "inputs")
    ),
    "deep-free-form-inputs-1000": post(
        f"{HL}/logs", LOG[:-1] + b',"inputs":' + objects(1000) + b"}", loc=("body", "inputs")
    ),
    "deep-free-form-metadata-arrays": post(
        f"{HL}/logs", LOG[:-1] + b',"metadata":{"a":' + arrays(300) + b"}}", loc=("body", "metadata")
    ),
    "deep-free-form-beside-invalid-field": post(
        f"{HL}/logs", b'{"project":5,"output":"x","inputs":' + objects(300) + b"}", loc=("body",)
    ),
    "deep-sgp-tags-1000": post(
        f"{SGP}/evaluations", SGP_CREATE[:-1] + b',"tags":' + objects(1000) + b"}", loc=("body", "tags")
    ),
    "deep-sgp-patch-tags": patch(EVALUATION, b'{"tags":' + objects(300) + b"}", loc=("body",)),
    "deep-feedback-list": post(
        f"{HL}/feedback", b"[" + FEEDBACK[:-1] + b',"value":' + arrays(300) + b"}]", loc=("body",)
    ),
    # state imports the store could not serve back (all or nothing: nothing is replaced)
    "admin-import-evaluation-with-only-id": Case(
        "PUT", "/__admin/state", (sgp_import(b'{"id":"x"}'),), ADMIN_JSON, key=None, loc=("body", "sgp")
    ),
    "admin-import-deep-value": Case(
        "PUT", "/__admin/state", (sgp_import(objects(300)),), ADMIN_JSON, key=None, loc=("body", "sgp")
    ),
    "admin-import-invalid-utf8": Case(
        "PUT", "/__admin/state", (sgp_import(b'{"id":"\xff"}'),), ADMIN_JSON, key=None
    ),
    "admin-import-NaN": Case("PUT", "/__admin/state", (sgp_import(b'{"id":NaN}'),), ADMIN_JSON, key=None),
    # huge numbers in paging parameters
    "page-5000-digits": Case("GET", f"{HL}/projects?page=" + "9" * 5000, loc=("query", "page")),
    "size-5000-digits": Case("GET", f"{HL}/sessions?size=" + "9" * 5000, loc=("query", "size")),
    "sgp-limit-400-digits": Case("GET", f"{SGP}/evaluations?limit=" + "9" * 400, loc=("query", "limit")),
    "sgp-page-5000-digits": Case("GET", f"{SGP}/evaluations?page=" + "9" * 5000, loc=("query", "page")),
    "sgp-limit-2-pow-64": Case(
        "GET", f"{SGP}/evaluations?limit=18446744073709551616", loc=("query", "limit")
    ),
    "sgp-page-zero": Case("GET", f"{SGP}/evaluations?page=0", loc=("query", "page")),
    "sgp-page-negative-huge": Case("GET", f"{SGP}/evaluations?page=-" + "9" * 400, loc=("query", "page")),
    # duplicate query parameters: the last wins (FastAPI's rule)
    "duplicate-query-last-invalid": Case("GET", f"{HL}/projects?size=1&size=x", loc=("query", "size")),
    "duplicate-query-sgp-last-out-of-range": Case(
        "GET", f"{SGP}/evaluations?limit=1&limit=0", loc=("query", "limit")
    ),
    "duplicate-query-first-invalid-answered": Case(
        "GET", f"{SGP}/evaluations?limit=0&limit=1", expect="answered"
    ),
    # unicode normalisation tricks in keys: a look-alike is another key, never the field
    "fullwidth-json-key": post(
        f"{HL}/logs",
        LOG.replace(b'"project"', ('"' + fullwidth("p") + 'roject"').encode()),
        loc=("body", "project"),
    ),
    "zero-width-json-key": post(
        f"{SGP}/evaluations",
        SGP_CREATE.replace(b'"account_id"', '"account_id\u200b"'.encode()),
        loc=("body", "account_id"),
    ),
    "combining-json-key": post(
        f"{SGP}/evaluations",
        SGP_CREATE.replace(b'"name"', '"nam\u0065\u0301"'.encode()),
        loc=("body", "name"),
    ),
    "uppercase-json-key": post(f"{HL}/feedback", FEEDBACK.replace(b'"type"', b'"TYPE"'), loc=("body",)),
    "escaped-twin-duplicate-key": post(
        f"{HL}/logs", LOG[:-1] + b',"\\u0070roject":5}', loc=("body", "project")
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_request_is_refused_and_harmless(name: str) -> None:
    case = CASES[name]
    before = snapshot()
    answer = send(
        case.method, case.target, case.headers, case.chunks, key=case.key, disconnect=case.disconnect
    )
    if case.expect == "refused":
        assert_refused(answer, case.loc, case.status)
    elif case.disconnect:
        # the client left: no answer is needed, but nothing may fail or be stored
        assert answer.status is None or 400 <= answer.status < 500, answer
    else:
        assert answer.status == 200 and answer.headers["content-type"].startswith("application/json"), answer
    assert_unharmed(before)


# Traversal and look-alike ids in every path-parameter position of a sample of operations. ``{}`` is
# the hostile position; the others hold the demo world's ids. ``real`` is the id that belongs in the
# hostile position (the variants built on it must not reach it).
ID_OPERATIONS: dict[str, tuple[str, str, str, bytes]] = {
    "hl-projects_get": ("GET", HL + "/projects/{}", "project", b""),
    "hl-projects_update": ("PATCH", HL + "/projects/{}", "project", b'{"name":"renamed"}'),
    "hl-projects_delete": ("DELETE", HL + "/projects/{}", "project", b""),
    "hl-logs_get": ("GET", HL + "/logs/{}", "log", b""),
    "hl-logs_update": ("PATCH", HL + "/logs/{}", "log", b'{"output":"changed"}'),
    "hl-datasets_list_datapoints": ("GET", HL + "/datasets/{}/datapoints", "dataset", b""),
    "hl-evaluations_get": ("GET", HL + "/evaluations/{}", "hl_evaluation", b""),
    "hl-delete_deployed_config.project_id": (
        "DELETE",
        HL + "/projects/{}/deployed-config/" + WORLD["environment"],
        "project",
        b"",
    ),
    "hl-delete_deployed_config.environment_id": (
        "DELETE",
        HL + f"/projects/{WORLD['project']}/deployed-config/{{}}",
        "environment",
        b"",
    ),
    "sgp-evaluations_retrieve": ("GET", SGP + "/evaluations/{}", "evaluation", b""),
    "sgp-evaluations_update": ("PATCH", SGP + "/evaluations/{}", "evaluation", SGP_PATCH),
    "sgp-evaluations_delete": ("DELETE", SGP + "/evaluations/{}", "evaluation", b""),
    "sgp-evaluations_claim_task": ("POST", SGP + "/evaluations/{}/claim-task", "evaluation", b"{}"),
}
HOSTILE_IDS: dict[str, str] = {
    "dotdot": "..",
    "dotdot-to-admin": "../../../__admin/state",
    "encoded-dotdot-slash": "%2e%2e%2f%2e%2e%2f__admin%2fstate",
    "double-encoded-dotdot": "%252e%252e%252f{real}",
    "encoded-slash": "a%2fb",
    "encoded-backslash": "..%5c..%5c{real}",
    "real-then-dotdot": "{real}%2f..",
    "dotdot-then-real": "..%2f{real}",
    "real-semicolon": "{real};x=1",
    "nul-byte": "a%00b",
    "real-then-nul": "{real}%00",
    "real-then-space": "{real}%20",
    "invalid-utf8": "%ff%fe",
    "overlong-utf8-dots": "%c0%ae%c0%ae%c0%af",
    "fullwidth-real": "{fullwidth}",
    "dot": ".",
    "huge-100kb": "i" * 100_000,
}


@pytest.mark.parametrize("hostile", list(HOSTILE_IDS))
@pytest.mark.parametrize("operation", list(ID_OPERATIONS))
def test_hostile_id_is_refused_and_harmless(operation: str, hostile: str) -> None:
    method, template, slot, body = ID_OPERATIONS[operation]
    real = WORLD[slot]
    ident = HOSTILE_IDS[hostile].replace("{real}", real).replace("{fullwidth}", quote(fullwidth(real)))
    before = snapshot()
    answer = send(method, template.replace("{}", ident), (JSON_TYPE,) if body else (), (body,))
    assert_refused(answer)
    assert_unharmed(before)


def test_valid_twins_are_accepted() -> None:
    """The bodies the corpus breaks are accepted as they are: a refusal above is the hostile
    part's doing. Sent as the writer tenant, so the others' state stays as it was."""
    evaluation = _world(WRITER)["evaluation"]
    for method, target, body in [
        ("POST", f"{HL}/logs", LOG),
        ("POST", f"{HL}/feedback", FEEDBACK),
        ("POST", f"{SGP}/evaluations", SGP_CREATE),
        ("PATCH", f"{SGP}/evaluations/{evaluation}", SGP_PATCH),
    ]:
        answer = send(method, target, (JSON_TYPE,), (body,), key=WRITER)
        assert answer.status == 200, (target, answer.status, answer.body[:300])
    assert send("GET", f"{HL}/projects?size=x&size=1").status == 200  # the last value wins


def test_importing_the_export_is_accepted() -> None:
    """The import the corpus breaks works when whole: the export itself goes back in unchanged."""
    before = snapshot()
    answer = send("PUT", "/__admin/state", ADMIN_JSON, (before[0],), key=None)
    assert answer.status is not None and 200 <= answer.status < 300, answer
    assert_unharmed(before)


def _deep_keys(depth: int) -> Any:
    """A free-form value as deep as the limit allows, with keys that mean something elsewhere."""
    value: Any = {
        "": "empty key",
        "__proto__": {"polluted": True},
        "$where": "1",
        "a\u0000b": "nul",
        "é": "e\u0301",
    }
    for _ in range(depth):
        value = {"a": value}
    return value


def test_deep_and_odd_values_within_the_limit_are_stored_and_read_back() -> None:
    """What is accepted reads back as sent, from every read (a get, the list, the admin export),
    and the limit is exact: one level more is a 422 naming the field."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4000))
    inputs = _deep_keys(MAX_DEPTH - 3)  # the body object, `inputs` and the innermost dict
    body = {"project": "support-assistant", "output": "ok", "config": {"type": "model", "model": "gpt-4o"}}
    answer = send(
        "POST", f"{HL}/logs", (JSON_TYPE,), (json.dumps({**body, "inputs": inputs}).encode(),), key=WRITER
    )
    assert answer.status == 200, answer.body[:300]
    log = answer.json()["id"]
    assert get(f"{HL}/logs/{log}", WRITER)["inputs"] == inputs
    listed = get(f"{HL}/logs?project_id={WORLD['project']}&size=100", WRITER)["records"]
    assert [r["inputs"] for r in listed if r["id"] == log] == [inputs]
    tags = _deep_keys(MAX_DEPTH - 3)
    create = {**orjson.loads(SGP_CREATE), "tags": tags}
    answer = send("POST", f"{SGP}/evaluations", (JSON_TYPE,), (json.dumps(create).encode(),), key=WRITER)
    assert answer.status == 200, answer.body[:300]
    assert get(f"{SGP}/evaluations/{answer.json()['id']}", WRITER)["tags"] == tags
    assert any(
        item["id"] == answer.json()["id"] for item in get(f"{SGP}/evaluations?limit=10000", WRITER)["items"]
    )
    assert send("GET", "/__admin/state", [("x-specfake-admin-token", ADMIN)], key=None).status == 200
    deeper = json.dumps({**body, "inputs": _deep_keys(MAX_DEPTH + 1)}).encode()
    assert_refused(send("POST", f"{HL}/logs", (JSON_TYPE,), (deeper,), key=WRITER), ("body", "inputs"))
