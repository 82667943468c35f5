"""The timing protocol: how a training is sampled, and what its samples say (headline figure, interval,
verdict, causes). Pure functions of the samples; measure.py runs the containers, cell_jobs.py the order.

Chosen from bench/timing_study.py (see the README's "Timing protocol"): the first epoch of every process is
warm-up (graph building, compilation: 1.2-3x a steady epoch) and is recorded but left out; each process
adds its steady epochs to one pool; the backends of a cell are measured interleaved, one process each per
round, so drift over minutes hits them alike; the headline is the median of the pooled steady epochs with
a bootstrap 95% interval. A training is `stable` when the interval's half-width is within `max_rel_width`
of the figure, `contended` when its counters show the cores were not ours (foreign work on our cores, host
steal, CFS throttling), `unstable` when it stays too wide after the budget.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from runner.model import stats
from runner.model.records import Sample, Stability, Timing
from runner.model.vocabulary import BatchClock, MeasureMode, TimingBudget, words

if TYPE_CHECKING:
    from runner.matrix.cells import Cell

FOREIGN_FLOOR_SECONDS = 0.05  # /proc/stat counts in 10 ms ticks: less than 5 ticks is rounding, not a neighbour


@dataclass(frozen=True)
class TimingProtocol:
    """How many processes and epochs a training gets, and when its figure may be quoted."""

    warmup_epochs: int = 1          # per process: recorded (warmup: true), never in the headline
    min_steady_epochs: int = 3      # per process at least: a cell's `epochs` counts warm-up and steady ones
    min_processes: int = 2          # rounds every backend gets: a new process is the main source of spread
    max_processes: int = 4          # ... and at most, while the interval stays wide
    max_rel_width: float = 0.03     # stable when the 95% interval is within +-3% of the median
    remeasure_share: float = 0.25   # extra processes may cost this share of the first rounds' container time
    foreign_share: float = 0.05     # others' CPU on our cores above 5% of wall: contended
    steal_share: float = 0.02       # host steal above 2% of wall: contended
    throttled_seconds: float = 0.01  # any CFS throttling beyond rounding: contended
    quota_when_pinned: bool = False  # a cpuset already gives exactly the cores; a quota could only throttle
    max_batches: Optional[int] = None  # smoke: train on the first N batches only
    # Batch times: train.py times groups of this many batches (0: none). Off for full measures until the quiet
    # estimator study (docs/timing.md) shows what a batch callback does to an epoch: it makes Keras 3 and
    # tf.keras wait for every batch, so turning it on could move the figures the reports quote. When on, 16
    # keeps a full epoch's 469 batches at 30 groups, ~0.8 KB per epoch in results.json.
    batch_group: int = 0
    # Slices (train.py --slices K): each epoch as fit calls of K batches timed from outside, no batch callback.
    # Off until the quiet A/B (bench/timing_study.py --ab-slices) shows what the calls cost each backend: fit's
    # per-call overhead is ~0.1 s in Keras 3 on TensorFlow (docs/timing.md, "Slices"), 30 calls per epoch.
    slices: int = 0
    # Calibration (train.py --calibrate N): N repetitions of a fixed NumPy workload before and after the fit, in
    # the training's own process, recorded per sample, so a figure can be read against how fast the machine
    # was at that moment. Off: in the 2026-12-03 reproducibility run (docs/timing.md) the figures read against
    # it reproduced no better than the plain ones (max/min 1.13-1.68 against 1.08-1.52), ~1 s a process wasted.
    calibrate: int = 0
    estimator: str = "median"

    def key(self) -> Dict[str, Any]:
        """What the cache key must change with: results measured under another protocol are not reused."""
        return asdict(self)


THOROUGH_PROTOCOL = TimingProtocol()
# The lean budget (docs/timing.md, "The budget"): one process of more steady epochs per training, and a second
# one, interleaved with the cell's other backends, only while its 95% interval is wider than max_rel_width,
# within remeasure_share of the first round's container time. bench/protocol_cost.py computes what each budget
# would have cost the published full matrix from its records.
LEAN_PROTOCOL = replace(THOROUGH_PROTOCOL, min_processes=1, max_processes=2, min_steady_epochs=5,
                        remeasure_share=0.5)
BUDGETS: Dict[str, TimingProtocol] = {TimingBudget.LEAN.value: LEAN_PROTOCOL,
                                      TimingBudget.THOROUGH.value: THOROUGH_PROTOCOL}
DEFAULT_BUDGET = TimingBudget.LEAN.value
DEFAULT_PROTOCOL = BUDGETS[DEFAULT_BUDGET]
# A smoke measure (sweeps): one short process per backend, to see that it trains and roughly how fast.
SMOKE_PROTOCOL = replace(DEFAULT_PROTOCOL, min_processes=1, max_processes=1, min_steady_epochs=2, max_batches=20,
                         batch_group=1, calibrate=0)


def measure_mode(cell: Cell) -> str:
    """full | smoke | probe (no trainings). Cells from before the `measure` field are measured in full."""
    mode = getattr(cell, "measure", MeasureMode.FULL.value)
    return mode if mode in words(MeasureMode) else MeasureMode.FULL.value


def protocol_for(cell: Cell, budget: str = DEFAULT_BUDGET) -> TimingProtocol:
    """The smoke protocol for smoke cells; else the budget's (lean by default)."""
    return SMOKE_PROTOCOL if measure_mode(cell) == MeasureMode.SMOKE else BUDGETS[budget]


