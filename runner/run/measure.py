"""Stages: probe and train, each in its own container from the cell's image: no network, read-only root
and data, a fresh HOME on tmpfs, dropped capabilities, an unprivileged user, CPU/memory/pid limits.

Everything reported about backends comes from the container: the runner parses the JSON line the
in-container scripts print and assumes nothing. A training is several processes (runner/run/timing.py says
how many and what their samples mean); measure_backends runs them interleaved across a cell's backends."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from runner.engine.protocol import Mount, RunOutcome, RunSpec
from runner.model.records import ErrorInfo, TrainingRecord, TrainingStatus, now_iso
from runner.model.vocabulary import Device
from runner.probe import MARKER
from runner.run.timing import (
    DEFAULT_PROTOCOL,
    TimingProtocol,
    assess,
    calibration_of,
    is_number,
    tag_samples,
    wants_another_process,
)
from runner.util import paths
from runner.util.text import clip

if TYPE_CHECKING:
    from runner.engine.protocol import Engine
    from runner.matrix.cells import Cell

PROBE_DIR = paths.probe_dir()
IN_CONTAINER_PROBE = "/opt/keras-matrix"
IN_CONTAINER_DATA = "/data"


def parse_marker(output: str) -> Optional[Dict[str, Any]]:
    """The last marker line's JSON, or None. Output is untrusted: bounded and type-checked."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            try:
                value = json.loads(line[len(MARKER):])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _env(cell: Cell, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    threads = str(max(1, int(float(cell.limits.cpus))))
    env = {
        "HOME": "/tmp/home",
        "TMPDIR": "/tmp",
        "PYTHONUNBUFFERED": "1",
        "PYTHONHASHSEED": "0",
        # Fixed thread counts, recorded with every training: timings are comparable across cells.
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if cell.device == Device.CPU:
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(extra or {})
    return env


def _core_count(cpuset: str) -> int:
    """'0-2,5' -> 4."""
    count = 0
    for part in cpuset.split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def _spec(cell: Cell, image: str, command: List[str], timeout: float, data_dir: Optional[Path] = None,
          extra_env: Optional[Dict[str, str]] = None, cpuset: Optional[str] = None, gpu: bool = False,
          protocol: TimingProtocol = DEFAULT_PROTOCOL) -> RunSpec:
    mounts = [Mount(str(PROBE_DIR), IN_CONTAINER_PROBE, read_only=True)]
    if data_dir:
        mounts.append(Mount(str(data_dir), IN_CONTAINER_DATA, read_only=True))
    # Pinned to exactly as many cores as its limit, a CFS quota of the same size can only add throttling
    # (bench/timing_study.py); a fractional limit (1.5 CPUs on 2 pinned cores) keeps its quota.
    pinned_exactly = cpuset is not None and _core_count(cpuset) == float(cell.limits.cpus)
    cpus: Optional[str] = None if pinned_exactly and not protocol.quota_when_pinned else cell.limits.cpus
    return RunSpec(image=image, command=command, env=_env(cell, extra_env), mounts=mounts,
                   memory=cell.limits.memory, cpus=cpus, pids=cell.limits.pids,
                   cpuset=cpuset, gpu=gpu, timeout=timeout)


def probe_cell(cell: Cell, engine: Engine, image: str, timeout: float, cpuset: Optional[str] = None,
               gpu: bool = False) -> Tuple[Optional[Dict[str, Any]], RunOutcome]:
    """-> (probe dict or None, RunOutcome)."""
    # The cell's `scenarios: false` leaves out the scenario probes (probe.py reads this variable).
    extra_env = None if getattr(cell, "scenarios", True) else {"MATRIX_PROBE_SCENARIOS": "0"}
    outcome = engine.run(_spec(cell, image, ["matrix-python", IN_CONTAINER_PROBE + "/probe.py"], timeout,
                               extra_env=extra_env, cpuset=cpuset, gpu=gpu))
    return parse_marker(outcome.output), outcome


def train_process(cell: Cell, engine: Engine, image: str, backend: str, data_dir: Path, timeout: float,
                  cpuset: Optional[str] = None, gpu: bool = False, process: int = 1,
                  protocol: TimingProtocol = DEFAULT_PROTOCOL) -> TrainingRecord:
    """One training process with KERAS_BACKEND=backend: its record, samples tagged with the process number."""
    command = ["matrix-python", IN_CONTAINER_PROBE + "/train.py", IN_CONTAINER_DATA + "/mnist.npz",
               str(epochs_per_process(cell, protocol))]
    if protocol.max_batches:
        command += ["--max-batches", str(protocol.max_batches)]
    # Always said: train.py's own default (1) times every batch, which a full measure must not do.
    if protocol.slices:
        command += ["--slices", str(protocol.slices)]  # batch times from outside; no batch callback
    else:
        command += ["--batch-group", str(protocol.batch_group)]
    if protocol.calibrate:
        command += ["--calibrate", str(protocol.calibrate)]
    started_at = now_iso()
    outcome = engine.run(_spec(cell, image, command, timeout, data_dir=data_dir,
                               extra_env={"KERAS_BACKEND": backend}, cpuset=cpuset, gpu=gpu, protocol=protocol))
    parsed = parse_marker(outcome.output) or {}
    epochs = [float(x) for x in parsed.get("epoch_seconds") or [] if is_number(x)]
    trained = parsed.get("status") == TrainingStatus.OK and outcome.exit_code == 0  # train.py speaks our words
    raw_samples = parsed.get("samples") if isinstance(parsed.get("samples"), list) else None
    record = TrainingRecord(
        status=(TrainingStatus.OK if trained else TrainingStatus.FAILED).value,
        stage=parsed.get("stage") or "container",
        backend_used=parsed.get("backend_used"),
        keras_version=parsed.get("keras_version"),
        device=parsed.get("device") if isinstance(parsed.get("device"), dict) else None,
        epoch_seconds=[round(x, 4) for x in epochs],
        test_accuracy=parsed.get("test_accuracy"),
        test_loss=parsed.get("test_loss"),
        threads=parsed.get("threads"),
        cpuset=cpuset,
        cpus_allowed=parsed.get("cpus_allowed") if isinstance(parsed.get("cpus_allowed"), list) else None,
        error=parsed.get("error"),
        exit_code=outcome.exit_code,
        oom_killed=outcome.oom_killed,
        seconds=round(outcome.seconds, 2),
        started_at=started_at,
        finished_at=now_iso(),
        log_tail=None,
        # An older train.py reported wall times only: they are the samples then.
        samples=tag_samples(raw_samples if raw_samples is not None else [{"wall": x} for x in epochs],
                            process, warmup_epochs(cell, protocol), calibration_of(parsed)),
    )
    if outcome.timed_out:
        record["status"] = TrainingStatus.TIMEOUT.value
        record["error"] = ErrorInfo(type="timeout", message="training ran past %ds" % timeout)
    elif outcome.oom_killed:
        record["error"] = ErrorInfo(type="oom", message="the container was killed by its memory limit (%s)"
                                    % cell.limits.memory)
    elif not parsed:
        record["error"] = ErrorInfo(type="crash", message="the training process died without a result (exit code %s)"
                                    % outcome.exit_code)
    if record["status"] != TrainingStatus.OK:
        record["log_tail"] = clip(outcome.output, 6000, keep="tail")
    if record["status"] == TrainingStatus.OK and gpu and not (record["device"] or {}).get("gpu"):
        # A GPU image that silently trained on the CPU is a failure to report, not a pass.
        record["status"], record["stage"] = TrainingStatus.FAILED.value, "device"
        record["error"] = ErrorInfo(type="no_gpu", message="a GPU was requested but %s saw none (devices: %s)"
                                    % (backend, (record["device"] or {}).get("devices")))
    return record


def combine(processes: Sequence[TrainingRecord], protocol: TimingProtocol = DEFAULT_PROTOCOL) -> TrainingRecord:
    """One training record from its processes: the first's facts, every sample, the time of all, and the
    timing of the pooled steady samples. A process that failed makes the training fail with its error."""
    failed = next((p for p in processes if p["status"] != TrainingStatus.OK), None)
    record = TrainingRecord(**(failed or processes[0]))
    samples = [s for p in processes for s in p.get("samples") or []]
    record["samples"] = samples
    record["epoch_seconds"] = [e for p in processes for e in p.get("epoch_seconds") or []]
    record["seconds"] = round(sum(p.get("seconds") or 0 for p in processes), 2)
    record["started_at"], record["finished_at"] = processes[0].get("started_at"), processes[-1].get("finished_at")
    steady = [s["wall"] for s in samples if not s.get("warmup")]
    first = [s["wall"] for s in samples if s.get("epoch") == 1]
    record["timing"] = assess(samples, protocol, record.get("cpuset")) if steady else None
    # Kept for older readers: steady_epoch_seconds is the headline (timing.seconds).
    record["first_epoch_seconds"] = round(statistics.median(first), 4) if first else None
    record["steady_epoch_seconds"] = record["timing"]["seconds"] if record["timing"] else None
    record["steady_epoch_spread"] = [round(min(steady), 4), round(max(steady), 4)] if steady else None
    return record


def train_backend(cell: Cell, engine: Engine, image: str, backend: str, data_dir: Path, timeout: float,
                  cpuset: Optional[str] = None, gpu: bool = False,
                  protocol: TimingProtocol = DEFAULT_PROTOCOL) -> TrainingRecord:
    """One process of one backend as a finished training record (what a single-process measure records)."""
    return combine([train_process(cell, engine, image, backend, data_dir, timeout, cpuset, gpu, 1, protocol)],
                   protocol)


def epochs_per_process(cell: Cell, protocol: TimingProtocol) -> int:
    """The cell's epochs, but at least the protocol's warm-up and steady epochs."""
    return max(cell.epochs, protocol.warmup_epochs + protocol.min_steady_epochs)


def warmup_epochs(cell: Cell, protocol: TimingProtocol) -> int:
    """The protocol's warm-up, but never every epoch: a process still reports a figure."""
    return min(protocol.warmup_epochs, max(0, epochs_per_process(cell, protocol) - 1))


RunOne = Callable[[str, int], TrainingRecord]  # (backend, process number) -> that process's record


def measure_backends(backends: Sequence[str], run_one: RunOne, protocol: TimingProtocol,
                     time_left: Callable[[], bool]) -> Dict[str, TrainingRecord]:
    """Every backend's training, interleaved: round 1 runs A B C, round 2 A B C again (a new process each),
    so drift over minutes hits all alike. After min_processes rounds only the backends whose interval is
    still too wide go on, up to max_processes, and only while the extra processes (estimated from each
    backend's earlier ones) cost at most remeasure_share of the first rounds' container time. A failed
    process ends its backend's measuring."""
    processes: Dict[str, List[TrainingRecord]] = {b: [] for b in backends}
    combined: Dict[str, TrainingRecord] = {}
    base: Optional[float] = None

    def spent() -> float:
        return sum(p.get("seconds") or 0.0 for runs in processes.values() for p in runs)

    for round_number in range(1, protocol.max_processes + 1):
        pending = [b for b in backends if wants_another_process(
            combined.get(b, {}).get("timing"), len(processes[b]), protocol)
            and all(p["status"] == TrainingStatus.OK for p in processes[b])]
        if round_number > protocol.min_processes:
            base = spent() if base is None else base
            allowed = protocol.remeasure_share * base - (spent() - base)
            kept = []
            for backend in pending:
                estimate = statistics.mean(p.get("seconds") or 0.0 for p in processes[backend])
                if estimate <= allowed:
                    kept.append(backend)
                    allowed -= estimate
            pending = kept
        if not pending:
            break
        for backend in pending:
            if not time_left():
                return combined
            processes[backend].append(run_one(backend, round_number))
            combined[backend] = combine(processes[backend], protocol)
    return combined
