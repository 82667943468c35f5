"""Stage: report. Every report is a pure function of a results document: no clock, no Docker, no network,
so a report can be re-rendered, merged across shards and diffed.

Imports run one way, bottom to top, never back (tests/unit/test_report_layers.py holds the order):

    fields (what a record says)
      <- findings
      <- table (terminal, Markdown, summary.md) / junit / chart (matrix, timing chart)
      <- diff (uses table's escaping) / cell_view (one cell in the page)
      <- html (index.html)
      <- write (the report directory)

Status names and meanings, backend order and short names come from runner.model.records; clipping and the
control-character rule from runner.util.text; the one atomic writer from runner.util.fileio.
"""

from __future__ import annotations

from runner.report.diff import diff_results, format_diff, has_regressions
from runner.report.fields import default_summary
from runner.report.findings import cited_cells, compute_findings
from runner.report.html import render_html
from runner.report.junit import junit_xml, xml_text
from runner.report.table import md_text, render_table, summary_markdown, term_text
from runner.report.timing import training_summary
from runner.report.write import REPORT_FILES, findings_json, write_reports

__all__ = ["REPORT_FILES", "cited_cells", "compute_findings", "default_summary", "diff_results", "findings_json",
           "format_diff", "has_regressions", "junit_xml", "md_text", "render_html", "render_table",
           "summary_markdown", "term_text", "training_summary", "write_reports", "xml_text"]