def calibration_of(parsed: Any) -> Optional[float]:
    """The median of train.py's calibration repetitions (before and after the fit), None without any.
    Untrusted input: only positive, finite numbers count."""
    block = parsed.get("calibration") if isinstance(parsed, dict) else None
    if not isinstance(block, dict):
        return None
    reps = [float(x) for part in ("before", "after") if isinstance(block.get(part), list)
            for x in block[part][:1000] if is_number(x) and 0 < float(x) < 1e6]
    return round(stats.median(reps), 6) if reps else None


def tag_samples(raw: Sequence[Any], process: int, warmup_epochs: int,
                calibration: Optional[float] = None) -> List[Sample]:
    """train.py's per-epoch counter deltas as record samples: process number, epoch, warm-up flag (and the
    process's calibration, when it ran one). Untrusted input: anything without a numeric wall time is dropped,
    other counters must be numbers."""
    samples: List[Sample] = []
    for epoch, item in enumerate(raw):
        if not isinstance(item, dict) or not is_number(item.get("wall")):
            continue
        sample = Sample(process=process, epoch=epoch + 1, warmup=epoch < warmup_epochs, wall=float(item["wall"]))
        numbers = {key: float(item[key]) if is_number(item.get(key)) else None
                   for key in ("process_cpu", "container_cpu", "throttled", "steal", "cores_busy")}
        sample["process_cpu"], sample["container_cpu"] = numbers["process_cpu"], numbers["container_cpu"]
        sample["throttled"], sample["steal"] = numbers["throttled"], numbers["steal"]
        sample["cores_busy"] = numbers["cores_busy"]
        count = item.get("nr_throttled")
        sample["nr_throttled"] = count if isinstance(count, int) and not isinstance(count, bool) else None
        sample.update(batch_times(item))
        if calibration is not None:
            sample["calibration"] = calibration
        samples.append(sample)
    return samples


MAX_BATCH_GROUPS = 20000  # per epoch: a full MNIST epoch has 469 batches; anything far beyond is not ours


