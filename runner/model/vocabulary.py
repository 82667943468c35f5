"""The words the tool's options and records are made of, each one type: how a cell is measured, the device
it asks for, how progress is shown, how much a finding matters. (Statuses, timing verdicts and expectation
verdicts are in runner/model/records.py, beside the records that carry them.) No I/O here.

Each is a str enum: a member compares equal to its word and serialises as it, so records stay plain JSON;
tests/unit/test_vocabulary.py fails when one of these words is spelled out as a bare string elsewhere."""

from __future__ import annotations

from typing import Tuple

from runner.model.records import _TextEnum


class MeasureMode(_TextEnum):
    """How much of a cell is measured (matrix key `measure`)."""

    FULL = "full"    # probe, scenarios and the timed MNIST training
    SMOKE = "smoke"  # probe and a few batches per backend: does it train at all (no timing)
    PROBE = "probe"  # no training: import, default backend, scenarios, installed set


class Device(_TextEnum):
    CPU = "cpu"
    GPU = "gpu"


class Installer(_TextEnum):
    """What installs an era's packages (eras.yaml `installer`): pip, or uv for Python 3 eras (uv does not
    serve Python 2.7). Either way the cell's venv keeps its own pip, for `pip check` and for users."""

    PIP = "pip"
    UV = "uv"


class ProgressMode(_TextEnum):
    """What `run` prints while it goes (--progress)."""

    HUMAN = "human"  # a live display on a terminal, else timestamped lines
    QUIET = "quiet"
    JSON = "json"    # one JSON object per line, for tools


class FindingLevel(_TextEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class TimeEstimator(_TextEnum):
    """Candidate figures for a training's time (runner/model/estimators.py), compared by the estimator study
    (bench/timing_study.py). The reports' headline is still the steady epochs' median (runner/run/timing.py)."""

    EPOCH_MEDIAN = "epoch_median"  # median wall time of the steady epochs
    BATCH_Q10 = "batch_q10"        # 10th percentile of batch times x batches per epoch
    BATCH_Q20 = "batch_q20"        # 20th percentile of batch times x batches per epoch
    BATCH_MODE = "batch_mode"      # half-sample mode of batch times x batches per epoch
    BATCH_MEDIAN = "batch_median"  # median of batch times x batches per epoch
    CPU_MEDIAN = "cpu_median"      # median CPU seconds (user + system, all threads) of the process per steady epoch
    SLICE_Q10 = "slice_q10"        # 10th percentile of slice times (fit calls of K batches) x slices per epoch
    SLICE_MODE = "slice_mode"      # half-sample mode of slice times x slices per epoch
    SLICE_MEDIAN = "slice_median"  # median of slice times x slices per epoch


class TimingBudget(_TextEnum):
    """How many processes and epochs a full measure's training gets (runner/run/timing.py BUDGETS; `run
    --timing-budget`; the cost model is in docs/timing.md, "The budget")."""

    LEAN = "lean"            # one process; a second, interleaved, only while the interval is too wide
    THOROUGH = "thorough"    # two to four processes (the protocol of the runs published before the budget)


class BatchClock(_TextEnum):
    """How an epoch's batch times were taken (a sample's `batch_clock`; absent means the callback)."""

    CALLBACK = "callback"  # a Keras callback's batch hooks inside one fit call (train.py --batch-group)
    SLICES = "slices"      # consecutive fit calls of K batches, each timed from outside (train.py --slices)


def words(kind: type[_TextEnum]) -> Tuple[str, ...]:
    """The words of one vocabulary, in declaration order (argparse choices, schema enums)."""
    return tuple(member.value for member in kind)
