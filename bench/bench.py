"""How close is a matrix run to its floor? Measures, on this machine, in one go:

  cold      a small matrix (cells sharing one TensorFlow) from nothing: a base no layer cache has seen,
            an empty pip cache mount, an empty results cache
  warm      the same command again (nothing changed: every result comes from the cache)
  changed   the same matrix with one cell's Keras changed (only that cell may be built and measured)
  naive     the same Dockerfiles built by a plain sequential `docker build` loop from another unseen base
            and an empty pip cache, plus the cold run's probe and training containers run one after
            another (their summed container time); again with --no-cache
  overhead  the same stack's training in the container vs. in a plain virtualenv on the host
            (same Python minor, same packages, same thread counts, same CPUs, same epochs;
            medians of repeated runs)
  lanes     a one-core training alone vs. beside a twin on another core (what measurement lanes do)
  plan      plan + render of a generated 10,000-cell matrix

Prints a table and writes JSON (default bench/results.json). Needs the Docker engine and the network the
builds need; empties the engine's pip cache mounts (type exec.cachemount), nothing else of its cache.

  python bench/bench.py [--out bench/results.json] [--repeats 3] [--skip-overhead] [--cpus 2]
"""

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tabulate import tabulate  # noqa: E402

from runner.engine.docker import DockerEngine  # noqa: E402
from runner.engine.docker_cli import find_docker_cli  # noqa: E402
from runner.matrix.cells import Cell  # noqa: E402
from runner.matrix.load import load_matrix  # noqa: E402
from runner.model.records import TrainingRecord  # noqa: E402
from runner.render import render_cell, write_cell  # noqa: E402
from runner.run.bases import ensure_base  # noqa: E402
from runner.run.measure import (  # noqa: E402
    PROBE_DIR,
    _env,
    epochs_per_process,
    parse_marker,
    train_backend,
    warmup_epochs,
)
from runner.run.mnist import MnistData, prepare_mnist  # noqa: E402
from runner.run.provenance import host_facts  # noqa: E402
from runner.run.scheduling import cores_for, cpuset_text  # noqa: E402
from runner.run.timing import DEFAULT_PROTOCOL, assess, tag_samples  # noqa: E402
from runner.util.net import find_ca_bundle  # noqa: E402

TENSORFLOW = "2.16.2"
KERAS = ["3.0.5", "3.1.1", "3.2.1"]  # three Keras releases on one TensorFlow: the layers they share
CHANGED_KERAS = ("3.2.1", "3.3.3")


def log(message: str) -> None:
    print("bench: %s" % message, file=sys.stderr, flush=True)


def write_matrix(path: Path, base_ref: str, keras_versions: Sequence[str], cpus: int = 2) -> Path:
    cells = "\n".join('  - {name: k%s, era: py311, keras: "%s", tensorflow: "%s"}' % (v.replace(".", ""), v, TENSORFLOW)
                      for v in keras_versions)
    path.write_text("version: 1\nbases:\n  debian-bookworm: {image: \"%s\"}\n"
                    "defaults: {epochs: 3, timeout_minutes: 30, limits: {memory: 6g, cpus: %d, pids: 4096}}\n"
                    "cells:\n%s\n" % (base_ref, cpus, cells))
    return path


def unseen_base(engine: DockerEngine, label: str) -> str:
    """The bookworm base plus one file no build has seen: every layer on top of it misses the cache."""
    plain = next(c.base for c in load_matrix(ROOT / "tests" / "data" / "e2e-matrix.yaml").cells
                 if c.base.name == "debian-bookworm")
    base = ensure_base(plain, engine, log)
    if base.ref is None:
        raise SystemExit("bench: no bookworm base: %s" % base.message)
    tag = "keras-matrix/bench-base:%s" % label
    dockerfile = "FROM %s\nRUN echo %s > /etc/keras-matrix-bench\n" % (base.ref, uuid.uuid4().hex)
    subprocess.run([find_docker_cli(buildkit=True).path, "build", "-q", "-t", tag, "-"], input=dockerfile.encode(),
                   check=True, env=dict(os.environ, DOCKER_BUILDKIT="1"), stdout=subprocess.DEVNULL)
    return tag


