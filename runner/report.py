"""Stage: report. Tables (terminal, Markdown), JUnit XML, JSON, and the report directory.

Every report is a pure function of a results document: no clock, no Docker, no network, so a report can
be re-rendered, merged across shards and diffed. Values come from containers and are untrusted: each
output format escapes and clips them its own way (terminal: control characters out; Markdown: table and
HTML syntax escaped; XML: characters XML cannot carry removed).
"""

import html
import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from tabulate import tabulate

from runner.errors import ResultsError
from runner.findings import (backend_sort_key, cell_backends, compute_findings, default_of, error_text, error_type,
                             one_line)
from runner.results import STATUSES

FORMATS = ("terminal", "markdown")
STATUS_MARKS = {"ok": "\u2705", "partial": "\u26a0\ufe0f", "skipped": "\u23ed\ufe0f"}  # Markdown: failures get \u274c
CELL_LIMIT = 80          # characters of one table cell
MD_CELL_LIMIT = 120
JUNIT_TEXT_LIMIT = 20000  # characters of a failure's body (log tails are already bounded at the source)

Doc = Dict[str, Any]
Cell = Dict[str, Any]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#!])")


# ---- escaping ------------------------------------------------------------------------------------------

def clip(text: Optional[str], limit: int) -> str:
    """At most `limit` characters, saying how many were cut."""
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return text
    note = "\u2026 [%d more characters]" % (len(text) - limit)
    return text[:max(0, limit - len(note))] + note


def term_text(value: Any, limit: int = CELL_LIMIT) -> str:
    """One line (line breaks become spaces) with no control characters: container output must not move the
    cursor, recolour a terminal or break a table row."""
    text = re.sub(r"\s+", " ", _CONTROL.sub(" ", "" if value is None else str(value))).strip()
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def md_text(value: Any, limit: int = MD_CELL_LIMIT) -> str:
    """Safe inside a GitHub Markdown table cell or paragraph: one line, clipped, no HTML, no Markdown syntax."""
    text = term_text(value, limit)
    text = html.escape(text, quote=False)       # & < > : no raw HTML reaches the job summary
    return _MD_SPECIAL.sub(r"\\\1", text)       # | ends a cell; ` * _ [ ] ... would format or link


def xml_text(value: Any, limit: int = JUNIT_TEXT_LIMIT) -> str:
    """Text XML 1.0 can carry (ElementTree escapes markup but writes forbidden characters as they are)."""
    return _XML_INVALID.sub("\ufffd", clip(value, limit))


# ---- the comparison table ------------------------------------------------------------------------------

def fmt_seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return "%.2fs" % value if value < 10 else ("%.1fs" % value if value < 100 else "%.0fs" % value)


def fmt_accuracy(value: Optional[float]) -> str:
    return "-" if not isinstance(value, (int, float)) else "%.1f%%" % (100.0 * value)


def training_summary(training: Optional[Dict[str, Any]]) -> str:
    """'2.25s 97.5%' for a finished training; otherwise what happened, e.g. 'failed: ImportError'."""
    if training is None:
        return "-"  # requested, never trained: the cell failed or stopped before
    status = training.get("status")
    if status == "ok":
        return "%s %s" % (fmt_seconds(training.get("steady_epoch_seconds")),
                          fmt_accuracy(training.get("test_accuracy")))
    error = training.get("error") or {}
    kind = str(error.get("type") or training.get("stage") or "").rsplit(".", 1)[-1]
    return "%s: %s" % (status, kind) if kind and kind != status else str(status)


def default_summary(cell: Cell) -> str:
    """The default backend Keras reported, or 'error: <type>' when importing it raised, or '-'."""
    backend, error = default_of(cell)
    if backend is not None:
        return str(backend)
    if error is not None:
        return "error: %s" % error_type(error)
    return "-"


def device_summary(cell: Cell) -> str:
    """Requested device, and the device used when the backends saw another one (a silent fallback)."""
    device, used = cell.get("device") or "-", cell.get("device_used")
    return "%s (used %s)" % (device, used) if used and used != device else str(device)


def yes_no(value: Any) -> str:
    return "yes" if value is True else ("no" if value is False else "unknown")


def python_summary(cell: Cell) -> str:
    probe = cell.get("probe") or {}
    return str(probe.get("python") or cell.get("python") or "-")


def doc_backends(doc: Doc) -> List[str]:
    names = set()
    for cell in doc.get("cells") or []:
        names.update(cell_backends(cell))
    return sorted(names, key=backend_sort_key)


