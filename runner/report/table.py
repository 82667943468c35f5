"""Stage: report. The comparison table (terminal, Markdown) and the job summary (summary.md).

Values come from containers and are untrusted: the terminal gets one line per value with control and
bidi characters out (runner.util.text's rule); Markdown additionally escapes table and HTML syntax.
"""

from __future__ import annotations

import html
import re
import textwrap
from typing import Any, List, Optional, Sequence, Tuple

from tabulate import tabulate

from runner.model.records import ExpectationVerdict, Status
from runner.report.fields import (
    Cell,
    Doc,
    cell_backends,
    count,
    counts_line,
    default_summary,
    device_summary,
    doc_backends,
    expectation_mark,
    expectation_reason,
    expected_outcome,
    keras_version,
    python_summary,
    version_key,
    yes_no,
)
from runner.report.findings import Finding, compute_findings
from runner.report.precedence import precedence_rows, release_runs
from runner.report.precedence import table_rows as precedence_table
from runner.report.timing import is_smoke, training_summary
from runner.util.text import (
    elide_middle,
    fit_line,
    one_line,
    simple_table,
    table_width,
    terminal_columns,
    without_controls,
)

FORMATS = ("terminal", "markdown")
# Markdown: every other status gets \u274c.
STATUS_MARKS = {Status.OK.value: "\u2705", Status.PARTIAL.value: "\u26a0\ufe0f",
                Status.SKIPPED.value: "\u23ed\ufe0f"}
FAIL_MARK = "\u274c"
XFAIL_MARK = "\u2796"   # an expected failure: neither a pass nor a red cross
MIN_WIDTH = 40          # narrower terminals get a 40-column table and wrap it themselves
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

def status_text(cell: Cell) -> str:
    """'ok', 'ok (cached)', 'import_failed (xfail)', 'ok (XPASS)', 'build_failed (unexpected)'."""
    notes = [n for n in ("cached" if cell.get("cached") else "", expectation_mark(cell)) if n]
    return str(cell.get("status")) + (" (%s)" % ", ".join(notes) if notes else "")


def status_mark(cell: Cell) -> str:
    """The Markdown emoji: an expected failure is not a red cross, an unexpected pass is one."""
    verdict = cell.get("expectation_verdict")
    if verdict == ExpectationVerdict.EXPECTED_FAILURE:
        return XFAIL_MARK
    if verdict == ExpectationVerdict.UNEXPECTED_PASS:
        return FAIL_MARK
    return STATUS_MARKS.get(str(cell.get("status")), FAIL_MARK)


def table_rows(doc: Doc) -> Tuple[List[str], List[List[str]]]:
    """Headers and raw (unescaped) rows in the document's cell order."""
    backends = doc_backends(doc)
    headers = ["cell", "status", "default backend"] + backends + ["python", "device"]
    rows: List[List[str]] = []
    for cell in doc.get("cells") or []:
        trainings = cell.get("trainings") or {}
        requested = set(cell_backends(cell))
        row = [str(cell.get("cell_id")), status_text(cell), default_summary(cell)]
        for name in backends:
            row.append(training_summary(trainings.get(name), is_smoke(cell)) if name in requested else "")
        row += [python_summary(cell), device_summary(cell)]
        rows.append(row)
    return headers, rows


FLAG = re.compile(r" \[[^\]]*\]")  # a training's timing flag, '[contended: host steal 4%]'


def _flags_shortened(rows: List[List[str]], columns: range) -> Tuple[List[List[str]], bool]:
    """'2.73 s ±5% [contended: host steal 4%] 97.2%' -> '2.73 s ±5%* 97.2%' in the backend columns."""
    out = [[FLAG.sub("*", v) if i in columns else v for i, v in enumerate(row)] for row in rows]
    return out, out != rows