def empty_pip_cache() -> None:
    subprocess.run([find_docker_cli(buildkit=True).path, "builder", "prune", "-af", "--filter", "type=exec.cachemount"],
                   check=True, stdout=subprocess.DEVNULL)


def runner_run(matrix: Path, work: Path, run_id: str) -> Tuple[float, Dict[str, Any]]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "runner", "run", str(matrix), "--results-dir", str(work / "results"),
                           "--run-id", run_id, "--cache-dir", str(work / "cache"), "--dockerfiles-dir",
                           str(work / "dockerfiles"), "--progress", "quiet"], cwd=str(ROOT), capture_output=True,
                          text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("bench: runner run %s failed (%d): %s" % (run_id, proc.returncode, proc.stderr[-2000:]))
    doc: Dict[str, Any] = json.loads((work / "results" / run_id / "results.json").read_text())
    return seconds, doc


def naive_loop(matrix_path: Path, work: Path, ca_bundle: Optional[str], no_cache: bool = False) -> float:
    """What a hand-written script does: render, then `docker build` each Dockerfile, one after another
    (with no_cache: `docker build --no-cache`, what scripts wanting fresh images do)."""
    started = time.monotonic()
    for cell in load_matrix(matrix_path).cells:
        dockerfile = write_cell(cell, work / "naive", render_cell(cell))
        argv = [find_docker_cli(buildkit=True).path, "build", "-q", "-t",
                "keras-matrix/bench-naive:%s" % cell.id,
                "--build-arg", "BASE_IMAGE=%s" % cell.base.image]
        if ca_bundle:
            argv += ["--secret", "id=ca_bundle,src=%s" % ca_bundle]
        if no_cache:
            argv.append("--no-cache")
        subprocess.run(argv + [str(dockerfile.parent)], check=True, env=dict(os.environ, DOCKER_BUILDKIT="1"),
                       stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def measurement_seconds(doc: Dict[str, Any]) -> float:
    """Seconds the probe and training containers ran, summed over cells: what measuring the same cells
    one after another costs, whatever the build strategy."""
    total: float = sum(c["measure_seconds"] for c in doc["cells"])
    return total


def host_python(minor: str) -> Optional[str]:
    for candidate in ("python%s" % minor, "/root/.pyenv/versions/%s.7/bin/python3" % minor):
        found = shutil.which(candidate) or (candidate if os.path.exists(candidate) else None)
        if found:
            return found
    for path in sorted(Path("/root/.pyenv/versions").glob("%s.*" % minor)) if Path("/root/.pyenv").exists() else []:
        return str(path / "bin" / "python3")
    return None


def host_steady_epoch(parsed: Dict[str, Any], cell: Cell) -> Optional[float]:
    """The host training's steady-epoch figure, computed as the container's is (measure.combine): train.py's
    per-epoch samples tagged with the protocol's warm-up, then the headline of timing.assess (the median of
    the steady epochs). None when the training reported no steady epoch."""
    raw = parsed.get("samples")
    if not isinstance(raw, list):  # an older train.py reported wall times only
        raw = [{"wall": x} for x in parsed.get("epoch_seconds") or []]
    samples = tag_samples(raw, 1, warmup_epochs(cell, DEFAULT_PROTOCOL))
    return assess(samples, DEFAULT_PROTOCOL).get("seconds")


def overhead(engine: DockerEngine, matrix_path: Path, cold_doc: Dict[str, Any], work: Path, data: MnistData,
             repeats: int) -> Dict[str, Any]:
    """Steady-epoch median in the cell's container vs. a host virtualenv with the container's own packages."""
    cell = load_matrix(matrix_path).cells[0]
    record = next(c for c in cold_doc["cells"] if c["cell_id"] == cell.id)
    python = host_python(record["python"][:4].rstrip("."))
    if python is None:
        return {"skipped": "no Python %s on the host" % record["python"][:4]}
    venv = work / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pins = work / "container-freeze.txt"
    pins.write_text("".join("%s==%s\n" % kv for kv in sorted(record["installed"].items())
                            if kv[0] not in ("pip", "setuptools", "wheel")))
    log("overhead: installing the container's %d packages into a host virtualenv" % len(record["installed"]))
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r", str(pins)],
                   check=True)
    env = dict(os.environ, **_env(cell, {"KERAS_BACKEND": "tensorflow"}))
    image = "keras-matrix/cell:%s" % cell.id
    cpuset = cpuset_text(range(cores_for(cell, os.cpu_count() or 1)))  # as a run pins the cell's first lane
    epochs = epochs_per_process(cell, DEFAULT_PROTOCOL)  # as many epochs as train_backend gives the container
    host: List[float] = []
    container: List[float] = []
    for attempt in range(repeats):  # interleaved, so drifts of the machine hit both sides alike
        with tempfile.TemporaryDirectory() as home:
            env["HOME"] = home
            proc = subprocess.run(["taskset", "-c", cpuset,
                                   str(venv / "bin" / "python"), str(PROBE_DIR / "train.py"), str(data.path),
                                   str(epochs)], env=env, capture_output=True, text=True)
        parsed = parse_marker(proc.stdout) or {}
        if parsed.get("status") != "ok":
            return {"skipped": "host training failed: %s" % (proc.stdout + proc.stderr)[-500:]}
        host_seconds = host_steady_epoch(parsed, cell)
        if host_seconds is None:
            return {"skipped": "host training reported no steady epoch: %s" % proc.stdout[-500:]}
        host.append(host_seconds)
        run = train_backend(cell, engine, image, "tensorflow", data.path.parent, 900, cpuset=cpuset)
        container_seconds = run.get("steady_epoch_seconds")
        if run["status"] != "ok" or container_seconds is None:
            return {"skipped": "container training failed: %s" % run.get("error")}
        container.append(container_seconds)
        log("overhead %d/%d: host %.3fs, container %.3fs per steady epoch" % (attempt + 1, repeats, host[-1],
                                                                            container[-1]))
    host_median, container_median = statistics.median(host), statistics.median(container)
    return {"cell": cell.id, "host_python": python, "repeats": repeats, "host_steady_epoch_seconds": host,
            "container_steady_epoch_seconds": container, "host_median": host_median,
            "container_median": container_median, "overhead": container_median / host_median - 1}


