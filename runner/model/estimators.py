"""Candidate figures for a training's time, for the estimator study (bench/timing_study.py). Pure functions
of a training's samples (runner/model/records.py `Sample`); no I/O.

Why batch times: steal and other processes only ever add time, in bursts much shorter than an epoch. An
epoch's wall time sums every burst that hit it; a low quantile (or the mode) of the batch times skips the
batches a burst hit, so it should move less from one rerun to the next. Which figure actually reproduces
best is for the study's data to say, on a quiet machine; until then the reports' headline stays the median
of the steady epochs (runner/run/timing.py).

Every figure is in seconds per epoch and uses the steady epochs only (warm-up ones left out):

- epoch_median: the median of the steady epochs' wall times (today's headline);
- batch_q10, batch_q20, batch_median: that quantile of the per-batch times, pooled over the steady epochs,
  times the batches an epoch runs;
- batch_mode: the half-sample mode (Bickel and Fruehwirth 2006: the densest half, halved until three values
  are left) of the same per-batch times, times the batches an epoch runs; no bin width or bandwidth to pick;
- cpu_median: the median of the process's CPU seconds (user + system, all its threads) per steady epoch:
  work done, not wall time, so it is not comparable in size with the others, only in reproducibility;
- slice_q10, slice_mode, slice_median: the same statistics over slice times (train.py --slices K: each
  epoch run as consecutive fit calls of K batches, timed from outside, no per-batch Python hook), per slice,
  times the slices of K batches an epoch runs (batches / K). A slice's time includes fit's per-call
  overhead, so these figures carry it once per slice.

The batch figures read callback times only and the slice figures slice times only (a sample's
`batch_clock`; absent means the callback), so a figure never mixes the two clocks.

Per-batch times come from `batch_us` (each entry a group of `batch_group` batches: its time divided by the
group size). The last group of every epoch is left out: it holds the epoch's short last batch (60000 images
= 468 x 128 + 96) and may be a partial group. Epochs recorded without batch times give no batch figure.

The interval is a percentile bootstrap over the steady epochs (whole epochs are resampled, so batch times
that go together stay together), seeded from the samples: the same samples give the same interval.
"""

from __future__ import annotations

import math
import statistics
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypedDict

from runner.model import stats
from runner.model.records import Sample
from runner.model.vocabulary import BatchClock, TimeEstimator

RESAMPLES = 1000  # bootstrap resamples per figure: the batch figures sort thousands of values each time

Figure = Callable[[Sequence[Sample]], Optional[float]]


class Estimate(TypedDict):
    """One candidate figure of one training: seconds per epoch, its bootstrap 95% interval and what it
    rests on (steady epochs; batch groups pooled, for the batch figures)."""

    estimator: str
    seconds: Optional[float]
    interval: Optional[List[float]]
    rel_width: Optional[float]
    epochs: int
    units: int


def steady(samples: Sequence[Sample]) -> List[Sample]:
    return [s for s in samples if not s.get("warmup")]


def clock_of(sample: Sample) -> str:
    """How the sample's batch times were taken (BatchClock); absent means the callback."""
    return str(sample.get("batch_clock") or BatchClock.CALLBACK.value)


def batch_units(sample: Sample, clock: Optional[str] = None) -> List[float]:
    """Seconds per batch of each full group of the epoch but its last; [] without batch times, or when
    `clock` is given and the sample's times were taken another way."""
    group, times = sample.get("batch_group"), sample.get("batch_us")
    if not group or not times or (clock is not None and clock_of(sample) != clock):
        return []
    return [t / group / 1e6 for t in times[:-1]]


