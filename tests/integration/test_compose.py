"""docker-compose.yml is valid, and its runner image builds and drives the host's engine."""

import os
import subprocess

from tests.integration.conftest import ROOT


def compose(*args, timeout=900, **env):
    return subprocess.run(["docker-compose"] + list(args), capture_output=True, text=True, cwd=str(ROOT),
                          timeout=timeout, env=dict(os.environ, PWD=str(ROOT), **env))


def test_compose_file_is_valid_with_and_without_the_gpu_profile():
    assert compose("config", "-q").returncode == 0
    proc = compose("--profile", "gpu", "config")
    assert proc.returncode == 0, proc.stderr
    assert "capabilities:" in proc.stdout and "nvidia" in proc.stdout


def test_runner_service_plans_the_matrix_through_the_host_engine(e2e_run):
    # The e2e run bootstrapped Debian bookworm: build the runner on it (no registry needed).
    env = {"KERAS_MATRIX_BASE": "keras-matrix/base:bookworm-minbase"}
    build = compose("build", "runner", **env)
    assert build.returncode == 0, build.stderr[-2000:]
    proc = compose("run", "--rm", "runner", "plan", "matrix.yaml", "--profile", "quick", **env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu" in proc.stdout


def test_runner_service_runs_a_cell_end_to_end(e2e_run):
    """The runner in its container measures a real cell through the host's engine (image cached by e2e_run)."""
    import json
    import shutil

    env = {"KERAS_MATRIX_BASE": "keras-matrix/base:bookworm-minbase"}
    assert compose("build", "runner", **env).returncode == 0
    results = ROOT / "results" / "compose-test"
    shutil.rmtree(str(results), ignore_errors=True)
    proc = compose("run", "--rm", "runner", "run", "tests/data/e2e-matrix.yaml", "--cell",
                   "keras3.15.1-tf2.21.0-py311-cpu", "--results-dir", "results", "--run-id", "compose-test",
                   "--progress", "quiet", "--rerun", timeout=1800, **env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((results / "results.json").read_text())
    (cell,) = doc["cells"]
    assert cell["status"] == "ok", cell["reason"]
    assert cell["trainings"]["tensorflow"]["test_accuracy"] > 0.9
    shutil.rmtree(str(results), ignore_errors=True)
