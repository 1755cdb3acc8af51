"""``specfake check diff OLD NEW --traffic FILE``: replay recorded traffic against the new contract.

Three recordings are read: the fake's journal export (``GET /__admin/journal``: requests only,
no headers), ``specfake record`` cassettes (a file or a directory of them: the request as far as
the cassette keeps it, and the response) and HAR 1.2 files (``log.entries[]``: both sides).
Requests are judged by the fake's own pipeline (`conformance.RequestChecker`, which is
`specfake.pipeline.RequestPipeline.judge`) and responses by `conformance.ResponseChecker`, each
built from the new contract; what the old contract already rejected is not a change and is left
out, so only what the new version newly breaks is reported.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import yaml

from specfake.contract import Contract, base_path
from specfake.contracts.harness.conformance import RequestChecker, ResponseChecker
from specfake.contracts.harness.diff import ERROR, SERVER, WARNING, Change
from specfake.contracts.harness.findings import Finding
from specfake.streaming.cassette import FORMAT, Cassette, CassetteError

__all__ = ["Recorded", "TrafficError", "load_traffic", "replay"]

ADVISORY_RULES = frozenset({"unknown_field", "unexpected_body"})  # a server accepts these anyway


class TrafficError(ValueError):
    """A traffic file that cannot be read; the message names the file."""


@dataclass
class Recorded:
    """One recorded exchange. ``headers`` None: the recording kept none (journal, cassette), so
    credentials and content types are not judged; ``body`` None: the request was not kept whole."""

    source: str  # FILE#entry
    method: str
    path: str  # as recorded: a full path (prefix included) or below the contract's prefix
    query: str = ""
    headers: dict[str, str] | None = None
    body: bytes | None = b""
    contract: str | None = None  # the journal's or cassette's contract name
    operation_id: str | None = None  # a cassette's operation (when it recorded no path)
    status: int | None = None  # None: no response recorded
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    cut_short: bool = False


def load_traffic(path: str | Path) -> list[Recorded]:
    """Every exchange in a journal export, a HAR file, a cassette or a directory of cassettes."""
    target = Path(path)
    if target.is_dir():
        files = sorted([*target.rglob("*.yaml"), *target.rglob("*.yml")])
        return [r for f in files for r in load_traffic(f)]
    try:
        text = target.read_text(encoding="utf-8")
        data = orjson.loads(text) if target.suffix in (".json", ".har") else yaml.safe_load(text)
    except (OSError, orjson.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TrafficError(f"{target}: cannot read recorded traffic: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("log"), dict):
        return list(_har(target, data["log"]))
    if isinstance(data, dict) and data.get("format") == FORMAT:
        try:
            return [_cassette(target, Cassette.from_dict(data, str(target)))]
        except CassetteError as exc:
            raise TrafficError(str(exc)) from None
    entries = data.get("entries") if isinstance(data, dict) else data
    if isinstance(entries, list) and all(
        isinstance(e, dict) and "method" in e and "path" in e for e in entries
    ):
        return list(_journal(target, entries))
    raise TrafficError(
        f"{target}: not recorded traffic (expected a HAR file, a journal export or a '{FORMAT}' cassette)"
    )


def _journal(target: Path, entries: list[dict[str, Any]]) -> Iterator[Recorded]:
    for number, entry in enumerate(entries):
        body = str(entry.get("body") or "").encode()
        yield Recorded(
            f"{target.name}#{number}",
            str(entry["method"]).upper(),
            str(entry["path"]),
            str(entry.get("query") or ""),
            None,
            body,
            contract=entry.get("contract"),
        )


def _har(target: Path, log: dict[str, Any]) -> Iterator[Recorded]:
    for number, entry in enumerate(log.get("entries") or []):
        request, response = entry.get("request") or {}, entry.get("response") or {}
        url = urlsplit(str(request.get("url", "")))
        post = request.get("postData") or {}
        content = response.get("content") or {}
        text = str(content.get("text") or "")
        answer = base64.b64decode(text) if content.get("encoding") == "base64" else text.encode()
        headers = _header_list(request.get("headers"))
        if post.get("mimeType") and "content-type" not in headers:
            headers["content-type"] = str(post["mimeType"])
        response_headers = _header_list(response.get("headers"))
        if content.get("mimeType") and "content-type" not in response_headers:
            response_headers["content-type"] = str(content["mimeType"])
        status = response.get("status")
        yield Recorded(
            f"{target.name}#{number}",
            str(request.get("method", "GET")).upper(),
            url.path,
            url.query,
            headers,
            str(post.get("text") or "").encode(),
            status=int(status) if isinstance(status, int) and status > 0 else None,
            response_headers=response_headers,
            response_body=answer,
        )


def _header_list(headers: Any) -> dict[str, str]:
    return {str(h["name"]).lower(): str(h.get("value", "")) for h in headers or [] if isinstance(h, dict)}


def _cassette(target: Path, cassette: Cassette) -> Recorded:
    request = cassette.request
    subject = request.subject
    whole = isinstance(subject, dict) and "body" in subject and set(subject) <= {"path", "query", "body"}
    body: bytes | None = None
    query = ""
    if whole and isinstance(subject, dict):
        body = b"" if subject["body"] is None else orjson.dumps(subject["body"])
        query = "&".join(f"{k}={v}" for k, values in (subject.get("query") or {}).items() for v in values)
    if cassette.is_stream:
        answer = b"".join(cassette.events())
    elif cassette.body is not None:
        answer = cassette.body.encode()
    else:
        answer = b"" if cassette.final is None else orjson.dumps(cassette.final)
    return Recorded(
        f"{target.name}",
        (request.method or "").upper(),
        request.path or "",
        query,
        None,
        body,
        contract=request.contract,
        operation_id=request.operation,
        status=cassette.status,
        response_headers={"content-type": cassette.content_type, **cassette.headers},
        response_body=answer,
        cut_short=cassette.end == "cut",
    )


# -- replaying --------------------------------------------------------------------------------------


class _Side:
    """One contract's checkers, and how a recorded path is read below its prefix."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.requests = RequestChecker(contract)
        self.responses = ResponseChecker(contract)


