"""The whole pipeline on the real engine: real images, real containers, real training on real MNIST.

Every assertion is on a value measured in a container; nothing here knows what the answer "should" be
beyond what a trained reference model reaches (accuracy) and what the container itself wrote."""

import json
import os
import signal
import subprocess
import sys
import time

from runner.results.store import validate_results
from runner.run.timing import BUDGETS
from tests.integration.conftest import E2E_MATRIX, ROOT, run_cli

LEGACY = "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu"
MODERN = "keras3.15.1-tf2.21.0-py311-cpu"
UNSATISFIABLE = "keras2.3.1-tf1.15.0-py311-cpu"
GPU = "keras3.15.1-tf2.21.0-py311-gpu"


def cells(doc):
    return {c["cell_id"]: c for c in doc["cells"]}


def test_run_exits_zero_and_records_every_cell(e2e_run):
    proc, run_dir, doc = e2e_run
    # Exit 0 means every measured cell met its expectation: the unsatisfiable cell is declared (expect:).
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    assert "1 expected failure" in proc.stdout and "UNEXPECTED" not in proc.stdout
    assert doc is not None and validate_results(doc)
    assert doc["complete"] is True
    assert set(cells(doc)) == {LEGACY, MODERN, UNSATISFIABLE, GPU}
    for cell_id in cells(doc):  # one file per cell, written as it finished
        assert json.loads((run_dir / "cells" / ("%s.json" % cell_id)).read_text())["cell_id"] == cell_id
    # The terminal table printed at the end names every cell with its status.
    for cell_id in cells(doc):
        assert cell_id in proc.stdout


def test_legacy_cell_trains_on_tensorflow_theano_and_cntk(e2e_run):
    _, _, doc = e2e_run
    cell = cells(doc)[LEGACY]
    assert cell["status"] == "ok", cell["reason"]
    assert cell["probe"]["python"].startswith("2.7.")
    assert cell["installed"]["keras"] == "2.3.1" and cell["installed"]["tensorflow"] == "1.15.0"
    default = cell["default_backend"]
    # The default came from the container: Keras said it, and wrote the same into a fresh keras.json.
    assert default["error"] is None and default["backend"] in cell["trainings"]
    assert default["keras_json_written"] and default["keras_json"]["backend"] == default["backend"]
    assert set(cell["trainings"]) == {"tensorflow", "theano", "cntk"}
    for backend, training in cell["trainings"].items():
        assert training["status"] == "ok", training
        assert training["backend_used"] == backend  # KERAS_BACKEND was honoured, as Keras itself reports
        # The timing budget (lean, the default): one process, a second only while the interval stays wide, each
        # with a warm-up epoch kept out of the figure and its steady epochs.
        samples = training["samples"]
        processes = {s["process"] for s in samples}
        lean = BUDGETS[doc["settings"]["timing_budget"]]
        assert lean.min_processes <= len(processes) <= lean.max_processes
        assert len(training["epoch_seconds"]) == len(samples)
        assert all(any(s["warmup"] for s in samples if s["process"] == p) for p in processes)
        assert all(sum(1 for s in samples if s["process"] == p and not s["warmup"]) >= lean.min_steady_epochs
                   for p in processes)
        timing = training["timing"]
        assert timing["samples"] == sum(1 for s in samples if not s["warmup"])
        assert timing["processes"] == len(processes)
        assert timing["interval"][0] <= timing["seconds"] <= timing["interval"][1]
        assert timing["verdict"] in ("stable", "unstable", "contended")
        assert all(s["container_cpu"] is not None and s["cores_busy"] is not None for s in samples)
        assert 0 < training["steady_epoch_seconds"] == timing["seconds"] < 120
        assert training["test_accuracy"] > 0.9  # the reference model really learned MNIST
        assert training["device"]["gpu"] is False
    assert cell["device_used"] == "cpu"
    assert cell["build"]["status"] == "built" and cell["build"]["image_size"] > 0