def lanes_interference(engine: DockerEngine, matrix_path: Path, data: MnistData, repeats: int) -> Dict[str, Any]:
    """Does a neighbour on the other cores slow a timed training down? The first bench cell, limited to one
    core, trains alone on core 0, then at the same time as a twin on core 1 (what two lanes do);
    interleaved repeats; median steady epoch of the core-0 runs on each side."""
    if (engine.describe().get("cpus") or 1) < 2:
        return {"skipped": "one CPU: no two lanes fit"}
    cell = load_matrix(matrix_path).cells[0]
    cell = dataclasses.replace(cell, limits=dataclasses.replace(cell.limits, cpus="1"))
    image = "keras-matrix/cell:%s" % cell.id

    def train(core: int) -> TrainingRecord:
        return train_backend(cell, engine, image, "tensorflow", data.path.parent, 900, cpuset=str(core))

    alone: List[float] = []
    beside: List[float] = []
    for attempt in range(repeats):
        run = train(0)
        with ThreadPoolExecutor(max_workers=2) as pool:
            pair = [pool.submit(train, core) for core in (0, 1)]
            together = pair[0].result()
            pair[1].result()
        alone_seconds, beside_seconds = run.get("steady_epoch_seconds"), together.get("steady_epoch_seconds")
        if run["status"] != "ok" or together["status"] != "ok" or alone_seconds is None or beside_seconds is None:
            return {"skipped": "a training failed: %s" % (run.get("error") or together.get("error"))}
        alone.append(alone_seconds)
        beside.append(beside_seconds)
        log("lanes %d/%d: alone %.3fs, beside a neighbour %.3fs per steady epoch" % (attempt + 1, repeats, alone[-1],
                                                                                   beside[-1]))
    alone_median, beside_median = statistics.median(alone), statistics.median(beside)
    return {"cell": cell.id, "repeats": repeats, "alone_steady_epoch_seconds": alone,
            "beside_steady_epoch_seconds": beside, "alone_median": alone_median, "beside_median": beside_median,
            "slowdown": beside_median / alone_median - 1}


