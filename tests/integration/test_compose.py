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
