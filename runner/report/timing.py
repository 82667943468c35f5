"""What a report may say about a training's time: its headline figure, and comparisons that respect noise.

A training recorded by this version carries every timed epoch (`samples`) and a `timing` estimate with a
95% interval and a stability verdict (stable | unstable | contended). Older records carry only
`epoch_seconds` and a steady median: they still render as before, but their few steady epochs rarely support
a claim, and runner.model.stats.compare decides that, not a threshold.

Rules every output follows (docs/timing.md):
- one rule formats a finished training's time, `headline`: the figure with its interval, '2.71 s ±2%', and a
  flagged one (contended, unstable) keeps its figure with the flag and its cause next to it,
  '2.73 s ±3% [contended: host steal 4%]'; no format replaces the number with the verdict, none quotes a
  number another format withholds. A smoke training is 'trained (smoke)': its time is never shown or charted;
- backends of one cell are compared as a ratio with its bootstrap 95% interval ('jax 1.52x faster than
  tensorflow (95% 1.49x-1.55x, ...)'), claimed only when stats.compare says so (Mann-Whitney U p < 0.01 and
  a median gap of at least 5%), the interval excludes 1 and neither training is flagged; otherwise the ratio
  is shown with why it is no claim ('not significant', 'not claimed: flagged (...)').
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from runner.model import stats
from runner.model.records import Stability, TrainingStatus
from runner.model.vocabulary import MeasureMode
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
    return [one_line(c, 100) for c in timing.get("causes") or [] if c]


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
    """The verdict with the recorded causes in full: 'contended (host steal 4% of wall)', 'unstable'."""
    why = causes(training)
    return "%s (%s)" % (verdict(training), ", ".join(why)) if why else str(verdict(training))


SMOKE_TEXT = "trained (smoke)"

# A recorded cause, shortened for the mark next to a figure (the details keep the recorded text).
_SHORT_CAUSES = ((re.compile(r"^foreign work on cores .*: (\d+%) of wall$"), "foreign work %s"),
                 (re.compile(r"^host steal (\d+%) of wall$"), "host steal %s"),
                 (re.compile(r"^CFS throttling (.+)$"), "throttled %s"),
                 (re.compile(r"^95% interval .*\(threshold \+-(\d+(?:\.\d+)?%)\)$"), "wider than \u00b1%s"))


def short_cause(cause: str) -> str:
    """'host steal 4% of wall' -> 'host steal 4%'; '95% interval +-5% after 4 process(es), ... (threshold
    +-3%)' -> 'wider than ±3%'; anything else as recorded (one line, clipped)."""
    for pattern, text in _SHORT_CAUSES:
        found = pattern.match(cause)
        if found:
            return text % found.group(1)
    return one_line(cause, 30)


def is_smoke(cell: Mapping[str, Any]) -> bool:
    """A cell measured with `measure: smoke`: a few batches in one process, a check that it trains."""
    return cell.get("measure") == MeasureMode.SMOKE


def figure(training: Training) -> str:
    """The number with its interval: '2.71 s ±2%' ('0.63s' for an older record without one); '-' when the
    training did not finish."""
    value = seconds(training)
    if value is None:
        return "-"
    width = plus_minus(training)
    if timing_of(training) is None or not width:
        return fmt_seconds(value)
    return "%s %s" % (fmt_seconds(value).replace("s", " s"), width)


def mark(training: Training) -> str:
    """What flags a finished training's figure, with its cause: 'contended: host steal 4%',
    'unstable: wider than ±3%'; '' for a stable one (or an older record)."""
    if seconds(training) is None or not is_shaky(training):
        return ""
    why = [short_cause(c) for c in causes(training)]
    return "%s: %s" % (verdict(training), ", ".join(why)) if why else str(verdict(training))


def figure_parts(training: Training, smoke: bool = False) -> Tuple[str, str]:
    """(figure, mark) of the one rule below, for a format that sets the mark apart (the HTML matrix)."""
    if smoke and seconds(training) is not None:
        return SMOKE_TEXT, ""
    return figure(training), mark(training)


def headline(training: Training, smoke: bool = False) -> str:
    """THE rule for a training's time, in every format: the figure with its interval, and the flag with its
    cause next to it, never instead of it: '2.71 s ±2%', '2.73 s ±3% [contended: host steal 4%]',
    '2.73 s ±6% [unstable: wider than ±3%]'; 'trained (smoke)' for a smoke training, whose time is no
    measurement; '-' when it did not finish."""
    number, flag = figure_parts(training, smoke)
    return "%s [%s]" % (number, flag) if flag else number


def evidence_of(training: Training) -> str:
    """'95% 0.61s – 0.65s, 20 steady samples, contended (host steal 4% of wall)': what stands behind a figure."""
    parts = []
    bounds = interval(training)
    if bounds is not None:
        parts.append("95%% %s \u2013 %s" % (fmt_seconds(bounds[0]), fmt_seconds(bounds[1])))
    parts.append("%d steady samples" % len(steady_samples(training)))
    if is_shaky(training):
        parts.append(shaky_text(training))
    return ", ".join(parts)


