"""One self-contained HTML file per check: tables people scan, findings they can reproduce.

Inline CSS only (no scripts, no external assets), so the file opens anywhere, offline, and in a
CI artefact viewer. Every piece of text goes through `html.escape`: findings quote what a server
sent back.

- ``check server`` / ``check client``: operations by check, each cell pass, fail (count) or skip
  (the operation was not exercised), then every finding with its field, rule, message and curl.
- coverage: operations by status code, response variant and fault, each met, missed or n/a.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from html import escape
from pathlib import Path

from specfake.contracts.harness.coverage import FAULTS, STREAM_FAULTS, VARIANTS, Coverage
from specfake.contracts.harness.findings import Report

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.meta{color:#5a6473;margin-bottom:16px}
table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #d5d9e0;padding:3px 6px;text-align:center;white-space:nowrap}
th.op,td.op{text-align:left;font-family:ui-monospace,monospace}
thead th{background:#eef1f5;position:sticky;top:0}
td.pass,td.met{background:#c9f0d2;color:#14532d}
td.fail,td.missed{background:#fbd0d0;color:#7f1d1d;font-weight:600}
td.skip,td.na{background:#f1f2f4;color:#8a929e}
.verdict{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600}
.ok{background:#c9f0d2;color:#14532d}.bad{background:#fbd0d0;color:#7f1d1d}
.finding{border-left:4px solid #dc2626;padding:4px 12px;margin:10px 0;background:#fff7f7}
.finding .rule{font-weight:600}.finding .field{font-family:ui-monospace,monospace;color:#5a6473}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:6px;margin:4px 0}
.bar{display:inline-block;height:10px;background:#16a34a;vertical-align:middle}
.barbg{display:inline-block;width:120px;height:10px;background:#fbd0d0;vertical-align:middle;text-align:left}
"""


def _page(title: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _header(report: Report) -> list[str]:
    verdict = (
        '<span class="verdict ok">no contract violations</span>'
        if report.ok
        else f'<span class="verdict bad">{len(report.findings)} contract violation(s)</span>'
    )
    stats = ", ".join(f"{k}: {v}" for k, v in report.stats.items())
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.started))
    return [
        f"<h1>specfake {escape(report.tool)}: {escape(report.contract)}</h1>",
        f'<div class="meta">seed {escape(str(report.seed))} · {escape(when)} · '
        f"{report.duration:.1f}s · {escape(stats)}</div>",
        f"<p>{verdict}</p>",
    ]


