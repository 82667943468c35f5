"""`diff`: what broke, got fixed, changed its default backend or got slower between two runs."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from runner.cli.common import AddCommand, options_from
from runner.util.text import say
from runner.util.validate import fraction


@dataclass(frozen=True)
class DiffOptions:
    old: str
    new: str
    threshold: float
    format: str
    fail_on_regression: bool
    allow_removed: bool


def register(add_command: AddCommand) -> None:
    parser = add_command("diff", "what broke, got fixed, changed default backend or got slower")
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--threshold", type=fraction(0, 1000), default=0.25,
                        help="slower when steady epoch time grows by more (0.25 = 25%%)")
    parser.add_argument("--format", choices=["terminal", "markdown"], default="terminal")
    parser.add_argument("--fail-on-regression", action="store_true", help="exit 1 when something broke or slowed down")
    parser.add_argument("--allow-removed", action="store_true",
                        help="a cell of OLD missing from NEW is not a regression")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from runner.report import diff_results, format_diff, has_regressions
    from runner.results.store import load_results

    options = options_from(DiffOptions, args)
    old, new = load_results(options.old), load_results(options.new)
    diff = diff_results(old, new, slower_threshold=options.threshold)
    say(format_diff(diff, options.format, allow_removed=options.allow_removed))
    removed = [entry["cell_id"] for entry in diff["removed"]]
    if removed and not options.allow_removed:  # also on stderr: a CI log shows it beside the exit status
        say("%d cells of %s have no result in %s although it selected them: %s%s (--allow-removed accepts that)"
            % (len(removed), options.old, options.new, ", ".join(removed[:5]), " ..." if len(removed) > 5 else ""),
            sys.stderr)
    return 1 if options.fail_on_regression and has_regressions(diff, options.allow_removed) else 0
