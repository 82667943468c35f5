"""`run`: build, probe and train every selected cell; write results as each cell ends, then the reports."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from runner.cli.common import (
    PROGRESS_MODES,
    AddCommand,
    Selection,
    add_matrix,
    add_selection,
    emit_reports,
    load_selection,
    options_from,
    print_summary,
    run_setup,
)
from runner.model.vocabulary import ProgressMode, TimingBudget, words
from runner.run.timing import DEFAULT_BUDGET
from runner.util.errors import UsageError
from runner.util.paths import CACHE_DIR_VARIABLE, default_cache_dir, default_generated_dir
from runner.util.text import say
from runner.util.validate import check_run_dir, existing_file, run_id, whole_number


@dataclass(frozen=True)
class RunArguments:
    results_dir: str
    run_id: Optional[str]
    dockerfiles_dir: str
    cache_dir: str
    ca_bundle: Optional[str]
    no_pull: bool
    no_gpu: bool
    prune: bool
    rerun: bool
    no_scenarios: bool
    jobs: Optional[int]
    lanes: Optional[int]
    build_cache: Optional[str]
    resume: bool
    progress: str
    timing_budget: str


def register(add_command: AddCommand) -> None:
    parser = add_command("run", "build, probe and train every selected cell; write results and reports")
    add_matrix(parser)
    add_selection(parser)
    opts = parser.add_argument_group("run options")
    opts.add_argument("--results-dir", default="results", help="where runs go: RESULTS_DIR/RUN_ID/ (default: results)")
    opts.add_argument("--run-id", help="name of this run's directory (default: UTC timestamp)")
    opts.add_argument("--dockerfiles-dir", default=str(default_generated_dir()),
                      help="where rendered Dockerfiles go (default: dockerfiles/generated)")
    opts.add_argument("--cache-dir", default="",
                      help="data and results cache (default: $%s, else .cache)" % CACHE_DIR_VARIABLE)
    opts.add_argument("--ca-bundle", help="CA bundle mounted into builds as a secret (default: the host's)")
    opts.add_argument("--no-pull", action="store_true", help="never pull base images; use local or bootstrap")
    opts.add_argument("--no-gpu", action="store_true", help="skip GPU cells even when a GPU runtime exists")
    opts.add_argument("--prune", action="store_true",
                      help="remove each cell's image once it is measured, and trim the engine's build cache to "
                           "its 8 GiB most recently used (the era layers later cells reuse)")
    opts.add_argument("--rerun", action="store_true",
                      help="measure every cell again, even one whose Dockerfile, base, scripts and data are "
                           "unchanged since its cached result (.cache/results)")
    opts.add_argument("--no-scenarios", action="store_true",
                      help="leave out the scenario probes (KERAS_BACKEND, keras.json, KERAS_HOME, ...) in every cell, "
                           "as the matrix key `scenarios: false` does: the quick sweep (import, default backend, "
                           "keras.json, pip check)")
    opts.add_argument("--jobs", "-j", type=whole_number(1, 64), metavar="N",
                      help="images built in parallel (default: 2-4 by CPU count); trainings never overlap builds")
    opts.add_argument("--lanes", type=whole_number(1, 64), metavar="N",
                      help="cells measured at once, each pinned to cores of its own; never more than the engine's "
                           "CPUs hold at the cells' CPU limits (default: as many as its CPUs and memory hold; "
                           "1 measures one cell at a time)")
    opts.add_argument("--build-cache", metavar="DIR",
                      help="keep BuildKit's layer cache in DIR across runs (one subdirectory per cell; needs a "
                           "buildx builder that can export a local cache, as in CI)")
    opts.add_argument("--resume", action="store_true",
                      help="continue the run --run-id: keep its finished cells, run the others")
    opts.add_argument("--timing-budget", choices=words(TimingBudget), default=DEFAULT_BUDGET,
                      help="processes per full training: lean (one of 6 epochs; a second, interleaved, only while "
                           "the 95%% interval is wider than +-3%%; default) or thorough (2-4 processes of 4 epochs, "
                           "the protocol of the runs published before it); docs/timing.md, 'The budget'")
    opts.add_argument("--progress", choices=PROGRESS_MODES, default=ProgressMode.HUMAN.value,
                      help="progress on stderr: human lines, nothing, or JSON lines for CI")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from runner.run.context import RunOptions
    from runner.run.loop import run_matrix

    given = options_from(RunArguments, args)
    if given.resume and not given.run_id:
        raise UsageError("--resume needs the --run-id of the run to continue (see the directories in %s)"
                         % given.results_dir)
    # A given name is checked now (a clear refusal before any work) and claimed exclusively by the run; the
    # default name (a timestamp) is only claimed: when another run has it, this one takes NAME-2, NAME-3 ...
    run_name = run_id(given.run_id) if given.run_id is not None else time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if given.run_id is not None:
        check_run_dir(Path(given.results_dir), run_name, given.resume)
    if given.ca_bundle is not None:
        existing_file(given.ca_bundle, "--ca-bundle")
    if given.build_cache is not None and os.path.lexists(given.build_cache) and not os.path.isdir(given.build_cache):
        raise UsageError("--build-cache %r is not a directory; give a directory (it is created when missing)"
                         % given.build_cache)
    matrix, cells = load_selection(options_from(Selection, args), "run")
    if given.no_scenarios:
        cells = [dataclasses.replace(cell, scenarios=False) for cell in cells]
    options = RunOptions(results_dir=Path(given.results_dir), run_id=run_name, unique_run_id=given.run_id is None,
                         ca_bundle=given.ca_bundle,
                         allow_pull=not given.no_pull, prune=given.prune, progress=given.progress,
                         gpu=False if given.no_gpu else None, resume=given.resume, rerun=given.rerun,
                         jobs=given.jobs, lanes=given.lanes, timing_budget=given.timing_budget,
                         build_cache=Path(given.build_cache) if given.build_cache else None,
                         # an empty --dockerfiles-dir or --cache-dir means the default
                         dockerfiles_dir=Path(given.dockerfiles_dir or default_generated_dir()),
                         cache_dir=Path(given.cache_dir or default_cache_dir()))
    engine, data = run_setup(options.cache_dir, log_data=given.progress == ProgressMode.HUMAN)
    doc = run_matrix(matrix, cells, engine, data, options)
    run_dir = options.results_dir / doc["run_id"]
    emit_reports(doc, run_dir / "report", given.progress != ProgressMode.QUIET)
    say("results: %s" % (run_dir / "results.json"), sys.stderr)
    return 0 if print_summary(doc, sys.stdout) else 1