def regroup(sample: Sample, factor: int) -> Sample:
    """The epoch's batch times at a coarser grain: `factor` consecutive groups summed into one (the last
    one may be shorter), as if train.py had run with --batch-group batch_group x factor."""
    group, times = sample.get("batch_group"), sample.get("batch_us")
    if factor < 1:
        raise ValueError("factor must be at least 1")
    if not group or times is None:
        return Sample(**sample)
    out = Sample(**sample)
    out["batch_group"] = group * factor
    out["batch_us"] = [sum(times[i:i + factor]) for i in range(0, len(times), factor)]
    return out


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile with linear interpolation between order statistics (R's type 7, NumPy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = q * (len(ordered) - 1)
    low = int(math.floor(position))
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def half_sample_mode(values: Sequence[float]) -> float:
    """The half-sample mode: keep the half of the sorted values with the smallest range, again and again,
    until three or fewer are left; then the closest pair's mean (the middle value when both gaps tie)."""
    x = sorted(values)
    if not x:
        raise ValueError("no values")
    while len(x) > 3:
        half = (len(x) + 1) // 2
        start = min(range(len(x) - half + 1), key=lambda i: (x[i + half - 1] - x[i], i))
        x = x[start:start + half]
    if len(x) == 3:
        left, right = x[1] - x[0], x[2] - x[1]
        return (x[0] + x[1]) / 2 if left < right else (x[1] + x[2]) / 2 if right < left else x[1]
    return sum(x) / len(x)


def _batches_per_epoch(epochs: Sequence[Sample]) -> Optional[float]:
    counts = [s.get("batches") for s in epochs]
    present = [c for c in counts if c]
    return float(statistics.median(present)) if present and len(present) == len(counts) else None


def _batch_figure(statistic: Callable[[List[float]], float], clock: str = BatchClock.CALLBACK.value) -> Figure:
    """statistic(per-batch times) x batches per epoch. For slices, the per-batch time is a slice's time over
    its K batches, so this is statistic(slice times) x batches / K: the slices an epoch runs."""
    def figure(epochs: Sequence[Sample]) -> Optional[float]:
        per_epoch = _batches_per_epoch(epochs)
        units = [u for s in epochs for u in batch_units(s, clock)]
        if per_epoch is None or not units or any(not batch_units(s, clock) for s in epochs):
            return None
        return statistic(units) * per_epoch
    return figure


def _epoch_median(epochs: Sequence[Sample]) -> Optional[float]:
    return stats.median([s["wall"] for s in epochs]) if epochs else None


def _process_cpu(epochs: Sequence[Sample]) -> Optional[float]:
    values = [s.get("process_cpu") for s in epochs]
    if not values or any(v is None for v in values):
        return None
    return stats.median([float(v or 0.0) for v in values])


FIGURES: Dict[str, Figure] = {
    TimeEstimator.EPOCH_MEDIAN.value: _epoch_median,
    TimeEstimator.BATCH_Q10.value: _batch_figure(lambda u: quantile(u, 0.10)),
    TimeEstimator.BATCH_Q20.value: _batch_figure(lambda u: quantile(u, 0.20)),
    TimeEstimator.BATCH_MODE.value: _batch_figure(half_sample_mode),
    TimeEstimator.BATCH_MEDIAN.value: _batch_figure(lambda u: quantile(u, 0.50)),
    TimeEstimator.CPU_MEDIAN.value: _process_cpu,
    TimeEstimator.SLICE_Q10.value: _batch_figure(lambda u: quantile(u, 0.10), BatchClock.SLICES.value),
    TimeEstimator.SLICE_MODE.value: _batch_figure(half_sample_mode, BatchClock.SLICES.value),
    TimeEstimator.SLICE_MEDIAN.value: _batch_figure(lambda u: quantile(u, 0.50), BatchClock.SLICES.value),
}
SLICE_FIGURES = (TimeEstimator.SLICE_Q10.value, TimeEstimator.SLICE_MODE.value, TimeEstimator.SLICE_MEDIAN.value)


def bootstrap_epochs(epochs: Sequence[Sample], figure: Figure, resamples: int = RESAMPLES,
                     confidence: float = stats.CONFIDENCE) -> Optional[Tuple[float, float]]:
    """Percentile bootstrap interval of `figure`, resampling whole epochs; None under two epochs or when a
    resample has no figure."""
    epochs = list(epochs)
    if len(epochs) < 2:
        return None
    rng = stats.seeded_rng([s["wall"] for s in epochs] + [float(len(s.get("batch_us") or [])) for s in epochs])
    values: List[float] = []
    for _ in range(resamples):
        value = figure([epochs[rng.randrange(len(epochs))] for _ in epochs])
        if value is None:
            return None
        values.append(value)
    return stats.percentile_bounds(values, confidence)


def estimate(samples: Sequence[Sample], estimator: str, resamples: int = RESAMPLES) -> Estimate:
    """One candidate figure of a training (its steady samples), with its interval where one means something."""
    epochs = steady(samples)
    figure = FIGURES[estimator]
    seconds = figure(epochs)
    interval = bootstrap_epochs(epochs, figure, resamples) if seconds is not None else None
    width = stats.relative_width(seconds, interval) if seconds and interval else None
    clock = BatchClock.SLICES.value if estimator in SLICE_FIGURES else BatchClock.CALLBACK.value
    units = sum(len(batch_units(s, clock)) for s in epochs) if estimator.startswith(("batch_", "slice_")) else 0
    return Estimate(estimator=estimator, seconds=None if seconds is None else round(seconds, 5),
                    interval=None if interval is None else [round(interval[0], 5), round(interval[1], 5)],
                    rel_width=None if width is None else round(width, 4), epochs=len(epochs), units=units)


def estimate_all(samples: Sequence[Sample], resamples: int = RESAMPLES) -> Dict[str, Estimate]:
    return {name: estimate(samples, name, resamples) for name in FIGURES}