def checks_table(report: Report, operations: Iterable[str] | None = None) -> str:
    """Operations by check: ``operations`` lists every row (default: the report's own)."""
    grouped = report.grouped()
    exercised = set(report.operations)
    rows = list(dict.fromkeys([*(operations or report.operations), *grouped]))
    checks = sorted({f.check for f in report.findings})
    head = "".join(f"<th>{escape(c)}</th>" for c in checks)
    out = [
        '<table id="operations"><thead><tr><th class="op">operation</th>'
        f"{head}<th>overall</th></tr></thead><tbody>"
    ]
    for op in rows:
        found = grouped.get(op, {})
        ran = op in exercised or bool(found)
        cells = []
        for check in checks:
            if check in found:
                cells.append(f'<td class="fail">fail ({len(found[check])})</td>')
            else:
                cells.append('<td class="pass">pass</td>' if ran else '<td class="skip">skip</td>')
        overall = (
            f'<td class="fail">fail ({sum(len(v) for v in found.values())})</td>'
            if found
            else ('<td class="pass">pass</td>' if ran else '<td class="skip">skip</td>')
        )
        out.append(f'<tr class="op"><td class="op">{escape(op)}</td>{"".join(cells)}{overall}</tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def findings_section(report: Report) -> list[str]:
    if report.ok:
        return []
    out = ["<h2>Findings</h2>"]
    for op, checks in report.grouped().items():
        for check, findings in checks.items():
            for f in findings:
                parts = [
                    '<div class="finding">',
                    f'<div><span class="op">{escape(op)}</span> · '
                    f'<span class="rule">{escape(check)}</span> · {escape(f.side)}</div>',
                ]
                if f.field:
                    parts.append(f'<div class="field">field: {escape(f.field)}</div>')
                parts.append(f"<div>{escape(f.message)}</div>")
                if f.curl:
                    parts.append(f"<pre>{escape(f.curl)}</pre>")
                parts.append("</div>")
                out.append("".join(parts))
    return out


def coverage_table(coverage: Coverage) -> str:
    """Operations by status code, variant and fault: met, missed, or n/a (not offered)."""
    ops = list(coverage.ops.values())
    statuses = sorted({s for o in ops for s in o.declared})
    variants = [v for v in VARIANTS if any(v in o.variants_offered for o in ops)]
    faults = [f for f in (*FAULTS, *STREAM_FAULTS) if any(f in o.faults_offered for o in ops)]
    groups = (
        f'<tr><th class="op" rowspan="2">operation</th><th rowspan="2">calls</th>'
        f'<th colspan="{len(statuses) or 1}">status codes</th>'
        f'<th colspan="{len(variants) or 1}">response variants</th>'
        f'<th colspan="{len(faults) or 1}">faults</th></tr>'
    )
    names = "".join(f"<th>{escape(str(x))}</th>" for x in (*statuses, *variants, *faults))
    out = [f'<table id="coverage"><thead>{groups}<tr>{names}</tr></thead><tbody>']
    for o in ops:
        cells = [f'<td class="op">{escape(o.operation)}</td>']
        cells.append(f'<td class="{"met" if o.calls else "missed"}">{o.calls}</td>')
        for status in statuses:
            cells.append(_cell(status in o.declared, status in o.statuses))
        for variant in variants:
            cells.append(_cell(variant in o.variants_offered, variant in o.variants))
        for fault in faults:
            cells.append(_cell(fault in o.faults_offered, fault in o.faults))
        out.append(f'<tr class="op">{"".join(cells)}</tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _cell(offered: bool, met: bool) -> str:
    if not offered:
        return '<td class="na">·</td>'
    return '<td class="met">✓</td>' if met else '<td class="missed">✗</td>'


def coverage_section(coverage: Coverage) -> list[str]:
    rows = []
    for name, share in coverage.shares().items():
        width = int(1.2 * float(share["percent"]))
        rows.append(
            f'<tr><td class="op">{escape(name)}</td><td>{share["met"]}/{share["of"]}</td>'
            f'<td>{share["percent"]:g}%</td><td><span class="barbg"><span class="bar" '
            f'style="width:{width}px"></span></span></td></tr>'
        )
    out = [
        f"<h2>Coverage: {coverage.percent:g}% of operations called</h2>",
        f'<table id="shares"><tbody>{"".join(rows)}</tbody></table>',
    ]
    for label, items in (
        ("Never called", coverage.never_called()),
        ("Faults never met", coverage.faults_never_met()),
        ("Variants never met", coverage.variants_never_met()),
    ):
        if items:
            out.append(f"<p><b>{escape(label)}:</b> {escape(', '.join(items))}</p>")
    out.append(coverage_table(coverage))
    return out


def server_html(report: Report) -> str:
    return _page(
        f"specfake {report.tool} {report.contract}",
        [*_header(report), "<h2>Operations by check</h2>", checks_table(report), *findings_section(report)],
    )


def client_html(report: Report, coverage: Coverage | None = None) -> str:
    """The client check: every contract operation a row (skip: never called), then coverage."""
    rows = list(coverage.ops) if coverage is not None else None
    body = [*_header(report), "<h2>Operations by check</h2>", checks_table(report, rows)]
    body += findings_section(report)
    if coverage is not None:
        body += coverage_section(coverage)
    return _page(f"specfake {report.tool} {report.contract}", body)


def coverage_html(coverage: Coverage) -> str:
    return _page(f"specfake coverage {coverage.contract.name}", coverage_section(coverage))


def write_server(path: str | Path, report: Report) -> None:
    Path(path).write_text(server_html(report), encoding="utf-8")


def write_client(path: str | Path, report: Report, coverage: Coverage | None = None) -> None:
    Path(path).write_text(client_html(report, coverage), encoding="utf-8")
