"""The run: bases -> cache -> build (in parallel) -> probe -> train (in lanes on disjoint cores) -> record.

A cell's failure becomes its status and never stops the others; each record is written the moment its
cell ends; SIGINT/SIGTERM stop the run cleanly (containers removed, finished cells kept).
"""

import hashlib
import json
import math
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from runner import __version__
from runner.bases import ensure_base
from runner.build import build_cell, find_ca_bundle, image_tag
from runner.cache import ResultCache
from runner.errors import EngineError, Interrupted, RunnerError
from runner.matrix import ROOT
from runner.measure import probe_cell, train_backend
from runner.render import render_cell
from runner.results import KIND, SCHEMA_VERSION, ResultsWriter, now_iso


@dataclass
class RunOptions:
    results_dir: Path = Path("results")
    dockerfiles_dir: Path = ROOT / "dockerfiles" / "generated"
    cache_dir: Path = ROOT / ".cache"
    run_id: Optional[str] = None
    ca_bundle: Optional[str] = None
    allow_pull: bool = True
    prune: bool = False
    progress: str = "human"  # human | quiet | json
    gpu: Optional[bool] = None  # None: use the GPU runtime when the engine has one
    resume: bool = False  # keep the finished cells of an existing run directory and run only the rest
    rerun: bool = False  # measure every cell again, even when its inputs are unchanged since a cached result
    jobs: Optional[int] = None  # parallel builds (None: default_jobs())
    lanes: Optional[int] = None  # cells measured at once, each on its own cores (None: as many as fit, lanes_for())
    extra: dict = field(default_factory=dict)


class Progress:
    """What a person (or a CI log) sees while the run goes: which cell, which stage, elapsed."""

    def __init__(self, mode, total, stream=None):
        self.mode, self.total = mode, total
        self.stream = stream or sys.stderr
        self.started = time.monotonic()

    def event(self, index, cell_id, stage, message=""):
        elapsed = time.monotonic() - self.started
        if self.mode == "json":
            print(json.dumps({"t": round(elapsed, 1), "cell": cell_id, "index": index, "total": self.total,
                              "stage": stage, "message": message}), file=self.stream, flush=True)
        elif self.mode == "human":
            where = "[%d/%d] %s" % (index, self.total, cell_id) if cell_id else "[run]"
            print("%6.0fs %s: %s%s" % (elapsed, where, stage, (" - " + message) if message else ""),
                  file=self.stream, flush=True)


def git_sha():
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (out.stdout.strip() + ("-dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def host_facts():
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as handle:
            cpu_model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), None)
    except OSError:
        pass
    return {"cpu_model": cpu_model, "cpus": os.cpu_count(), "os": platform.platform(), "hostname": platform.node()}


def _reason(error):
    if not error:
        return None
    return ("%s: %s" % (error.get("type"), (error.get("message") or "").strip().splitlines()[0:1] and
                        (error.get("message") or "").strip().splitlines()[0]))[:300]


def cell_status(cell, trainings, default_backend):
    """Status and one-line reason from what was measured."""
    if not trainings:
        if default_backend.get("error"):
            return "import_failed", _reason(default_backend["error"])
        return "ok", None
    failed = {name: t for name, t in trainings.items() if t["status"] != "ok"}
    if not failed:
        return "ok", None
    first_name, first = next(iter(failed.items()))
    reason = "%s: %s" % (first_name, _reason(first.get("error")) or first.get("stage"))
    if len(failed) < len(trainings):
        return "partial", reason
    if any(t["status"] == "timeout" for t in failed.values()):
        return "timeout", reason
    if all(t.get("stage") == "import" for t in failed.values()):
        return "import_failed", reason
    return "train_failed", reason


def _device_used(trainings):
    seen = [bool((t.get("device") or {}).get("gpu")) for t in trainings.values() if t.get("device")]
    if not seen:
        return None
    return "gpu" if all(seen) else ("cpu" if not any(seen) else "mixed")


def base_record(cell):
    return {
        "schema_version": SCHEMA_VERSION, "cell_id": cell.id, "group": cell.group, "name": cell.name,
        "era": cell.era.name, "description": cell.description, "versions": cell.versions(),
        "requirements": [req for _, req in cell.requirements], "python": cell.python, "device": cell.device,
        "device_used": None, "base_image": {"name": cell.base.name}, "status": "error", "reason": None,
        "cached": False, "started_at": now_iso(), "finished_at": None, "seconds": None,
        "build": {"status": "not_run", "seconds": None, "image": None, "image_id": None, "image_size": None,
                  "dockerfile": None, "dockerfile_sha256": None, "log": None, "log_tail": None},
        "probe": None, "installed": {}, "default_backend": {"backend": None, "error": None}, "trainings": {},
    }


