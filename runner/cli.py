"""Command line: a thin layer over the pipeline stages. `keras-matrix --help` (or `python -m runner`).

One function per subcommand and the parser; a little over our usual module size because every option
of every subcommand is declared here, in one place, for --help and shell completion."""

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, List, Optional, TextIO, Tuple

import shtab

from runner import __version__
from runner.errors import ResultsError, RunnerError, UsageError
from runner.paths import CACHE_DIR_VARIABLE, default_cache_dir, default_generated_dir
from runner.validate import check_run_dir, existing_file, fraction, run_id, whole_number

EPILOG = "Exit codes: 0 ok (run: every measured cell met its expectation), 1 an unexpected failure or pass (run, " \
         "report --strict), a regression (diff --fail-on-regression) or an internal error, 2 bad matrix or usage, " \
         "3 Docker engine problem, 4 data problem, 5 results problem, 130 interrupted."
DEFAULT_MATRIX = "matrix.yaml"


def _add_matrix(parser: argparse.ArgumentParser) -> None:
    action = parser.add_argument("matrix", nargs="?", help="matrix file (default: ./%s)" % DEFAULT_MATRIX)
    action.complete = shtab.FILE  # type: ignore[attr-defined]  # read by shtab


def _matrix_path(args: argparse.Namespace) -> str:
    if args.matrix is None:
        if not Path(DEFAULT_MATRIX).is_file():
            raise UsageError("no matrix file given and no ./%s here; give its path, e.g. `keras-matrix %s "
                             "path/to/matrix.yaml`" % (DEFAULT_MATRIX, args.command))
        args.matrix = DEFAULT_MATRIX
    return str(args.matrix)


def _add_selection(parser: argparse.ArgumentParser) -> None:
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


def _load(args: argparse.Namespace) -> Tuple[Any, List[Any]]:
    from runner.matrix import load_matrix
    from runner.selection import select

    matrix = load_matrix(_matrix_path(args), offline=args.offline)
    cells = select(matrix, args.cell, args.filter, args.profile)
    if args.shard:
        from runner.shard import select_shard

        cells = select_shard(cells, args.shard)
    if not cells:
        raise UsageError("the selection matches no cell of %s" % args.matrix)
    return matrix, cells


