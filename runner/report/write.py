"""Stage: report. The report directory: index.html, summary.md, junit.xml, results.json, findings.json.

The top of the report package: it asks every format for its text and writes each file atomically
(runner.util.fileio), so a browser or CI step reading the report never sees half a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Union

from runner.report.fields import Doc
from runner.report.findings import Finding, compute_findings
from runner.report.html import render_html
from runner.report.junit import junit_xml
from runner.report.table import summary_markdown
from runner.results.store import results_json
from runner.util.errors import ResultsError
from runner.util.fileio import atomic_write_text

REPORT_FILES = ("index.html", "summary.md", "junit.xml", "results.json", "findings.json")


def findings_json(doc: Doc, findings: Optional[List[Finding]] = None) -> str:
    findings = compute_findings(doc) if findings is None else findings
    return json.dumps({"kind": "keras-matrix-findings", "schema_version": 1, "run_id": doc.get("run_id"),
                       "source": "results.json", "findings": findings}, indent=2, ensure_ascii=False) + "\n"


def write_reports(doc: Doc, out_dir: Union[str, Path]) -> Dict[str, Path]:
    """Write index.html, summary.md, junit.xml, results.json and findings.json into out_dir."""
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
        for name, text in outputs.items():
            paths[name] = atomic_write_text(out_dir / name, text)
    except OSError as exc:  # includes fileio's refusal of a FIFO or directory where a report goes
        raise ResultsError("cannot write reports to %s: %s. Try --out with a writable directory."
                           % (out_dir, exc.strerror or exc)) from exc
    return paths
