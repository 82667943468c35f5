"""Stage: report. The report directory: index.html, summary.md, junit.xml, results.json, findings.json.

The top of the report package: it asks every format for its text and writes each file atomically
(runner.util.fileio), so a browser or CI step reading the report never sees half a file. The page links other
reports and the site only where it is told to (`report --link`): a report written anywhere else has no link
that could break.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from runner.report.fields import Doc
from runner.report.findings import Finding, compute_findings
from runner.report.html import render_html
from runner.report.junit import junit_xml
from runner.report.table import summary_markdown
from runner.results.store import results_json
from runner.util.errors import ResultsError
from runner.util.fileio import atomic_write_text

REPORT_FILES = ("index.html", "summary.md", "junit.xml", "results.json", "findings.json")
# The published reports and the site, each page linking the others: (label, folder under the checkout).
# Re-rendering a published report passes these as --link (docs/reports.md); the test of the published
# reports renders them with the same links.
PUBLISHED_LINKS: Tuple[Tuple[str, str], ...] = (
    ("matrix", "reports"), ("every release", "reports/every-release"), ("as released", "reports/as-released"),
    ("cross products", "reports/cross-products"), ("site", "reports/site"))
ReportLink = Tuple[str, Path]  # (label, the folder of the page, or the page itself)


def published_links(root: Path) -> List[ReportLink]:
    return [(label, root / folder) for label, folder in PUBLISHED_LINKS]


def link_hrefs(links: Sequence[ReportLink], out_dir: Path) -> List[Tuple[str, str]]:
    """(label, href relative to out_dir) for each link; '' for the page being written (shown, not linked)."""
    here = Path(os.path.abspath(out_dir))
    hrefs = []
    for label, target in links:
        page = Path(os.path.abspath(target))
        if page.suffix.lower() not in (".html", ".htm"):
            page = page / "index.html"
        href = "" if page == here / "index.html" else os.path.relpath(page, here).replace(os.sep, "/")
        hrefs.append((label, href))
    return hrefs


def findings_json(doc: Doc, findings: Optional[List[Finding]] = None) -> str:
    findings = compute_findings(doc) if findings is None else findings
    return json.dumps({"kind": "keras-matrix-findings", "schema_version": 1, "run_id": doc.get("run_id"),
                       "source": "results.json", "findings": findings}, indent=2, ensure_ascii=False) + "\n"


def write_reports(doc: Doc, out_dir: Union[str, Path], links: Sequence[ReportLink] = ()) -> Dict[str, Path]:
    """Write index.html, summary.md, junit.xml, results.json and findings.json into out_dir; index.html links
    the other reports and the site in `links` (relative to out_dir, so they open from file:// too)."""
    out_dir = Path(out_dir)
    findings = compute_findings(doc)
    outputs = {
        "index.html": render_html(doc, findings, link_hrefs(links, out_dir)),
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
