"""``/__admin``: reset, export and import state, read the request journal.

Refused (403) from anything but loopback unless the caller presents the configured admin token
in ``X-Specfake-Admin-Token``: the admin API can read every tenant's data.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from specfake.errors import ApiError, FieldError, RequestValidationError, unprocessable
from specfake.fault_rules import RuleError
from specfake.options import OptionError
from specfake.scenarios import ScenarioFileError
from specfake.store import check_snapshot

if TYPE_CHECKING:
    from specfake.app import SpecfakeApp

TOKEN_HEADER = "x-specfake-admin-token"


class AdminApi:
    def __init__(self, app: SpecfakeApp, token: str | None = None) -> None:
        self.app = app
        self.token = token

    def routes(self) -> list[Route]:
        return [
            Route("/__admin", self.index, methods=["GET"]),
            Route("/__admin/reset", self.reset, methods=["POST"]),
            Route("/__admin/state", self.export, methods=["GET"]),
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
                    "POST /__admin/reset[?contract=NAME][&tenant=KEY]": "back to the start-up state",
                    "GET /__admin/state[?contract=NAME]": "export state as JSON",
                    "PUT /__admin/state": "import an export (replaces the contracts it names)",
                    "GET|PUT /__admin/options?contract=NAME": "behaviour options ({name: value}; '' unsets)",
                    "GET /__admin/journal[?contract=NAME][&tenant=KEY][&limit=N]": "recent requests",
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
        tenant = request.query_params.get("tenant")
        for api in apis:
            api.store.reset(tenant)
            if tenant is None:
                api.journal.clear(api.contract.name)
        return JSONResponse({"reset": [a.contract.name for a in apis], "tenant": tenant})

    async def export(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        apis = self._apis(request)
        if not apis:
            return JSONResponse({"detail": "no such contract"}, 404)
        body = {api.contract.name: api.store.export() for api in apis}
        return Response(orjson.dumps(body, option=orjson.OPT_INDENT_2), media_type="application/json")

    async def import_(self, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        try:
            snapshot = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return JSONResponse({"detail": f"not JSON: {exc}"}, 422)
        if not isinstance(snapshot, dict):
            return JSONResponse({"detail": "expected {contract name: state export}"}, 422)
        names = {api.contract.name for api in self.app.apis}
        unknown = sorted(set(snapshot) - names)
        if unknown:
            return JSONResponse({"detail": f"unknown contracts: {unknown}"}, 422)
        for name, state in snapshot.items():  # every part checked before any store changes
            try:
                check_snapshot(state)
            except ValueError as exc:
                return JSONResponse({"detail": f"{name}: {exc}"}, 422)
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
            try:
                changes = orjson.loads(await request.body())
            except orjson.JSONDecodeError as exc:
                return JSONResponse({"detail": f"not JSON: {exc}"}, 422)
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
            try:
                given = orjson.loads(await request.body())
            except orjson.JSONDecodeError as exc:
                return _error(unprocessable(("body",), f"not JSON: {exc}", "json_invalid"))
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
        raw = await request.body()
        try:
            given = orjson.loads(raw) if raw.strip() else {}
        except orjson.JSONDecodeError as exc:
            return _error(unprocessable(("body",), f"not JSON: {exc}", "json_invalid"))
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


def _error(exc: ApiError) -> Response:
    return JSONResponse(exc.body(), exc.status, headers=exc.headers or None)


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
