"""The jobs one cell goes through in a run, each a function of the RunContext (runner/run/loop.py) and the
cell's CellJob: prepare (skip, no base, or a cached result), build (in the build pool), measure (probe and
train in a lane, on cores of its own), and the record a lane produced, checked against a dead engine."""

from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from runner.model.outcomes import cell_status, device_used
from runner.model.records import REASON_LIMIT, CellRecord, Status, TrainingRecord, TrainingStatus, now_iso
from runner.model.vocabulary import Device, MeasureMode
from runner.render import render_cell
from runner.run.bases import BaseOutcome
from runner.run.build import BuildResult, build_cell, image_tag
from runner.run.cell_record import finish, new_cell_record, record_probe
from runner.run.cran import cell_to_build, cran_part, wants_cran
from runner.run.measure import measure_backends, probe_cell, train_process
from runner.run.scheduling import cores_for
from runner.run.timing import measure_mode, protocol_for
from runner.util.errors import EngineError, RunnerError

if TYPE_CHECKING:
    from runner.matrix.cells import Cell
    from runner.run.context import RunContext

# A build or container that failed with one of these while the engine was gone is not the cell's result.
_ENGINE_SUSPECT = frozenset({Status.ERROR, Status.BUILD_FAILED, Status.TIMEOUT, Status.TRAIN_FAILED, Status.PARTIAL})


@dataclass
class CellJob:
    """One cell's way through the run: either a record known before any build (skipped, no base, cached)
    or a build running in the pool, then its measurement."""

    index: int
    cell: Cell
    base: BaseOutcome
    record: Optional[CellRecord] = None
    dockerfile: Optional[str] = None  # rendered once: the text keyed in the cache is the text built
    cache_key: Optional[str] = None
    build: Optional[Future[BuildResult]] = None
    build_turn: int = 0  # this build's place among the run's builds (RunContext.ahead)
    holds_slot: bool = False  # took one of RunContext.ahead's slots, to give back once measured and removed


def prepare_job(ctx: RunContext, job: CellJob) -> Optional[CellRecord]:
    """The record of a cell that needs no build, or None. Sets the job's cache key."""
    cell, base = job.cell, job.base
    record = new_cell_record(cell, base.to_dict())
    if cell.device == Device.GPU and not ctx.gpu_runtime:
        return finish(record, Status.SKIPPED,
                      "GPU cell, but the Docker engine has no GPU runtime (nvidia) on this host", 0)
    if base.ref is None:
        return finish(record, Status.BUILD_FAILED,
                      "base image %s unavailable: %s" % (cell.base.name, base.message), 0)
    job.dockerfile = render_cell(cell_to_build(cell, ctx.cran))  # CRAN packages only where CRAN answered
    job.cache_key = ctx.cache.key(cell, job.dockerfile, base.image_id, ctx.data.sha256,
                                  protocol_for(cell, ctx.options.timing_budget))
    cached = None if ctx.options.rerun else ctx.cache.get(job.cache_key, cell.id, cell.timeout_minutes)
    if cached is not None:
        cached["cached"], cached["cache_key"] = True, job.cache_key
        return cached
    return None


def build_job(ctx: RunContext, job: CellJob) -> BuildResult:
    """Runs in the build pool. -> (cell status or None when built, reason, build record)."""
    cell = job.cell
    assert job.base.ref is not None  # prepare_job recorded the cells without a base
    if ctx.ahead is not None:
        ctx.ahead.take(job.build_turn, ctx.stop)
        job.holds_slot = True
    with ctx.gate.building():
        ctx.stop.check()
        ctx.progress.event(job.index, cell.id, "build")
        log_path = ctx.run_dir / "logs" / ("%s.build.log" % cell.id)
        outcome = build_cell(cell, ctx.engine, job.base.ref, ctx.options.dockerfiles_dir, log_path, ctx.ca_bundle,
                             cell.timeout_minutes * 60, should_stop=lambda: ctx.stop.requested,
                             on_step=lambda m: ctx.progress.event(job.index, cell.id, "build", m), text=job.dockerfile,
                             build_cache=ctx.options.build_cache, as_of_index=ctx.as_of_index)
    ctx.stop.check()
    return outcome


