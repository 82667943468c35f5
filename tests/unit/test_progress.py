"""What the run shows while it goes: plain timestamped lines for logs, JSON lines for machines, and on a
terminal a live display (checked in a real terminal: tmux) with counts, ETA and one line per active cell."""

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

from runner.run.progress import Progress, Tally, format_duration, live_wanted
from tests.conftest import ROOT

PLAIN_LINE = re.compile(r"^ *\d+s (\[run\]|\[\d+/\d+\] [\w.-]+): [\w ]+( - .*)?$")


class SlowStream(io.StringIO):
    """Yields to other threads inside every write, so a line written in two pieces would be split."""

    def write(self, text):
        time.sleep(0.0002)
        return super().write(text)


class Tty(io.StringIO):
    def isatty(self):
        return True


def record(status, cached=False, reason=None):
    return {"status": status, "cached": cached, "reason": reason}


def test_plain_lines_keep_todays_format():
    stream = io.StringIO()
    progress = Progress("human", 3, stream=stream)
    progress.start()  # not a terminal: stays plain
    progress.event(0, None, "start", "3 cells")
    progress.event(2, "keras2.3.1-py27-cpu", "build", "#5 RUN pip install")
    progress.cell_done(2, "keras2.3.1-py27-cpu", record("build_failed", reason="pip: no wheel"))
    progress.cell_done(3, "keras3.15.1-jax0.10.2-py311-cpu", record("ok", cached=True))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split("s ", 1)[1] for line in lines] == [
        "[run]: start - 3 cells",
        "[2/3] keras2.3.1-py27-cpu: build - #5 RUN pip install",
        "[2/3] keras2.3.1-py27-cpu: done - build_failed: pip: no wheel",
        "[3/3] keras3.15.1-jax0.10.2-py311-cpu: done - ok (cached)",
    ]
    assert all(PLAIN_LINE.match(line) for line in lines), lines


