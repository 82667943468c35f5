"""Do the tool's timings reproduce, and does it flag a training it could not measure cleanly?

1. Reruns: the profile (default quick) measured RUNS times (default 3) with `--rerun`, one
   `python -m runner run` after another, into a temporary results directory. Per training: the headline
   figure (timing.seconds) of each run, max/min over the runs (target <= 1.05) and the verdicts; per cell
   and pair of backends: the ratio of their steady-epoch medians (interleaved in one container run) in
   each run, its max/min over the runs (target <= 1.05), and the ordering stats.compare claims from the
   samples (faster / slower / same) in each run, and whether it held in all of them (no ordering flips).
2. Contention: one more run while a CPU-bound process per core spins, pinned to the cores the trainings
   use (the cells' cpusets from the reruns, else every core this process may use); the benchmark starts
   and stops it itself. Every training of that run must come out `contended` (or `unstable`), never as a
   plain, slower figure, and must still show its figure (marked, not replaced).

Writes bench/reproducibility.json and prints a table. Needs the Docker engine, the images of the profile
(they are built when missing) and MNIST (--data-dir, default .cache/data). Run it on a quiet machine: the
load average is recorded next to every run.

  python bench/reproducibility.py [--runs 3] [--profile quick] [--cell GLOB ...] [--timing-budget lean]
                                  [--no-contention]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.model import stats  # noqa: E402
from runner.model.records import backend_sort_key  # noqa: E402
from runner.report import timing as report_timing  # noqa: E402

MAX_OVER_MIN_TARGET = 1.05  # the target for a headline figure and for a within-cell ratio
HOG = "while True:\n    pass\n"


def loadavg() -> Optional[List[float]]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def run_profile(args: argparse.Namespace, results_dir: Path, cache_dir: Path, run_id: str) -> Dict[str, Any]:
    """One `runner run --rerun` of the selection. -> its results document (plus the load around it)."""
    argv = [sys.executable, "-m", "runner", "run", args.matrix, "--rerun", "--run-id", run_id,
            "--results-dir", str(results_dir), "--cache-dir", str(cache_dir), "--progress", "quiet"]
    argv += ["--timing-budget", args.timing_budget] if args.timing_budget else []
    argv += ["--profile", args.profile] if not args.cell else []
    for glob in args.cell or []:
        argv += ["--cell", glob]
    before, started = loadavg(), time.time()
    proc = subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True)
    seconds = time.time() - started
    path = results_dir / run_id / "results.json"
    if not path.is_file():
        raise SystemExit("run %s wrote no results (exit %s): %s" % (run_id, proc.returncode, proc.stderr[-2000:]))
    doc: Dict[str, Any] = json.loads(path.read_text())
    doc["_bench"] = {"run_id": run_id, "exit_code": proc.returncode, "seconds": round(seconds, 1),
                     "loadavg_before": before, "loadavg_after": loadavg()}
    return doc


def trainings(doc: Dict[str, Any]) -> Iterator[Tuple[str, str, Dict[str, Any]]]:
    for cell in doc.get("cells") or []:
        for backend, training in sorted((cell.get("trainings") or {}).items(), key=lambda kv: backend_sort_key(kv[0])):
            yield cell["cell_id"], backend, training


def steady_walls(training: Dict[str, Any]) -> List[float]:
    return [s["wall"] for s in training.get("samples") or [] if not s.get("warmup")]


NOT_COMPARED = "not compared"


def orderings(doc: Dict[str, Any]) -> Dict[str, str]:
    """'cell: A vs B' -> faster | slower | same, as stats.compare says from the samples, inside one cell; 'not
    compared' where either training is contended or unstable: the tool's own rule (a report compares no such
    training), so the bench claims no ordering the report would not."""
    out: Dict[str, str] = {}
    by_cell: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for cell_id, backend, training in trainings(doc):
        if training.get("status") == "ok" and steady_walls(training):
            by_cell.setdefault(cell_id, {})[backend] = training
    for cell_id, group in sorted(by_cell.items()):
        for a, b in itertools.combinations(sorted(group, key=backend_sort_key), 2):
            if report_timing.is_shaky(group[a]) or report_timing.is_shaky(group[b]):
                out["%s: %s vs %s" % (cell_id, a, b)] = NOT_COMPARED
                continue
            verdict = stats.compare(steady_walls(group[a]), steady_walls(group[b]))["verdict"]
            out["%s: %s vs %s" % (cell_id, a, b)] = str(verdict)
    return out


def ratios(doc: Dict[str, Any]) -> Dict[str, float]:
    """'cell: A / B' -> median steady epoch of A over B's, inside one cell (the backends ran interleaved in
    one run), whatever their verdicts: the target is about how well the ratio reproduces."""
    by_cell: Dict[str, Dict[str, List[float]]] = {}
    for cell_id, backend, training in trainings(doc):
        walls = steady_walls(training)
        if training.get("status") == "ok" and walls:
            by_cell.setdefault(cell_id, {})[backend] = walls
    out: Dict[str, float] = {}
    for cell_id, group in sorted(by_cell.items()):
        for a, b in itertools.combinations(sorted(group, key=backend_sort_key), 2):
            out["%s: %s / %s" % (cell_id, a, b)] = round(stats.median(group[a]) / stats.median(group[b]), 4)
    return out


def calibrated(training: Dict[str, Any]) -> Optional[float]:
    """The median steady epoch in units of its process's calibration workload (train.py --calibrate): the
    figure read against how fast the machine was at that moment. None where a sample has no calibration."""
    steady = [s for s in training.get("samples") or [] if not s.get("warmup")]
    if not steady or any(not s.get("calibration") for s in steady):
        return None
    return round(stats.median([s["wall"] / s["calibration"] for s in steady]), 4)


def rerun_summary(docs: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    per_training: Dict[str, Dict[str, Any]] = {}
    for doc in docs:
        for cell_id, backend, training in trainings(doc):
            entry = per_training.setdefault("%s %s" % (cell_id, backend), {"seconds": [], "verdicts": [],
                                                                           "intervals": [], "causes": [],
                                                                           "calibrated": []})
            entry["calibrated"].append(calibrated(training))
            timing = training.get("timing") or {}
            entry["seconds"].append(timing.get("seconds"))
            entry["intervals"].append(timing.get("interval"))
            entry["verdicts"].append(timing.get("verdict") or training.get("status"))
            entry["causes"].append(timing.get("causes") or [])  # why a rerun was contended, when it was
    for entry in per_training.values():
        entry["calibrated_max_over_min"] = (stats.max_over_min(entry["calibrated"])
                                            if None not in entry["calibrated"] else None)
        entry["max_over_min"] = stats.max_over_min(entry["seconds"])
        ratio = entry["max_over_min"]
        entry["meets_target"] = None if ratio is None else ratio <= MAX_OVER_MIN_TARGET  # None: one run only
    pair_ratios: Dict[str, Dict[str, Any]] = {}
    for doc in docs:
        for pair, value in ratios(doc).items():
            pair_ratios.setdefault(pair, {"ratios": []})["ratios"].append(value)
    for entry in pair_ratios.values():
        entry["max_over_min"] = stats.max_over_min(entry["ratios"]) if len(entry["ratios"]) == len(docs) else None
        entry["meets_target"] = None if entry["max_over_min"] is None else entry["max_over_min"] <= MAX_OVER_MIN_TARGET
    claims: Dict[str, Dict[str, Any]] = {}
    for doc in docs:
        for pair, verdict in orderings(doc).items():
            claims.setdefault(pair, {"verdicts": []})["verdicts"].append(verdict)
    for claim in claims.values():
        seen = set(claim["verdicts"])
        claim["held"] = len(seen) == 1 and len(claim["verdicts"]) == len(docs) and NOT_COMPARED not in seen
        claim["flipped"] = {"faster", "slower"} <= seen
    return {"trainings": per_training, "orderings": claims, "ratios": pair_ratios,
            "all_ratios_within_target": all(e["meets_target"] is not False for e in pair_ratios.values()),
            "orderings_compared": sum(1 for c in claims.values() if NOT_COMPARED not in c["verdicts"]),
            "all_within_target": all(e["meets_target"] is not False for e in per_training.values()),
            "no_ordering_flipped": not any(c["flipped"] for c in claims.values()),
            "every_ordering_held": all(c["held"] for c in claims.values())}


def cores_of(cpuset: str) -> Set[int]:
    cores: Set[int] = set()
    for part in cpuset.split(","):
        low, _, high = part.partition("-")
        cores.update(range(int(low), int(high or low) + 1))
    return cores


def training_cores(docs: Sequence[Dict[str, Any]]) -> List[int]:
    cores: Set[int] = set()
    for doc in docs:
        for cell in doc.get("cells") or []:
            if cell.get("cpuset"):
                cores |= cores_of(cell["cpuset"])
    return sorted(cores or os.sched_getaffinity(0))


def start_hogs(cores: Sequence[int]) -> List["subprocess.Popen[bytes]"]:
    """One spinning process per core, each pinned to its core: foreign work where the trainings run."""
    hogs = []
    for core in cores:
        hogs.append(subprocess.Popen([sys.executable, "-c", HOG],
                                     preexec_fn=lambda core=core: os.sched_setaffinity(0, {core})))  # type: ignore[misc]
    return hogs


def stop_hogs(hogs: Sequence["subprocess.Popen[bytes]"]) -> None:
    for hog in hogs:
        hog.terminate()
    for hog in hogs:
        try:
            hog.wait(timeout=10)
        except subprocess.TimeoutExpired:
            hog.kill()
            hog.wait()


def contention_summary(doc: Dict[str, Any], cores: Sequence[int]) -> Dict[str, Any]:
    flagged: Dict[str, Any] = {}
    for cell_id, backend, training in trainings(doc):
        timing = training.get("timing") or {}
        flagged["%s %s" % (cell_id, backend)] = {
            "status": training.get("status"), "verdict": timing.get("verdict"), "causes": timing.get("causes"),
            "seconds": timing.get("seconds"), "foreign_share": timing.get("foreign_share"),
            "flagged": timing.get("verdict") in ("contended", "unstable")}
    ok = [v for v in flagged.values() if v["status"] == "ok"]
    return {"cores": list(cores), "trainings": flagged,
            "all_flagged": bool(flagged) and all(v["flagged"] for v in flagged.values()),
            "all_shown": bool(ok) and all(v["seconds"] is not None for v in ok)}


def print_table(summary: Dict[str, Any], contention: Optional[Dict[str, Any]]) -> None:
    rows = [("training", "headline per run (s)", "max/min", "calibrated max/min", "verdicts")]
    for name, entry in sorted(summary["trainings"].items()):
        rows.append((name, ", ".join("-" if s is None else "%.3f" % s for s in entry["seconds"]),
                     "-" if entry["max_over_min"] is None else "%.3f" % entry["max_over_min"],
                     "-" if entry.get("calibrated_max_over_min") is None else "%.3f" % entry["calibrated_max_over_min"],
                     ", ".join(str(v) for v in entry["verdicts"])))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    print()
    for pair, claim in sorted(summary["orderings"].items()):
        print("%-70s %-24s %s" % (pair, ", ".join(claim["verdicts"]),
                                  "FLIPPED" if claim["flipped"] else ("held" if claim["held"] else "changed")))
    print()
    for pair, entry in sorted(summary["ratios"].items()):
        print("%-70s %-26s %s" % (pair, ", ".join("%.3f" % r for r in entry["ratios"]),
                                  "-" if entry["max_over_min"] is None else "%.3f" % entry["max_over_min"]))
    print("\nmax/min <= %.2f for every training: %s; for every within-cell ratio: %s; no ordering flipped: %s"
          % (MAX_OVER_MIN_TARGET, summary["all_within_target"], summary["all_ratios_within_target"],
             summary["no_ordering_flipped"]))
    if contention:
        print("\ncontention on cores %s:" % contention["cores"])
        for name, entry in sorted(contention["trainings"].items()):
            print("  %-60s %-10s %s" % (name, entry["verdict"], "; ".join(entry["causes"] or [])))
        print("every contended training flagged: %s; every one still shows its figure: %s"
              % (contention["all_flagged"], contention["all_shown"]))


def _fmt(value: Optional[float], digits: int = 3) -> str:
    return "-" if value is None else "%.*f" % (digits, value)


def markdown_tables(result: Dict[str, Any]) -> str:
    """The tables docs/timing.md quotes, from a results file (`--table FILE`; a test keeps the page equal)."""
    reruns = result["reruns"]
    lines = ["| training | headline per rerun (s) | max/min | calibrated max/min | verdicts |",
             "| --- | --- | ---: | ---: | --- |"]
    for name, entry in sorted(reruns["trainings"].items()):
        lines.append("| %s | %s | %s | %s | %s |" % (
            name, ", ".join(_fmt(v) for v in entry["seconds"]), _fmt(entry["max_over_min"]),
            _fmt(entry.get("calibrated_max_over_min")), ", ".join(str(v) for v in entry["verdicts"])))
    lines += ["", "| within-cell ratio | per rerun | max/min |", "| --- | --- | ---: |"]
    for pair, entry in sorted((reruns.get("ratios") or {}).items()):
        lines.append("| %s | %s | %s |" % (pair, ", ".join(_fmt(v) for v in entry["ratios"]),
                                          _fmt(entry["max_over_min"])))
    contention = result.get("contention")
    if contention:
        lines += ["", "| under the burner | verdict | figure (s) | causes |", "| --- | --- | ---: | --- |"]
        for name, entry in sorted(contention["trainings"].items()):
            lines.append("| %s | %s | %s | %s |" % (name, entry["verdict"], _fmt(entry["seconds"]),
                                                   "; ".join(entry["causes"] or [])))
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--matrix", default=str(ROOT / "matrix.yaml"))
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--cell", action="append", help="cell glob instead of the profile (repeatable)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timing-budget", choices=("lean", "thorough"), default="lean",
                        help="the runs' timing budget (run --timing-budget)")
    parser.add_argument("--no-contention", action="store_true", help="skip the run under a CPU hog")
    parser.add_argument("--data-dir", default=str(ROOT / ".cache" / "data"), help="where mnist.npz is")
    parser.add_argument("--out", default=str(ROOT / "bench" / "reproducibility.json"))
    parser.add_argument("--keep", action="store_true", help="keep the temporary results directory")
    parser.add_argument("--table", metavar="RESULTS.json", help="print the Markdown tables of a results file; run "
                        "nothing")
    args = parser.parse_args(argv)
    if args.table:
        sys.stdout.write(markdown_tables(json.loads(Path(args.table).read_text())))
        return 0
    work = Path(tempfile.mkdtemp(prefix="keras-matrix-repro-"))
    try:
        cache_dir = work / "cache"
        (cache_dir / "data").mkdir(parents=True)
        shutil.copyfile(Path(args.data_dir) / "mnist.npz", cache_dir / "data" / "mnist.npz")
        results_dir = work / "results"
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        docs = []
        for index in range(args.runs):
            docs.append(run_profile(args, results_dir, cache_dir, "repro-%s-%d" % (stamp, index + 1)))
            print("run %d/%d: %.0f s, load %s" % (index + 1, args.runs, docs[-1]["_bench"]["seconds"],
                                                docs[-1]["_bench"]["loadavg_before"]), file=sys.stderr, flush=True)
        summary = rerun_summary(docs)
        contention = None
        if not args.no_contention:
            cores = training_cores(docs)
            hogs = start_hogs(cores)
            try:
                contended = run_profile(args, results_dir, cache_dir, "repro-%s-contended" % stamp)
            finally:
                stop_hogs(hogs)
            contention = contention_summary(contended, cores)
            contention["run"] = contended["_bench"]
        out = {"kind": "keras-matrix-reproducibility", "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
               "settings": {k: v for k, v in vars(args).items() if k != "keep"},
               "runs": [d["_bench"] for d in docs], "reruns": summary, "contention": contention}
        Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print_table(summary, contention)
        ok = summary["no_ordering_flipped"] and (contention is None or (contention["all_flagged"]
                                                                        and contention["all_shown"]))
        return 0 if ok else 1
    finally:
        if args.keep:
            print("results kept in %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