def table_rows(doc: Doc) -> Tuple[List[str], List[List[str]]]:
    """Headers and raw (unescaped) rows in the document's cell order."""
    backends = doc_backends(doc)
    headers = ["cell", "status", "default backend"] + backends + ["python", "device"]
    rows = []
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


def status_counts(doc: Doc) -> List[Tuple[str, int]]:
    counts = Counter(str(c.get("status")) for c in doc.get("cells") or [])
    known = [(s, counts[s]) for s in STATUSES if counts.get(s)]
    return known + sorted((s, n) for s, n in counts.items() if s not in STATUSES)


def counts_line(doc: Doc) -> str:
    cells = doc.get("cells") or []
    parts = ", ".join("%d %s" % (n, s) for s, n in status_counts(doc))
    return "%d cell%s: %s" % (len(cells), "" if len(cells) == 1 else "s", parts or "none")


def render_table(doc: Doc, fmt: str) -> str:
    """The comparison table: one row per cell, in the document's order. fmt: terminal | markdown."""
    if fmt not in FORMATS:
        raise ValueError("format must be one of %s, not %r" % (", ".join(FORMATS), fmt))
    headers, rows = table_rows(doc)
    complete = "" if doc.get("complete", True) else " (incomplete run)"
    if fmt == "terminal":
        body = tabulate([[term_text(v) for v in row] for row in rows], headers=headers, tablefmt="simple",
                        disable_numparse=True) if rows else "(no cells)"
        return "%s\n\n%s%s" % (body, counts_line(doc), complete)
    # disable_numparse: '3.10' must not become '3.1'.
    rows = [[md_text(v) for v in row] for row in rows]
    for row in rows:
        row[1] = "%s %s" % (STATUS_MARKS.get(row[1].replace("\\_", "_"), "\u274c"), row[1])
    body = tabulate(rows, headers=[md_text(h) for h in headers],
                    tablefmt="github", disable_numparse=True) if rows else "_no cells_"
    return "### keras-matrix run %s%s\n\n%s\n\n%s\n" % (md_text(doc.get("run_id"), 80), complete,
                                                      md_text(counts_line(doc), 400), body)


# ---- Markdown summary (summary.md) ---------------------------------------------------------------------

def findings_markdown(findings: List[Dict[str, Any]]) -> str:
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
    failing = [c for c in doc.get("cells") or [] if c.get("status") not in ("ok", "skipped")]
    if not failing:
        return ""
    lines = ["### Why cells did not pass", ""]
    for cell in failing:
        lines.append("- %s (%s): %s" % (md_text(cell.get("cell_id"), 140), md_text(cell.get("status"), 40),
                                         md_text(cell.get("reason") or "-", 300)))
    return "\n".join(lines) + "\n"


def summary_markdown(doc: Doc, findings: Optional[List[Dict[str, Any]]] = None) -> str:
    findings = compute_findings(doc) if findings is None else findings
    prov = doc.get("provenance") or {}
    meta = "runner %s (%s), Docker %s, GPU runtime: %s" % (
        md_text(prov.get("runner_version") or "?", 40), md_text(prov.get("git_sha") or "no git sha", 40),
        md_text(prov.get("docker_version") or "?", 40),
        yes_no(prov.get("gpu_runtime")))
    parts = [render_table(doc, "markdown"), meta + "\n", findings_markdown(findings), failures_markdown(doc),
             "<!-- Generated by keras-matrix from results.json; do not edit -->\n"]
    return "\n".join(p for p in parts if p)


# ---- JUnit XML -----------------------------------------------------------------------------------------

Case = Tuple[str, str, Optional[str], Optional[str], Optional[float], Optional[str]]


def _testcases(cell: Cell) -> List[Case]:
    """(name, outcome pass|failure|skipped, message, body, seconds, output) per backend of the cell."""
    status = cell.get("status")
    trainings = cell.get("trainings") or {}
    reason = cell.get("reason") or status
    names = cell_backends(cell) or ["keras"]
    cases: List[Case] = []
    for name in names:
        training = trainings.get(name)
        if training is not None:
            seconds = training.get("seconds")
            out = "default backend: %s; %s" % (default_summary(cell), training_summary(training))
            if training.get("status") == "ok":
                cases.append((name, "pass", None, None, seconds, out))
            elif training.get("status") == "skipped":
                cases.append((name, "skipped", one_line(reason, 500), None, seconds, None))
            else:
                body = "stage: %s\n%s\n\n%s" % (training.get("stage"), error_text(training.get("error"), 2000),
                                                training.get("log_tail") or "")
                message = "%s: %s" % (training.get("status"),
                                      error_text(training.get("error"), 500) or training.get("stage"))
                cases.append((name, "failure", message, body, seconds, out))
        elif status == "skipped":
            cases.append((name, "skipped", one_line(reason, 500), None, None, None))
        elif status in ("ok", "partial") and name == "keras":
            cases.append((name, "pass", None, None, cell.get("seconds"), "default backend: %s" % default_summary(cell)))
        else:
            # Never trained: the cell failed before (build, install, probe) or ran out of time.
            build = cell.get("build") or {}
            error = error_text((cell.get("default_backend") or {}).get("error"), 2000)
            body = "%s\n\n%s" % (error, build.get("log_tail") or "") if error else (build.get("log_tail") or "")
            cases.append((name, "failure", "%s: %s" % (status, one_line(reason, 500)), body, None, None))
    return cases


