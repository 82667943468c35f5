"""Faults provoked for real, each showing that the run goes on (or stops cleanly) with every finished
result intact: the engine's OOM killer, a training that never ends, a build that fails, a full or read-only
results filesystem (real tmpfs mounts), and a soak of repeated runs that must leave nothing behind.

The cells reuse the e2e matrix's images (same Dockerfiles), so only the fault itself costs time."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.results.store import ResultsWriter, validate_results
from runner.util.errors import ResultsError
from tests.integration.conftest import run_cli

MODERN = '{name: modern, era: py311, keras: "3.15.1", tensorflow: "2.21.0"}'
UNSATISFIABLE = ('{name: unsatisfiable, era: py311, keras: "2.3.1", tensorflow: "1.15.0", '
                 'expect: {status: unsatisfiable, reason: "TensorFlow 1.15 has no wheel for Python 3.11"}}')


def write_matrix(tmp_path, body):
    path = tmp_path / "matrix.yaml"
    path.write_text("version: 1\n" + body)
    return path


def run_matrix(tmp_path, body, *extra, timeout=1800, run_id="r"):
    proc = run_cli("run", write_matrix(tmp_path, body), "--results-dir", tmp_path / "results", "--run-id", run_id,
                   "--progress", "quiet", *extra, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    results = tmp_path / "results" / run_id / "results.json"
    doc = validate_results(json.loads(results.read_text())) if results.exists() else None
    return proc, doc


def assert_unexpected(proc, *cell_ids):
    """The run met a fault nobody declared: exit 1, and its closing summary names each such cell."""
    assert proc.returncode == 1, proc.stderr[-3000:]
    tail = proc.stdout[-3000:]
    assert "1 expected failure" in tail, tail
    for cell_id in cell_ids:
        assert cell_id in tail.split("==")[-1], tail


def by_name(doc):
    return {c["name"]: c for c in doc["cells"]}


def managed_containers(engine):
    from runner.engine.protocol import LABEL

    return engine.client.containers.list(all=True, filters={"label": LABEL})


def test_a_training_killed_by_the_oom_limit_is_reported_and_the_run_goes_on(tmp_path, e2e_run):
    proc, doc = run_matrix(tmp_path, "defaults: {limits: {memory: 100m, cpus: 2, pids: 512}}\ncells:\n  - %s\n  - %s\n"
                           % (MODERN, UNSATISFIABLE))
    starved = by_name(doc)["modern"]
    assert_unexpected(proc, starved["cell_id"])
    training = starved["trainings"]["tensorflow"]
    assert training["oom_killed"] is True and training["error"]["type"] == "oom", training
    assert "memory limit (100m)" in training["error"]["message"]
    assert starved["status"] in ("train_failed", "import_failed")
    assert by_name(doc)["unsatisfiable"]["status"] == "unsatisfiable"  # the next cell still ran


def test_a_training_that_never_ends_is_killed_at_the_cell_timeout(tmp_path, engine, e2e_run):
    endless = MODERN.replace("}", ", epochs: 100, timeout_minutes: 1}")
    proc, doc = run_matrix(tmp_path, "cells:\n  - %s\n  - %s\n" % (endless, UNSATISFIABLE))
    cell = by_name(doc)["modern"]
    assert_unexpected(proc, cell["cell_id"])
    assert cell["status"] == "timeout" and cell["trainings"]["tensorflow"]["status"] == "timeout"
    assert cell["seconds"] < 240  # killed near its 1-minute budget, not after 100 epochs
    assert by_name(doc)["unsatisfiable"]["status"] == "unsatisfiable"
    assert managed_containers(engine) == []  # the killed training's container is gone too


def test_a_build_that_fails_is_recorded_with_its_log_and_the_next_cell_still_runs(tmp_path, e2e_run):
    era = ("eras:\n  py311-broken:\n    description: an apt package that does not exist\n    python: \"3.11\"\n"
           "    template: py3-cpu\n    base: debian-bookworm\n"
           "    apt: [python3, python3-venv, keras-matrix-no-such-package]\n"
           "    packages: {keras: keras, tensorflow: tensorflow-cpu}\n")
    broken = '{name: broken, era: py311-broken, keras: "3.15.1", tensorflow: "2.21.0"}'
    proc, doc = run_matrix(tmp_path, era + "cells:\n  - %s\n  - %s\n" % (broken, UNSATISFIABLE))
    cell = by_name(doc)["broken"]
    assert_unexpected(proc, cell["cell_id"])
    assert cell["status"] == "build_failed" and cell["build"]["status"] == "failed"
    assert "keras-matrix-no-such-package" in cell["build"]["log_tail"]
    assert "keras-matrix-no-such-package" in Path(cell["build"]["log"]).read_text()
    assert by_name(doc)["unsatisfiable"]["status"] == "unsatisfiable"


@pytest.fixture
def mount_tmpfs(tmp_path):
    mounted = []

    def mount(name, options):
        target = tmp_path / name
        target.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            pytest.fail("these tests mount a real tmpfs and need root: %s" % proc.stderr.strip())
        mounted.append(target)
        return target

    yield mount
    for target in mounted:
        subprocess.run(["umount", "-l", str(target)])


def test_a_read_only_results_directory_is_a_clear_error(tmp_path, mount_tmpfs, e2e_run):
    read_only = mount_tmpfs("ro", "ro,size=1m")
    proc = run_cli("run", write_matrix(tmp_path, "cells:\n  - %s\n" % UNSATISFIABLE), "--results-dir", read_only,
                   timeout=600)
    assert proc.returncode == 5, proc.stderr[-2000:]
    assert "cannot write results to" in proc.stderr and "Read-only file system" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_full_disk_never_leaves_a_torn_results_file(mount_tmpfs):
    """ENOSPC from the kernel in the middle of a run: the error is clear, results.json keeps the last
    complete state, and no temporary file is left behind."""
    disk = mount_tmpfs("full", "size=64k")
    run_dir = disk / "run"
    doc = {"schema_version": 1, "kind": "keras-matrix-results", "run_id": "full", "cells": []}
    writer = ResultsWriter(run_dir, doc)
    before = (run_dir / "results.json").read_text()
    with open(str(disk / "filler"), "wb", buffering=0) as filler:  # take every block that is left
        try:
            while True:
                filler.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    record = {"cell_id": "c", "status": "ok", "log": "x" * 20000}
    with pytest.raises(ResultsError, match="cannot write results to .*No space left on device"):
        writer.write_cell(record)
    assert (run_dir / "results.json").read_text() == before
    json.loads(before)
    leftovers = [p.name for p in run_dir.rglob("*") if p.name.startswith(".")]
    assert leftovers == []


def _footprint(engine):
    images = sorted(image.id for image in engine.client.images.list(all=True))
    temporary = sorted(name for name in os.listdir("/tmp") if name.startswith("keras-matrix-"))
    return {"containers": [c.id for c in managed_containers(engine)], "images": images, "tmp": temporary}


def test_soak_repeated_runs_leave_no_containers_images_or_temporary_files(tmp_path, engine, e2e_run):
    body = "defaults: {epochs: 1}\ncells:\n  - %s\n  - %s\n" % (MODERN, UNSATISFIABLE)
    run_matrix(tmp_path, body, "--rerun")  # first pass may create the cells' images; from here on, nothing
    before = _footprint(engine)
    for attempt in range(3):  # a run id is never reused without --resume: one per pass
        proc, doc = run_matrix(tmp_path, body, "--rerun", run_id="soak-%d" % attempt)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert by_name(doc)["modern"]["status"] == "ok", attempt
    assert _footprint(engine) == before


def _stop_dockerd():
    pid = int(Path("/var/run/docker.pid").read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    pytest.fail("dockerd did not stop within 120 s")


def test_the_engine_stopping_mid_run_keeps_finished_cells_and_resume_finishes(tmp_path, engine, e2e_run):
    """The real daemon is stopped during the second cell: exit 3 with a resume hint, the first cell kept;
    after the engine is back, --resume measures only what is missing."""
    from tests.integration.conftest import ROOT

    matrix = write_matrix(tmp_path, "cells:\n  - %s\n  - %s\n" % (UNSATISFIABLE, MODERN))
    argv = [sys.executable, "-m", "runner", "run", str(matrix), "--results-dir", str(tmp_path / "results"),
            "--run-id", "r", "--rerun"]
    proc = subprocess.Popen(argv, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = tmp_path / "results" / "r" / "cells" / "keras2.3.1-tf1.15.0-py311-cpu.json"
    try:
        deadline = time.time() + 900
        while not first.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert first.exists(), "the first cell never finished"
        time.sleep(2)  # into the second cell's build or probe
        _stop_dockerd()
        _, stderr = proc.communicate(timeout=300)
    finally:
        restarted = subprocess.run(["bash", str(ROOT / ".ci" / "ensure-docker.sh")], capture_output=True, text=True)
        if proc.poll() is None:
            proc.kill()
    assert restarted.returncode == 0, restarted.stderr
    assert proc.returncode == 3, stderr[-3000:]
    assert "--resume --run-id r" in stderr and "Traceback" not in stderr
    doc = validate_results(json.loads((tmp_path / "results" / "r" / "results.json").read_text()))
    assert doc["complete"] is False and [c["name"] for c in doc["cells"]] == ["unsatisfiable"]

    resumed = run_cli(*(argv[3:] + ["--resume"]), timeout=1800)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    doc = validate_results(json.loads((tmp_path / "results" / "r" / "results.json").read_text()))
    assert doc["complete"] is True and doc["resumed_from"]["cells_kept"] == ["keras2.3.1-tf1.15.0-py311-cpu"]
    assert by_name(doc)["modern"]["status"] == "ok"
    # The container the stopped daemon could not remove is gone too (removed at the start of the resumed run
    # once it has been dead a minute, or by the engine itself on restart).
    deadline = time.time() + 90
    while managed_containers(engine) and time.time() < deadline:
        time.sleep(5)
        run_cli("run", matrix, "--results-dir", tmp_path / "again", "--progress", "quiet", timeout=600)
    assert managed_containers(engine) == []