def measure_job(ctx: RunContext, job: CellJob) -> CellRecord:
    """Probe and train one built cell on cores of its own. Runs in a measurement lane. Never raises for a
    cell's own failure: returns its record."""
    cell, index, progress = job.cell, job.index, ctx.progress
    record = new_cell_record(cell, job.base.to_dict())
    record["cache_key"] = job.cache_key
    assert job.build is not None
    build_status, build_reason, build = job.build.result()
    record["build"] = build
    build_seconds = build["seconds"] or 0
    started = time.monotonic()
    deadline = started + max(60.0, cell.timeout_minutes * 60 - build_seconds)

    def remaining() -> float:
        return max(1.0, deadline - time.monotonic())

    def done(status: Status, reason: Optional[str] = None) -> CellRecord:
        if wants_cran(cell):
            r = record.setdefault("r", {})
            r["cran"] = cran_part(cell, ctx.cran, r)
        return finish(record, status, reason, round(build_seconds + time.monotonic() - started, 2))

    if build_status:
        progress.event(index, cell.id, build_status.value, build_reason or "")
        return done(build_status, build_reason)
    image = image_tag(cell)
    use_gpu = cell.device == Device.GPU

    with ctx.core_pool.cores(cores_for(cell, ctx.core_pool.count), gpu=use_gpu) as cpuset:
        record["cpuset"], record["measure_started_at"] = cpuset, now_iso()
        ctx.stop.check()  # never start a container once the run is stopping
        progress.event(index, cell.id, "probe", "build %.0fs, CPUs %s" % (build_seconds, cpuset))
        probe, outcome = probe_cell(cell, ctx.engine, image, min(remaining(), 900), cpuset=cpuset, gpu=use_gpu)
        container_seconds = outcome.seconds
        if probe is None:
            ctx.stop.check()
            return done(Status.TIMEOUT if outcome.timed_out else Status.ERROR,
                        "the probe gave no result (exit code %s): %s"
                        % (outcome.exit_code, outcome.output.strip()[-300:]))
        record_probe(record, probe)
        default = record["default_backend"]
        progress.event(index, cell.id, "default backend",
                       str(default.get("backend") or (default.get("error") or {}).get("type")))

        def train_one(backend: str, process: int) -> TrainingRecord:
            progress.event(index, cell.id, "train " + backend, "process %d" % process)
            with ctx.gate.training():
                ctx.stop.check()
                one = train_process(cell, ctx.engine, image, backend, ctx.data.path.parent, remaining(),
                                    cpuset=cpuset, gpu=use_gpu, process=process,
                                    protocol=protocol_for(cell, ctx.options.timing_budget))
            ctx.stop.check()
            summary = one["status"]
            steady = [s["wall"] for s in one.get("samples") or [] if not s.get("warmup")]
            if one["status"] == TrainingStatus.OK and steady:
                summary = "acc %.4f, steady epochs %.2f-%.2fs" % (one.get("test_accuracy") or 0, min(steady),
                                                                    max(steady))
            progress.event(index, cell.id, "trained " + backend, summary)
            return one

        # measure: probe trains nothing; the probe alone gives the status (statuses.cell_status, no trainings)
        trainings = measure_backends(
            cell.backend_names if measure_mode(cell) != MeasureMode.PROBE else (), train_one,
            protocol_for(cell, ctx.options.timing_budget),
            time_left=lambda: time.monotonic() < deadline)
        for backend in cell.backend_names:
            if backend in trainings:
                record["trainings"][backend] = trainings[backend]
                container_seconds += trainings[backend].get("seconds") or 0
    # Container time alone: what measuring this cell costs without waiting for cores or builds.
    record["measure_seconds"] = round(container_seconds, 2)
    record["device_used"] = device_used(record["trainings"])
    status, reason = cell_status(record["trainings"], record["default_backend"], record.get("conflict"))
    trainings_wanted = len(cell.backend_names) if cell.measure != MeasureMode.PROBE else 0
    if time.monotonic() >= deadline and len(record["trainings"]) < trainings_wanted:
        status, reason = Status.TIMEOUT, "the cell ran past its %d-minute limit" % cell.timeout_minutes
    return done(status, reason)


def measured_record(ctx: RunContext, job: CellJob, future: Future[CellRecord]) -> CellRecord:
    """The record a lane produced (or an error record for a runner failure); raises EngineError when the
    engine itself went away, since then the failure is not the cell's result."""
    cell = job.cell

    def engine_died() -> EngineError:
        return EngineError("the Docker engine stopped answering during cell %s; %d finished cells are kept in %s. "
                           "Try: restart the engine, then run again with --resume --run-id %s"
                           % (cell.id, len(ctx.doc["cells"]), ctx.run_dir, ctx.run_id))
    try:
        record = future.result()
    except RunnerError as exc:
        if not ctx.engine.alive():
            raise engine_died() from None
        record = finish(new_cell_record(cell), Status.ERROR, str(exc)[:REASON_LIMIT])
    if record["status"] in _ENGINE_SUSPECT and not ctx.engine.alive():
        raise engine_died() from None
    record["measured_in_run"] = ctx.run_id
    ctx.cache.put(job.cache_key, record, cell.timeout_minutes)
    return record
