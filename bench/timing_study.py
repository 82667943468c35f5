"""Where does timing variance come from on this machine? The evidence behind the measurement protocol.

Runs the reference training (runner/probe/train.py, the script every cell runs) in containers of
already-built cell images, many epochs per process and several processes per backend, backends
interleaved (A B C A B C ...), under two CPU settings: pinned cores with a CFS quota (what the runner
did until this study) and pinned cores without a quota. Every epoch records wall time, the process's
and the container's CPU time, CFS throttling and host steal time. The summary answers:

- per-epoch spread inside one process (after warm-up), and how many warm-up epochs are needed;
- per-process spread (the same training in a new process) and drift over minutes;
- how much of the spread goes with steal, throttling, or CPU time below the cores given;
- which estimator (median, minimum, 20% trimmed mean) of a process's epochs reproduces best;
- the estimator study (`estimator_study` in the output): the whole interleaved schedule is repeated
  `--reruns` times; in each rerun every candidate figure of runner/model/estimators.py (epoch median, batch
  10th/20th percentile, batch mode, batch median, CPU median) is computed from that rerun's processes, at
  each batch grain of `--grains` (train.py times every batch, --batch-group 1; coarser grains sum them);
  then, per figure, its max/min over the reruns, and the max/min over the reruns of the within-cell ratio
  of every pair of backends of one image.

- arms (`--arms`): each backend can be trained several ways in every round, one process each, back to back
  (their order alternates from round to round, so drift does not favour one): `callback` (train.py
  --batch-group as given), `plain` (--batch-group 0: plain fit, no batch times) and `slices` (--slices K:
  fit calls of K batches timed from outside). A training's label carries its arm when it is not the
  callback (`... tensorflow+slices quota=False`); ratios are taken between two backends of one arm, or
  between two arms of one backend (the A/B: `tensorflow+slices/tensorflow+plain`), never across both;
  `summary.arms` gives each A/B pair's ratio of steady-epoch medians and train.py's per-call overhead of
  fit (`fit_call_us`, slices only).

Usage: python bench/timing_study.py --image IMAGE:backend,backend ... [--epochs 12] [--rounds 3]
       [--reruns 3] [--grains 1,4,16] [--arms callback] [--slices 16] [--cpus 2] [--out bench/timing-study.json]
       python bench/timing_study.py --ab-slices ...   (the slices A/B: --arms plain,slices --grains 16)
       python bench/timing_study.py --arms-table STUDY.json   (the A/B's table)
       python bench/timing_study.py --summarize bench/timing-study.json  (recompute the summaries of a study)
It needs the images (run the quick profile first) and .cache/data/mnist.npz.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.model import estimators as candidates  # noqa: E402
from runner.model.records import Sample  # noqa: E402
from runner.model.stats import max_over_min  # noqa: E402
from runner.probe import MARKER  # noqa: E402
from runner.run.timing import tag_samples  # noqa: E402

DOCKER = os.environ.get("KERAS_MATRIX_DOCKER_CLI") or "/usr/bin/docker"


ARMS = ("callback", "plain", "slices")  # how a process is trained (the module docstring); callback: as before


def arm_arguments(arm: str, batch_group: int, slices: int) -> List[str]:
    """train.py's options for one arm."""
    if arm == "slices":
        return ["--slices", str(slices)]
    return ["--batch-group", str(0 if arm == "plain" else batch_group)]


