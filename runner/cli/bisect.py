"""`bisect`: the first release of an axis whose observable differs from the lower bound's (the search itself
is runner/bisect.py). Exit 0 with the first differing release, 1 when no release differed, 2 on a bad request."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from runner.cli.common import (
    PROGRESS_MODES,
    AddCommand,
    Selection,
    add_matrix,
    add_selection,
    load_selection,
    options_from,
    run_setup,
)
from runner.model.vocabulary import ProgressMode
from runner.util.errors import UsageError


@dataclass(frozen=True)
class BisectOptions:
    axis: str
    between: Sequence[str]
    on: str
    measure: Optional[str]
    results_dir: str
    cache_dir: str
    rerun: bool
    no_pull: bool
    progress: str


def register(add_command: AddCommand) -> None:
    from runner.matrix.cells import AXES, MEASURES

    parser = add_command("bisect", "find the first release of an axis whose default backend, status or "
                                   "any recorded field differs from the lower bound's")
    add_matrix(parser)
    parser.add_argument("--axis", required=True, choices=AXES, help="the axis whose releases are searched")
    parser.add_argument("--between", required=True, nargs=2, metavar=("LOW", "HIGH"),
                        help="the releases to search between, both included (both must be releases)")
    parser.add_argument("--on", default="default_backend", metavar="FIELD",
                        help="what to compare: default_backend (the backend, else the error type), or a dotted "
                             "path into the cell record: status, trainings.theano.status ... (default: "
                             "default_backend)")
    parser.add_argument("--measure", choices=MEASURES,
                        help="measure every step this way (probe: no training), whatever the template says")
    parser.add_argument("--results-dir", default="results", help="the bisect goes to RESULTS_DIR/bisect-AXIS-TIME/")
    parser.add_argument("--cache-dir", default="",
                        help="data and results cache (default: $KERAS_MATRIX_CACHE_DIR, else .cache)")
    parser.add_argument("--rerun", action="store_true", help="measure again, even cells with a cached result")
    parser.add_argument("--no-pull", action="store_true", help="never pull base images; use local or bootstrap")
    parser.add_argument("--progress", choices=PROGRESS_MODES, default=ProgressMode.QUIET.value,
                        help="the runs' progress on stderr (default: quiet; the steps are printed anyway)")
    add_selection(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from runner.bisect import OBSERVABLE, run_bisect, template_of
    from runner.matrix.releases import RangeError, Resolver
    from runner.run.context import RunOptions
    from runner.util.paths import default_cache_dir

    options, selection = options_from(BisectOptions, args), options_from(Selection, args)
    if selection.shard:
        raise UsageError("bisect measures one template cell; --shard does not apply (select it with --cell)")
    if not OBSERVABLE.fullmatch(options.on):
        raise UsageError("--on takes default_backend or a dotted path into a cell record (status, "
                         "trainings.theano.status, default_backend.keras_json.backend); got %r" % options.on)
    matrix, cells = load_selection(selection, "bisect")
    template = template_of(cells, options.axis)
    try:
        low, high = options.between
        expansion = Resolver(offline=selection.offline).between(options.axis, low, high, where="bisect")
    except RangeError as exc:
        raise UsageError("--between: %s" % exc) from None
    run_options = RunOptions(results_dir=Path(options.results_dir),
                             cache_dir=Path(options.cache_dir or default_cache_dir()),
                             rerun=options.rerun, allow_pull=not options.no_pull, progress=options.progress)
    engine, data = run_setup(run_options.cache_dir, log_data=True)  # bisect always says where its data came from
    found = run_bisect(matrix, template, options.axis, expansion, options.on, engine, data, run_options,
                       options.measure)
    return 0 if found.first else 1