def test_parallel_builds_never_interleave_mid_line():
    stream = SlowStream()
    progress = Progress("human", 8, stream=stream)

    def build(index):
        for step in range(40):
            progress.event(index, "cell-%d" % index, "build", "#%d RUN pip install package-%d" % (step, index))

    threads = [threading.Thread(target=build, args=(index,)) for index in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 8 * 40
    assert all(PLAIN_LINE.match(line) for line in lines), [line for line in lines if not PLAIN_LINE.match(line)][:3]


def test_json_lines_are_unchanged():
    stream = io.StringIO()
    progress = Progress("json", 2, stream=stream, live=True)  # json never goes live
    progress.start()
    progress.event(1, "c1", "train tensorflow")
    progress.cell_done(1, "c1", record("ok", cached=True))
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [set(e) for e in events] == [{"t", "cell", "index", "total", "stage", "message"}] * 2
    assert [(e["cell"], e["index"], e["total"], e["stage"], e["message"]) for e in events] == [
        ("c1", 1, 2, "train tensorflow", ""), ("c1", 1, 2, "done", "ok (cached)")]


def test_quiet_says_nothing():
    stream = io.StringIO()
    progress = Progress("quiet", 1, stream=stream)
    progress.event(1, "c1", "build")
    progress.cell_done(1, "c1", record("ok"))
    assert stream.getvalue() == ""


@pytest.mark.parametrize("environ, tty, wanted", [
    ({"TERM": "xterm-256color"}, True, True),
    ({"TERM": "xterm-256color"}, False, False),  # a pipe or a file: logs
    ({"TERM": "xterm-256color", "CI": "true"}, True, False),
    ({"TERM": "xterm-256color", "CI": "false"}, True, True),
    ({"TERM": "dumb"}, True, False),
])
def test_the_live_display_is_only_for_a_terminal_outside_ci(environ, tty, wanted):
    assert live_wanted(Tty() if tty else io.StringIO(), environ) is wanted


def test_eta_follows_the_pace_of_measured_cells_by_expected_cost():
    tally = Tally(4, {"a": 1.0, "b": 1.0, "c": 2.0, "d": 4.0})
    assert tally.eta(10.0) is None  # nothing measured yet
    tally.add("d", "ok", cached=True)  # cached: instant, says nothing about the pace
    assert tally.eta(10.0) is None
    tally.add("a", "build_failed", cached=False)
    assert tally.eta(10.0) == pytest.approx(30.0)  # cost 1 took 10 s; cost 3 is left
    tally.add("b", "skipped", cached=False)
    assert tally.eta(20.0) == pytest.approx(40.0)  # skipped: its cost is gone, not measured
    assert tally.line(20.0) == ("3/4 cells done | 1 ok | 0 failed as expected | 1 unexpected | 1 cached | 1 skipped"
                                " | 20s elapsed | ETA 40s")
    assert (format_duration(59), format_duration(125), format_duration(3725)) == ("59s", "2m05s", "1h02m")


def test_the_live_display_ends_with_the_counts():
    stream = io.StringIO()  # not a terminal, so rich writes the final state once, without cursor moves
    progress = Progress("human", 2, stream=stream, costs={"c1": 1.0, "c2": 1.0}, live=True)
    progress.start()
    progress.event(1, "c1", "build", "#1 FROM base")
    progress.cell_done(1, "c1", record("ok"))
    progress.cell_done(2, "c2", record("import_failed", reason="[red]ImportError[/red]: no module"))
    progress.close()
    out = stream.getvalue()
    assert "done - import_failed: [red]ImportError[/red]: no module" in out  # text, not rich markup
    assert out.rstrip().splitlines()[-1].startswith("2/2 cells done | 1 ok | 0 failed as expected | 1 unexpected |")
    assert "#1 FROM base" not in out  # a finished cell's step is not left on the screen


def test_expected_failures_are_counted_as_expected_as_the_final_verdict_does():
    """#25: a cell that failed as its `expect:` declared is not "failed"; one that passed where a failure was
    declared is unexpected. The counts agree with the final summary (and so with the exit code)."""
    from runner.model.outcomes import expectation_summary

    declared = {"status": "import_failed", "trainings": None, "reason": "no backend"}
    records = [
        ("a", dict(record("ok"), expectation_verdict="met")),
        ("b", dict(record("ok"), expectation_verdict="met")),
        ("c", dict(record("ok"), expectation_verdict="met")),
        ("d", dict(record("import_failed", reason="ImportError: x"), expectation=declared,
                   expectation_verdict="expected_failure")),
        ("e", dict(record("skipped"), expectation_verdict=None)),
    ]
    stream = io.StringIO()
    progress = Progress("human", 6, stream=stream, live=True)
    progress.start()
    for i, (cell_id, rec) in enumerate(records, 1):
        rec["cell_id"] = cell_id
        progress.cell_done(i, cell_id, rec)
    assert "3 ok | 1 failed as expected | 0 unexpected" in progress.tally.line(1.0)
    lines, all_met = expectation_summary([rec for _, rec in records])  # type: ignore[misc]
    assert all_met and lines[0].startswith("== 3 met, 1 expected failure, 0 unexpected failures")
    # Written before verdicts were kept: judged the same way (verdict_of), here an unexpected pass.
    xpass = dict(record("ok"), expectation=declared, cell_id="f")
    progress.cell_done(6, "f", xpass)
    progress.close()
    out = stream.getvalue()
    assert "[4/6] d: done - import_failed (failed as expected): ImportError: x" in out
    assert "[6/6] f: done - ok (unexpected pass)" in out
    assert out.rstrip().splitlines()[-1].startswith("6/6 cells done | 3 ok | 1 failed as expected | 1 unexpected")
    assert not expectation_summary([rec for _, rec in records] + [xpass])[1]  # type: ignore[misc]


DEMO = """
import sys, tempfile
from pathlib import Path
from runner.run.mnist import MnistData
from runner.matrix.load import load_matrix
from runner.run.context import RunOptions
from runner.run.loop import run_matrix
from tests.fakes import MATRIX, FakeEngine

tmp = Path(tempfile.mkdtemp())
(tmp / "m.yaml").write_text(MATRIX)
matrix = load_matrix(tmp / "m.yaml")
data = MnistData(path=tmp / "data" / "mnist.npz", sha256="x", source="cache")
options = RunOptions(results_dir=tmp / "results", dockerfiles_dir=tmp / "df", run_id="t", progress="human",
                     ca_bundle="/nonexistent", cache_dir=tmp / "cache", jobs=2, lanes=1)
run_matrix(matrix, matrix.cells, FakeEngine(build_seconds=0.4, run_seconds=0.4, cpus=4), data, options)
print("RUN ENDED", file=sys.stderr)
"""
FINAL = "5/5 cells done | 1 ok | 0 failed as expected | 3 unexpected | 1 skipped"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (Debian: apt-get install tmux; .ci/run does)")
def test_the_live_display_in_a_real_terminal(tmp_path):
    script = tmp_path / "demo.py"
    script.write_text(DEMO)
    socket = "keras-matrix-test-%d" % os.getpid()
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    env = "env -u CI -u NO_COLOR TERM=xterm-256color PYTHONPATH=%s" % ROOT
    command = "%s %s %s; echo EXIT=$?; sleep 60" % (env, sys.executable, script)
    subprocess.run(tmux + ["new-session", "-d", "-x", "110", "-y", "30", "-s", "km", command], check=True, timeout=30)
    snapshots = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pane = subprocess.run(tmux + ["capture-pane", "-p", "-t", "km"], capture_output=True, text=True,
                                  timeout=30).stdout
            snapshots.append(pane)
            if "EXIT=" in pane:
                break
            time.sleep(0.1)
    finally:
        subprocess.run(tmux + ["kill-server"], timeout=30)
    final = snapshots[-1]
    assert "EXIT=0" in final, final
    # While it ran: the counts line, and a line per active cell with its step.
    during = [pane for pane in snapshots if "cells done |" in pane and "EXIT=" not in pane]
    assert during, snapshots[-3:]
    assert any(re.search(r"^\s*\[\d/5\] [\w.-]+: (build|probe|train \w+)", pane, re.M) for pane in during), during
    # At the end: one counts line (no stale frames), the finished cells logged above it, nothing active.
    lines = [line.rstrip() for line in final.splitlines() if line.strip()]
    header = [i for i, line in enumerate(lines) if "cells done |" in line]
    assert len(header) == 1 and lines[header[0]].startswith(FINAL), final
    assert lines[header[0] + 1] == "RUN ENDED", final
    assert sum(": done - " in line for line in lines[:header[0]]) == 5, final
    assert not any(re.search(r": (build|probe|train \w+)( - |$)", line) for line in lines[:header[0]]), final
