"""What a person (or a CI log) sees while the run goes: which cell, which stage, how far, how long.

Modes: `human`, `json` (one JSON object per line, for machines) and `quiet`. `human` on a terminal is a live
display (rich): cells done of total; ok, failed as expected (the matrix's `expect:`), unexpected (what
fails the run, as in the final summary) and cached counts; elapsed and an ETA from the cells'
expected cost (runner.matrix.shard.cell_cost), and one line per active build or lane with its current step, with
each finished cell logged above it. Not on a terminal, in CI (CI=true) or with TERM=dumb, `human` is one
timestamped line per event, as logs want. Lines are written whole, under one lock: parallel builds and
lanes never interleave mid-line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, TextIO

from runner.model.outcomes import verdict_of
from runner.model.records import ExpectationVerdict, Status
from runner.model.vocabulary import ProgressMode
from runner.util.text import clip, terminal_text, without_controls

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

    from runner.model.records import CellRecord

# A finished cell's line says when it failed as declared, or passed where a failure was declared (an
# unexpected failure reads as the failure it is).
VERDICT_NOTES = {ExpectationVerdict.EXPECTED_FAILURE: "failed as expected",
                 ExpectationVerdict.UNEXPECTED_PASS: "unexpected pass"}
ACTIVE_LINES = 12  # at most this many active cells shown; the rest are counted
LINE_LIMIT = 300


def live_wanted(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """A live display only for a person at a terminal: not in CI, not on a dumb terminal, not into a pipe."""
    in_ci = environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not in_ci and environ.get("TERM") != "dumb"


def format_duration(seconds: float) -> str:
    """42 -> '42s', 125 -> '2m05s', 3725 -> '1h02m'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm%02ds" % divmod(seconds, 60)
    return "%dh%02dm" % (seconds // 3600, seconds % 3600 // 60)


@dataclass
class Tally:
    """Cells done and how they ended; the ETA from expected costs and the pace of measured cells so far."""

    total: int
    costs: Dict[str, float] = field(default_factory=dict)
    done: int = 0
    ok: int = 0               # ok and not an unexpected pass
    expected_failures: int = 0  # failed as the matrix's `expect:` declared (pytest's xfail)
    unexpected: int = 0       # failed unexpectedly, or passed where a failure was declared: what fails the run
    observed_failures: int = 0  # failed where the matrix declared no outcome (expect: {status: any})
    skipped: int = 0
    cached: int = 0
    measured_cost: float = 0.0  # expected cost of the cells measured (not cached, not skipped) so far
    remaining_cost: float = 0.0

    def __post_init__(self) -> None:
        self.remaining_cost = sum(self.costs.values())

    def add(self, cell_id: str, status: str, cached: bool, verdict: Optional[str] = None) -> None:
        """Count a finished cell by its verdict against the matrix's expectation (runner.model.outcomes), as
        the final summary and the exit code do; verdict None: judged against the default expectation (ok)."""
        self.done += 1
        cost = self.costs.get(cell_id, 0.0)
        self.remaining_cost = max(0.0, self.remaining_cost - cost)
        if verdict is None and status != Status.SKIPPED:
            verdict = ExpectationVerdict.MET if status == Status.OK else ExpectationVerdict.UNEXPECTED_FAILURE
        if status == Status.SKIPPED:
            self.skipped += 1
        elif verdict in (ExpectationVerdict.UNEXPECTED_FAILURE, ExpectationVerdict.UNEXPECTED_PASS):
            self.unexpected += 1
        elif verdict == ExpectationVerdict.EXPECTED_FAILURE:
            self.expected_failures += 1
        elif status == Status.OK:
            self.ok += 1
        else:
            self.observed_failures += 1
        if cached:
            self.cached += 1
        elif status != Status.SKIPPED:
            self.measured_cost += cost

    def eta(self, elapsed: float) -> Optional[float]:
        """Seconds left at the pace of the cells measured so far; None before the first one."""
        if self.done >= self.total:
            return 0.0
        if self.measured_cost <= 0 or elapsed <= 0:
            return None
        return self.remaining_cost * elapsed / self.measured_cost

    def line(self, elapsed: float) -> str:
        eta = self.eta(elapsed)
        parts = ["%d/%d cells done" % (self.done, self.total), "%d ok" % self.ok,
                 "%d failed as expected" % self.expected_failures, "%d unexpected" % self.unexpected]
        if self.observed_failures:
            parts.append("%d failed (no outcome declared)" % self.observed_failures)
        if self.cached:
            parts.append("%d cached" % self.cached)
        if self.skipped:
            parts.append("%d skipped" % self.skipped)
        parts.append("%s elapsed" % format_duration(elapsed))
        parts.append("ETA %s" % (format_duration(eta) if eta is not None else "--"))
        return " | ".join(parts)


class Progress:
    def __init__(self, mode: str, total: int, stream: Optional[TextIO] = None,
                 costs: Optional[Mapping[str, float]] = None, live: Optional[bool] = None) -> None:
        self.mode, self.total = mode, total
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.tally = Tally(total, dict(costs or {}))
        self.active: Dict[str, Any] = {}  # cell id -> (index, stage, message) of cells under way
        self.lock = threading.Lock()
        self._live: Optional[Live] = None
        self.live_wanted = mode == ProgressMode.HUMAN and (live if live is not None else live_wanted(self.stream))

    def start(self) -> None:
        """Starts the live display (when wanted); until then, and after close(), events are plain lines."""
        if self.live_wanted and self._live is None:
            self._live = self._start_live()

    def event(self, index: int, cell_id: Optional[str], stage: str, message: str = "") -> None:
        elapsed = time.monotonic() - self.started
        if self.mode == ProgressMode.JSON:
            self._write(json.dumps({"t": round(elapsed, 1), "cell": cell_id, "index": index, "total": self.total,
                                    "stage": stage, "message": message}))
        elif self.mode == ProgressMode.HUMAN:
            where = "[%d/%d] %s" % (index, self.total, cell_id) if cell_id else "[run]"
            line = "%6.0fs %s: %s%s" % (elapsed, where, stage, (" - " + message) if message else "")
            if self._live is None:
                self._write(line)
            elif cell_id is None or stage == "done":
                self._live.console.print(_plain_text(line))  # above the live lines, kept in the scrollback
            else:
                with self.lock:
                    self.active[cell_id] = (index, stage, message)

    def cell_done(self, index: int, cell_id: str, record: CellRecord) -> None:
        """A cell's record is written: count it, and say how it ended."""
        verdict = verdict_of(record)
        with self.lock:
            self.tally.add(cell_id, record["status"], bool(record.get("cached")), verdict)
            self.active.pop(cell_id, None)
        notes = ["cached"] if record.get("cached") else []
        notes += [VERDICT_NOTES[verdict]] if verdict in VERDICT_NOTES else []
        self.event(index, cell_id, "done", "%s%s%s" % (
            record["status"], " (%s)" % ", ".join(notes) if notes else "",
            (": %s" % record["reason"]) if record.get("reason") else ""))

    def close(self) -> None:
        """Ends the live display, leaving its last state (the counts) on the screen."""
        if self._live is not None:
            with self.lock:
                self.active.clear()
            self._live.stop()
            self._live = None

    def _write(self, line: str) -> None:
        with self.lock:  # one write per line, under the lock: threads never interleave mid-line
            self.stream.write(terminal_text(line) + "\n")
            self.stream.flush()

    # ----------------------------------------------------------------------------------------------
    # The live display

    def _start_live(self) -> Live:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream, highlight=False, soft_wrap=False)
        live = Live(console=console, refresh_per_second=4, transient=False, get_renderable=self._render)
        live.start()
        return live

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.text import Text

        with self.lock:
            header = self.tally.line(time.monotonic() - self.started)
            active = sorted(self.active.items(), key=lambda item: item[1][0])
        lines = [Text(header, style="bold", no_wrap=True, overflow="ellipsis")]
        for cell_id, (index, stage, message) in active[:ACTIVE_LINES]:
            text = "  [%d/%d] %s: %s%s" % (index, self.total, cell_id, stage, (" - " + message) if message else "")
            lines.append(Text(_shown(text, LINE_LIMIT), no_wrap=True, overflow="ellipsis"))
        if len(active) > ACTIVE_LINES:
            lines.append(Text("  ... and %d more under way" % (len(active) - ACTIVE_LINES)))
        return Group(*lines)


def _plain_text(line: str) -> Any:
    from rich.text import Text

    return Text(_shown(line, LINE_LIMIT * 2))  # Text, not markup: a '[red]' in a reason stays text


def _shown(line: str, limit: int) -> str:
    """One terminal line: controls (newlines, escapes) out, clipped; leading spaces kept for alignment."""
    return clip(without_controls(line).rstrip(), limit)
