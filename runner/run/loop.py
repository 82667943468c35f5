"""The run: bases -> cache -> build (in parallel) -> probe -> train (in lanes on disjoint cores) -> record.

A cell's failure becomes its status and never stops the others; each record is written the moment its
cell ends; SIGINT/SIGTERM stop the run cleanly (containers removed, finished cells kept).

RunOptions is what the caller asked for and is never changed; everything the run derives from it (the run
directory, the CA bundle found, jobs, lanes, the GPU runtime) and the tools it shares between threads live
in one RunContext, which each job function (runner/run/jobs.py) receives.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

from runner.matrix.shard import cell_cost
from runner.model.records import RETRY_ON_RESUME, BuildStatus, CellRecord, RunDocument
from runner.model.vocabulary import Device
from runner.results.store import ResultsWriter, RunDirectory
from runner.run.as_of_index import AsOfIndex
from runner.run.bases import BaseOutcome, ensure_base
from runner.run.build import image_tag
from runner.run.cache import ResultCache
from runner.run.cell_record import apply_expectation
from runner.run.context import AheadLimit, RunContext, RunOptions
from runner.run.cran import check_cran, wants_cran
from runner.run.jobs import CellJob, build_job, measure_job, measured_record, prepare_job
from runner.run.progress import Progress
from runner.run.provenance import run_document
from runner.run.scheduling import CorePool, default_jobs, lanes_for
from runner.util.errors import EngineError, Interrupted, RunnerError
from runner.util.net import find_ca_bundle

if TYPE_CHECKING:
    from runner.engine.protocol import Engine
    from runner.matrix.cells import Cell, Matrix
    from runner.run.mnist import MnistData


def _resolve_bases(ctx: RunContext, cells: Sequence[Cell]) -> Dict[str, BaseOutcome]:
    bases: Dict[str, BaseOutcome] = {}
    for index, cell in enumerate(cells, 1):
        if cell.base.name in bases or (cell.device == Device.GPU and not ctx.gpu_runtime):
            continue
        ctx.progress.event(index, cell.id, "base " + cell.base.name)
        bases[cell.base.name] = ensure_base(cell.base, ctx.engine, _base_log(ctx, index, cell.id),
                                            allow_pull=ctx.options.allow_pull)
        ctx.progress.event(index, cell.id, "base " + cell.base.name, bases[cell.base.name].source)
    return bases


def _base_log(ctx: RunContext, index: int, cell_id: str) -> Callable[[str], None]:
    return lambda message: ctx.progress.event(index, cell_id, message)


def _resumable(run_dir: Path) -> List[CellRecord]:
    """Records of a previous, interrupted run in the same directory (errors and timeouts are run again)."""
    from runner.results.store import load_results

    path = run_dir / "results.json"
    if not path.exists():
        return []
    previous = load_results(path)
    return [record for record in previous["cells"] if record["status"] not in RETRY_ON_RESUME]


# What --prune leaves of the build cache after each cell: the era layers the next cells build on (BuildKit
# drops the least recently used first), not every finished cell's install layers (~1-2 GB each).
PRUNED_BUILD_CACHE_KEEP = 8 * 1024 ** 3
# ... but BuildKit's own accounting can fall far short of the disk it holds (in a release-day sweep the build
# cache held ~70 GB of disk while the engine counted 11 GB): below this much free disk the whole cache goes.
PRUNED_LOW_DISK = 20 * 1024 ** 3


def _note_disk(ctx: RunContext) -> None:
    used = ctx.engine.disk_usage()
    if used is not None:
        disk = ctx.doc["disk"]
        disk["layers_bytes_peak"] = max(used, disk["layers_bytes_peak"] or 0)


def _record_done(ctx: RunContext, job: CellJob, record: CellRecord) -> None:
    ctx.writer.write_cell(apply_expectation(record, job.cell))  # cached records too: today's matrix judges
    ctx.progress.cell_done(job.index, job.cell.id, record)
    if ctx.options.prune and record["build"].get("status") == BuildStatus.BUILT:
        ctx.engine.remove_image(image_tag(job.cell))
        reclaimed = ctx.engine.trim_build_cache(PRUNED_BUILD_CACHE_KEEP)
        disk = ctx.doc["disk"]
        if reclaimed is not None:
            disk["build_cache_trimmed_bytes"] = (disk.get("build_cache_trimmed_bytes") or 0) + reclaimed
        free = ctx.engine.free_disk_bytes()
        if free is not None and free < PRUNED_LOW_DISK:
            emptied = ctx.engine.trim_build_cache(0, everything=True)
            disk["build_cache_emptied"] = (disk.get("build_cache_emptied") or 0) + 1
            disk["build_cache_trimmed_bytes"] = (disk.get("build_cache_trimmed_bytes") or 0) + (emptied or 0)
    _note_disk(ctx)


def run_matrix(matrix: Matrix, cells: Sequence[Cell], engine: Engine, data: MnistData,
               options: RunOptions) -> RunDocument:
    """Measure every cell; write each record as it ends. Returns the run document.

    Builds run ahead in a pool of options.jobs. Built cells are measured in options.lanes lanes, each
    lane on cores of its own (CorePool), and no timed training ever runs while a build does (TrainingGate)."""
    claimed = RunDirectory(options.results_dir, options.run_id or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
                           resume=options.resume, unique=options.unique_run_id or not options.run_id)
    with claimed:  # this process alone writes the run directory until the run ends
        return _measure_into(matrix, cells, engine, data, options, claimed.run_id, claimed.path)


def _measure_into(matrix: Matrix, cells: Sequence[Cell], engine: Engine, data: MnistData, options: RunOptions,
                  run_id: str, run_dir: Path) -> RunDocument:
    ca_bundle = find_ca_bundle(options.ca_bundle)
    jobs = options.jobs or default_jobs()
    facts = engine.describe()
    host_cpus = int(facts.get("cpus") or os.cpu_count() or 1)
    lanes = lanes_for(cells, host_cpus, facts.get("memory_bytes"), options.lanes)
    gpu_runtime = bool(facts["gpu_runtime"] if options.gpu is None else options.gpu)
    settings: Dict[str, Any] = {"ca_bundle_mounted": bool(ca_bundle), "allow_pull": options.allow_pull, "jobs": jobs,
                                "lanes": lanes, "rerun": options.rerun, "prune": options.prune,
                                "timing_budget": options.timing_budget}
    cran = check_cran(ca_bundle) if any(wants_cran(cell) for cell in cells) else None
    if cran is not None:
        settings["cran"] = cran.to_dict()
    doc = run_document(run_id, matrix.path, len(matrix.cells), [c.id for c in cells], settings, facts, gpu_runtime,
                       data.source, data.sha256, engine.disk_usage(), expansions=matrix.expansions)
    doc["disk"]["build_cache_bytes_start"] = engine.build_cache_usage()  # 0: a cold run (bench/cold_floor.py)
    kept = _resumable(run_dir) if options.resume else []
    if kept:
        by_id = {cell.id: cell for cell in cells}
        kept = [apply_expectation(record, by_id[record["cell_id"]]) if record["cell_id"] in by_id else record
                for record in kept]
        done = {record["cell_id"] for record in kept}
        doc["resumed_from"] = {"cells_kept": sorted(done)}
        cells = [cell for cell in cells if cell.id not in done]
    ctx = RunContext(engine=engine, options=options, data=data, run_id=run_id, run_dir=run_dir, ca_bundle=ca_bundle,
                     gpu_runtime=gpu_runtime, jobs=jobs, lanes=lanes, host_cpus=host_cpus,
                     progress=Progress(options.progress, len(cells), costs={c.id: cell_cost(c) for c in cells}),
                     cache=ResultCache(Path(options.cache_dir) / "results"),
                     writer=ResultsWriter(run_dir, doc, keep_cells=kept), core_pool=CorePool(host_cpus), cran=cran,
                     # --prune keeps the disk to a few cells' images: builds stay within one round of the lanes
                     ahead=AheadLimit(lanes + jobs) if options.prune else None)
    ctx.cache.warn = lambda message: ctx.progress.event(0, None, "cache", message)  # once per run
    if kept:
        ctx.progress.event(0, None, "resume", "%d finished cells kept, %d to run" % (len(kept), len(cells)))
    ctx.progress.event(0, None, "start", "%d cells -> %s (%d parallel builds, %d measuring at once on %d CPUs)"
                       % (len(cells), run_dir, jobs, lanes, host_cpus))
    stale = engine.remove_stale_containers()
    if stale:
        ctx.progress.event(0, None, "cleanup",
                           "removed %d containers an earlier run left when the engine stopped" % stale)
    index = _start_as_of_index(ctx, cells)
    try:
        _run_cells(ctx, cells)
    finally:
        if index is not None:
            index.stop()
    return doc


def _start_as_of_index(ctx: RunContext, cells: Sequence[Cell]) -> Optional[AsOfIndex]:
    """The as-of index on the engine's bridge, when a cell is resolved as of a day (else None)."""
    if not any(cell.as_of for cell in cells):
        return None
    gateway = ctx.engine.bridge_gateway()
    if gateway is None:
        ctx.progress.event(0, None, "as-of", "the engine has no bridge network: cells resolved as of a day cannot "
                           "reach the as-of index and will fail to build")
        return None
    index = AsOfIndex(gateway)
    ctx.as_of_index = index.start()
    ctx.progress.event(0, None, "as-of", "as-of index for the builds at http://%s/ (PyPI as it stood then)"
                       % ctx.as_of_index)
    return index


