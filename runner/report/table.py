"""Stage: report. The comparison table (terminal, Markdown) and the job summary (summary.md).

Values come from containers and are untrusted: the terminal gets one line per value with control and
bidi characters out (runner.text's rule); Markdown additionally escapes table and HTML syntax.
"""

from __future__ import annotations

import html
import re
from typing import Any, List, Optional, Tuple

from tabulate import tabulate

from runner.records import Status
from runner.report.fields import (
    Doc,
    cell_backends,
    counts_line,
    default_summary,
    device_summary,
    doc_backends,
    python_summary,
    training_summary,
    yes_no,
)
from runner.report.findings import Finding, compute_findings
from runner.text import one_line, without_controls

FORMATS = ("terminal", "markdown")
# Markdown: every other status gets \u274c.
STATUS_MARKS = {Status.OK.value: "\u2705", Status.PARTIAL.value: "\u26a0\ufe0f",
                Status.SKIPPED.value: "\u23ed\ufe0f"}
CELL_LIMIT = 80          # characters of one table cell
MD_CELL_LIMIT = 120

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#!])")


# ---- escaping ------------------------------------------------------------------------------------------

def term_text(value: Any, limit: int = CELL_LIMIT) -> str:
    """One line (line breaks and runs of blanks become one space) with no control or bidi characters:
    container output must not move the cursor, recolour a terminal, reorder text or break a table row."""
    return one_line(" ".join(without_controls(value).split()), limit)


def md_text(value: Any, limit: int = MD_CELL_LIMIT) -> str:
    """Safe inside a GitHub Markdown table cell or paragraph: one line, clipped, no HTML, no Markdown syntax."""
    text = term_text(value, limit)
    text = html.escape(text, quote=False)       # & < > : no raw HTML reaches the job summary
    return _MD_SPECIAL.sub(r"\\\1", text)       # | ends a cell; ` * _ [ ] ... would format or link


# ---- the comparison table ------------------------------------------------------------------------------

def table_rows(doc: Doc) -> Tuple[List[str], List[List[str]]]:
    """Headers and raw (unescaped) rows in the document's cell order."""
    backends = doc_backends(doc)
    headers = ["cell", "status", "default backend"] + backends + ["python", "device"]
    rows: List[List[str]] = []
    for cell in doc.get("cells") or []:
        trainings = cell.get("trainings") or {}
        requested = set(cell_backends(cell))
        status = str(cell.get("status")) + (" (cached)" if cell.get("cached") else "")
        row = [str(cell.get("cell_id")), status, default_summary(cell)]
        for name in backends:
            row.append(training_summary(trainings.get(name)) if name in requested else "")
        row += [python_summary(cell), device_summary(cell)]
        rows.append(row)
    return headers, rows


def render_table(doc: Doc, fmt: str) -> str:
    """The comparison table: one row per cell, in the document's order. fmt: terminal | markdown."""
    if fmt not in FORMATS:
        raise ValueError("format must be one of %s, not %r" % (", ".join(FORMATS), fmt))
    headers, rows = table_rows(doc)
    complete = "" if doc.get("complete", True) else " (incomplete run)"
    if fmt == "terminal":
        # Headers name backends and the counts name statuses: both come from the records too.
        body = tabulate([[term_text(v) for v in row] for row in rows], headers=[term_text(h) for h in headers],
                        tablefmt="simple", disable_numparse=True) if rows else "(no cells)"
        return "%s\n\n%s%s" % (body, term_text(counts_line(doc), 2000), complete)
    # disable_numparse: '3.10' must not become '3.1'.
    rows = [[md_text(v) for v in row] for row in rows]
    for row in rows:
        row[1] = "%s %s" % (STATUS_MARKS.get(row[1].replace("\\_", "_"), "\u274c"), row[1])
    body = tabulate(rows, headers=[md_text(h) for h in headers],
                    tablefmt="github", disable_numparse=True) if rows else "_no cells_"
    return "### keras-matrix run %s%s\n\n%s\n\n%s\n" % (md_text(doc.get("run_id"), 80), complete,
                                                      md_text(counts_line(doc), 400), body)


# ---- Markdown summary (summary.md) ---------------------------------------------------------------------

def findings_markdown(findings: List[Finding]) -> str:
    lines = ["### Findings", ""]
    if not findings:
        lines.append("_no findings: the run has no cells_")
    for finding in findings:
        lines.append("- **%s**" % md_text(finding["title"], 300))
        for item in finding.get("items") or [{"text": finding["text"], "cells": finding["cells"]}]:
            cells = item.get("cells") or []
            cited = ", ".join(md_text(c, 140) for c in cells[:6])
            cited += " and %d more" % (len(cells) - 6) if len(cells) > 6 else ""
            lines.append("  - %s%s" % (md_text(item["text"], 600), " (%s)" % cited if cited else ""))
    return "\n".join(lines) + "\n"


def failures_markdown(doc: Doc) -> str:
    failing = [c for c in doc.get("cells") or [] if c.get("status") not in (Status.OK, Status.SKIPPED)]
    if not failing:
        return ""
    lines = ["### Why cells did not pass", ""]
    for cell in failing:
        lines.append("- %s (%s): %s" % (md_text(cell.get("cell_id"), 140), md_text(cell.get("status"), 40),
                                         md_text(cell.get("reason") or "-", 300)))
    return "\n".join(lines) + "\n"


def summary_markdown(doc: Doc, findings: Optional[List[Finding]] = None) -> str:
    findings = compute_findings(doc) if findings is None else findings
    prov = doc.get("provenance") or {}
    meta = "runner %s (%s), Docker %s, GPU runtime: %s" % (
        md_text(prov.get("runner_version") or "?", 40), md_text(prov.get("git_sha") or "no git sha", 40),
        md_text(prov.get("docker_version") or "?", 40),
        yes_no(prov.get("gpu_runtime")))
    parts = [render_table(doc, "markdown"), meta + "\n", findings_markdown(findings), failures_markdown(doc),
             "<!-- Generated by keras-matrix from results.json; do not edit -->\n"]
    return "\n".join(p for p in parts if p)