SMOKE_DETAIL = "smoke: a few batches in one process, a check that it trains; its time is not a measurement"


def detail(training: Training, smoke: bool = False) -> str:
    """The figure with its interval for the details: '0.63s (95% 0.61s – 0.65s, 20 steady samples, ...)'."""
    value = seconds(training)
    if value is None:
        return "-"
    if smoke:
        return SMOKE_DETAIL
    return "%s (%s)" % (fmt_seconds(value), evidence_of(training))


def training_summary(training: Optional[Training], smoke: bool = False) -> str:
    """'0.63 s ±2% 97.5%' for a finished training ('0.63 s ±9% [unstable: wider than ±3%] 97.5%' when flagged);
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


def comparison(a: Training, b: Training) -> Dict[str, Any]:
    """A cell's two finished trainings compared as a ratio: {ratio: time of B / time of A, interval: its
    bootstrap 95% interval from the steady samples, claimed, why_not, p, n_a, n_b}. Claimed ("A is ratio x
    faster than B") only when stats.compare says so (p < ALPHA, gap >= MIN_EFFECT), the interval excludes 1
    and neither training is flagged; otherwise why_not says why ('not significant', 'under the 5% minimum
    difference', 'flagged: ...')."""
    sa, sb = steady_samples(a), steady_samples(b)
    result = compare_trainings(a, b)
    seconds_a, seconds_b = seconds(a), seconds(b)
    ratio = seconds_b / seconds_a if seconds_a and seconds_b is not None else None
    bounds = None if too_few(len(sa), len(sb)) else stats.ratio_interval(sb, sa)  # 2 vs 2: no interval to trust
    flagged = [t for t in (a, b) if is_shaky(t)]
    significant = result["verdict"] == "faster" and bounds is not None and bounds[0] > 1
    why_not = ""
    if flagged:
        why_not = "flagged"
    elif not significant and result["verdict"] == "same" and (result.get("p") or 1.0) < stats.ALPHA:
        # significant, but the medians differ by less than the smallest effect a claim needs
        why_not = "under the %d%% minimum difference" % round(stats.MIN_EFFECT * 100)
    elif not significant:
        why_not = "not significant"
    return {"ratio": ratio, "interval": bounds, "claimed": significant and not flagged, "why_not": why_not,
            "p": result.get("p"), "n_a": len(sa), "n_b": len(sb)}


def ratio_text(value: float) -> str:
    return "%.2fx" % value if value < 10 else "%.1fx" % value


def comparison_text(name_a: str, a: Training, name_b: str, b: Training) -> str:
    """One comparison inside a cell, A the faster figure: 'tensorflow 1.80x faster than theano (95%
    1.70x-1.90x, p=0.001, 10 vs 10 samples)' when claimed; otherwise the ratio with its interval and why it
    is no claim: 'tensorflow vs theano: 1.03x (95% 0.98x-1.08x), not significant (p=0.2, ...)',
    'jax vs tensorflow: 1.52x (95% ...), not claimed: jax flagged (p=...)'."""
    result = comparison(a, b)
    ratio, bounds = result["ratio"], result["interval"]
    if ratio is None:
        return "%s vs %s: no ratio (no figure)" % (name_a, name_b)
    within = " (95%% %s-%s" % (ratio_text(bounds[0]), ratio_text(bounds[1])) if bounds else \
        " (no interval: too few samples"
    evidence_text = evidence(result)
    if result["claimed"]:
        return "%s %s faster than %s%s, %s)" % (name_a, ratio_text(ratio), name_b, within, evidence_text)
    why = result["why_not"]
    if why == "flagged":
        why = "not claimed: %s flagged" % " and ".join(n for n, t in ((name_a, a), (name_b, b)) if is_shaky(t))
    return "%s vs %s: %s%s), %s (%s)" % (name_a, name_b, ratio_text(ratio), within, why, evidence_text)


def too_few(n_a: int, n_b: int) -> bool:
    """Whether even a perfect separation could not reach p < alpha (exact two-sided U: 2 / C(n_a + n_b, n_a))."""
    return n_a == 0 or n_b == 0 or 2 / math.comb(n_a + n_b, n_a) >= stats.ALPHA


def evidence(result: Dict[str, Any]) -> str:
    """'p=0.001, 10 vs 10 samples' for a sentence; says so when the samples are too few to show anything."""
    p = result.get("p")
    text = "%s, %d vs %d samples" % ("p=%s" % p if p is not None else "no p", result["n_a"], result["n_b"])
    return text + (": too few to tell" if too_few(result["n_a"], result["n_b"]) else "")


__all__ = ["causes", "compare_trainings", "comparison", "comparison_text", "detail", "evidence", "evidence_of",
           "figure", "figure_parts", "has_samples", "headline", "interval", "is_shaky", "mark", "plus_minus",
           "seconds", "shaky_text", "short_cause", "steady_samples", "timing_of", "too_few", "training_summary",
           "verdict"]
