"""What a check found, and the three ways it is reported: a readable summary, JUnit XML, JSON.

Every checker (server, client, proxy, fuzz) reports `Finding`s into one `Report`, so CI sees the
same shapes whichever side of the contract broke.
"""

from __future__ import annotations

import json
import shlex
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from specfake.errors import field_path

__all__ = ["Exchange", "Finding", "Report", "field_path", "to_curl", "trim"]

BODY_LIMIT = 2000  # characters of a request or response body kept in a finding


@dataclass
class Exchange:
    """One HTTP request and (when there was one) its response, trimmed for reporting."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None

    def curl(self) -> str:
        return to_curl(self.method, self.url, self.headers, self.body)


@dataclass
class Finding:
    """One broken rule: which operation, which check, what happened, and how to reproduce it."""

    operation: str  # "POST /logs" (method and path template), or "-" when no operation matched
    check: str  # a stable name, e.g. "response_schema_conformance", "sse_framing", "request_body"
    message: str
    side: str = "server"  # "server" (a response broke the contract) or "client" (a request did)
    field: str | None = None  # the JSON path of the offending field, when there is one
    exchange: Exchange | None = None
    curl: str | None = None  # a minimal reproducing request
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.curl is None and self.exchange is not None:
            self.curl = self.exchange.curl()


@dataclass
class Report:
    """All findings of one run, with enough context to rerun it (`seed`) and judge coverage."""

    tool: str  # "check server", "check client", "check client --proxy", "check client --fuzz-responses"
    contract: str
    seed: int | None = None
    findings: list[Finding] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)  # operations exercised, for JUnit passes
    stats: dict[str, Any] = field(default_factory=dict)  # e.g. {"cases": 812, "requests": 1034}
    started: float = field(default_factory=time.time)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def add(self, finding: Finding) -> None:
        if finding.seed is None:
            finding.seed = self.seed
        self.findings.append(finding)

    def grouped(self) -> dict[str, dict[str, list[Finding]]]:
        """Findings by operation, then by check, in a stable order."""
        groups: dict[str, dict[str, list[Finding]]] = defaultdict(lambda: defaultdict(list))
        for finding in self.findings:
            groups[finding.operation][finding.check].append(finding)
        return {op: dict(sorted(checks.items())) for op, checks in sorted(groups.items())}

    def summary(self, *, verbose: bool = False) -> str:
        lines = [f"specfake {self.tool}: contract {self.contract}, seed {self.seed}"]
        if self.stats:
            lines.append("  " + ", ".join(f"{k}: {v}" for k, v in self.stats.items()))
        for operation, checks in self.grouped().items():
            lines.append(f"\n{operation}")
            for check, findings in checks.items():
                lines.append(f"  ✗ {check} ({len(findings)})")
                for finding in findings if verbose else findings[:3]:
                    where = f" [{finding.field}]" if finding.field else ""
                    lines.append(f"    - {finding.message}{where}")
                    if finding.curl:
                        lines.append(f"      reproduce: {finding.curl}")
                if not verbose and len(findings) > 3:
                    lines.append(f"    … {len(findings) - 3} more (see the JSON report)")
        verdict = "no contract violations" if self.ok else f"{len(self.findings)} contract violation(s)"
        seed = f"; rerun with --seed {self.seed}" if self.seed is not None and not self.ok else ""
        lines.append(f"\n{verdict} in {self.duration:.1f}s{seed}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "contract": self.contract,
            "seed": self.seed,
            "ok": self.ok,
            "duration": round(self.duration, 3),
            "stats": self.stats,
            "operations": self.operations,
            "findings": [asdict(f) for f in self.findings],
        }

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")

    def junit(self) -> ElementTree.Element:
        """One testcase per operation and check that failed, plus one passing case per clean operation."""
        suite = ElementTree.Element(
            "testsuite",
            name=f"specfake {self.tool} {self.contract}",
            timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.started)),
            time=f"{self.duration:.3f}",
        )
        grouped = self.grouped()
        cases = failures = 0
        for operation in sorted(set(self.operations) - set(grouped)):
            ElementTree.SubElement(suite, "testcase", classname=self.contract, name=operation)
            cases += 1
        for operation, checks in grouped.items():
            for check, findings in checks.items():
                case = ElementTree.SubElement(
                    suite, "testcase", classname=self.contract, name=f"{operation} :: {check}"
                )
                failure = ElementTree.SubElement(
                    case, "failure", message=findings[0].message[:500], type=check
                )
                failure.text = "\n\n".join(
                    f"{f.message}"
                    + (f"\nfield: {f.field}" if f.field else "")
                    + (f"\nreproduce: {f.curl}" if f.curl else "")
                    + f"\nseed: {f.seed}"
                    for f in findings
                )
                cases += 1
                failures += 1
        suite.set("tests", str(cases))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        return suite

    def write_junit(self, path: str | Path) -> None:
        suites = ElementTree.Element("testsuites")
        suites.append(self.junit())
        ElementTree.indent(suites)
        ElementTree.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)

    def write(self, *, junit: str | None = None, report: str | None = None) -> None:
        if junit:
            self.write_junit(junit)
        if report:
            self.write_json(report)


def to_curl(
    method: str, url: str, headers: dict[str, str] | None = None, body: str | bytes | None = None
) -> str:
    """A shell-ready curl command reproducing one request."""
    parts = ["curl", "-sS", "-X", method.upper(), shlex.quote(url)]
    for name, value in (headers or {}).items():
        if name.lower() in ("content-length", "host", "accept-encoding", "connection", "user-agent"):
            continue
        parts += ["-H", shlex.quote(f"{name}: {value}")]
    if body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        parts += ["--data-raw", shlex.quote(text)]
    return " ".join(parts)


def trim(text: str | bytes | None, limit: int = BODY_LIMIT) -> str | None:
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"
