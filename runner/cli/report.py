"""`report`: render reports from one or more results files (several are merged first)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from runner.cli.common import AddCommand, emit_reports, options_from, print_summary
from runner.util.errors import UsageError
from runner.util.text import say

FORMATS = ("terminal", "markdown", "precedence", "defaults", "rules")


@dataclass(frozen=True)
class ReportOptions:
    results: Sequence[str]
    out: Optional[str]
    format: str
    strict: bool
    matrix: Optional[str]
    explain: Optional[str]
    link: Sequence[str]


def register(add_command: AddCommand) -> None:
    parser = add_command("report", "render reports from results files")
    parser.add_argument("results", nargs="+", help="results.json files or run directories")
    parser.add_argument("--out", "-o", help="write index.html, summary.md, junit.xml, results.json, findings.json here")
    parser.add_argument("--format", choices=FORMATS, default="terminal",
                        help="precedence: only the 'How Keras picks its backend' table, in Markdown, with the "
                        "Keras releases behind each row; defaults: the default backend by Keras release, releases "
                        "with the same answer grouped (both for a README); rules: the rules the records support "
                        "('for all measured pairs where P, Q held'), with their cells and counterexamples, in "
                        "Markdown (docs/rules.md)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a cell did not meet its expectation (an unexpected failure or pass)")
    parser.add_argument("--matrix", help="judge the cells against this matrix's expectations instead of the ones "
                                         "recorded when they ran")
    parser.add_argument("--explain", metavar="FINDING_ID",
                        help="print one finding (an id from findings.json: 'backend-accepted-numpy', "
                        "'import-errors'; or 'precedence:<question>' for the precedence table's rows, e.g. "
                        "precedence:KERAS_HOME) with each line's cells and the record fields it read, and exit")
    parser.add_argument("--link", action="append", default=[], metavar="[LABEL=]PATH",
                        help="with --out: index.html links this other report (its folder or page) or the site, "
                        "relative to --out; repeat for each; the label defaults to the folder's name. The published "
                        "reports link each other and reports/site (docs/reports.md)")
    parser.set_defaults(func=command)


def parse_links(values: Sequence[str]) -> List[Tuple[str, Path]]:
    """'every release=reports/every-release' or 'reports/site' -> (label, path); UsageError for an empty part."""
    links = []
    for value in values:
        label, sep, path = value.partition("=")
        if not sep:
            label, path = "", value
        path = path.strip()
        label = label.strip() or Path(path).name or path
        if not path or not label:
            raise UsageError("--link %r: give a report folder or page, optionally LABEL=PATH "
                             "(e.g. --link 'site=reports/site')" % value)
        links.append((label, Path(path)))
    return links


def command(args: argparse.Namespace) -> int:
    from runner.report import render_table
    from runner.results.store import load_results

    options = options_from(ReportOptions, args)
    links = parse_links(options.link)
    if links and not options.out:
        raise UsageError("--link needs --out: the links go into the index.html written there")
    for label, path in links:
        page = path if path.suffix.lower() in (".html", ".htm") else path / "index.html"
        if not page.is_file() and page.resolve() != (Path(options.out or ".") / "index.html").resolve():
            say("warning: --link %s: no %s yet; the link works once it is written" % (label, page), sys.stderr)
    docs = [load_results(p) for p in options.results]
    if options.format == "rules":  # over every record of every file (a cell id twice: the first file's)
        from runner.report.rules import evaluate, render_markdown

        say(render_markdown(evaluate(c for d in docs for c in d["cells"])), end="", flush=True)
        return 0
    if len(docs) > 1:
        from runner.results.merge import merge_results

        doc = merge_results(docs)
    else:
        doc = docs[0]
    if options.matrix:  # judged by this matrix's expectations (results made before it declared them)
        from runner.matrix.load import load_matrix
        from runner.run.cell_record import apply_expectation

        by_id = {cell.id: cell for cell in load_matrix(options.matrix).cells}
        for record in doc["cells"]:
            if record["cell_id"] in by_id:
                apply_expectation(record, by_id[record["cell_id"]])
    if options.explain is not None:
        from runner.report.explain import explain_finding

        text, found = explain_finding(doc, options.explain)
        say(text, sys.stdout if found else sys.stderr, end="", flush=True)
        return 0 if found else 2
    if options.out:
        emit_reports(doc, Path(options.out), False, links)
    if options.format == "precedence":
        from runner.report.table import precedence_summary_markdown

        say(precedence_summary_markdown(doc), end="", flush=True)
        return 0
    if options.format == "defaults":
        from runner.report.defaults import defaults_markdown

        say(defaults_markdown(doc), end="", flush=True)
        return 0
    say(render_table(doc, options.format), flush=True)
    # Markdown on stdout stays one document (a job summary): the verdicts go to stderr there.
    all_met = print_summary(doc, sys.stdout if options.format == "terminal" else sys.stderr)
    return 1 if options.strict and not all_met else 0
