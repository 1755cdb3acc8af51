"""``/__admin``: reset, export and import state, read the request journal.

Refused (403) from anything but loopback unless the caller presents the configured admin token
in ``X-Specfake-Admin-Token``: the admin API can read every tenant's data.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from specfake.errors import ApiError, FieldError, RequestValidationError, unprocessable
from specfake.fault_rules import RuleError
from specfake.options import OptionError
from specfake.pipeline import MAX_DEPTH, too_deep_json
from specfake.scenarios import ScenarioFileError
from specfake.store import ExportPart, SnapshotError, check_snapshot
from specfake.tenants import tenant_of

if TYPE_CHECKING:
    from specfake.app import SpecfakeApp

TOKEN_HEADER = "x-specfake-admin-token"
# How deep an imported state document may nest: an export wraps each stored value in 5 levels
# ({contract: {tenants: {tenant: {kind: {key: value}}}}}), and a behaviour may store a request's
# value (at most `MAX_DEPTH` deep) a few levels down; still far below what orjson (254) and the
# validator can take.
IMPORT_DEPTH = 2 * MAX_DEPTH
_NO_BODY = object()
# A streamed export hands a piece to the server once it holds this many bytes, or once this long
# has passed since the last one, then lets the event loop run: no request waits longer than that.
EXPORT_FLUSH_BYTES = 64 * 1024
EXPORT_FLUSH_SECONDS = 0.005
log = logging.getLogger("specfake")


class AdminApi:
    def __init__(self, app: SpecfakeApp, token: str | None = None) -> None:
        self.app = app
        self.token = token

    def routes(self) -> list[Route]:
        return [
            Route("/__admin", self.index, methods=["GET"]),
            Route("/__admin/reset", self.reset, methods=["POST"]),
            Route("/__admin/state", self.export, methods=["GET"]),
            Route("/__admin/state/stats", self.stats, methods=["GET"]),
            Route("/__admin/state", self.import_, methods=["PUT", "POST"]),
            Route("/__admin/options", self.options, methods=["GET", "PUT"]),
            Route("/__admin/journal", self.journal, methods=["GET"]),
            Route("/__admin/journal", self.clear_journal, methods=["DELETE"]),
            Route("/__admin/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/__admin/faults/{rule_id}", self.remove_fault, methods=["DELETE"]),
            Route("/__admin/scenarios", self.scenarios, methods=["GET"]),
            Route("/__admin/scenarios/{name}", self.scenario, methods=["GET", "PUT", "DELETE"]),
        ]

    def _refused(self, request: Request) -> Response | None:
        """A 403 saying which check failed: a web page's request (a foreign ``Origin``; a write
        without a JSON content type, which a page could send cross-origin with no preflight), or
        a caller that is neither on loopback nor holds the admin token."""
        origin = request.headers.get("origin")
        if origin is not None and not _is_loopback_origin(origin):
            message = (
                f"The admin API refuses requests from web pages: Origin {origin!r} is not a loopback "
                "origin (http://localhost, http://127.0.0.1, http://[::1], *.localhost, any port); "
                "call it from a script or the command line, which send no Origin"
            )
            return JSONResponse({"detail": message}, 403)
        if request.method not in ("GET", "HEAD") and not _is_json_write(request):
            given = request.headers.get("content-type", "")
            message = (
                f"Admin writes need a JSON body: send Content-Type: application/json (got "
                f"{given!r}); only a write without a body may omit it"
            )
            return JSONResponse({"detail": message}, 403)
        if _is_loopback(request.client.host if request.client else ""):
            return None
        given = request.headers.get(TOKEN_HEADER, "")
        if self.token and hmac.compare_digest(given, self.token):
            return None
        return JSONResponse({"detail": "The admin API answers loopback callers or the admin token only"}, 403)

    def _apis(self, request: Request) -> list[Any]:
        name = request.query_params.get("contract")
        if not name:
            return list(self.app.apis)
        try:
            return [self.app.api(name)]
        except KeyError:
            return []

    async def index(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        return JSONResponse(
            {
                "endpoints": {
                    "POST /__admin/reset[?contract=NAME][&tenant=KEY|FINGERPRINT]": "start-up state",
                    "GET /__admin/state[?contract=NAME]": "export state as JSON",
                    "PUT /__admin/state": "import an export (replaces the contracts it names)",
                    "GET|PUT /__admin/options?contract=NAME": "behaviour options ({name: value}; '' unsets)",
                    "GET /__admin/journal[?contract=NAME][&tenant=KEY|FINGERPRINT][&limit=N]": "requests",
                    "DELETE /__admin/journal": "empty the journal",
                    "GET|POST|DELETE /__admin/faults": "fault rules: list (with counts), add, clear",
                    "DELETE /__admin/faults/{id}": "remove one fault rule",
                    "GET /__admin/scenarios": "shipped and running scenarios",
                    "PUT /__admin/scenarios/{name}": "start it or set its step ({'step': NAME})",
                    "DELETE /__admin/scenarios/{name}": "stop it (its options come back)",
                },
                "contracts": sorted(api.contract.name for api in self.app.apis),
            }
        )

    async def reset(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        apis = self._apis(request)
        if not apis:
            return JSONResponse({"detail": "no such contract"}, 404)
        given = request.query_params.get("tenant")
        tenant = None if given is None else tenant_of(given)  # a key or its fingerprint
        for api in apis:
            api.store.reset(tenant)
            if tenant is None:
                api.journal.clear(api.contract.name)
        return JSONResponse({"reset": [a.contract.name for a in apis], "tenant": tenant})

    async def export(self, request: Request) -> Response:
        """The state, streamed (`_stream_export`): a snapshot of every named contract taken now,
        written a chunk at a time while other requests are answered in between."""
        if refused := self._refused(request):
            return refused
        apis = self._apis(request)
        if not apis:
            return JSONResponse({"detail": "no such contract"}, 404)
        # Every snapshot is taken here, with no await between them: one moment for all contracts.
        snapshots = [(api.contract.name, api.store.export_parts()) for api in apis]
        heads: list[tuple[bytes, Iterator[ExportPart]]] = []
        try:
            for name, parts in snapshots:
                _, header = next(parts)  # ("header", {"format", "counters", "template"})
                # Written now, before the answer starts: what cannot be written is still a 503.
                fields = b",".join(_json(k) + b":" + _json(v) for k, v in header.items())
                heads.append((_json(name) + b":{" + fields, parts))
        except (TypeError, ValueError, RecursionError) as exc:
            detail = f"the state cannot be serialised as JSON ({type(exc).__name__})"
            return JSONResponse({"detail": detail}, 503)
        return StreamingResponse(_stream_export(heads), media_type="application/json")

    async def stats(self, request: Request) -> Response:
        """Per contract: tenants held and their cap, retention caps, evictions per tenant and kind."""
        if refused := self._refused(request):
            return refused
        apis = self._apis(request)
        if not apis:
            return JSONResponse({"detail": "no such contract"}, 404)
        return JSONResponse({api.contract.name: api.store.stats() for api in apis})

    async def import_(self, request: Request) -> Response:
        """Replace the named contracts' state, all or nothing: the shape, the depth and every
        stored value of a kind with a known schema are checked before any store changes."""
        if refused := self._refused(request):
            return refused
        snapshot = await _json_body(request, IMPORT_DEPTH)
        if isinstance(snapshot, Response):
            return snapshot
        if not isinstance(snapshot, dict):
            return JSONResponse({"detail": "expected {contract name: state export}"}, 422)
        names = {api.contract.name for api in self.app.apis}
        unknown = sorted(set(snapshot) - names)
        if unknown:
            return JSONResponse({"detail": f"unknown contracts: {unknown}"}, 422)
        for name, state in snapshot.items():  # every part checked before any store changes
            try:
                check_snapshot(state)
            except SnapshotError as exc:
                return _error(unprocessable(("body", name, *exc.loc), exc.message))
            invalid = _invalid_value(self.app.api(name), name, state)
            if invalid is not None:
                return _error(RequestValidationError([invalid]))
        for name, state in snapshot.items():
            self.app.api(name).store.load(state)
        return JSONResponse({"imported": sorted(snapshot)})

    async def options(self, request: Request) -> Response:
        """Read or change behaviour options at run time, e.g. a stream fault rule for every stream:
        ``PUT /__admin/options?contract=humanloop`` with ``{"stream_faults": "cut-after=3"}``."""
        if refused := self._refused(request):
            return refused
        apis = self._apis(request)
        if len(apis) != 1:
            return JSONResponse({"detail": "name one contract: ?contract=NAME"}, 404 if not apis else 422)
        api = apis[0]
        if request.method == "PUT":
            changes = await _json_body(request)
            if isinstance(changes, Response):
                return changes
            if not isinstance(changes, dict) or not all(isinstance(v, str) for v in changes.values()):
                return JSONResponse({"detail": "expected {option name: string value}"}, 422)
            try:
                api.set_options(changes)
            except OptionError as exc:
                return JSONResponse({"detail": str(exc)}, 422)
        return JSONResponse(dict(api.options.given))

    async def journal(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        tenant = request.query_params.get("tenant")
        try:
            limit = int(request.query_params.get("limit", "100"))
        except ValueError:
            error = FieldError(("query", "limit"), "Input should be a valid integer", "int_parsing")
            return _error(RequestValidationError([error]))
        name = request.query_params.get("contract")
        entries = [
            entry
            for journal in self.app.journals()
            for entry in journal.entries(contract=name or None, tenant=tenant)
        ]
        entries.sort(key=lambda e: e.at)
        shown = entries[-limit:] if limit > 0 else []
        return JSONResponse({"entries": [entry.to_json() for entry in shown]})

    async def faults(self, request: Request) -> Response:
        """Fault rules: ``GET`` lists them with their counts, ``POST`` adds one (or a list of them,
        all or none), ``DELETE`` removes all."""
        if refused := self._refused(request):
            return refused
        rules = self.app.fault_rules
        if request.method == "DELETE":
            rules.clear()
            return Response(status_code=204)
        if request.method == "POST":
            given = await _json_body(request)
            if isinstance(given, Response):
                return given
            specs = given if isinstance(given, list) else [given]
            added = []
            for number, spec in enumerate(specs):
                try:
                    added.append(rules.add(spec))
                except RuleError as exc:
                    for rule in added:  # all or none
                        rules.remove(rule.id)
                    loc = ("body", number, *exc.loc) if isinstance(given, list) else ("body", *exc.loc)
                    return _error(unprocessable(loc, exc.message))
            return JSONResponse({"rules": [rule.to_json() for rule in added]}, 201)
        return JSONResponse({"rules": [rule.to_json() for rule in rules.rules]})

    async def remove_fault(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        rule_id = request.path_params["rule_id"]
        if not self.app.fault_rules.remove(rule_id):
            return JSONResponse({"detail": f"no fault rule {rule_id!r}"}, 404)
        return Response(status_code=204)

    async def scenarios(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        return JSONResponse(self.app.scenarios.to_json())

    async def scenario(self, request: Request) -> Response:
        """``PUT`` starts a scenario (``{"step": NAME_OR_NUMBER}``: at that step, the first by
        default), or sets a running one's step; ``DELETE`` stops it; ``GET`` shows it."""
        if refused := self._refused(request):
            return refused
        staged = self.app.scenarios
        name = request.path_params["name"]
        if request.method == "DELETE":
            if not staged.stop(name):
                return JSONResponse({"detail": f"scenario {name!r} is not running"}, 404)
            return Response(status_code=204)
        if request.method == "GET":
            running = staged.running.get(name)
            if running is None:
                return JSONResponse({"detail": f"scenario {name!r} is not running"}, 404)
            return JSONResponse(running.to_json())
        given = await _json_body(request, empty={})
        if isinstance(given, Response):
            return given
        if not isinstance(given, dict) or not isinstance(given.get("step", 0), (int, str)):
            return _error(unprocessable(("body", "step"), "expected {'step': a step's name or number}"))
        step = given.get("step", 0)
        moving = name in staged.running and "step" in given
        try:
            running = staged.move(name, step) if moving else staged.start(name, step)
        except ScenarioFileError as exc:
            where = ("body", "step") if name in staged.running else ("path", "name")
            return _error(unprocessable(where, str(exc)))
        except OptionError as exc:
            return _error(unprocessable(("body", "step"), str(exc)))
        return JSONResponse(running.to_json())

    async def clear_journal(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        name = request.query_params.get("contract") or None
        for journal in self.app.journals():
            journal.clear(name)
        return Response(status_code=204)


async def _json_body(request: Request, limit: int = MAX_DEPTH, empty: Any = _NO_BODY) -> Any:
    """The request's JSON body, or the 422 to answer: not JSON, or nested deeper than ``limit``
    (the request bodies' limit, so nothing the admin API takes is too deep to answer or store).
    ``empty``: what a blank body stands for (else it is not JSON)."""
    raw = await request.body()
    if empty is not _NO_BODY and not raw.strip():
        return empty
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(unprocessable(("body",), f"not JSON: {exc}", "json_invalid"))
    deep = too_deep_json(raw, value, ("body",), limit)
    if deep is not None:
        return _error(RequestValidationError([deep]))
    return value


async def _stream_export(heads: list[tuple[bytes, Iterator[ExportPart]]]) -> AsyncIterator[bytes]:
    """``{contract: {"format", "counters", "template", "tenants": {tenant: {kind: {key: value}}}}}``
    written from snapshots (`MemoryStore.export_parts`), a batch of items per line, in pieces of
    about `EXPORT_FLUSH_BYTES`, yielding to the event loop after each. Memory: the snapshots'
    references, one batch of items and one piece. A value no encoder can write (unreachable for
    a stored value: answers and imports are serialised first) ends the answer early, so the
    client sees a cut document, never a wrong one."""
    pending: list[bytes] = [b"{"]
    size = 0
    last = time.perf_counter()
    try:
        for number, (head, parts) in enumerate(heads):
            pending.append((b",\n" if number else b"\n") + head + b',"tenants":{')
            tenants = kinds = items = 0  # written so far: of the contract, tenant, kind
            for tag, part in parts:
                if tag == "items":
                    encoded = _json(dict(part))[1:-1]  # one encoder call per batch
                    pending.append((b",\n" if items else b"\n") + encoded)
                    items += len(part)
                elif tag == "kind":
                    pending.append((b"}," if kinds else b"") + b"\n" + _json(part) + b":{")
                    kinds, items = kinds + 1, 0
                elif tag == "tenant":
                    close = (b"}}," if kinds else b"},") if tenants else b""
                    pending.append(close + b"\n" + _json(part) + b":{")
                    tenants, kinds = tenants + 1, 0
                size += len(pending[-1])
                if size >= EXPORT_FLUSH_BYTES or time.perf_counter() - last >= EXPORT_FLUSH_SECONDS:
                    yield b"".join(pending)
                    pending, size = [], 0
                    await asyncio.sleep(0)  # every other request gets its turn here
                    last = time.perf_counter()
            pending.append((b"}}" if kinds else b"}") if tenants else b"")
            pending.append(b"}}")
        pending.append(b"\n}\n")
        yield b"".join(pending)
    except (TypeError, ValueError, RecursionError) as exc:
        log.error("specfake: GET /__admin/state cut short: a stored value cannot be written (%s)", exc)
        raise


def _json(value: Any) -> bytes:
    """``value`` as JSON: orjson, else the standard encoder (an integer past 64 bits, a key that
    is not a string); raises TypeError, ValueError or RecursionError when neither can."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _invalid_value(api: Any, name: str, state: dict[str, Any]) -> FieldError | None:
    """The first stored value of ``state`` (an export of contract ``name``, its shape already
    checked) that does not match its kind's schema (a behaviour's ``stored``, else the inferred
    resource's answer), located at its path in the import."""
    behaviour = api.behaviour
    if behaviour is not None:
        schemas: dict[str, dict[str, Any]] = dict(behaviour.stored)
    else:
        schemas = {r.kind: {"$ref": r.schema_ref} for r in api.resources.resources if r.schema_ref}
    if not schemas:
        return None
    validator = api.compiled.validator
    parts: list[tuple[tuple[str, ...], dict[str, Any]]] = [(("template",), state.get("template") or {})]
    parts += [(("tenants", tenant), data) for tenant, data in (state.get("tenants") or {}).items()]
    for where, data in parts:
        for kind, schema in schemas.items():
            check = validator(schema)
            for key, value in (data.get(kind) or {}).items():
                if not check.is_valid(value):
                    loc = ("body", name, *where, kind, key)
                    errors: list[FieldError] = check.errors(value, loc)
                    return errors[0] if errors else FieldError(loc, f"not a stored {kind} value")
    return None


def _error(exc: ApiError) -> Response:
    return JSONResponse(exc.body(), exc.status, headers=exc.headers or None)


def _is_json_write(request: Request) -> bool:
    """``application/json`` or any ``+json`` type; a write without a body needs none.

    A page can send a text/plain body cross-origin with no preflight, so a body must be declared
    JSON (which a page cannot send without a preflight). A bodiless write (``curl -X POST
    .../reset``) is safe without one: a browser always sends ``Origin`` with a cross-site POST, PUT
    or DELETE, and a foreign Origin is refused before this check."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return True
    length = request.headers.get("content-length")
    return "transfer-encoding" not in request.headers and (length is None or length.strip() == "0")


def _is_loopback_origin(origin: str) -> bool:
    """``http(s)://`` localhost, ``*.localhost``, 127.0.0.0/8 or ``[::1]``, on any port."""
    try:
        parts = urlsplit(origin)
        host = parts.hostname
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host or parts.path or parts.query:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.x; ``testclient`` is Starlette's in-process client."""
    if host == "testclient":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))
