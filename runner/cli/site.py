"""`site`: one landing page over several results documents (index.html: the default backend by Keras release,
does Keras X work with framework Y, how fast the backends of a stack train; details.html: provenance)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from runner.cli.common import AddCommand, options_from
from runner.util.errors import ResultsError, UsageError
from runner.util.text import say


@dataclass(frozen=True)
class SiteOptions:
    results: Sequence[str]
    out: str
    history: Optional[str]


def register(add_command: AddCommand) -> None:
    parser = add_command("site", "one landing page over several results files (matrix, every release, cross "
                                 "products, bisects): index.html and details.html")
    parser.add_argument("results", nargs="*", help="results.json files or run directories (default: the published "
                                                   "reports/ results of this checkout)")
    parser.add_argument("--out", "-o", default="reports/site", help="where to write (default: reports/site)")
    parser.add_argument("--history", metavar="STORE",
                        help="a history store (`history add`): adds history.html and opens the landing page with "
                             "what changed since the last run")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from runner.report.answers import load_sources, published_paths
    from runner.report.site import write_site
    from runner.util.paths import source_checkout

    options = options_from(SiteOptions, args)
    paths = [Path(p) for p in options.results] or published_paths(source_checkout()) or published_paths(None)
    if not paths:
        raise UsageError("no results given and no published reports/results.json here; give results files")
    sources = load_sources(paths)
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise UsageError("--out %s is not a directory" % out)
    runs: List[Dict[str, Any]] = []
    since = None
    if options.history:  # read before anything is written: a bad store leaves the site as it was
        from runner.report.history import since_last_run
        from runner.results.history import load_store

        runs = [run.doc for run in load_store(Path(options.history))]
        since = since_last_run(runs)
    try:
        if not options.history:
            written = write_site(sources, out)
        else:
            from runner.report.history_page import banner, write_history_page

            written = write_site(sources, out, since=banner(since, len(runs)))
            written.append(write_history_page(runs, since, out))
    except OSError as exc:
        raise ResultsError("cannot write the site to %s: %s" % (out, exc.strerror or exc)) from None
    for path in written:
        say("site: %s" % path, sys.stderr)
    return 0