class _Stop:
    """Turns SIGTERM into the same clean stop as Ctrl-C."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._old = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self._old)
        return False


class TrainingGate:
    """Builds run in parallel with each other, but a timed training never shares the cores with a build:
    a training waits for running builds to end, and no build starts while a training runs. Trainings of
    different cells may run together: CorePool gives each its own cores."""

    def __init__(self):
        self._cond = threading.Condition()
        self._builds = 0
        self._trainings = 0

    def _wait(self, predicate):
        with self._cond:
            while not predicate():
                self._cond.wait(timeout=1.0)  # bounded waits: Ctrl-C is never stuck behind a lock

    @contextmanager
    def building(self):
        with self._cond:
            while self._trainings:
                self._cond.wait(timeout=1.0)
            self._builds += 1
        try:
            yield
        finally:
            with self._cond:
                self._builds -= 1
                self._cond.notify_all()

    @contextmanager
    def training(self):
        with self._cond:
            self._trainings += 1
        try:
            self._wait(lambda: self._builds == 0)
            yield
        finally:
            with self._cond:
                self._trainings -= 1
                self._cond.notify_all()


def cores_for(cell, host_cpus):
    """How many whole cores a cell's containers are pinned to: its CPU limit rounded up, at most the host's."""
    return max(1, min(host_cpus, math.ceil(float(cell.limits.cpus))))


def cpuset_text(cores):
    """[0, 1, 2, 5] -> '0-2,5' (Docker's --cpuset-cpus syntax)."""
    parts, run = [], []
    for core in sorted(cores):
        if run and core != run[-1] + 1:
            parts.append(run)
            run = []
        run.append(core)
    if run:
        parts.append(run)
    return ",".join(str(r[0]) if len(r) == 1 else "%d-%d" % (r[0], r[-1]) for r in parts)


class CorePool:
    """The engine host's cores, lent to one cell at a time each: cells measured at the same time (lanes)
    probe and train on disjoint cores, so one cell's timing never shares a core with another's."""

    def __init__(self, count):
        self.count = max(1, int(count or 1))
        self._free = list(range(self.count))
        self._cond = threading.Condition()
        self._gpu = threading.Lock()

    @contextmanager
    def cores(self, wanted, gpu=False):
        """Cores for one cell; a GPU cell also takes the GPU alone (the engine exposes all its GPUs to each
        GPU container, so two at once would share them). The GPU is taken first, and nobody holding cores
        ever waits for it: no deadlock."""
        with (self._gpu if gpu else nullcontext()), self._lend(wanted) as cpuset:
            yield cpuset

    @contextmanager
    def _lend(self, wanted):
        wanted = max(1, min(self.count, wanted))
        with self._cond:
            while len(self._free) < wanted:
                self._cond.wait(timeout=1.0)
            taken, self._free = self._free[:wanted], self._free[wanted:]
        try:
            yield cpuset_text(taken)
        finally:
            with self._cond:
                self._free = sorted(self._free + taken)
                self._cond.notify_all()


def lanes_for(cells, host_cpus, host_memory_bytes, requested=None):
    """Cells measured at once: never more than the host's cores hold side by side (each cell on cores of
    its own); by default also no more than its memory holds at the cells' memory limits, and at most
    `requested` when given."""
    cells = list(cells)
    if not cells:
        return 1
    # Never more lanes than cells: the recorded number is how many were measured at once.
    by_cores = max(1, min(len(cells), host_cpus // max(cores_for(c, host_cpus) for c in cells)))
    if requested:
        return min(requested, by_cores)
    limit = max(memory_bytes(c.limits.memory) for c in cells)
    by_memory = host_memory_bytes // limit if host_memory_bytes and limit else by_cores
    return max(1, min(by_cores, by_memory))


def memory_bytes(text):
    """'6g' -> bytes: the matrix schema's memory limits are digits then k, m or g (binary multiples)."""
    return int(text[:-1]) << {"k": 10, "m": 20, "g": 30}[text[-1]]


def default_jobs():
    """Builds are mostly downloads and unpacking: two at a time even on a small machine, at most four."""
    return max(2, min(4, (os.cpu_count() or 2) // 2))


@dataclass
class CellJob:
    """One cell's way through the run: either a record known before any build (skipped, no base, cached)
    or a build running in the pool, then its measurement."""
    index: int
    cell: object
    base: object
    record: Optional[dict] = None
    dockerfile: Optional[str] = None  # rendered once: the text keyed in the cache is the text built
    cache_key: Optional[str] = None
    build: Optional[Future] = None


def _finish(record, status, reason=None, seconds=None):
    record.update(status=status, reason=reason, finished_at=now_iso(), seconds=seconds)
    return record


def prepare_job(job, gpu_runtime, cache, data, options):
    """The record of a cell that needs no build, or None. Sets the job's cache key."""
    cell, base = job.cell, job.base
    record = base_record(cell)
    record["base_image"] = base.to_dict()
    if cell.device == "gpu" and not gpu_runtime:
        return _finish(record, "skipped", "GPU cell, but the Docker engine has no GPU runtime (nvidia) on this host", 0)
    if base.ref is None:
        return _finish(record, "build_failed", "base image %s unavailable: %s" % (cell.base.name, base.message), 0)
    job.dockerfile = render_cell(cell)
    job.cache_key = cache.key(cell, job.dockerfile, base.image_id, data.sha256)
    cached = None if options.rerun else cache.get(job.cache_key, cell.id)
    if cached is not None:
        cached.update(cached=True, cache_key=job.cache_key)
        return cached
    return None


def build_job(job, engine, options, progress, gate, stop):
    """Runs in the build pool. -> (status or None when built, reason, build record)."""
    cell = job.cell
    with gate.building():
        if stop.requested:
            raise KeyboardInterrupt
        progress.event(job.index, cell.id, "build")
        log_path = Path(options.results_dir) / "logs" / ("%s.build.log" % cell.id)
        outcome = build_cell(cell, engine, job.base.ref, options.dockerfiles_dir, log_path, options.ca_bundle,
                             cell.timeout_minutes * 60, should_stop=lambda: stop.requested,
                             on_step=lambda m: progress.event(job.index, cell.id, "build", m), text=job.dockerfile)
    if stop.requested:
        raise KeyboardInterrupt
    return outcome


def measure_job(job, engine, data_dir, options, progress, gate, core_pool, stop):
    """Probe and train one built cell on cores of its own. Runs in a measurement lane. Never raises for a
    cell's own failure: returns its record."""
    cell, index = job.cell, job.index
    record = base_record(cell)
    record["base_image"] = job.base.to_dict()
    record["cache_key"] = job.cache_key
    status, reason, build = job.build.result()
    record["build"] = build
    started = time.monotonic()
    deadline = started + max(60.0, cell.timeout_minutes * 60 - (build["seconds"] or 0))

    def remaining():
        return max(1.0, deadline - time.monotonic())

    def finish(status, reason=None):
        return _finish(record, status, reason, round((build["seconds"] or 0) + time.monotonic() - started, 2))

    def checked():
        if stop.requested:  # never start a container once the run is stopping
            raise KeyboardInterrupt

    if status:
        progress.event(index, cell.id, status, reason or "")
        return finish(status, reason)
    image = image_tag(cell)
    use_gpu = cell.device == "gpu"

    with core_pool.cores(cores_for(cell, core_pool.count), gpu=use_gpu) as cpuset:
        record["cpuset"], record["measure_started_at"] = cpuset, now_iso()
        checked()
        progress.event(index, cell.id, "probe", "build %.0fs, CPUs %s" % (build["seconds"], cpuset))
        probe, outcome = probe_cell(cell, engine, image, min(remaining(), 900), cpuset=cpuset, gpu=use_gpu)
        container_seconds = outcome.seconds
        if probe is None:
            checked()
            status = "timeout" if outcome.timed_out else "error"
            return finish(status, "the probe gave no result (exit code %s): %s"
                          % (outcome.exit_code, outcome.output.strip()[-300:]))
        _record_probe(record, probe)
        progress.event(index, cell.id, "default backend", str(record["default_backend"].get("backend")
                                                              or (record["default_backend"].get("error") or {}).get("type")))

        for backend in cell.backend_names:
            progress.event(index, cell.id, "train " + backend)
            with gate.training():
                checked()
                training = train_backend(cell, engine, image, backend, data_dir, remaining(), cpuset=cpuset, gpu=use_gpu)
            checked()
            container_seconds += training["seconds"]
            record["trainings"][backend] = training
            summary = training["status"]
            if training["status"] == "ok":
                summary = "acc %.4f, steady epoch %.2fs" % (training["test_accuracy"] or 0, training["steady_epoch_seconds"] or 0)
            progress.event(index, cell.id, "trained " + backend, summary)
            if time.monotonic() >= deadline:
                break
    # Container time alone: what measuring this cell costs without waiting for cores or builds.
    record["measure_seconds"] = round(container_seconds, 2)
    record["device_used"] = _device_used(record["trainings"])
    status, reason = cell_status(cell, record["trainings"], record["default_backend"])
    if time.monotonic() >= deadline and len(record["trainings"]) < len(cell.backend_names):
        status, reason = "timeout", "the cell ran past its %d-minute limit" % cell.timeout_minutes
    return finish(status, reason)


def _record_probe(record, probe):
    """What the probe container reported, in the record's shape."""
    record["probe"] = {k: v for k, v in probe.items() if k not in ("installed", "default_backend")}
    record["installed"] = {str(k): str(v) for k, v in (probe.get("installed") or {}).items()}
    default = probe.get("default_backend") if isinstance(probe.get("default_backend"), dict) else {}
    for key in ("backend", "error", "keras_version", "keras_json", "keras_json_written", "stderr_tail"):
        default.setdefault(key, None)  # one shape for every record, whatever the probe omitted
    record["default_backend"] = default


def _resolve_bases(cells, engine, options, progress, gpu_runtime):
    bases = {}
    for index, cell in enumerate(cells, 1):
        if cell.base.name in bases or (cell.device == "gpu" and not gpu_runtime):
            continue
        progress.event(index, cell.id, "base " + cell.base.name)
        bases[cell.base.name] = ensure_base(cell.base, engine, lambda m: progress.event(index, cell.id, m),
                                            allow_pull=options.allow_pull)
        progress.event(index, cell.id, "base " + cell.base.name, bases[cell.base.name].source)
    return bases


def run_matrix(matrix, cells, engine, data, options):
    """Measure every cell; write each record as it ends. Returns the run document.

    Builds run ahead in a pool of options.jobs. Built cells are measured in options.lanes lanes, each
    lane on cores of its own (CorePool), and no timed training ever runs while a build does (TrainingGate)."""
    run_id = options.run_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    options.results_dir = Path(options.results_dir) / run_id
    options.ca_bundle = find_ca_bundle(options.ca_bundle)
    jobs = options.jobs or default_jobs()
    facts = engine.describe()
    host_cpus = facts.get("cpus") or os.cpu_count() or 1
    core_pool = CorePool(host_cpus)
    lanes = lanes_for(cells, host_cpus, facts.get("memory_bytes"), options.lanes)
    gpu_runtime = facts["gpu_runtime"] if options.gpu is None else options.gpu
    doc = {
        "schema_version": SCHEMA_VERSION, "kind": KIND, "run_id": run_id, "started_at": now_iso(),
        "finished_at": None, "complete": False,
        "matrix": {"path": str(matrix.path), "sha256": hashlib.sha256(Path(matrix.path).read_bytes()).hexdigest(),
                   "cells_total": len(matrix.cells), "cells_selected": [c.id for c in cells]},
        "settings": {"ca_bundle_mounted": bool(options.ca_bundle), "allow_pull": options.allow_pull,
                     "jobs": jobs, "lanes": lanes, "rerun": options.rerun, "prune": options.prune},
        "provenance": {"runner_version": __version__, "git_sha": git_sha(), "docker_version": facts["docker_version"],
                       "docker": facts, "host": host_facts(), "gpu_runtime": gpu_runtime,
                       "data": {"source": data.source, "sha256": data.sha256}},
        "disk": {"layers_bytes_start": engine.disk_usage(), "layers_bytes_peak": None, "layers_bytes_end": None},
        "cells": [],
    }
    kept = _resumable(options) if options.resume else []
    if kept:
        done = {record["cell_id"] for record in kept}
        doc["resumed_from"] = {"cells_kept": sorted(done)}
        cells = [cell for cell in cells if cell.id not in done]
    writer = ResultsWriter(options.results_dir, doc, keep_cells=kept)
    progress = Progress(options.progress, len(cells))
    if kept:
        progress.event(0, None, "resume", "%d finished cells kept, %d to run" % (len(kept), len(cells)))
    progress.event(0, None, "start", "%d cells -> %s (%d parallel builds, %d measuring at once on %d CPUs)"
                   % (len(cells), options.results_dir, jobs, lanes, host_cpus))
    stale = engine.remove_stale_containers()
    if stale:
        progress.event(0, None, "cleanup", "removed %d containers an earlier run left when the engine stopped" % stale)
    cache = ResultCache(Path(options.cache_dir) / "results")
    gate = TrainingGate()
    builders = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="build")
    measurers = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="measure")
    completed = False

    def record_done(job, record):
        writer.write_cell(record)
        progress.event(job.index, job.cell.id, "done", "%s%s%s" % (
            record["status"], " (cached)" if record.get("cached") else "",
            (": " + record["reason"]) if record["reason"] else ""))
        if options.prune and record["build"].get("status") == "built":
            engine.remove_image(image_tag(job.cell))
        _note_disk(doc, engine)

    def stop_all():
        """Stop builds and lanes: nothing new starts and running containers are removed, so the threads
        end soon (the `finally` below waits for them)."""
        stop.requested = True
        builders.shutdown(wait=False, cancel_futures=True)
        measurers.shutdown(wait=False, cancel_futures=True)
        try:
            return engine.remove_managed_containers() if engine.alive() else 0
        except RunnerError:
            return 0  # the engine went away: its containers went with it

    with _Stop() as stop:
        try:
            bases = _resolve_bases(cells, engine, options, progress, gpu_runtime)
            measuring = {}
            for index, cell in enumerate(cells, 1):
                job = CellJob(index, cell, bases.get(cell.base.name) or _unused_base(cell))
                job.record = prepare_job(job, gpu_runtime, cache, data, options)
                if job.record is None:
                    job.build = builders.submit(build_job, job, engine, options, progress, gate, stop)
                    measuring[measurers.submit(measure_job, job, engine, data.path.parent, options, progress, gate,
                                               core_pool, stop)] = job
                else:
                    record_done(job, job.record)
            while measuring:
                # Short waits: Ctrl-C and SIGTERM reach this thread between them.
                finished, _ = wait(list(measuring), timeout=1.0, return_when=FIRST_COMPLETED)
                engine_died = None
                for future in sorted(finished, key=lambda f: measuring[f].index):
                    job = measuring.pop(future)
                    try:
                        record_done(job, _measured_record(job, future, engine, cache, run_id, options, doc))
                    except EngineError as exc:  # keep what the other lanes finished, then stop
                        engine_died = engine_died or exc
                if engine_died:
                    raise engine_died
            completed = True
        except KeyboardInterrupt:
            removed = stop_all()
            writer.finish(complete=False)
            raise Interrupted("interrupted: %d finished cells kept in %s (%d containers removed)"
                              % (len(doc["cells"]), options.results_dir, removed)) from None
        except BaseException:
            stop_all()
            writer.finish(complete=False)
            raise
        finally:
            builders.shutdown(wait=True, cancel_futures=True)
            measurers.shutdown(wait=True, cancel_futures=True)
            if completed:
                doc["disk"]["layers_bytes_end"] = engine.disk_usage()
                writer.finish(complete=True)
    return doc


def _measured_record(job, future, engine, cache, run_id, options, doc):
    """The record a lane produced (or an error record for a runner failure); raises EngineError when the
    engine itself went away, since then the failure is not the cell's result."""
    cell = job.cell

    def engine_died():
        return EngineError("the Docker engine stopped answering during cell %s; %d finished cells are kept in %s. "
                           "Try: restart the engine, then run again with --resume --run-id %s"
                           % (cell.id, len(doc["cells"]), options.results_dir, run_id))
    try:
        record = future.result()
    except RunnerError as exc:
        if not engine.alive():
            raise engine_died() from None
        record = base_record(cell)
        record.update(status="error", reason=str(exc)[:300], finished_at=now_iso())
    # A build or container that failed because the engine went away is not the cell's result.
    if record["status"] in ("error", "build_failed", "timeout", "train_failed", "partial") and not engine.alive():
        raise engine_died() from None
    record["measured_in_run"] = run_id
    cache.put(job.cache_key, record)
    return record


def _note_disk(doc, engine):
    used = engine.disk_usage()
    if used is not None:
        doc["disk"]["layers_bytes_peak"] = max(used, doc["disk"]["layers_bytes_peak"] or 0)


def _resumable(options):
    """Records of a previous, interrupted run in the same directory (errors and timeouts are run again)."""
    from runner.results import load_results

    path = Path(options.results_dir) / "results.json"
    if not path.exists():
        return []
    previous = load_results(path)
    return [record for record in previous["cells"] if record["status"] not in ("error", "timeout")]


def _unused_base(cell):
    from runner.bases import BaseOutcome

    return BaseOutcome(cell.base.name, None, "not needed")