def _terminal_body(headers: List[str], rows: List[List[str]], backends: int, width: Optional[int]) -> str:
    """The table within `width` columns (None: as it is), abbreviated step by step as pytest and tox do:
    timing flags become '*', python and device drop (least read), the backends go one row each (cell,
    status and default once, then a row per backend the cell requested); where even that is too wide, one
    block per cell (its id, status and default on a line, then a line per backend, clipped with an ellipsis).
    Notes under the table say what was left out."""
    if width is None or table_width(headers, rows) <= width:
        return simple_table(headers, rows)
    notes = []
    rows, flagged = _flags_shortened(rows, range(3, 3 + backends))
    if flagged:
        notes.append("* a flagged timing (contended or unstable; the HTML report says which)")
    if table_width(headers, rows) > width:
        notes.append("not shown: %s" % ", ".join(headers[-2:]))
        headers, rows = headers[:-2], [r[:-2] for r in rows]
    names = headers[3:3 + backends]
    long_rows: List[List[str]] = []
    for row in rows:
        results = [(name, value) for name, value in zip(names, row[3:3 + backends]) if value]
        long_rows += [(row[:3] if i == 0 else ["", "", ""]) + list(result) for i, result in enumerate(results)]
        long_rows += [row[:3] + ["", ""]] if not results else []
    if table_width(headers, rows) <= width:
        body = simple_table(headers, rows)
    elif table_width(headers[:3] + ["backend", "result"], long_rows) <= width:
        body = simple_table(headers[:3] + ["backend", "result"], long_rows)
    else:
        body = _blocks(headers, rows, backends, width)
    return body + "".join("\n" + fit_line("(%s)" % note, width) for note in notes)