def _below(path: str, recorded: Recorded, old: Contract, new: Contract) -> str:
    """The path below the contract's prefix: the fake's mount (``/humanloop/v4``) or a real
    server's base path (``/v4``) of either version taken off."""
    prefixes = {new.prefix, old.prefix, base_path(new.document), base_path(old.document)}
    if recorded.contract:
        prefixes |= {f"/{recorded.contract}{base_path(c.document)}" for c in (old, new)}
    for prefix in sorted((p for p in prefixes if p), key=len, reverse=True):
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    return path


def _route(recorded: Recorded, old: Contract, new: Contract) -> tuple[str, str] | None:
    """(method, path below the prefix); a cassette that kept only its operation is routed by the
    old contract's path template (a template matches itself)."""
    if recorded.path:
        return recorded.method, _below(recorded.path, recorded, old, new)
    if recorded.operation_id:
        for op in old.operations:
            if op.operation_id == recorded.operation_id:
                return op.method, op.path
    return None


def _key(finding: Finding) -> tuple[str, str | None]:
    return finding.check, finding.field


def replay(records: list[Recorded], old: Contract, new: Contract) -> tuple[list[Change], dict[str, int]]:
    """The changes recorded traffic shows: each request (and response) the new contract rejects
    and the old one did not; and counts of what was judged."""
    before, after = _Side(old), _Side(new)
    changes: list[Change] = []
    stats = {"exchanges": len(records), "requests judged": 0, "responses judged": 0, "already invalid": 0}
    for recorded in records:
        route = _route(recorded, old, new)
        if route is None:
            continue
        method, path = route
        where = f"{recorded.source} ({method} {path})"
        if recorded.body is not None:
            stats["requests judged"] += 1
            headers = dict(recorded.headers or {})
            if recorded.headers is None and recorded.body.strip():
                headers["content-type"] = "application/json"  # not recorded: what every SDK sends
            found = []
            for side in (before, after):
                judged = side.requests.check(method, path, recorded.query, headers, recorded.body)
                if recorded.headers is None:  # no credentials were recorded: do not judge them
                    judged = [f for f in judged if f.check != "auth"]
                found.append(judged)
            old_keys = {_key(f) for f in found[0]}
            stats["already invalid"] += bool(found[0])
            for finding in found[1]:
                if _key(finding) in old_keys:
                    continue
                severity = WARNING if finding.check in ADVISORY_RULES else ERROR
                message = f"the new contract rejects this recorded request: {_said(finding)}"
                changes.append(
                    Change(
                        "traffic-request-rejected",
                        severity,
                        finding.operation,
                        message,
                        field=finding.field,
                        source=where,
                        rule=finding.check,
                    )
                )
        if recorded.status is not None:
            changes.extend(_response(recorded, method, path, before, after, where, stats))
    return changes, stats


def _response(
    recorded: Recorded,
    method: str,
    path: str,
    before: _Side,
    after: _Side,
    where: str,
    stats: dict[str, int],
) -> list[Change]:
    """The response's findings under the new contract that the old one did not have."""
    assert recorded.status is not None
    found: list[list[Finding]] = []
    for side in (before, after):
        match = side.contract.compiled.match(method, path)
        if match is None or match.target is None:
            found.append([])
            continue
        operation = match.target.operation
        found.append(
            side.responses.check(
                operation,
                recorded.status,
                recorded.response_headers,
                recorded.response_body,
                cut_short=recorded.cut_short,
            )
        )
    stats["responses judged"] += 1
    old_keys = {_key(f) for f in found[0]}
    out = []
    for finding in found[1]:
        if _key(finding) in old_keys:
            continue
        message = f"the new contract rejects this recorded response ({recorded.status}): {_said(finding)}"
        out.append(
            Change(
                "traffic-response-rejected",
                ERROR,
                finding.operation,
                message,
                field=finding.field,
                side=SERVER,  # the server as recorded no longer conforms
                source=where,
                rule=finding.check,
            )
        )
    return out


def _said(finding: Finding) -> str:
    """A finding's message, led by its field when the message does not name it."""
    if finding.field and finding.field not in finding.message:
        return f"{finding.field}: {finding.message}"
    return finding.message
