"""Command line: a thin layer over the pipeline stages. `python -m runner --help`."""

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from runner import __version__
from runner.errors import RunnerError, UsageError

EPILOG = "Exit codes: 0 ok, 1 regression (diff --fail-on-regression) or internal error, 2 bad matrix or usage, " \
         "3 Docker engine problem, 4 data problem, 5 results problem, 130 interrupted."


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("expected a whole number from 1 to 64, got %r" % text)
    return value


def _add_selection(parser):
    group = parser.add_argument_group("selecting cells")
    group.add_argument("--cell", action="append", default=[], metavar="GLOB",
                       help="cell id glob, group name or named cell (repeatable; any matches)")
    group.add_argument("--filter", action="append", default=[], metavar="KEY=GLOB",
                       help="keep cells whose KEY matches GLOB, e.g. device=cpu, keras=2.*, era=py27 (repeatable; all must match)")
    group.add_argument("--profile", metavar="NAME", help="a named selection from the matrix's profiles (e.g. quick)")
    group.add_argument("--shard", metavar="I/N", help="only shard I of N (deterministic, balanced by expected cost; "
                                                      "applied after the other selections)")


def _load(args):
    from runner.matrix import load_matrix, select

    matrix = load_matrix(args.matrix)
    cells = select(matrix, args.cell, args.filter, args.profile)
    if args.shard:
        from runner.shard import select_shard

        cells = select_shard(cells, args.shard)
    if not cells:
        raise UsageError("the selection matches no cell of %s" % args.matrix)
    return matrix, cells


def cmd_plan(args):
    from tabulate import tabulate

    from runner.matrix import BACKEND_AXES, version_slug

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
    print(tabulate(rows, headers=["cell", "group", "keras", "backends", "python", "base", "device"]))
    print("\n%d cells (%d in the matrix); backends: %s" % (len(cells), len(matrix.cells), ", ".join(BACKEND_AXES)))
    return 0


def cmd_render(args):
    from runner.render import render_cell, write_cell

    _, cells = _load(args)
    for cell in cells:
        if args.stdout:
            sys.stdout.write("# ---- %s\n%s" % (cell.id, render_cell(cell)))
        else:
            print(write_cell(cell, args.out))
    return 0


def cmd_run(args):
    from runner.data import prepare_mnist
    from runner.engine import DockerEngine
    from runner.run import RunOptions, run_matrix

    matrix, cells = _load(args)
    engine = DockerEngine()
    paths_given = {"dockerfiles_dir": args.dockerfiles_dir, "cache_dir": args.cache_dir}
    options = RunOptions(results_dir=Path(args.results_dir), run_id=args.run_id, ca_bundle=args.ca_bundle,
                         allow_pull=not args.no_pull, prune=args.prune, progress=args.progress,
                         gpu=False if args.no_gpu else None, resume=args.resume, rerun=args.rerun,
                         jobs=args.jobs, lanes=args.lanes,
                         **{name: Path(value) for name, value in paths_given.items() if value})
    if args.resume and not args.run_id:
        raise UsageError("--resume needs the --run-id of the run to continue (see the directories in %s)"
                         % args.results_dir)
    log = (lambda m: print("data: " + m, file=sys.stderr)) if args.progress == "human" else (lambda m: None)
    data = prepare_mnist(Path(options.cache_dir) / "data", log=log)
    os.chmod(str(data.path), 0o644)  # read by the unprivileged user in training containers
    doc = run_matrix(matrix, cells, engine, data, options)
    run_dir = options.results_dir / doc["run_id"]
    _emit_reports(doc, run_dir / "report", args.progress != "quiet")
    print("results: %s" % (run_dir / "results.json"), file=sys.stderr)
    return 0


def _emit_reports(doc, out_dir, show_table):
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


def cmd_report(args):
    from runner.report import render_table
    from runner.results import load_results

    docs = [load_results(p) for p in args.results]
    if len(docs) > 1:
        from runner.merge import merge_results

        doc = merge_results(docs)
    else:
        doc = docs[0]
    if args.out:
        _emit_reports(doc, Path(args.out), False)
    print(render_table(doc, args.format))
    return 0


def cmd_merge(args):
    from runner.merge import merge_results
    from runner.results import atomic_write_json, load_results

    expected = None
    if args.matrix:
        from runner.matrix import load_matrix

        expected = [c.id for c in load_matrix(args.matrix).cells]
    doc = merge_results([load_results(p) for p in args.results], expected_cells=expected,
                        allow_duplicates=args.allow_duplicates)
    atomic_write_json(args.output, doc)
    print("merged %d cells from %d files into %s" % (len(doc["cells"]), len(args.results), args.output),
          file=sys.stderr)
    return 0