def cmd_plan(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from runner.matrix import BACKEND_AXES, version_slug

    if args.shards is not None and args.format != "github-matrix":
        raise UsageError("--shards splits the github-matrix output; use it with --format github-matrix")
    matrix, cells = _load(args)
    if args.format == "json":
        print(json.dumps([c.to_dict() for c in cells], indent=2, default=str))
        return 0
    if args.format == "github-matrix":
        from runner.shard import github_matrix

        print(json.dumps(github_matrix(cells, args.shards), separators=(",", ":")))
        return 0
    if args.format == "ids":
        print("\n".join(c.id for c in cells))
        return 0
    rows = []
    for cell in cells:
        backends = ", ".join("%s %s" % (axis, version_slug(spec)) for axis, spec in cell.backends) or "-"
        rows.append([cell.id, cell.group, version_slug(cell.keras) if cell.keras else "-", backends,
                     cell.python, cell.base.name, cell.device])
    headers = ["cell", "group", "keras", "backends", "python", "base", "device"]
    counts = "%d cells (%d in the matrix); backends: %s" % (len(cells), len(matrix.cells), ", ".join(BACKEND_AXES))
    if args.format == "markdown":  # a GitHub job summary: a heading, the counts, then a real table
        # disable_numparse: a python of 3.10 stays "3.10" (tabulate would print the number 3.1).
        print("### keras-matrix plan\n\n%s\n\n%s" % (counts, tabulate(rows, headers=headers, tablefmt="github",
                                                                     disable_numparse=True)))
        return 0
    print(tabulate(rows, headers=headers, disable_numparse=True))
    print("\n" + counts)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from runner.render import render_cell, write_cell

    _, cells = _load(args)
    for cell in cells:
        if args.stdout:
            sys.stdout.write("# ---- %s\n%s" % (cell.id, render_cell(cell)))
        else:
            print(write_cell(cell, args.out))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from runner.data import prepare_mnist
    from runner.docker_engine import DockerEngine
    from runner.run import RunOptions, run_matrix

    if args.resume and not args.run_id:
        raise UsageError("--resume needs the --run-id of the run to continue (see the directories in %s)"
                         % args.results_dir)
    if args.run_id is None:  # the default name (a timestamp) may be taken too: two runs in one second
        import time

        args.run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    check_run_dir(Path(args.results_dir), run_id(args.run_id), args.resume)
    if args.ca_bundle is not None:
        existing_file(args.ca_bundle, "--ca-bundle")
    if args.build_cache is not None and os.path.lexists(args.build_cache) and not os.path.isdir(args.build_cache):
        raise UsageError("--build-cache %r is not a directory; give a directory (it is created when missing)"
                         % args.build_cache)
    matrix, cells = _load(args)
    if args.no_scenarios:
        import dataclasses

        cells = [dataclasses.replace(cell, scenarios=False) for cell in cells]
    engine = DockerEngine().connect()  # a missing engine fails here, before any work (exit 3)
    paths_given = {"dockerfiles_dir": args.dockerfiles_dir, "cache_dir": args.cache_dir}
    options = RunOptions(results_dir=Path(args.results_dir), run_id=args.run_id, ca_bundle=args.ca_bundle,
                         allow_pull=not args.no_pull, prune=args.prune, progress=args.progress,
                         gpu=False if args.no_gpu else None, resume=args.resume, rerun=args.rerun,
                         jobs=args.jobs, lanes=args.lanes,
                         build_cache=Path(args.build_cache) if args.build_cache else None,
                         **{name: Path(value) for name, value in paths_given.items() if value})
    log = (lambda m: print("data: " + m, file=sys.stderr)) if args.progress == "human" else (lambda m: None)
    data = prepare_mnist(Path(options.cache_dir) / "data", log=log)
    os.chmod(str(data.path), 0o644)  # read by the unprivileged user in training containers
    doc = run_matrix(matrix, cells, engine, data, options)
    run_dir = options.results_dir / doc["run_id"]
    _emit_reports(doc, run_dir / "report", args.progress != "quiet")
    print("results: %s" % (run_dir / "results.json"), file=sys.stderr)
    return 0 if _print_summary(doc, sys.stdout) else 1


def _print_summary(doc: Any, stream: TextIO) -> bool:
    """pytest's short summary of the expectations; True when every measured cell met its own."""
    from runner.statuses import expectation_summary

    lines, all_met = expectation_summary(doc["cells"])
    print("\n".join(lines), file=stream, flush=True)
    return all_met


def _emit_reports(doc: Any, out_dir: Path, show_table: bool) -> None:
    try:
        from runner.report import render_table, write_reports
    except ImportError:  # pragma: no cover - during development only
        return
    paths = write_reports(doc, Path(out_dir))
    if show_table:
        print(render_table(doc, "terminal"))
        print("report: %s" % paths.get("index.html", out_dir), file=sys.stderr)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as handle:
            handle.write(render_table(doc, "markdown") + "\n")


def cmd_report(args: argparse.Namespace) -> int:
    from runner.report import render_table
    from runner.results import load_results

    docs = [load_results(p) for p in args.results]
    if len(docs) > 1:
        from runner.merge import merge_results

        doc = merge_results(docs)
    else:
        doc = docs[0]
    if args.matrix:  # judged by this matrix's expectations (results made before it declared them)
        from runner.cell_record import apply_expectation
        from runner.matrix import load_matrix

        by_id = {cell.id: cell for cell in load_matrix(args.matrix).cells}
        for record in doc["cells"]:
            if record["cell_id"] in by_id:
                apply_expectation(record, by_id[record["cell_id"]])
    if args.out:
        _emit_reports(doc, Path(args.out), False)
    if args.format == "precedence":
        from runner.report.table import precedence_summary_markdown

        print(precedence_summary_markdown(doc), end="", flush=True)
        return 0
    print(render_table(doc, args.format), flush=True)
    # Markdown on stdout stays one document (a job summary): the verdicts go to stderr there.
    all_met = _print_summary(doc, sys.stdout if args.format == "terminal" else sys.stderr)
    return 1 if args.strict and not all_met else 0


def cmd_completion(args: argparse.Namespace) -> int:
    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from runner.fileio import atomic_write_text
    from runner.merge import merge_results
    from runner.results import load_results

    expected = None
    if args.matrix:  # the cells the run selected (--filter etc.), not every cell of the matrix
        expected = [c.id for c in _load(args)[1]]
    elif args.cell or args.filter or args.profile or args.shard:
        raise UsageError("merge: --cell, --filter, --profile and --shard select cells of --matrix; give --matrix")
    doc = merge_results([load_results(p) for p in args.results], expected_cells=expected,
                        allow_duplicates=args.allow_duplicates, allow_mixed_matrices=args.allow_mixed_matrices)
    # fileio refuses a FIFO, device or directory at the output name instead of replacing it
    atomic_write_text(args.output, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n",
                      error=ResultsError, hint="Give -o a regular file in a writable directory.")
    print("merged %d cells from %d files into %s" % (len(doc["cells"]), len(args.results), args.output),
          file=sys.stderr)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from runner.report import diff_results, format_diff, has_regressions
    from runner.results import load_results

    old, new = load_results(args.old), load_results(args.new)
    diff = diff_results(old, new, slower_threshold=args.threshold)
    print(format_diff(diff, args.format))
    # A cell that vanished from the new run is a regression nobody measured; diff.py only compares pairs.
    new_ids = {cell["cell_id"] for cell in new["cells"]}
    removed = [cell["cell_id"] for cell in old["cells"] if cell["cell_id"] not in new_ids]
    if removed and not args.allow_removed:
        print("%d cells of %s have no result in %s: %s%s (--allow-removed accepts that)" % (
            len(removed), args.old, args.new, ", ".join(removed[:5]), " ..." if len(removed) > 5 else ""),
            file=sys.stderr)
    regressed = has_regressions(diff) or bool(removed and not args.allow_removed)
    return 1 if args.fail_on_regression and regressed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-matrix",
        description="Build Keras stacks in real Docker containers, probe the default Keras backend, train a "
                    "reference MNIST model on every backend, and report.",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version="keras-matrix " + __version__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    # --debug also after the subcommand: SUPPRESS leaves the top-level value alone when it is not repeated.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add_command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, epilog=EPILOG, parents=[common])

    plan = add_command("plan", "list the cells a matrix expands to")
    _add_matrix(plan)
    plan.add_argument("--format", choices=["table", "markdown", "json", "ids", "github-matrix"], default="table",
                      help="markdown: a GitHub-flavoured table (job summaries); "
                           "github-matrix: JSON for a GitHub Actions strategy.matrix (use with fromJSON)")
    plan.add_argument("--shards", type=whole_number(1, 1000), metavar="N",
                      help="with --format github-matrix: one entry per shard")
    _add_selection(plan)
    plan.set_defaults(func=cmd_plan)

    render = add_command("render", "write one Dockerfile per cell")
    _add_matrix(render)
    render.add_argument("--out", default="dockerfiles/generated", help="directory (default: dockerfiles/generated)")
    render.add_argument("--stdout", action="store_true", help="print the Dockerfiles instead of writing them")
    _add_selection(render)
    render.set_defaults(func=cmd_render)

    run = add_command("run", "build, probe and train every selected cell; write results and reports")
    _add_matrix(run)
    _add_selection(run)
    opts = run.add_argument_group("run options")
    opts.add_argument("--results-dir", default="results", help="where runs go: RESULTS_DIR/RUN_ID/ (default: results)")
    opts.add_argument("--run-id", help="name of this run's directory (default: UTC timestamp)")
    opts.add_argument("--dockerfiles-dir", default=str(default_generated_dir()),
                      help="where rendered Dockerfiles go (default: dockerfiles/generated)")
    opts.add_argument("--cache-dir", default=str(default_cache_dir()),
                      help="data and results cache (default: $%s, else .cache)" % CACHE_DIR_VARIABLE)
    opts.add_argument("--ca-bundle", help="CA bundle mounted into builds as a secret (default: the host's)")
    opts.add_argument("--no-pull", action="store_true", help="never pull base images; use local or bootstrap")
    opts.add_argument("--no-gpu", action="store_true", help="skip GPU cells even when a GPU runtime exists")
    opts.add_argument("--prune", action="store_true", help="remove each cell's image once it is measured")
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
    opts.add_argument("--progress", choices=["human", "quiet", "json"], default="human",
                      help="progress on stderr: human lines, nothing, or JSON lines for CI")
    run.set_defaults(func=cmd_run)

    report = add_command("report", "render reports from results files")
    report.add_argument("results", nargs="+", help="results.json files or run directories")
    report.add_argument("--out", "-o", help="write index.html, summary.md, junit.xml, results.json, findings.json here")
    report.add_argument("--format", choices=["terminal", "markdown", "precedence"], default="terminal",
                        help="precedence: only the 'How Keras picks its backend' table, in Markdown, with the "
                        "Keras releases behind each row (for a README)")
    report.add_argument("--strict", action="store_true",
                        help="exit 1 when a cell did not meet its expectation (an unexpected failure or pass)")
    report.add_argument("--matrix", help="judge the cells against this matrix's expectations instead of the ones "
                                         "recorded when they ran")
    report.set_defaults(func=cmd_report)

    merge = add_command("merge", "combine results files (CI shards) into one")
    merge.add_argument("results", nargs="+", help="results.json files or run directories")
    merge.add_argument("-o", "--output", required=True, help="the merged results file to write")
    merge.add_argument("--matrix", help="check that every cell of this matrix (or of the selection) has a result")
    _add_selection(merge)
    merge.add_argument("--allow-duplicates", action="store_true", help="a cell in several files: the last wins")
    merge.add_argument("--allow-mixed-matrices", action="store_true",
                       help="merge results of different matrix files (by default their sha256 must agree)")
    merge.set_defaults(func=cmd_merge)

    diff = add_command("diff", "what broke, got fixed, changed default backend or got slower")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--threshold", type=fraction(0, 1000), default=0.25,
                      help="slower when steady epoch time grows by more (0.25 = 25%%)")
    diff.add_argument("--format", choices=["terminal", "markdown"], default="terminal")
    diff.add_argument("--fail-on-regression", action="store_true", help="exit 1 when something broke or slowed down")
    diff.add_argument("--allow-removed", action="store_true",
                      help="a cell of OLD missing from NEW is not a regression")
    diff.set_defaults(func=cmd_diff)

    completion = add_command("completion", "print a shell completion script: "
                                           "eval \"$(keras-matrix completion bash)\" (or zsh)")
    completion.add_argument("shell", choices=["bash", "zsh"])
    completion.set_defaults(func=cmd_completion)

    from runner import bisect  # its imports of the run machinery are deferred to the command itself
    bisect_parser = add_command("bisect", "find the first release of an axis whose default backend, status or "
                                          "any recorded field differs from the lower bound's")
    _add_matrix(bisect_parser)
    bisect.add_arguments(bisect_parser)
    _add_selection(bisect_parser)
    bisect_parser.set_defaults(func=bisect.command)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status: int = args.func(args)
        return status
    except RunnerError as exc:
        if args.debug:
            traceback.print_exc()
        print("error: %s" % exc, file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line; --debug shows where
        if args.debug:
            traceback.print_exc()
        print("internal error: %s: %s (run with --debug for the traceback, and please report it)"
              % (type(exc).__name__, str(exc)[:300]), file=sys.stderr)
        return 1
