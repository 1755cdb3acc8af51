"""Scenarios: named state machines over the fake's real state, in the spirit of WireMock's.

A scenario is a list of steps. The current step matches requests (the fault rules' matchers); a
matching request gets the step's fault, and the step's ``calls`` (API calls, as in a fixture
script) run in process just before it is answered, so the state a client reads can change under
it. Entering a step sets its ``options`` (an evaluation held at ``running``, then released). A step
moves on to the next after ``next: {after: N}`` matching requests; a step without ``next`` stays.
Several scenarios may run at once; a request's own ``X-Specfake-Fault`` header wins over them.

    name: flaky-5xx
    description: The first two calls fail with a 503, then all is well.
    steps:
      - name: failing
        fault: status=503
        next: {after: 2}
      - name: healthy

In ``calls``, ``${request.path.NAME}``, ``${request.query.NAME}``, ``${request.body.a.b}`` and
``${request.tenant}`` read the triggering request, and ``as: NAME`` keeps an answer for the calls
after it (``${NAME.field}``). Scenarios ship in ``fixtures/scenarios/``; ``--scenario NAME`` (or a
file path) starts one, ``/__admin/scenarios`` lists, starts, moves and stops them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from specfake.fault_rules import MATCHERS, RuleError, parse_rule
from specfake.faults import Fault

if TYPE_CHECKING:
    from specfake.api import MountedApi
    from specfake.calls import Call
    from specfake.fault_rules import FaultRule
    from specfake.options import Options

STEP_FIELDS = frozenset({"name", "fault", "options", "calls", "next", *MATCHERS})
SCENARIO_FIELDS = frozenset({"name", "description", "steps"})


class ScenarioFileError(ValueError):
    """A scenario that cannot be used: the message names the file, the line and the field."""


def library() -> Path:
    """The shipped scenarios (``fixtures/scenarios/``)."""
    return Path(str(resources.files("specfake.fixtures") / "scenarios"))


@dataclass
class Step:
    name: str
    matcher: FaultRule  # what the step matches (its fault, if it has one, is the rule's)
    fault: Fault | None
    options: dict[str, str]
    calls: list[dict[str, Any]]
    after: int | None  # matching requests before the next step; None: the last step stays


@dataclass
class Scenario:
    name: str
    description: str
    steps: list[Step]
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "steps": [step.name for step in self.steps],
            "source": self.source,
        }


@dataclass
class Running:
    """A started scenario: its current step, and the matching requests it has seen in that step."""

    scenario: Scenario
    step: int = 0
    seen: int = 0
    history: list[str] = field(default_factory=list)

    @property
    def current(self) -> Step:
        return self.scenario.steps[self.step]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "step": self.current.name,
            "step_number": self.step + 1,
            "steps": len(self.scenario.steps),
            "seen_in_step": self.seen,
        }


def parse_scenario(data: Any, source: str, lines: dict[tuple[int | str, ...], int] | None = None) -> Scenario:
    """A scenario from its mapping; ScenarioFileError names the file, the line and the field."""
    lines = lines or {}

    def fail(loc: tuple[int | str, ...], message: str) -> ScenarioFileError:
        line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
        where = f"{source}:{line}" if line is not None else source
        field_name = ".".join(str(part) for part in loc)
        return ScenarioFileError(f"{where}: {field_name + ': ' if field_name else ''}{message}")

    if not isinstance(data, dict):
        raise fail((), "a scenario is a mapping with name and steps")
    for key in data:
        if key not in SCENARIO_FIELDS:
            raise fail((str(key),), f"unknown field; a scenario has {', '.join(sorted(SCENARIO_FIELDS))}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise fail(("name",), "a scenario needs a name")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail(("steps",), "a scenario needs a list of steps")
    steps: list[Step] = []
    for number, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            raise fail(("steps", number), "a step is a mapping")
        for key in raw:
            if key not in STEP_FIELDS:
                known = ", ".join(sorted(STEP_FIELDS))
                raise fail(("steps", number, str(key)), f"unknown field; a step has {known}")
        spec = {k: raw[k] for k in MATCHERS if k in raw}
        spec["fault"] = raw.get("fault") or "latency=0ms"  # a step without a fault only matches
        try:
            matcher = parse_rule(spec, f"{name}:{number + 1}")
        except RuleError as exc:
            raise fail(("steps", number, *exc.loc), exc.message) from None
        options = raw.get("options") or {}
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise fail(("steps", number, "options"), "options are {name: string value}")
        calls = raw.get("calls") or []
        if not isinstance(calls, list) or not all(isinstance(c, dict) and "op" in c for c in calls):
            raise fail(("steps", number, "calls"), "calls are a list of {op: OPERATION_ID, ...}")
        after = (raw.get("next") or {}).get("after") if isinstance(raw.get("next"), dict) else None
        if "next" in raw and (not isinstance(after, int) or isinstance(after, bool) or after < 1):
            raise fail(("steps", number, "next"), "expected next: {after: N}, N >= 1")
        steps.append(
            Step(
                name=str(raw.get("name") or f"step {number + 1}"),
                matcher=matcher,
                fault=matcher.fault if raw.get("fault") else None,
                options=dict(options),
                calls=list(calls),
                after=after,
            )
        )
    return Scenario(name, str(data.get("description") or ""), steps, source)


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a scenario file."""
    path = Path(name_or_path)
    if not path.is_file():
        path = library() / f"{name_or_path}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in library().glob("*.yaml")))
            raise ScenarioFileError(f"no scenario {name_or_path!r}: not a file, nor a shipped one ({known})")
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioFileError(f"{path}: {exc}") from None
    return parse_scenario(data, str(path), _lines(node))