def train_once(image: str, backend: str, epochs: int, cpus: int, quota: bool, data_dir: Path,
               batch_group: int = 1, arm: str = "callback", slices: int = 16) -> Dict[str, Any]:
    """One training process in a locked-down container, as the runner starts it."""
    cpuset = "0-%d" % (cpus - 1) if cpus > 1 else "0"
    argv = [DOCKER, "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp:rw,exec,nosuid,size=4g",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "65534:65534",
            "--workdir", "/tmp", "--memory", "6g", "--memory-swap", "6g", "--cpuset-cpus", cpuset,
            "-v", "%s:/opt/keras-matrix:ro" % (ROOT / "runner" / "probe"), "-v", "%s:/data:ro" % data_dir]
    if quota:
        argv += ["--cpus", str(cpus)]
    threads = str(cpus)
    for key, value in {"HOME": "/tmp/home", "TMPDIR": "/tmp", "PYTHONHASHSEED": "0", "KERAS_BACKEND": backend,
                       "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
                       "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
                       "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}.items():
        argv += ["-e", "%s=%s" % (key, value)]
    argv += [image, "matrix-python", "/opt/keras-matrix/train.py", "/data/mnist.npz", str(epochs)]
    argv += arm_arguments(arm, batch_group, slices)
    load_before = _loadavg()
    started = time.time()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    result: Dict[str, Any] = {}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            result = json.loads(line[len(MARKER):])
            break
    return {"image": image, "backend": backend, "quota": quota, "started": started, "seconds": time.time() - started,
            "status": result.get("status"), "error": result.get("error"), "samples": result.get("samples") or [],
            "loadavg_before": load_before, "loadavg_after": _loadavg(), "arm": arm,
            "fit_call_us": result.get("fit_call_us")}


def _loadavg() -> Optional[List[float]]:
    """The host's 1/5/15-minute load: how busy the machine was around a process (the study's context)."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def _foreign(sample: Dict[str, Any]) -> Optional[float]:
    """CPU seconds other processes took on our cores during the sample (busy time of the cores minus ours)."""
    busy, ours = sample.get("cores_busy"), sample.get("container_cpu")
    return None if busy is None or ours is None else max(0.0, busy - ours)


def trimmed_mean(values: List[float], cut: float = 0.2) -> float:
    values = sorted(values)
    k = int(len(values) * cut)
    kept = values[k:len(values) - k] or values
    return sum(kept) / len(kept)


Estimator = Callable[[List[float]], float]
ESTIMATORS: Dict[str, Estimator] = {"median": statistics.median, "min": min, "trimmed_mean": trimmed_mean}


def arms_summary(runs: Sequence[Dict[str, Any]], warmup: int) -> Dict[str, Any]:
    """The A/B of arms: per image and backend, each arm's steady-epoch median per process (in schedule order),
    each pair's ratio to the first arm's process of the same rerun and round, and fit's per-call overhead."""
    out: Dict[str, Any] = {}
    by_key: Dict[str, Dict[str, Dict[Tuple[int, int], float]]] = {}
    overhead: Dict[str, List[int]] = {}
    for run in runs:
        steady = [s["wall"] for s in run.get("samples") or []][warmup:]
        if run.get("status") != "ok" or not steady:
            continue
        key = "%s %s" % (run["image"].split(":")[-1], run["backend"])
        arm = run.get("arm") or "callback"
        by_key.setdefault(key, {}).setdefault(arm, {})[(run.get("rerun") or 0, run.get("round") or 0)] = \
            statistics.median(steady)
        if isinstance(run.get("fit_call_us"), int):
            overhead.setdefault(key, []).append(run["fit_call_us"])
    for key, arms in sorted(by_key.items()):
        names = [a for a in ARMS if a in arms]
        entry: Dict[str, Any] = {"steady_median_per_process": {a: [round(v, 4) for _, v in sorted(arms[a].items())]
                                                              for a in names}}
        if len(names) >= 2:
            base = names[0]
            for other in names[1:]:
                pairs = sorted(set(arms[base]) & set(arms[other]))
                entry["%s/%s" % (other, base)] = [round(arms[other][p] / arms[base][p], 4) for p in pairs]
        if key in overhead:
            entry["fit_call_us"] = overhead[key]
        out[key] = entry
    return out


def summarize(runs: List[Dict[str, Any]], warmup: int) -> Dict[str, Any]:
    """Per (image, backend, quota): spread inside processes, between processes, contention signals."""
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for run in runs:
        if run["status"] == "ok":
            groups.setdefault(_label(run), []).append(run)
    out: Dict[str, Any] = {}
    for key, group in sorted(groups.items()):
        walls = [[s["wall"] for s in run["samples"]] for run in group]
        steady = [w[warmup:] for w in walls]
        # Warm-up: the epoch index from which epochs stay within 5% of the process's steady median.
        settle = []
        for w in walls:
            med = statistics.median(w[warmup:])
            close = [abs(x - med) / med <= 0.05 for x in w]
            settle.append(next((i for i in range(len(w)) if all(close[i:i + 2])), len(w)))
        within_cv = [statistics.pstdev(s) / statistics.mean(s) for s in steady]
        between = {name: [fn(s) for s in steady] for name, fn in ESTIMATORS.items()}
        samples = [s for run in group for s in run["samples"][warmup:]]
        wall = sum(s["wall"] for s in samples)
        cpu = sum(s["container_cpu"] or 0 for s in samples)
        out[key] = {
            "processes": len(group),
            "epochs_per_process": len(walls[0]),
            "first_epoch_over_steady": [round(w[0] / statistics.median(w[warmup:]), 2) for w in walls],
            "epochs_to_settle": settle,
            "within_process_cv": [round(c, 4) for c in within_cv],
            "within_process_max_over_min": [round(max(s) / min(s), 3) for s in steady],
            "estimates": {name: [round(v, 4) for v in values] for name, values in between.items()},
            "between_process_max_over_min": {name: round(max(v) / min(v), 3) for name, v in between.items()},
            "container_cpu_over_wall": round(cpu / wall, 3) if wall else None,
            "throttled_seconds": round(sum(s["throttled"] or 0 for s in samples), 3),
            "throttled_periods": sum(s["nr_throttled"] or 0 for s in samples),
            "steal_seconds": round(sum(s["steal"] or 0 for s in samples), 3),
            "steal_share_of_wall": round(sum(s["steal"] or 0 for s in samples) / wall, 4) if wall else None,
            "foreign_share_of_wall": round(sum(_foreign(s) or 0 for s in samples) / wall, 4) if wall else None,
            "foreign_share_per_process": [
                round(sum(_foreign(s) or 0 for s in run["samples"][warmup:])
                      / (sum(s["wall"] for s in run["samples"][warmup:]) or 1), 3) for run in group],
            "loadavg_1min_per_process": [(run.get("loadavg_before") or [None])[0] for run in group],
        }
    return out


def _label(run: Dict[str, Any]) -> str:
    arm = run.get("arm") or "callback"
    backend = run["backend"] if arm == "callback" else "%s+%s" % (run["backend"], arm)
    return "%s %s quota=%s" % (run["image"].split(":")[-1], backend, run["quota"])


def rerun_samples(runs: Sequence[Dict[str, Any]], warmup: int) -> Dict[int, Dict[str, List[Sample]]]:
    """rerun -> training label -> the tagged samples of its ok processes (process numbers = rounds + 1)."""
    out: Dict[int, Dict[str, List[Sample]]] = {}
    for run in runs:
        if run.get("status") != "ok":
            continue
        pooled = out.setdefault(int(run.get("rerun") or 0), {}).setdefault(_label(run), [])
        pooled += tag_samples(run.get("samples") or [], int(run.get("round") or 0) + 1, warmup)
    return out


def _at_grain(samples: Sequence[Sample], grain: int) -> Optional[List[Sample]]:
    """The samples' batch times at `grain` batches per group; None when the recorded grain does not divide it
    (epochs without batch times pass through: their batch figures are None anyway)."""
    out = []
    for sample in samples:
        group = sample.get("batch_group")
        if group and grain % group:
            return None
        out.append(candidates.regroup(sample, grain // group) if group else sample)
    return out


def estimator_study(runs: Sequence[Dict[str, Any]], warmup: int, grains: Sequence[int],
                    resamples: int = candidates.RESAMPLES) -> Dict[str, Any]:
    """Each candidate figure per rerun, its max/min over the reruns, and the max/min over the reruns of each
    within-image ratio of two backends (same quota setting). A figure missing in any rerun gives no max/min."""
    by_rerun = rerun_samples(runs, warmup)
    reruns = sorted(by_rerun)
    labels = sorted({label for trainings in by_rerun.values() for label in trainings})
    figures: Dict[str, Dict[str, Dict[str, Dict[str, Any]]]] = {}
    for label in labels:
        for grain in grains:
            for name in candidates.FIGURES:
                per_rerun: List[Optional[float]] = []
                widths: List[Optional[float]] = []
                for rerun in reruns:
                    samples = _at_grain(by_rerun[rerun].get(label, []), grain)
                    found = candidates.estimate(samples, name, resamples) if samples else None
                    per_rerun.append(found["seconds"] if found else None)
                    widths.append(found["rel_width"] if found else None)
                complete = all(v is not None for v in per_rerun)
                figures.setdefault(label, {}).setdefault(str(grain), {})[name] = {
                    "per_rerun": per_rerun, "rel_width_per_rerun": widths,
                    "max_over_min": max_over_min(per_rerun) if complete else None}
    ratios: Dict[str, Dict[str, Dict[str, Dict[str, Any]]]] = {}
    for a, b in combinations(labels, 2):
        image_a, backend_a, quota_a = a.split(" ")
        image_b, backend_b, quota_b = b.split(" ")
        if image_a != image_b or quota_a != quota_b:
            continue  # a ratio is only ever taken inside one cell, in one setting
        (name_a, _, arm_a), (name_b, _, arm_b) = backend_a.partition("+"), backend_b.partition("+")
        if name_a != name_b and arm_a != arm_b:
            continue  # two backends of one arm, or two arms of one backend (the A/B); never both at once
        key = "%s %s %s/%s" % (image_a, quota_a, backend_a, backend_b)
        for grain in grains:
            for name in candidates.FIGURES:
                top = figures[a][str(grain)][name]["per_rerun"]
                bottom = figures[b][str(grain)][name]["per_rerun"]
                values = [None if x is None or not y else round(x / y, 5) for x, y in zip(top, bottom)]
                complete = all(v is not None for v in values)
                ratios.setdefault(key, {}).setdefault(str(grain), {})[name] = {
                    "per_rerun": values, "max_over_min": max_over_min(values) if complete else None}
    return {"reruns": len(reruns), "grains": list(grains), "estimators": list(candidates.FIGURES),
            "resamples": resamples, "trainings": figures, "ratios": ratios}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", action="append", metavar="IMAGE:BACKEND[,BACKEND]",
                        help="a built cell image and the backends to train in it")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=1, help="epochs left out of the steady estimates")
    parser.add_argument("--rounds", type=int, default=3, help="processes per backend, interleaved, per rerun")
    parser.add_argument("--reruns", type=int, default=1,
                        help="times the whole schedule is repeated; the estimator study compares them")
    parser.add_argument("--grains", default=None,
                        help="batches per group at which the batch figures are computed (comma-separated; default "
                             "1,4,16, or --slices with the slices arm)")
    parser.add_argument("--batch-group", type=int, default=1,
                        help="train.py --batch-group: 1 times every batch; 0 none (training as without batch times)")
    parser.add_argument("--arms", default="callback",
                        help="how each backend is trained in every round, comma-separated: callback (--batch-group "
                             "as given), plain (no batch times), slices (--slices K)")
    parser.add_argument("--slices", type=int, default=16, help="batches per fit call of the slices arm")
    parser.add_argument("--ab-slices", action="store_true",
                        help="the slices A/B: --arms plain,slices and --grains a multiple of --slices")
    parser.add_argument("--arms-table", metavar="STUDY.json", help="measure nothing: print the A/B table of a study")
    parser.add_argument("--resamples", type=int, default=candidates.RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--quota", choices=["both", "on", "off"], default="both")
    parser.add_argument("--data-dir", default=str(ROOT / ".cache" / "data"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "timing-study.json"))
    parser.add_argument("--table", metavar="STUDY.json",
                        help="measure nothing: print docs/timing.md's results table of a finished study")
    parser.add_argument("--summarize", metavar="STUDY.json",
                        help="measure nothing: recompute the summaries of an earlier study's runs into --out")
    args = parser.parse_args(argv)
    if args.ab_slices:
        args.arms = "plain,slices"
    if args.grains is None:
        args.grains = str(args.slices) if "slices" in args.arms.split(",") else "1,4,16"
    try:
        grains = [int(g) for g in args.grains.split(",")]
    except ValueError:
        grains = []
    if not grains or min(grains) < 1:
        parser.error("--grains takes positive integers, e.g. 1,4,16")
    if args.reruns < 1 or args.rounds < 1 or args.epochs < 2 or args.batch_group < 0 or args.slices < 1:
        parser.error("--reruns and --rounds must be at least 1, --epochs at least 2, --batch-group at least 0, "
                     "--slices at least 1")
    arms = [a for a in args.arms.split(",") if a]
    if not arms or any(a not in ARMS for a in arms) or len(set(arms)) != len(arms):
        parser.error("--arms takes distinct words of %s, e.g. plain,slices" % ",".join(ARMS))
    if "slices" in arms and any(g % args.slices for g in grains):
        parser.error("with the slices arm every grain must be a multiple of --slices (%d), e.g. --grains %d"
                     % (args.slices, args.slices))
    if args.arms_table:
        try:
            print(arms_table(json.loads(Path(args.arms_table).read_text())), end="")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            parser.error("cannot read a finished study from %s: %s" % (args.arms_table, exc))
        return 0
    if args.table:
        try:
            print(estimator_table(json.loads(Path(args.table).read_text())), end="")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error("cannot read a finished study from %s: %s" % (args.table, exc))
        return 0
    if args.summarize:
        try:
            old = json.loads(Path(args.summarize).read_text())
            runs, load_start = old["runs"], old.get("loadavg_start")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error("cannot read the study %s: %s" % (args.summarize, exc))
        summary = _write(args, runs, load_start, grains, final=True)
        print(json.dumps(summary["estimator_study"]["trainings"], indent=1))
        return 0
    if not args.image:
        parser.error("--image is required (or --summarize an earlier study)")
    plan = []
    for spec in args.image:
        image, _, backends = spec.rpartition(":")
        plan += [(image, b) for b in backends.split(",")]
    quotas = {"both": [True, False], "on": [True], "off": [False]}[args.quota]
    runs = []
    load_start = _loadavg()
    for rerun in range(args.reruns):
        for round_index in range(args.rounds):
            for quota in quotas:
                for image, backend in plan:  # interleaved: drift hits every backend alike
                    # arms back to back, their order reversed every other round (ABBA): drift favours none
                    for arm in arms if (round_index + rerun) % 2 == 0 else arms[::-1]:
                        run = train_once(image, backend, args.epochs, args.cpus, quota, Path(args.data_dir),
                                         args.batch_group, arm, args.slices)
                        run["round"], run["rerun"] = round_index, rerun
                        runs.append(run)
                        print("rerun %d round %d quota=%s %s %s %s: %s %s load %s" % (
                            rerun, round_index, quota, image.split(":")[-1], backend, arm, run["status"],
                            [round(s["wall"], 3) for s in run["samples"]], run["loadavg_before"]),
                            file=sys.stderr, flush=True)
                        _write(args, runs, load_start, grains)  # after every process: an interrupted study keeps it
    summary = _write(args, runs, load_start, grains, final=True)
    print(json.dumps(summary, indent=1))
    return 0


TABLE_GRAIN = "16"  # the grain full measures would record (runner/run/timing.py): what a headline could use
# (a figure missing in a rerun, or one the arm does not give, e.g. a slice figure of plain fit, reads "-")


def estimator_table(doc: Dict[str, Any]) -> str:
    """docs/timing.md's results: each candidate figure's max/min over the study's reruns, per training and per
    within-image backend ratio, at TABLE_GRAIN batches per group (Markdown; tests check the docs against it)."""
    study = doc["summary"]["estimator_study"]
    names = list(study["estimators"])
    lines = ["| training | " + " | ".join("`%s`" % n for n in names) + " |",
             "| --- | " + " | ".join("---:" for _ in names) + " |"]

    def row(label: str, per: Dict[str, Any]) -> str:
        cells = [per.get(TABLE_GRAIN, {}).get(n) for n in names]
        return "| %s | " % label + " | ".join("%.3f" % c["max_over_min"] if c and c.get("max_over_min") is not None
                                              else "-" for c in cells) + " |"

    for key, per in study["trainings"].items():
        lines.append(row(_short(key), per))
    for key, per in study["ratios"].items():
        lines.append(row("ratio " + _short(key), per))
    return "\n".join(lines) + "\n"


def arms_table(doc: Dict[str, Any]) -> str:
    """The A/B's table: per backend, each arm's steady-epoch medians per process, the pairs' ratios and the
    per-call overhead of fit (Markdown)."""
    lines = ["| training | steady-epoch medians (s) | ratio | fit per call (us) |", "| --- | --- | --- | --- |"]
    for key, entry in doc["summary"]["arms"].items():
        medians = "; ".join("%s %s" % (arm, ", ".join("%.3f" % v for v in values))
                            for arm, values in entry["steady_median_per_process"].items())
        ratios = "; ".join("%s %s" % (name, ", ".join("%.3f" % v for v in values))
                           for name, values in entry.items() if "/" in name)
        overhead = ", ".join(str(v) for v in entry.get("fit_call_us") or []) or "-"
        lines.append("| %s | %s | %s | %s |" % (key, medians, ratios or "-", overhead))
    return "\n".join(lines) + "\n"


def _short(key: str) -> str:
    """'IMAGE BACKEND quota=False' -> 'keras2.3.1-... backend' without the quota (the study ran one setting)."""
    return key.replace(" quota=False", "").replace(" quota=True", " (quota)")


def _write(args: argparse.Namespace, runs: List[Dict[str, Any]], load_start: Optional[List[float]],
           grains: Sequence[int], final: bool = False) -> Dict[str, Any]:
    """The study so far; the estimator study (bootstrap intervals: slow) only once all processes ran."""
    summary = summarize(runs, args.warmup)
    summary["arms"] = arms_summary(runs, args.warmup)
    summary["estimator_study"] = estimator_study(runs, args.warmup, grains, args.resamples) if final else None
    doc = {"kind": "keras-matrix-timing-study", "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "host": {"cpus": os.cpu_count(), "cpu_model": _cpu_model()},
           "loadavg_start": load_start, "loadavg_end": _loadavg(), "settings": vars(args), "summary": summary,
           "runs": runs}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    return summary


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), None)
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
