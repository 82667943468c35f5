"""What several commands share: the matrix argument, the selection options, typed options built once from
argparse, and the one run setup (engine, MNIST) used by `run` and `bisect` alike, so the two cannot drift."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, TextIO, Tuple, Type, TypeVar

import shtab

from runner.model.vocabulary import ProgressMode, words
from runner.util.errors import UsageError
from runner.util.text import fit_line, say, terminal_columns

if TYPE_CHECKING:
    from runner.engine.protocol import Engine
    from runner.matrix.cells import Cell, Matrix
    from runner.run.mnist import MnistData

EPILOG = "Exit codes: 0 ok (run: every measured cell met its expectation), 1 an unexpected failure or pass (run, " \
         "report --strict), a regression (diff --fail-on-regression) or an internal error, 2 bad matrix or usage, " \
         "3 Docker engine problem, 4 data problem, 5 results problem, 130 interrupted."
DEFAULT_MATRIX = "matrix.yaml"
PROGRESS_MODES = words(ProgressMode)

AddCommand = Callable[[str, str], argparse.ArgumentParser]
T = TypeVar("T")


def options_from(cls: Type[T], args: argparse.Namespace) -> T:
    """The command's typed options, built once from what argparse parsed (cibuildwheel's
    CommandLineArguments): a dataclass whose field names are the options' dests."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: getattr(args, name) for name in names})


def add_matrix(parser: argparse.ArgumentParser) -> None:
    action = parser.add_argument("matrix", nargs="?", help="matrix file (default: ./%s)" % DEFAULT_MATRIX)
    action.complete = shtab.FILE  # type: ignore[attr-defined]  # read by shtab


def matrix_path(given: Optional[str], command: str) -> str:
    """The matrix file a command reads: the one given, else ./matrix.yaml when there is one."""
    if given is not None:
        return given
    if not Path(DEFAULT_MATRIX).is_file():
        raise UsageError("no matrix file given and no ./%s here; give its path, e.g. `keras-matrix %s "
                         "path/to/matrix.yaml`" % (DEFAULT_MATRIX, command))
    return DEFAULT_MATRIX


@dataclasses.dataclass(frozen=True)
class Selection:
    """The selection options every cell-choosing command takes (add_selection)."""

    matrix: Optional[str]
    cell: Sequence[str]
    filter: Sequence[str]
    profile: Optional[str]
    shard: Optional[str]
    offline: bool

    @property
    def narrows(self) -> bool:
        return bool(self.cell or self.filter or self.profile or self.shard)


def add_selection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("selecting cells")
    group.add_argument("--cell", action="append", default=[], metavar="GLOB",
                       help="cell id glob, group name or named cell (repeatable; any matches)")
    group.add_argument("--filter", action="append", default=[], metavar="KEY=GLOB",
                       help="keep cells whose KEY matches GLOB, e.g. device=cpu, keras=2.*, era=py27 "
                            "(repeatable; all must match)")
    group.add_argument("--profile", metavar="NAME", help="a named selection from the matrix's profiles (e.g. quick)")
    group.add_argument("--shard", metavar="I/N", help="only shard I of N (deterministic, balanced by expected cost; "
                                                      "applied after the other selections)")
    parser.add_argument("--offline", action="store_true", help="expand release ranges ({releases: RANGE}) from "
                        "the versions lists kept in the runner, without asking the package index")


def load_selection(selection: Selection, command: str) -> Tuple[Matrix, List[Cell]]:
    """The matrix and the cells the selection options choose, in matrix order; UsageError when none."""
    from runner.matrix.load import load_matrix
    from runner.matrix.selection import select

    path = matrix_path(selection.matrix, command)
    matrix = load_matrix(path, offline=selection.offline)
    cells = select(matrix, list(selection.cell), list(selection.filter), selection.profile)
    if selection.shard:
        from runner.matrix.shard import select_shard

        cells = select_shard(cells, selection.shard)
    if not cells:
        raise UsageError("the selection matches no cell of %s" % path)
    return matrix, cells


def run_setup(cache_dir: Path, log_data: bool) -> Tuple[Engine, MnistData]:
    """The engine and the MNIST file every measuring command needs, in this order: a missing engine fails
    first (exit 3, before any download), and the data file is made readable by the training containers'
    unprivileged user."""
    from runner.engine.docker import DockerEngine
    from runner.run.mnist import prepare_mnist

    engine = DockerEngine().connect()
    log: Callable[[str], None] = ((lambda m: say("data: " + m, sys.stderr)) if log_data
                                  else (lambda m: None))
    data = prepare_mnist(Path(cache_dir) / "data", log=log)
    os.chmod(str(data.path), 0o644)
    return engine, data


def print_summary(doc: Any, stream: TextIO) -> bool:
    """pytest's short summary of the expectations; True when every measured cell met its own."""
    from runner.model.outcomes import expectation_summary

    lines, all_met = expectation_summary(doc["cells"])
    say("\n".join(fit_summary(lines, terminal_columns())), stream, flush=True)
    return all_met


def fit_summary(lines: List[str], width: Optional[int]) -> List[str]:
    """The summary within `width` columns (None: as it is), as pytest's short summary: the counts wrapped,
    each outcome line clipped with an ellipsis (the run's reports keep the whole reason)."""
    if width is None:
        return lines
    import textwrap

    width = max(40, width)
    return textwrap.wrap(lines[0], width) + [fit_line(line, width) for line in lines[1:]]


def emit_reports(doc: Any, out_dir: Path, show_table: bool, links: Sequence[Tuple[str, Path]] = ()) -> None:
    """Every report format into out_dir (index.html linking `links`: (label, report folder or page)); the table
    on stdout when asked; the Markdown table appended to GitHub's job summary when $GITHUB_STEP_SUMMARY names one."""
    from runner.report import render_table, write_reports

    paths = write_reports(doc, Path(out_dir), links)
    if show_table:
        say(render_table(doc, "terminal"))
        say("report: %s" % paths.get("index.html", out_dir), sys.stderr)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        append_job_summary(summary, render_table(doc, "markdown") + "\n")


def append_job_summary(path: str, text: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY like any output path: a regular file (or a new one in an existing
    directory), else a warning on stderr and no summary. The reports are written already; a job summary
    that cannot be written does not fail them."""
    from runner.util.fileio import FileProblem, append_text
    from runner.util.text import without_controls

    try:
        append_text(path, text, "job summary file")
    except FileProblem as exc:
        print("warning: $GITHUB_STEP_SUMMARY: %s; no job summary written" % without_controls(exc), file=sys.stderr)
    except OSError as exc:
        print("warning: $GITHUB_STEP_SUMMARY %s: %s; no job summary written"
              % (without_controls(path[:200]), exc.strerror or exc), file=sys.stderr)
