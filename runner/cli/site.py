"""`site`: one landing page over several results documents (index.html: the default backend by Keras release,
does Keras X work with framework Y, how fast the backends of a stack train; details.html: provenance)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from runner.cli.common import AddCommand, options_from
from runner.util.errors import ResultsError, UsageError
from runner.util.text import say

if TYPE_CHECKING:
    from runner.report.answers import Source


PUBLISHED_HISTORY = "reports/history/store"


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
                             "what changed since the last run (default, with no results given: %s when there is "
                             "one)" % PUBLISHED_HISTORY)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from runner.report.answers import load_sources, published_paths
    from runner.util.paths import source_checkout

    options = options_from(SiteOptions, args)
    paths = [Path(p) for p in options.results] or published_paths(source_checkout()) or published_paths(None)
    if not paths:
        raise UsageError("no results given and no published reports/results.json here; give results files")
    history = options.history
    published = (source_checkout() or Path(".")) / PUBLISHED_HISTORY
    if history is None and not options.results and published.is_dir():
        history = str(published)  # the published reports come with their history
    sources = load_sources(paths)
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise UsageError("--out %s is not a directory" % out)
    also = [] if options.results else published_also(paths)
    written = render_site(sources, out, Path(history) if history else None, also)
    for path in written:
        say("site: %s" % path, sys.stderr)
    return 0


def published_also(paths: Sequence[Path], root: Optional[Path] = None) -> List[Tuple[str, Path]]:
    """The published reports the site links but does not read (PUBLISHED_LINKS without a source among paths),
    under root (default: the checkout, else the working directory)."""
    from runner.report.write import PUBLISHED_LINKS
    from runner.util.paths import source_checkout

    root = (root or source_checkout() or Path(".")).resolve()
    read = {Path(p).resolve().parent for p in paths}
    return [(label, root / folder) for label, folder in PUBLISHED_LINKS
            if folder != "reports/site" and (root / folder / "index.html").exists()
            and (root / folder).resolve() not in read]


def render_site(sources: Sequence["Source"], out: Path, history: Optional[Path] = None,
                also: Sequence[Tuple[str, Path]] = ()) -> List[Path]:
    """The site's pages; with a history store, history.html too and the landing page opening with what
    changed since the last run. The store is read before anything is written: a bad one leaves the site."""
    from runner.report.site import write_site

    runs: List[Dict[str, Any]] = []
    since = None
    if history is not None:
        from runner.report.history import since_last_run
        from runner.results.history import load_store

        runs = [run.doc for run in load_store(history)]
        since = since_last_run(runs)
    try:
        if history is None:
            return write_site(sources, out, also=also)
        from runner.report.history_page import banner, write_history_page

        written = write_site(sources, out, since=banner(since, runs), also=also)
        return written + [write_history_page(runs, since, out)]
    except OSError as exc:
        raise ResultsError("cannot write the site to %s: %s" % (out, exc.strerror or exc)) from None
