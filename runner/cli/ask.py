"""`ask`: does this stack work? The answer from the published results (or --results FILE...), and with
--measure, for a stack no record answers, one cell built and measured now.

Exit 0 with an answer, whatever it says: "does not work" and "not measured" are answers, not errors.
Exit 2 for a bad pin or option, 5 for an unreadable results file, 3 when --measure finds no engine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence

from packaging.version import Version

from runner.cli.common import PROGRESS_MODES, AddCommand, options_from
from runner.model.vocabulary import MeasureMode, ProgressMode
from runner.util.errors import UsageError
from runner.util.text import say

if TYPE_CHECKING:
    from runner.report.answers import Pin, Source

ERAS = ("py27", "py39", "py311")
DEPTHS = (MeasureMode.PROBE.value, MeasureMode.SMOKE.value, MeasureMode.FULL.value)
DEFAULT_SHOWN = 6  # records printed before '... N more' (--all prints every one)


@dataclass(frozen=True)
class AskOptions:
    pins: Sequence[str]
    results: Sequence[str]
    format: str
    all: bool
    measure: bool
    depth: str
    era: Optional[str]
    results_dir: str
    cache_dir: str
    no_pull: bool
    progress: str


def register(add_command: AddCommand) -> None:
    parser = add_command("ask", "does this stack work? the answer from the published results (e.g. "
                                "`ask keras==2.8 tensorflow==2.10`)")
    parser.add_argument("pins", nargs="*", metavar="PIN",
                        help="library==version for any axis (keras, tensorflow, theano, cntk, jax, torch, numpy, "
                             "openvino); ==2.8 means the 2.8 line, ==2.8.0 that release; ranges too: "
                             "'keras>=2.8,<2.10'")
    parser.add_argument("--results", action="append", default=[], metavar="FILE",
                        help="answer from these results files or run directories (repeatable; default: the "
                             "published reports/ results of this checkout, or of ./reports)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="json: for scripts")
    parser.add_argument("--all", action="store_true", help="print every matching record (default: the first %d)"
                        % DEFAULT_SHOWN)
    group = parser.add_argument_group("measuring a stack no record answers")
    group.add_argument("--measure", action="store_true",
                       help="when no record answers, build the one cell of the pins and measure it now (Docker)")
    group.add_argument("--depth", choices=DEPTHS, default=MeasureMode.SMOKE.value,
                       help="what --measure measures: probe (import, default backend, pip check), smoke (and a few "
                            "training batches per backend; default), full (the MNIST timing protocol)")
    group.add_argument("--era", choices=ERAS,
                       help="the era (Python and install recipe) of the measured cell (default: from the pins: "
                            "TensorFlow 1.x, Theano, CNTK or Keras < 2.4 py27; TensorFlow < 2.12 or Keras < 2.12 "
                            "py39; else py311)")
    group.add_argument("--results-dir", default="results", help="where --measure writes its run (default: results)")
    group.add_argument("--cache-dir", default="", help="data and results cache (default: $KERAS_MATRIX_CACHE_DIR, "
                       "else .cache)")
    group.add_argument("--no-pull", action="store_true", help="never pull base images; use local or bootstrap")
    group.add_argument("--progress", choices=PROGRESS_MODES, default=ProgressMode.HUMAN.value,
                       help="--measure's progress on stderr")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from runner.report.answer_text import render_json, render_text, site_link
    from runner.report.answers import answers, load_sources, parse_pins, published_paths
    from runner.util.paths import source_checkout

    options = options_from(AskOptions, args)
    pins = parse_pins(options.pins)
    if options.measure and not any(p.axis == "keras" for p in pins):
        raise UsageError("--measure builds a Keras stack: pin keras too (e.g. keras==3.15.1)")
    paths = [Path(p) for p in options.results] or published_paths(source_checkout(), release_day=True) or \
        published_paths(None, release_day=True)
    if not paths:
        raise UsageError("no published results here (reports/results.json); give --results FILE")
    sources = load_sources(paths)
    found = answers(sources, pins)
    if not found and options.measure:
        measured = measure(pins, options)
        sources, found = [measured], answers([measured], pins)
    # the landing page beside the published results (keras-matrix site), linked when it is there
    page = Path(paths[0]).parent / "site" / "index.html"
    site = page if not options.results and page.is_file() else None
    if options.format == "json":  # not our vocabulary: an output format
        answer = render_json(pins, found, sources)
        answer["site"] = site_link(site, found[0]) if found else None
        print(json.dumps(answer, indent=2, sort_keys=True))
    else:
        say(render_text(pins, found, sources, None if options.all else DEFAULT_SHOWN, site))
    return 0


def guess_era(pins: Sequence[Pin]) -> str:
    """The era whose install recipe fits the pins (the eras of matrix.yaml and the sweeps follow TensorFlow)."""
    low = {pin.axis: lowest(pin) for pin in pins}
    keras, tf = low.get("keras"), low.get("tensorflow")
    if "theano" in low or "cntk" in low or (tf is not None and tf < Version("2")) or \
            (keras is not None and keras < Version("2.4")):
        return "py27"
    if tf is not None:
        return "py39" if tf < Version("2.12") else "py311"
    return "py39" if keras is not None and keras < Version("2.12") else "py311"


def lowest(pin: Pin) -> Optional[Version]:
    """The lowest version a pin names ('==2.8.*' -> 2.8, '>=2.10,<2.12' -> 2.10), None for '<3'."""
    bounds = [Version(s.version.replace(".*", "")) for s in pin.specifier
              if s.operator in ("==", "===", ">=", ">", "~=")]
    return min(bounds) if bounds else None


def one_cell_matrix(pins: Sequence[Pin], era: str, depth: str) -> str:
    """The matrix of the one cell the pins describe (JSON is YAML; the schema checks it like any matrix)."""
    cell = {"name": "ask", "era": era, "measure": depth, "scenarios": False,
            "description": "measured by `keras-matrix ask`", "keras": None,
            "expect": {"status": "any", "reason": "a question asked: the outcome is the answer"}}
    for pin in pins:
        cell[pin.axis] = str(pin.specifier)
    return "# written by `keras-matrix ask --measure`\n" + json.dumps({"version": 1, "cells": [cell]}, indent=2) + "\n"


def measure(pins: Sequence[Pin], options: AskOptions) -> Source:
    """Build and measure the one cell; its run directory is RESULTS_DIR/ask-TIME/, its matrix beside it."""
    from runner.cli.common import run_setup
    from runner.matrix.load import load_matrix
    from runner.report.answers import load_sources
    from runner.run.context import RunOptions
    from runner.run.loop import run_matrix
    from runner.util.validate import check_run_dir

    results_dir = Path(options.results_dir)
    run_name = "ask-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    check_run_dir(results_dir, run_name, False)
    era = options.era or guess_era(pins)
    matrix_file = results_dir / (run_name + ".matrix.yaml")
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        matrix_file.write_text(one_cell_matrix(pins, era, options.depth))
    except OSError as exc:
        raise UsageError("cannot write %s: %s; give --results-dir a writable directory"
                         % (matrix_file, exc.strerror or exc)) from None
    from runner.util.paths import default_cache_dir

    matrix = load_matrix(matrix_file, offline=True)
    if options.progress == ProgressMode.HUMAN:
        say("measuring %s (%s, %s) into %s" % (matrix.cells[0].id, era, options.depth, results_dir / run_name),
            sys.stderr)
    run_options = RunOptions(results_dir=results_dir, run_id=run_name, allow_pull=not options.no_pull,
                             progress=options.progress, cache_dir=Path(options.cache_dir or default_cache_dir()))
    engine, data = run_setup(run_options.cache_dir, log_data=options.progress == ProgressMode.HUMAN)
    doc = run_matrix(matrix, matrix.cells, engine, data, run_options)
    sources: List[Source] = load_sources([results_dir / doc["run_id"] / "results.json"])
    return sources[0]