def batch_times(item: Dict[str, Any]) -> Sample:
    """The epoch's batch times from train.py, checked: {} unless batches, batch_group and batch_us are all
    there and agree (positive integers, as many groups as the batches need, each a non-negative integer) and
    batch_clock, when there, is a BatchClock word (slice times keep it; callback times leave it out)."""
    batches, group, times = item.get("batches"), item.get("batch_group"), item.get("batch_us")
    if not (isinstance(batches, int) and isinstance(group, int) and _count(batches) and _count(group)
            and isinstance(times, list) and len(times) <= MAX_BATCH_GROUPS):
        return Sample()
    if len(times) != -(-batches // group) or not all(_natural(t) for t in times):
        return Sample()
    clock = item.get("batch_clock", BatchClock.CALLBACK.value)
    if clock not in words(BatchClock):
        return Sample()  # times taken some way we do not know cannot be read as either kind
    out = Sample(batches=batches, batch_group=group, batch_us=list(times))
    if clock != BatchClock.CALLBACK:  # absent means the callback, as in results recorded before slices
        out["batch_clock"] = clock
    return out


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _count(value: Any) -> bool:
    return _natural(value) and value > 0


def is_number(value: Any) -> bool:
    """A finite number, as a float can hold it: train.py's output is untrusted, and a 400-digit integer in
    it (valid JSON) would make float() raise OverflowError, infinity and NaN would poison every median."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _counter(sample: Sample, key: str) -> Optional[float]:
    value: Any = sample.get(key)
    return float(value) if is_number(value) else None


def foreign_seconds(sample: Sample) -> Optional[float]:
    """CPU time others took on our cores during the sample: the cores' busy time minus our container's."""
    busy, ours = sample.get("cores_busy"), sample.get("container_cpu")
    return None if busy is None or ours is None else max(0.0, busy - ours)


def _share(samples: Sequence[Sample], key: str) -> Optional[float]:
    wall = sum(s["wall"] for s in samples)
    values: List[Optional[float]] = [foreign_seconds(s) if key == "foreign" else _counter(s, key) for s in samples]
    if not wall or any(v is None for v in values):
        return None
    return sum(v or 0.0 for v in values) / wall


def contention_causes(steady: Sequence[Sample], protocol: TimingProtocol, cores: Optional[str]) -> List[str]:
    """Why the cores were not ours while we timed, each with its size; [] when the counters saw nothing.
    Judged per process (its steady epochs together: tick rounding averages out) and per epoch for bursts."""
    causes: List[str] = []
    by_process: Dict[int, List[Sample]] = {}
    for sample in steady:
        by_process.setdefault(sample.get("process", 1), []).append(sample)
    # A process's share counts once its foreign seconds are more than tick rounding (tiny smoke epochs).
    foreign = [v for v in (_share(g, "foreign") for g in by_process.values()
                           if sum(foreign_seconds(s) or 0.0 for s in g) >= FOREIGN_FLOOR_SECONDS) if v is not None]
    bursts = [f / s["wall"] for s in steady for f in [foreign_seconds(s)]
              if f is not None and s["wall"] > 0 and f >= FOREIGN_FLOOR_SECONDS]
    worst = max(foreign + bursts, default=0.0)
    if worst > protocol.foreign_share:
        causes.append("foreign work on cores %s: %.0f%% of wall" % (cores or "?", worst * 100))
    steal = max((v for v in (_share(g, "steal") for g in by_process.values()) if v is not None), default=0.0)
    if steal > protocol.steal_share:
        causes.append("host steal %.0f%% of wall" % (steal * 100))
    throttled = sum(s.get("throttled") or 0.0 for s in steady)
    if throttled > protocol.throttled_seconds:
        causes.append("CFS throttling %.2f s" % throttled)
    return causes


def assess(samples: Sequence[Sample], protocol: TimingProtocol, cores: Optional[str] = None) -> Timing:
    """The headline figure of a training's steady samples, its interval and its verdict."""
    steady = [s for s in samples if not s.get("warmup")]
    summary = stats.summarize_samples([s["wall"] for s in steady], protocol.max_rel_width)
    causes = contention_causes(steady, protocol, cores)
    processes = len({s.get("process", 1) for s in samples})
    if causes:
        verdict = Stability.CONTENDED
    elif summary["stable"]:
        verdict = Stability.STABLE
    else:
        verdict = Stability.UNSTABLE
        width = summary["rel_width"]
        causes.append("95%% interval +-%s after %d process(es), %d steady epochs (threshold +-%.0f%%)"
                      % ("%.1f%%" % (float(width) * 100) if isinstance(width, float) else "unknown",
                         processes, len(steady), protocol.max_rel_width * 100))
    cpu = _share(steady, "container_cpu")
    steal = _share(steady, "steal")
    foreign = _share(steady, "foreign")
    throttled = [s.get("throttled") for s in steady]
    interval = summary["interval"]
    rel_width = summary["rel_width"]
    estimate = summary["estimate"]
    return Timing(
        estimator=protocol.estimator,
        seconds=float(estimate) if isinstance(estimate, (int, float)) else None,
        interval=list(interval) if isinstance(interval, list) else None,
        confidence=stats.CONFIDENCE,
        rel_width=float(rel_width) if isinstance(rel_width, (int, float)) else None,
        samples=len(steady),
        processes=processes,
        verdict=verdict.value,
        causes=causes,
        cpu_per_wall=None if cpu is None else round(cpu, 3),
        steal_share=None if steal is None else round(steal, 4),
        foreign_share=None if foreign is None else round(foreign, 4),
        throttled_seconds=None if any(t is None for t in throttled) else round(sum(t or 0.0 for t in throttled), 3),
    )


def wants_another_process(timing: Optional[Timing], processes: int, protocol: TimingProtocol) -> bool:
    """Measure this training again? Always up to min_processes; beyond, while its interval is too wide."""
    if processes < protocol.min_processes:
        return True
    if processes >= protocol.max_processes or timing is None:
        return False
    width = timing.get("rel_width")
    return width is None or width > protocol.max_rel_width