def cmd_diff(args):
    from runner.diff import diff_results, format_diff, has_regressions
    from runner.results import load_results

    diff = diff_results(load_results(args.old), load_results(args.new), slower_threshold=args.threshold)
    print(format_diff(diff, args.format))
    return 1 if args.fail_on_regression and has_regressions(diff) else 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m runner",
        description="Build Keras stacks in real Docker containers, probe the default Keras backend, train a "
                    "reference MNIST model on every backend, and report.",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version="keras-matrix " + __version__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    plan = sub.add_parser("plan", help="list the cells a matrix expands to", epilog=EPILOG)
    plan.add_argument("matrix", help="matrix file (matrix.yaml)")
    plan.add_argument("--format", choices=["table", "json", "ids", "github-matrix"], default="table",
                      help="github-matrix: JSON for a GitHub Actions strategy.matrix (use with fromJSON)")
    plan.add_argument("--shards", type=int, metavar="N", help="with --format github-matrix: one entry per shard")
    _add_selection(plan)
    plan.set_defaults(func=cmd_plan)

    render = sub.add_parser("render", help="write one Dockerfile per cell", epilog=EPILOG)
    render.add_argument("matrix")
    render.add_argument("--out", default="dockerfiles/generated", help="directory (default: dockerfiles/generated)")
    render.add_argument("--stdout", action="store_true", help="print the Dockerfiles instead of writing them")
    _add_selection(render)
    render.set_defaults(func=cmd_render)

    run = sub.add_parser("run", help="build, probe and train every selected cell; write results and reports",
                         epilog=EPILOG)
    run.add_argument("matrix")
    _add_selection(run)
    opts = run.add_argument_group("run options")
    opts.add_argument("--results-dir", default="results", help="where runs go: RESULTS_DIR/RUN_ID/ (default: results)")
    opts.add_argument("--run-id", help="name of this run's directory (default: UTC timestamp)")
    opts.add_argument("--dockerfiles-dir", help="where rendered Dockerfiles go (default: dockerfiles/generated)")
    opts.add_argument("--cache-dir", help="data and results cache (default: .cache)")
    opts.add_argument("--ca-bundle", help="CA bundle mounted into builds as a secret (default: the host's)")
    opts.add_argument("--no-pull", action="store_true", help="never pull base images; use local or bootstrap")
    opts.add_argument("--no-gpu", action="store_true", help="skip GPU cells even when a GPU runtime exists")
    opts.add_argument("--prune", action="store_true", help="remove each cell's image once it is measured")
    opts.add_argument("--rerun", action="store_true",
                      help="measure every cell again, even one whose Dockerfile, base, scripts and data are "
                           "unchanged since its cached result (.cache/results)")
    opts.add_argument("--jobs", "-j", type=_positive_int, metavar="N",
                      help="images built in parallel (default: 2-4 by CPU count); trainings never overlap builds")
    opts.add_argument("--lanes", type=_positive_int, metavar="N",
                      help="cells measured at once, each pinned to cores of its own; never more than the engine's "
                           "CPUs hold at the cells' CPU limits (default: as many as its CPUs and memory hold; "
                           "1 measures one cell at a time)")
    opts.add_argument("--resume", action="store_true",
                      help="continue the run --run-id: keep its finished cells, run the others")
    opts.add_argument("--progress", choices=["human", "quiet", "json"], default="human",
                      help="progress on stderr: human lines, nothing, or JSON lines for CI")
    run.set_defaults(func=cmd_run)

    report = sub.add_parser("report", help="render reports from results files", epilog=EPILOG)
    report.add_argument("results", nargs="+", help="results.json files or run directories")
    report.add_argument("--out", "-o", help="write index.html, summary.md, junit.xml, results.json, findings.json here")
    report.add_argument("--format", choices=["terminal", "markdown"], default="terminal")
    report.set_defaults(func=cmd_report)

    merge = sub.add_parser("merge", help="combine results files (CI shards) into one", epilog=EPILOG)
    merge.add_argument("results", nargs="+", help="results.json files or run directories")
    merge.add_argument("-o", "--output", required=True, help="the merged results file to write")
    merge.add_argument("--matrix", help="check that every cell of this matrix has a result")
    merge.add_argument("--allow-duplicates", action="store_true", help="a cell in several files: the last wins")
    merge.set_defaults(func=cmd_merge)

    diff = sub.add_parser("diff", help="what broke, got fixed, changed default backend or got slower", epilog=EPILOG)
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--threshold", type=float, default=0.25, help="slower when steady epoch time grows by more (0.25 = 25%%)")
    diff.add_argument("--format", choices=["terminal", "markdown"], default="terminal")
    diff.add_argument("--fail-on-regression", action="store_true", help="exit 1 when something broke or slowed down")
    diff.set_defaults(func=cmd_diff)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
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
