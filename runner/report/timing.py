"""What a report may say about a training's time: its headline figure, and comparisons that respect noise.

A training recorded by this version carries every timed epoch (`samples`) and a `timing` estimate with a
95% interval and a stability verdict (stable | unstable | contended). Older records carry only
`epoch_seconds` and a steady median: they still render as before, but their few steady epochs rarely support
a claim, and runner.model.stats.compare decides that, not a threshold.

Rules every output follows:
- a stable training is shown as '0.63 s ±2%'; an unstable or contended one never as a plain number, but as
  'unstable (steal)' with the figure only in the details;
- "A is faster than B" only when stats.compare on the steady samples says so (Mann-Whitney U p < 0.01 and
  a median gap of at least 5%), and only for trainings of one cell (same image, same run); an unstable or
  contended training is compared with nothing.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional

from runner.model import stats
from runner.model.records import Stability, TrainingStatus
from runner.report.fields import Training, fmt_accuracy, fmt_seconds, ok_steady
from runner.util.text import one_line

SHAKY = frozenset({Stability.UNSTABLE.value, Stability.CONTENDED.value})


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def timing_of(training: Training) -> Optional[Dict[str, Any]]:
    timing = training.get("timing")
    return timing if isinstance(timing, dict) else None


def has_samples(training: Training) -> bool:
    """Whether the record carries its per-epoch samples (written by versions with the timing protocol)."""
    return isinstance(training.get("samples"), list) and bool(training.get("samples"))


def steady_samples(training: Training) -> List[float]:
    """The steady (non-warm-up) epoch seconds of a finished training: `samples[].wall` where recorded,
    else the epochs after the first (older records). Empty for a training that did not finish."""
    if training.get("status") != TrainingStatus.OK:
        return []
    if has_samples(training):
        walls = [_number(s.get("wall")) for s in training["samples"] if isinstance(s, dict) and not s.get("warmup")]
        return [w for w in walls if w is not None]
    epochs = [_number(e) for e in training.get("epoch_seconds") or []]
    return [e for e in epochs[1:] if e is not None]


def verdict(training: Training) -> Optional[str]:
    """'stable' | 'unstable' | 'contended' from the record, or None for a record without a timing."""
    timing = timing_of(training)
    value = timing.get("verdict") if timing else None
    return one_line(value, 20) if value else None


def causes(training: Training) -> List[str]:
    timing = timing_of(training) or {}
    return [one_line(c, 40) for c in timing.get("causes") or [] if c]


def is_shaky(training: Training) -> bool:
    return verdict(training) in SHAKY


def seconds(training: Training) -> Optional[float]:
    """The headline figure: the timing's estimate, else the steady median (older records); finished only."""
    if training.get("status") != TrainingStatus.OK:
        return None
    timing = timing_of(training)
    if timing is not None and _number(timing.get("seconds")) is not None:
        return _number(timing.get("seconds"))
    return ok_steady(training)


def interval(training: Training) -> Optional[List[float]]:
    """[lo, hi] of the 95% interval where recorded."""
    timing = timing_of(training) or {}
    value = timing.get("interval")
    if isinstance(value, list) and len(value) == 2 and all(_number(v) is not None for v in value):
        return [float(value[0]), float(value[1])]
    return None


def plus_minus(training: Training) -> str:
    """'±2%' from the timing's relative half-width; '' when not recorded."""
    width = _number((timing_of(training) or {}).get("rel_width"))
    if width is None:
        return ""
    percent = 100 * width
    return "\u00b1%.0f%%" % percent if percent >= 1 else "\u00b1%.1f%%" % percent


def shaky_text(training: Training) -> str:
    """'unstable (steal)', 'contended (throttling, steal)', 'unstable'."""
    why = causes(training)
    return "%s (%s)" % (verdict(training), ", ".join(why)) if why else str(verdict(training))


SMOKE_TEXT = "trained (smoke)"


def is_smoke(cell: Mapping[str, Any]) -> bool:
    """A cell measured with `measure: smoke`: a few batches in one process, a check that it trains."""
    return cell.get("measure") == "smoke"


def headline(training: Training, smoke: bool = False) -> str:
    """'0.63 s ±2%' (stable), 'unstable (steal)' (never a plain number), '0.63s' (older record), '-';
    'trained (smoke)' for a smoke training, whose time is no measurement."""
    value = seconds(training)
    if value is None:
        return "-"
    if smoke:
        return SMOKE_TEXT
    if is_shaky(training):
        return shaky_text(training)
    width = plus_minus(training)
    if timing_of(training) is None or not width:
        return fmt_seconds(value)
    return "%s %s" % (fmt_seconds(value).replace("s", " s"), width)


def detail(training: Training) -> str:
    """The figure with its interval for the details: '0.63 s (95% 0.61-0.65 s, 20 samples, unstable: steal)'."""
    value = seconds(training)
    if value is None:
        return "-"
    parts = []
    bounds = interval(training)
    if bounds is not None:
        parts.append("95%% %s \u2013 %s" % (fmt_seconds(bounds[0]), fmt_seconds(bounds[1])))
    parts.append("%d steady samples" % len(steady_samples(training)))
    if is_shaky(training):
        parts.append(shaky_text(training))
    return "%s (%s)" % (fmt_seconds(value), ", ".join(parts))


def training_summary(training: Optional[Training], smoke: bool = False) -> str:
    """'0.63 s ±2% 97.5%' for a finished training ('unstable (steal) 97.5%' when the figure cannot be quoted);
    otherwise what happened, e.g. 'failed: ImportError'; '-' when it never trained."""
    if training is None:
        return "-"  # requested, never trained: the cell failed or stopped before
    status = training.get("status")
    if status == TrainingStatus.OK:
        return "%s %s" % (headline(training, smoke), fmt_accuracy(training.get("test_accuracy")))
    error = training.get("error") or {}
    kind = str(error.get("type") or training.get("stage") or "").rsplit(".", 1)[-1]
    return "%s: %s" % (status, kind) if kind and kind != status else str(status)


def compare_trainings(a: Training, b: Training, min_effect: float = stats.MIN_EFFECT) -> Dict[str, Any]:
    """stats.compare on the steady samples: {verdict faster|slower|same, ratio, p, n_a, n_b}; 'faster' means
    A is faster than B. An unstable or contended training is never called faster or slower."""
    sa, sb = steady_samples(a), steady_samples(b)
    result: Dict[str, Any] = dict(stats.compare(sa, sb, min_effect=min_effect))
    if is_shaky(a) or is_shaky(b):
        result["verdict"] = "same"
        result["untrusted"] = True
    result.update(n_a=len(sa), n_b=len(sb))
    return result


def too_few(n_a: int, n_b: int) -> bool:
    """Whether even a perfect separation could not reach p < alpha (exact two-sided U: 2 / C(n_a + n_b, n_a))."""
    return n_a == 0 or n_b == 0 or 2 / math.comb(n_a + n_b, n_a) >= stats.ALPHA


def evidence(result: Dict[str, Any]) -> str:
    """'p=0.001, 10 vs 10 samples' for a sentence; says so when the samples are too few to show anything."""
    p = result.get("p")
    text = "%s, %d vs %d samples" % ("p=%s" % p if p is not None else "no p", result["n_a"], result["n_b"])
    return text + (": too few to tell" if too_few(result["n_a"], result["n_b"]) else "")


__all__ = ["causes", "compare_trainings", "detail", "evidence", "has_samples", "headline", "interval",
           "is_shaky", "plus_minus", "seconds", "shaky_text", "steady_samples", "timing_of", "too_few",
           "training_summary", "verdict"]