def test_modern_cell_runs_keras3_on_tensorflow(e2e_run):
    _, _, doc = e2e_run
    cell = cells(doc)[MODERN]
    assert cell["status"] == "ok", cell["reason"]
    assert cell["installed"]["keras"] == "3.15.1"
    assert cell["probe"]["python"].startswith("3.11.")
    assert cell["default_backend"]["backend"] == cell["default_backend"]["keras_json"]["backend"]
    training = cell["trainings"]["tensorflow"]
    assert training["status"] == "ok" and training["test_accuracy"] > 0.9
    assert training["keras_version"] == "3.15.1"


def test_unsatisfiable_cell_is_recorded_not_crashed(e2e_run):
    _, run_dir, doc = e2e_run
    cell = cells(doc)[UNSATISFIABLE]
    assert cell["status"] == "unsatisfiable"
    assert "tensorflow" in cell["reason"].lower()
    assert cell["build"]["log_tail"] and (run_dir / "logs" / ("%s.build.log" % UNSATISFIABLE)).exists()


def test_gpu_cell_is_skipped_with_a_reason_on_an_engine_without_gpu_runtime(e2e_run, engine):
    _, _, doc = e2e_run
    cell = cells(doc)[GPU]
    if engine.has_gpu_runtime():
        assert cell["status"] != "skipped"
    else:
        assert cell["status"] == "skipped" and "GPU" in cell["reason"]


def test_reports_are_written_from_the_run(e2e_run):
    _, run_dir, _ = e2e_run
    report = run_dir / "report"
    for name in ("index.html", "summary.md", "junit.xml", "results.json", "findings.json"):
        assert (report / name).stat().st_size > 0, name
    assert LEGACY in (report / "summary.md").read_text()


def test_no_containers_are_left_behind(e2e_run, engine):
    from runner.engine.protocol import LABEL

    assert engine.client.containers.list(all=True, filters={"label": LABEL}) == []


def test_killing_the_run_midway_keeps_every_finished_cell(e2e_run, tmp_path):
    """SIGTERM during the second cell: exit 130, the first cell's record intact, nothing left running."""
    results_dir = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "runner", "run", str(E2E_MATRIX), "--results-dir",
                             str(results_dir), "--run-id", "killed", "--cell", LEGACY, "--cell", MODERN,
                             "--rerun", "--lanes", "1"],  # one cell at a time: LEGACY ends first
                            cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = results_dir / "killed" / "cells" / ("%s.json" % LEGACY)
    deadline = time.time() + 900
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert first.exists(), "the first cell never finished"
    time.sleep(3)  # well into the second cell (its build or training)
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr
    doc = validate_results(json.loads((results_dir / "killed" / "results.json").read_text()))
    assert doc["complete"] is False
    assert cells(doc)[LEGACY]["status"] == "ok"
    assert MODERN not in cells(doc)
    from runner.engine.docker import DockerEngine
    from runner.engine.protocol import LABEL

    assert DockerEngine().client.containers.list(all=True, filters={"label": LABEL}) == []


def test_a_warm_rerun_reuses_unchanged_cells_without_building_or_measuring(e2e_run, tmp_path):
    """Same matrix, same scripts, same data: every reproducible result comes back from the cache."""
    _, _, measured = e2e_run
    proc = run_cli("run", E2E_MATRIX, "--cell", LEGACY, "--cell", MODERN, "--cell", UNSATISFIABLE,
                   "--results-dir", tmp_path, "--run-id", "warm", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ": build" not in proc.stderr and ": train " not in proc.stderr  # nothing built, nothing trained
    doc = validate_results(json.loads((tmp_path / "warm" / "results.json").read_text()))
    for cell_id, record in cells(doc).items():
        # Measured by an earlier run of this session (e2e_run, or a later test that measured it again).
        assert record["cached"] is True and record["measured_in_run"] not in (None, "warm"), cell_id
        if record["measured_in_run"] == "e2e":
            assert record["trainings"] == cells(measured)[cell_id]["trainings"]
    assert cells(doc)[MODERN]["trainings"]["tensorflow"]["test_accuracy"] > 0.9
    assert "(cached)" in proc.stdout


def test_missing_daemon_is_a_clear_error_not_a_traceback(tmp_path):
    proc = run_cli("run", E2E_MATRIX, "--cell", LEGACY, "--results-dir", tmp_path,
                   env=dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock"), timeout=300)
    assert proc.returncode == 3
    assert "cannot reach the Docker engine" in proc.stderr and "Traceback" not in proc.stderr