def _lines(node: Any, loc: tuple[int | str, ...] = ()) -> dict[tuple[int | str, ...], int]:
    """The 1-based line of every mapping key and list item, by its location."""
    out: dict[tuple[int | str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*loc, str(key.value))
            out[here] = key.start_mark.line + 1
            out.update(_lines(value, here))
    elif isinstance(node, yaml.SequenceNode):
        for number, item in enumerate(node.value):
            at = (*loc, number)
            out[at] = item.start_mark.line + 1
            out.update(_lines(item, at))
    return out


class Scenarios:
    """The scenarios a fake knows and the ones running, shared by its contracts (``bind`` gives
    it the mounted contracts, whose options the steps set)."""

    def __init__(self) -> None:
        self.known: dict[str, Scenario] = {}
        self.running: dict[str, Running] = {}
        self.active = False  # what the hot path reads
        self.apis: list[MountedApi] = []
        self._saved: dict[str, dict[str, Options]] = {}  # scenario -> contract -> options at start
        self._lock = threading.RLock()

    def bind(self, apis: list[MountedApi]) -> None:
        self.apis = list(apis)

    def find(self, name: str) -> Scenario:
        """A known scenario, else a shipped one by name, else a scenario file."""
        if name not in self.known:
            scenario = load_scenario(name)
            self.known[scenario.name] = self.known[name] = scenario
        return self.known[name]

    def start(self, name: str, step: int | str = 0) -> Running:
        """Start (or restart) a scenario at a step (its number from 0, or its name). Its steps'
        options are checked first: a name no contract knows or a bad value refuses the start."""
        scenario = self.find(name)
        for number, each in enumerate(scenario.steps):
            self._check_options(scenario, number, each.options)
        with self._lock:
            if scenario.name not in self.running:
                self._saved[scenario.name] = {api.name: api.options for api in self.apis}
            self.running[scenario.name] = Running(scenario)
            self.active = True
        return self.move(scenario.name, step)

    def move(self, name: str, step: int | str) -> Running:
        """Set a running scenario's step; entering it sets its options."""
        with self._lock:
            running = self.running.get(name)
            if running is None:
                raise ScenarioFileError(f"scenario {name!r} is not running")
            names = [s.name for s in running.scenario.steps]
            number = names.index(step) if isinstance(step, str) and step in names else step
            if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < len(names):
                raise ScenarioFileError(f"{name}: no step {step!r}; steps: {', '.join(names)}")
            running.step, running.seen = number, 0
            running.history.append(names[number])
            for api in self.apis:
                changes = {k: v for k, v in running.current.options.items() if k in type(api.options).names()}
                if changes:
                    api.set_options(changes)
            return running

    def stop(self, name: str) -> bool:
        """Stop a scenario; the options it set go back to what they were when it started."""
        with self._lock:
            found = self.running.pop(name, None) is not None
            for api in self.apis:
                saved = self._saved.get(name, {}).get(api.name)
                if found and saved is not None:
                    api.set_options(saved)
            self._saved.pop(name, None)
            self.active = bool(self.running)
            return found

    def _check_options(self, scenario: Scenario, number: int, options: dict[str, str]) -> None:
        for option_name in options:
            if not any(option_name in type(api.options).names() for api in self.apis):
                raise ScenarioFileError(
                    f"{scenario.source}: steps.{number}.options.{option_name}: no served contract knows it"
                )
        for api in self.apis:
            changes = {k: v for k, v in options.items() if k in type(api.options).names()}
            try:
                api.options.changed(changes)
            except ValueError as exc:
                raise ScenarioFileError(f"{scenario.source}: steps.{number}.options: {exc}") from None

    async def on_request(self, api: MountedApi, call: Call) -> tuple[Fault, str] | None:
        """Run every running scenario's current step for ``call``: its calls (in process, before
        the answer) and its fault; move on when a step has seen enough. Returns the first fault
        (and what it is, for the journal)."""
        found: tuple[Fault, str] | None = None
        for running in list(self.running.values()):
            step = running.current
            if not step.matcher.matches(api.name, call):
                continue
            if step.calls:
                await api.run_calls(step.calls, call)
            if found is None and step.fault is not None:
                what = f"scenario {running.scenario.name} step {step.name}: {step.matcher.text}"
                found = (step.fault, what)
            running.seen += 1
            last = running.step + 1 >= len(running.scenario.steps)
            if step.after is not None and running.seen >= step.after and not last:
                self.move(running.scenario.name, running.step + 1)
        return found

    def to_json(self) -> dict[str, Any]:
        shipped = {p.stem for p in library().glob("*.yaml")}
        names = sorted(shipped | set(self.known))
        return {
            "scenarios": [self.find(n).to_json() for n in names if n in shipped or n in self.known],
            "running": [running.to_json() for running in self.running.values()],
        }
