"""Scenarios: a YAML list of API calls run through a mounted contract, in process.

Fixture worlds are scenarios. Running calls through the real handlers (rather than writing
stored objects by hand) keeps the seeded world consistent with what the behaviours would have
built: a log's project exists, a feedback's log carries it, an evaluation's counts add up.

A step::

    - as: proj            # remember the answer as ${proj...}
      op: projects_create # an operationId of the contract
      path: {id: "${proj.id}"}
      query: {page: 0}
      body: {name: "${faker.catch_phrase}"}
      repeat: 3           # run 3 times; ${i} is 0, 1, 2 and ``as`` names proj.0, proj.1, ...
      expect: 201         # default: any 2xx

``${name.a.0.b}`` reads a remembered answer; ``${faker.METHOD}`` calls a seeded Faker provider
method with no arguments; ``${i}`` is the repeat index. A value that is exactly one ``${...}``
keeps its type (a list stays a list).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import orjson
import yaml
from faker import Faker
from starlette.types import Message

from specfake.tenants import SCOPE_KEY

if TYPE_CHECKING:
    from specfake.api import MountedApi

_REF = re.compile(r"\$\{([^}]+)\}")


class ScenarioError(Exception):
    """A scenario step could not run or did not answer as expected."""


class Scenario:
    def __init__(self, steps: list[dict[str, Any]], source: str = "<scenario>") -> None:
        if not isinstance(steps, list):
            raise ScenarioError(f"{source}: a scenario is a YAML list of steps")
        self.steps = steps
        self.source = source

    @classmethod
    def from_file(cls, path: Path) -> Scenario:
        return cls(yaml.safe_load(path.read_text()) or [], str(path))

    async def run(
        self, api: MountedApi, tenant: str, seed: int, known: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run every step as ``tenant``; returns the remembered answers. ``known``: names the
        steps may read from the start (a scenario's ``${request...}``)."""
        faker = Faker("en_US")
        faker.seed_instance(seed)
        names: dict[str, Any] = dict(known or {})
        for number, step in enumerate(self.steps, 1):
            where = f"{self.source} step {number} ({step.get('op', '?')})"
            repeat = int(step.get("repeat", 1))
            answers = []
            for index in range(repeat):
                scope_vars = {"i": index, **names}
                answers.append(await self._run_step(api, tenant, step, scope_vars, faker, where))
            if "as" in step:
                names[str(step["as"])] = answers if "repeat" in step else answers[0]
        return names

    async def _run_step(
        self,
        api: MountedApi,
        tenant: str,
        step: dict[str, Any],
        names: dict[str, Any],
        faker: Faker,
        where: str,
    ) -> Any:
        try:
            op = api.contract.operation(str(step["op"]))
        except KeyError:
            raise ScenarioError(f"{where}: no operation {step.get('op')!r} in {api.contract.name}") from None
        path_values = _fill(step.get("path") or {}, names, faker, where)
        path = op.path
        for name, value in path_values.items():
            path = path.replace("{" + name + "}", quote(str(value), safe=""))
        query = _fill(step.get("query") or {}, names, faker, where)
        body = _fill(step["body"], names, faker, where) if "body" in step else None
        status, payload = await call_in_process(api, op.method, path, query, body, tenant)
        expected = step.get("expect")
        failed = not 200 <= status < 300 if expected is None else status != int(expected)
        if failed:
            raise ScenarioError(f"{where}: answered {status}: {payload!r}"[:2000])
        return payload


def _fill(value: Any, names: dict[str, Any], faker: Faker, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, names, faker, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names, faker, where) for v in value]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _REF.fullmatch(value)
    if whole:
        return _lookup(whole.group(1), names, faker, where)
    return _REF.sub(lambda m: str(_lookup(m.group(1), names, faker, where)), value)


def _lookup(expression: str, names: dict[str, Any], faker: Faker, where: str) -> Any:
    head, *rest = expression.strip().split(".")
    if head == "faker":
        if len(rest) != 1 or rest[0].startswith("_") or not callable(getattr(faker, rest[0], None)):
            raise ScenarioError(f"{where}: ${{{expression}}} is not a Faker provider method")
        return getattr(faker, rest[0])()
    if head not in names:
        raise ScenarioError(f"{where}: ${{{expression}}} names nothing remembered before it")
    node = names[head]
    for part in rest:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise ScenarioError(f"{where}: ${{{expression}}}: no {part!r} in the answer") from None
    return node


async def call_in_process(
    api: MountedApi, method: str, path: str, query: dict[str, Any], body: Any, tenant: str
) -> tuple[int, Any]:
    """One request through ``api`` without a socket, as ``tenant``; returns (status, parsed JSON or
    None). The tenant travels in the scope (`specfake.tenants.SCOPE_KEY`), not as a credential: it
    is already a fingerprint (or the fixture world's name), which no ``--api-key`` list accepts and
    which fingerprinting again would turn into another tenant."""
    raw = orjson.dumps(body) if body is not None else b""
    scope = {
        "type": "http",
        "method": method,
        "path": api.prefix + path,
        "query_string": urlencode(query, doseq=True).encode(),
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 0),
        SCOPE_KEY: tenant,
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    out: dict[str, Any] = {"status": 0, "body": bytearray()}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await api(scope, receive, send, path, record=False)
    payload = bytes(out["body"])
    if not payload:
        return out["status"], None
    try:
        return out["status"], orjson.loads(payload)
    except orjson.JSONDecodeError:
        return out["status"], payload.decode("utf-8", "replace")