def junit_xml(doc: Doc) -> str:
    """JUnit XML: one testsuite per cell, one testcase per backend of the cell (or 'keras' when it has none)."""
    prov = doc.get("provenance") or {}
    root = ET.Element("testsuites", name="keras-matrix %s" % xml_text(doc.get("run_id"), 200))
    totals: Counter = Counter()
    for cell in doc.get("cells") or []:
        cell_id = xml_text(cell.get("cell_id"), 200)
        cases = _testcases(cell)
        counts = Counter(c[1] for c in cases)
        suite = ET.SubElement(root, "testsuite", name=cell_id, tests=str(len(cases)),
                              failures=str(counts["failure"]), errors="0", skipped=str(counts["skipped"]),
                              time="%.3f" % float(cell.get("seconds") or 0))
        if cell.get("started_at"):
            suite.set("timestamp", xml_text(cell["started_at"], 64))
        props = ET.SubElement(suite, "properties")
        for key, value in (("status", cell.get("status")), ("reason", cell.get("reason")),
                           ("default_backend", default_summary(cell)), ("python", python_summary(cell)),
                           ("device", device_summary(cell)), ("runner_version", prov.get("runner_version")),
                           ("git_sha", prov.get("git_sha"))):
            if value is not None:
                ET.SubElement(props, "property", name=key, value=xml_text(one_line(value, 500), 500))
        for name, outcome, message, body, seconds, output in cases:
            case = ET.SubElement(suite, "testcase", classname=cell_id, name=xml_text(name, 100),
                                 time="%.3f" % float(seconds or 0))
            if outcome == "failure":
                failure = ET.SubElement(case, "failure", message=xml_text(message, 1000),
                                        type=xml_text(cell.get("status"), 40))
                failure.text = xml_text(body)
            elif outcome == "skipped":
                ET.SubElement(case, "skipped", message=xml_text(message, 1000))
            if output:
                ET.SubElement(case, "system-out").text = xml_text(output, 2000)
        totals.update(tests=len(cases), failures=counts["failure"], skipped=counts["skipped"])
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(totals["skipped"]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---- JSON ----------------------------------------------------------------------------------------------

def results_json(doc: Doc) -> str:
    """The document as given (key order kept), pretty."""
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


def findings_json(doc: Doc, findings: Optional[List[Dict[str, Any]]] = None) -> str:
    findings = compute_findings(doc) if findings is None else findings
    return json.dumps({"kind": "keras-matrix-findings", "schema_version": 1, "run_id": doc.get("run_id"),
                       "source": "results.json", "findings": findings}, indent=2, ensure_ascii=False) + "\n"


# ---- the report directory ------------------------------------------------------------------------------

def _write_text(path: Path, text: str) -> None:
    """Temp file + rename: a browser or CI step reading the report never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=".%s." % path.name, dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are meant to be read (report server, CI artifacts)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_reports(doc: Doc, out_dir: Path) -> Dict[str, Path]:
    """Write index.html, summary.md, junit.xml, results.json and findings.json into out_dir."""
    from runner.htmlreport import render_html  # Jinja2 is only needed here

    out_dir = Path(out_dir)
    findings = compute_findings(doc)
    outputs = {
        "index.html": render_html(doc, findings),
        "summary.md": summary_markdown(doc, findings),
        "junit.xml": junit_xml(doc),
        "results.json": results_json(doc),
        "findings.json": findings_json(doc, findings),
    }
    paths = {}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in outputs.items():
            paths[name] = out_dir / name
            _write_text(paths[name], text)
    except OSError as exc:
        raise ResultsError("cannot write reports to %s: %s. Try --out with a writable directory."
                           % (out_dir, exc.strerror or exc)) from None
    return paths


__all__ = ["render_table", "write_reports", "junit_xml", "summary_markdown", "findings_json", "results_json",
           "md_text", "term_text", "xml_text", "training_summary", "default_summary"]