def plan_render_10k(work: Path) -> Dict[str, Any]:
    """A generated matrix of 10,000 cells: load + validate + expand, then render every Dockerfile."""
    keras = ", ".join('"3.0.%d"' % i for i in range(100))
    tensorflow = ", ".join('"2.16.%d"' % i for i in range(100))
    path = work / "matrix-10k.yaml"
    path.write_text("version: 1\ngroups:\n  - name: big\n    matrix: {era: py311, keras: [%s], tensorflow: [%s]}\n"
                    % (keras, tensorflow))
    started = time.monotonic()
    matrix = load_matrix(path)
    planned = time.monotonic()
    for cell in matrix.cells:
        render_cell(cell)
    rendered = time.monotonic()
    return {"cells": len(matrix.cells), "plan_seconds": planned - started, "render_seconds": rendered - planned,
            "total_seconds": rendered - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--repeats", type=int, default=3, help="training repeats per side for the overhead")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--cpus", type=int, default=2,
                        help="CPU limit of each bench cell (default 2); cells that fit side by side are measured "
                             "at once in lanes, e.g. --cpus 1 on a 2-CPU machine gives two lanes")
    args = parser.parse_args()

    engine = DockerEngine()
    work = Path(tempfile.mkdtemp(prefix="keras-matrix-bench-"))
    data = prepare_mnist(ROOT / ".cache" / "data", log=log)
    (work / "cache" / "data").mkdir(parents=True)
    shutil.copy(str(data.path), str(work / "cache" / "data" / "mnist.npz"))
    os.chmod(str(work / "cache" / "data" / "mnist.npz"), 0o644)
    result = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": host_facts(),
              "docker": engine.describe()["docker_version"], "python": platform.python_version(),
              "matrix": {"tensorflow": TENSORFLOW, "keras": KERAS, "changed": list(CHANGED_KERAS), "cpus": args.cpus}}
    try:
        log("plan + render of 10,000 cells")
        result["plan_render_10k"] = plan_render_10k(work)

        log("cold run (unseen base, empty pip cache mount, empty results cache)")
        empty_pip_cache()
        matrix = write_matrix(work / "matrix.yaml", unseen_base(engine, "cold"), KERAS, args.cpus)
        cold_seconds, cold = runner_run(matrix, work, "cold")
        log("warm rerun")
        warm_seconds, warm = runner_run(matrix, work, "warm")
        log("rerun after changing one cell")
        changed_versions = [CHANGED_KERAS[1] if v == CHANGED_KERAS[0] else v for v in KERAS]
        changed_matrix = write_matrix(work / "matrix-changed.yaml", cold["cells"][0]["base_image"]["ref"],
                                      changed_versions, args.cpus)
        changed_seconds, changed = runner_run(changed_matrix, work, "changed")
        measured = measurement_seconds(cold)

        log("naive baseline: sequential docker build loop (unseen base, empty pip cache mount)")
        empty_pip_cache()
        naive_matrix = write_matrix(work / "matrix-naive.yaml", unseen_base(engine, "naive"), KERAS, args.cpus)
        naive_build_seconds = naive_loop(naive_matrix, work, find_ca_bundle())
        log("naive baseline with --no-cache (unseen base, empty pip cache mount)")
        empty_pip_cache()
        nocache_matrix = write_matrix(work / "matrix-nocache.yaml", unseen_base(engine, "nocache"), KERAS, args.cpus)
        nocache_build_seconds = naive_loop(nocache_matrix, work, find_ca_bundle(), no_cache=True)
        result["runs"] = {
            "cold_seconds": cold_seconds, "warm_seconds": warm_seconds, "changed_seconds": changed_seconds,
            "cold_build_seconds_per_cell": {c["cell_id"]: c["build"]["seconds"] for c in cold["cells"]},
            "cold_statuses": {c["cell_id"]: c["status"] for c in cold["cells"]},
            "warm_cached_cells": sum(1 for c in warm["cells"] if c["cached"]),
            "changed_measured_cells": [c["cell_id"] for c in changed["cells"] if not c["cached"]],
            "measurement_seconds": measured, "jobs": cold["settings"]["jobs"], "lanes": cold["settings"]["lanes"],
            "naive_build_seconds": naive_build_seconds, "naive_total_seconds": naive_build_seconds + measured,
            "naive_nocache_build_seconds": nocache_build_seconds,
            "naive_nocache_total_seconds": nocache_build_seconds + measured,
            "disk_layers_bytes_start": cold.get("disk", {}).get("layers_bytes_start"),
            "disk_layers_bytes_peak": cold.get("disk", {}).get("layers_bytes_peak"),
        }
        if not args.skip_overhead:
            log("container vs. host virtualenv training")
            result["overhead"] = overhead(engine, matrix, cold, work, data, args.repeats)
            log("lanes: a training alone vs. beside a neighbour on another core")
            result["lanes_interference"] = lanes_interference(engine, matrix, data, args.repeats)
    finally:  # leave nothing of the bench's own behind (its cells' images included)
        bench_cells = ["keras-matrix/cell:keras%s-tf%s-py311-cpu" % (v, TENSORFLOW) for v in KERAS + [CHANGED_KERAS[1]]]
        for image in engine.client.images.list(name="keras-matrix/bench-naive") + \
                engine.client.images.list(name="keras-matrix/bench-base"):
            engine.remove_image(image.id)
        for tag in bench_cells:
            engine.remove_image(tag)
        shutil.rmtree(str(work), ignore_errors=True)

    runs = result["runs"]
    rows = [
        ["plan + render, 10,000 cells", "%.2f s" % result["plan_render_10k"]["total_seconds"], "< 2 s"],
        ["cold run, %d cells of %d CPUs (%d builds, %d measuring at once)"
         % (len(KERAS), args.cpus, runs["jobs"], runs["lanes"]), "%.0f s" % runs["cold_seconds"], ""],
        ["warm rerun / cold",
         "%.1f s = %.1f%%" % (runs["warm_seconds"], 100 * runs["warm_seconds"] / runs["cold_seconds"]), "< 5%"],
        ["changed one cell: cells measured", ", ".join(runs["changed_measured_cells"]) or "none", "only that cell"],
        ["naive loop (builds %.0f s + the same containers one by one %.0f s) / cold"
         % (runs["naive_build_seconds"], runs["measurement_seconds"]),
         "%.2fx" % (runs["naive_total_seconds"] / runs["cold_seconds"]), ">= 1.5x"],
        ["naive --no-cache loop (builds %.0f s + same measuring) / cold" % runs["naive_nocache_build_seconds"],
         "%.2fx" % (runs["naive_nocache_total_seconds"] / runs["cold_seconds"]), ">= 1.5x"],
        ["image layers added by the cold run (peak)",
         "%.2f GB" % (((runs["disk_layers_bytes_peak"] or 0) - (runs["disk_layers_bytes_start"] or 0)) / 1e9), ""],
    ]
    if "overhead" in result and "overhead" in result["overhead"]:
        o = result["overhead"]
        rows.append(["container vs host training (steady epoch median)", "%.3f s vs %.3f s = %+.1f%%"
                     % (o["container_median"], o["host_median"], 100 * o["overhead"]), "< 5%"])
    elif "overhead" in result:
        rows.append(["container vs host training", result["overhead"]["skipped"], "< 5%"])
    lanes = result.get("lanes_interference")
    if lanes and "slowdown" in lanes:
        rows.append(["one-core training beside a neighbour on another core vs alone (steady epoch median)",
                     "%.3f s vs %.3f s = %+.1f%%"
                     % (lanes["beside_median"], lanes["alone_median"], 100 * lanes["slowdown"]),
                     ""])
    elif lanes:
        rows.append(["one-core training beside a neighbour vs alone", lanes["skipped"], ""])
    print(tabulate(rows, headers=["measure", "value", "target"], tablefmt="github"))
    Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    log("wrote %s" % args.out)


if __name__ == "__main__":
    main()