def _blocks(headers: List[str], rows: List[List[str]], backends: int, width: int) -> str:
    """One block per cell, as pytest -v lists tests: 'CELL-ID  STATUS  default: BACKEND', then an indented
    line per backend it trained. A line too long is clipped with an ellipsis; an id too long loses its middle."""
    names = headers[3:3 + backends]
    name_width = max([len(n) for n in names] + [0])
    lines = []
    for row in rows:
        cell_id = elide_middle(row[0], max(MIN_WIDTH // 2, width - 12))
        lines.append(fit_line("%s  %s  %s: %s" % (cell_id, row[1], headers[2], row[2]), width))
        for name, value in zip(names, row[3:3 + backends]):
            if value:
                lines.append(fit_line("    %s  %s" % (name.ljust(name_width), value), width))
    return "\n".join(lines)


def terminal_width() -> Optional[int]:
    """The columns the terminal table fits: runner.util.text.terminal_columns() ($COLUMNS, else a
    terminal's width, else no limit), never under MIN_WIDTH."""
    width = terminal_columns()
    return None if width is None else max(MIN_WIDTH, width)


def render_table(doc: Doc, fmt: str, width: Optional[int] = None) -> str:
    """The comparison table: one row per cell, in the document's order. fmt: terminal | markdown.

    The terminal table fits `width` columns (default: terminal_width(); None there: no limit); the
    Markdown table never wraps (a browser lays it out)."""
    if fmt not in FORMATS:
        raise ValueError("format must be one of %s, not %r" % (", ".join(FORMATS), fmt))
    headers, rows = table_rows(doc)
    complete = "" if doc.get("complete", True) else " (incomplete run)"
    if fmt == "terminal":
        width = terminal_width() if width is None else max(MIN_WIDTH, width)
        # Headers name backends and the counts name statuses: both come from the records too.
        body = _terminal_body([term_text(h) for h in headers], [[term_text(v) for v in row] for row in rows],
                              len(headers) - 5, width) if rows else "(no cells)"
        counts = term_text(counts_line(doc), 2000) + complete
        return "%s\n\n%s" % (body, counts if width is None else textwrap.fill(counts, width))
    # disable_numparse: '3.10' must not become '3.1'.
    marks = [status_mark(cell) for cell in doc.get("cells") or []]
    rows = [[md_text(v) for v in row] for row in rows]
    for row, mark in zip(rows, marks):
        row[1] = "%s %s" % (mark, row[1])
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


def short_summary_markdown(doc: Doc) -> str:
    """pytest's short test summary: expected failures first, the unexpected outcomes last (what CI fails on).
    Empty for a run recorded before expectations existed."""
    cells = [c for c in doc.get("cells") or [] if c.get("expectation_verdict")]
    if not cells:
        return ""
    lines = []
    for verdict, word in ((ExpectationVerdict.EXPECTED_FAILURE, "XFAIL"),
                          (ExpectationVerdict.UNEXPECTED_FAILURE, "FAILED"),
                          (ExpectationVerdict.UNEXPECTED_PASS, "XPASS")):
        for cell in cells:
            if cell.get("expectation_verdict") != verdict:
                continue
            cell_id, status = md_text(cell.get("cell_id"), 140), md_text(cell.get("status"), 40)
            if verdict == ExpectationVerdict.EXPECTED_FAILURE:
                text = "%s (declared: %s)" % (status, md_text(expectation_reason(cell) or "no reason given", 300))
            elif verdict == ExpectationVerdict.UNEXPECTED_FAILURE:
                text = "%s, expected %s: %s" % (status, md_text(expected_outcome(cell), 200),
                                                md_text(cell.get("reason") or "-", 300))
            else:
                text = "declared broken: %s, but it worked (%s)" % (
                    md_text(expectation_reason(cell) or "no reason given", 300), status)
            lines.append("- %s %s - %s" % (word, cell_id, text))
    met = sum(1 for c in cells if c.get("expectation_verdict") == ExpectationVerdict.MET)
    unexpected = sum(1 for c in cells if c.get("expectation_verdict") in (ExpectationVerdict.UNEXPECTED_FAILURE,
                                                                         ExpectationVerdict.UNEXPECTED_PASS))
    xfail = sum(1 for c in cells if c.get("expectation_verdict") == ExpectationVerdict.EXPECTED_FAILURE)
    tally = "%d as expected, %d expected failures, %d unexpected" % (met, xfail, unexpected)
    observed = sum(1 for c in cells if c.get("expectation_verdict") == ExpectationVerdict.OBSERVED)
    if observed:
        tally += ", %d observed (no outcome declared)" % observed
    return "\n".join(["### Short summary", ""] + lines + ["", "_%s_" % tally]) + "\n"


def precedence_markdown(doc: Doc) -> str:
    """"How Keras picks its backend" from the scenario probes, each row citing its cells ("" without any)."""
    headers, rows = precedence_table(precedence_rows(doc))
    if not rows:
        return ""
    return "### How Keras picks its backend\n\n%s\n" % tabulate(
        [[md_text(v, 400) for v in row] for row in rows], headers=list(headers), tablefmt="github",
        disable_numparse=True)


def _releases_text(versions: List[str], cells: int, measured: Sequence[str]) -> str:
    """'Keras 1.0.8 (1 cell)', 'Keras 2.0.9, 2.1.6 (2 cells)', '12 releases: Keras 1.0.0-1.2.2 (12 cells)': runs of
    consecutive measured releases, so a gap between them shows."""
    if len(versions) <= 3:
        return "Keras %s (%s)" % (", ".join(versions), count(cells, "cell"))
    return "%d releases: Keras %s (%s)" % (len(versions), release_runs(versions, measured), count(cells, "cell"))


def precedence_summary_markdown(doc: Doc) -> str:
    """The "How Keras picks its backend" table for a README (`report --format precedence`): each row's
    cells given as the Keras releases behind it, so a sweep over every release stays readable. tf.keras
    differs with every TensorFlow release (one row each): summary.md keeps those rows."""
    versions = {c.get("cell_id"): keras_version(c) or "unknown" for c in doc.get("cells") or []}
    rows = []
    precedence = precedence_rows(doc)
    measured = sorted({versions[c] for row in precedence for c in row["cells"]}, key=version_key)
    for row in precedence:
        if row["aspect"] == "tf.keras":
            continue
        found = sorted({versions[c] for c in row["cells"]}, key=version_key)
        rows.append([md_text(row["line"]), md_text(row["aspect"]), md_text(row["observed"], 400),
                     md_text(_releases_text(found, len(row["cells"]), measured), 200)])
    if not rows:
        return "No cell of these results has scenario records.\n"
    return tabulate(rows, headers=["Keras line", "Question", "Observed", "Releases measured"], tablefmt="github",
                    disable_numparse=True) + "\n"


def summary_markdown(doc: Doc, findings: Optional[List[Finding]] = None) -> str:
    findings = compute_findings(doc) if findings is None else findings
    prov = doc.get("provenance") or {}
    meta = "runner %s (%s), Docker %s, GPU runtime: %s" % (
        md_text(prov.get("runner_version") or "?", 40), md_text(prov.get("git_sha") or "no git sha", 40),
        md_text(prov.get("docker_version") or "?", 40),
        yes_no(prov.get("gpu_runtime")))
    parts = [render_table(doc, "markdown"), meta + "\n", findings_markdown(findings), precedence_markdown(doc),
             failures_markdown(doc),
             short_summary_markdown(doc), "<!-- Generated by keras-matrix from results.json; do not edit -->\n"]
    return "\n".join(p for p in parts if p)


