"""`history`: the memory across runs (docs/history.md). `history add RESULTS --store DIR` keeps a run in a
bounded store keyed by date, git revision and machine class; `history show --store DIR` prints what changed
since the last run first (the headline, then why), then each cell over time and the timings per machine class."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from runner.cli.common import AddCommand, options_from
from runner.util.errors import ResultsError, UsageError
from runner.util.text import say
from runner.util.validate import fraction, whole_number


@dataclass(frozen=True)
class AddOptions:
    results: str
    store: str
    keep: int
    weeks: int


@dataclass(frozen=True)
class ShowOptions:
    store: str
    markdown: Optional[str]
    threshold: float
    fail_on_regression: bool
    allow_removed: bool


def register(add_command: AddCommand) -> None:
    parser = add_command("history", "keep runs in a bounded history store and show what changed since the last run")
    sub = parser.add_subparsers(dest="history_command", metavar="ACTION")
    sub.required = True
    add = sub.add_parser("add", help="add a results file to the store (then bound the store)")
    add.add_argument("results", help="results.json (a run's, or a merged one) or a run directory")
    add.add_argument("--store", required=True, help="the history store's folder (created if missing)")
    add.add_argument("--keep", type=whole_number(1, 100000), default=30,
                     help="newest runs kept per machine class (default 30)")
    add.add_argument("--weeks", type=whole_number(0, 100000), default=52,
                     help="beyond those, the newest run of each of this many ISO weeks (default 52)")
    add.set_defaults(func=add_command_run)
    show = sub.add_parser("show", help="since the last run first, then each cell over time and timing trends")
    show.add_argument("--store", required=True, help="the history store's folder")
    show.add_argument("--markdown", metavar="FILE",
                      help="also append the summary as Markdown to FILE (e.g. \"$GITHUB_STEP_SUMMARY\")")
    show.add_argument("--threshold", type=fraction(0, 1000), default=0.25,
                      help="slower when steady epoch time grows by more, and significantly (0.25 = 25%%)")
    show.add_argument("--fail-on-regression", action="store_true",
                      help="exit 1 when something broke, changed its default backend or got slower since the last run")
    show.add_argument("--allow-removed", action="store_true",
                      help="a cell the newest run selected but has no result of is not a regression")
    show.set_defaults(func=show_command)


def add_command_run(args: argparse.Namespace) -> int:
    from runner.results.history import add_run
    from runner.results.store import load_results

    options = options_from(AddOptions, args)
    store = Path(options.store)
    if store.exists() and not store.is_dir():
        raise UsageError("--store %s is not a directory" % store)
    path, removed = add_run(load_results(options.results), store, keep=options.keep, weeks=options.weeks)
    say("history: %s" % path, sys.stderr)
    for old in removed:
        say("history: removed %s (beyond --keep %d and one per week for --weeks %d)" % (old, options.keep,
                                                                                        options.weeks), sys.stderr)
    return 0


def show_command(args: argparse.Namespace) -> int:
    from runner.report.history import format_history, since_last_run
    from runner.results.history import load_store
    from runner.util.fileio import append_text

    options = options_from(ShowOptions, args)
    runs = [run.doc for run in load_store(Path(options.store))]
    since = since_last_run(runs, threshold=options.threshold, allow_removed=options.allow_removed)
    say(format_history(runs, since, "terminal"))
    if options.markdown:
        try:
            append_text(options.markdown, format_history(runs, since, "markdown"), "Markdown summary")
        except OSError as exc:
            raise ResultsError("cannot write --markdown %s: %s" % (options.markdown, exc.strerror or exc)) from None
    regressed = since is not None and since.regressed
    if regressed and options.fail_on_regression:
        say("history: regression since the last run: %s" % "; ".join(since.reasons if since else []), sys.stderr)
        return 1
    return 0