def _run_cells(ctx: RunContext, cells: Sequence[Cell]) -> None:
    engine, writer, doc = ctx.engine, ctx.writer, ctx.doc
    builders = ThreadPoolExecutor(max_workers=ctx.jobs, thread_name_prefix="build")
    measurers = ThreadPoolExecutor(max_workers=ctx.lanes, thread_name_prefix="measure")
    completed = False

    def stop_all() -> int:
        """Stop builds and lanes: nothing new starts and running containers are removed, so the threads
        end soon (the `finally` below waits for them)."""
        ctx.stop.requested = True
        builders.shutdown(wait=False, cancel_futures=True)
        measurers.shutdown(wait=False, cancel_futures=True)
        try:
            return engine.remove_managed_containers() if engine.alive() else 0
        except RunnerError:
            return 0  # the engine went away: its containers went with it

    with ctx.stop.on_sigterm():
        try:
            ctx.progress.start()  # the live display, on a terminal; closed below, before the report or error
            bases = _resolve_bases(ctx, cells)
            measuring: Dict[Future[CellRecord], CellJob] = {}
            for index, cell in enumerate(cells, 1):
                job = CellJob(index, cell, bases.get(cell.base.name) or _unused_base(cell))
                job.record = prepare_job(ctx, job)
                if job.record is None:
                    job.build_turn = len(measuring)
                    job.build = builders.submit(build_job, ctx, job)
                    measuring[measurers.submit(measure_job, ctx, job)] = job
                else:
                    _record_done(ctx, job, job.record)
            while measuring:
                # Short waits: Ctrl-C and SIGTERM reach this thread between them.
                finished, _ = wait(list(measuring), timeout=1.0, return_when=FIRST_COMPLETED)
                engine_died: Optional[EngineError] = None
                for future in sorted(finished, key=lambda f: measuring[f].index):
                    job = measuring.pop(future)
                    try:
                        _record_done(ctx, job, measured_record(ctx, job, future))
                    except EngineError as exc:  # keep what the other lanes finished, then stop
                        engine_died = engine_died or exc
                    finally:
                        if job.holds_slot and ctx.ahead is not None:  # measured and (with --prune) removed
                            job.holds_slot = False
                            ctx.ahead.give_back()
                if engine_died:
                    raise engine_died
            completed = True
        except KeyboardInterrupt:
            removed = stop_all()
            writer.finish(complete=False)
            raise Interrupted("interrupted: %d finished cells kept in %s (%d containers removed)"
                              % (len(doc["cells"]), ctx.run_dir, removed)) from None
        except BaseException:
            stop_all()
            writer.finish(complete=False)
            raise
        finally:
            builders.shutdown(wait=True, cancel_futures=True)
            measurers.shutdown(wait=True, cancel_futures=True)
            ctx.progress.close()
            if completed:
                doc["disk"]["layers_bytes_end"] = engine.disk_usage()
                writer.finish(complete=True)


def _unused_base(cell: Cell) -> BaseOutcome:
    return BaseOutcome(cell.base.name, None, "not needed")
