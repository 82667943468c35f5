"""docker-compose.yml is valid from any directory, compose builds every image it runs, the runner image drives
the host's engine with nothing to set (it finds the checkout's host path through the engine, and refuses a
wrong KERAS_MATRIX_HOST_ROOT), and the report service serves the newest run as it is at each request (a run
started after the service, under way, included) or the one REPORT_DIR names."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

import pytest
import yaml

from tests.integration.conftest import ROOT

BASE = "keras-matrix/base:bookworm-minbase"  # bootstrapped by the e2e run: no registry needed
SUBDIR = ROOT / "tests"  # compose finds the file in a parent directory; nothing may depend on that


def compose(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 900,
            cwd: Path = SUBDIR) -> "subprocess.CompletedProcess[str]":
    environ = {k: v for k, v in os.environ.items() if k not in ("KERAS_MATRIX_HOST_ROOT", "REPORT_DIR")}
    environ.update(KERAS_MATRIX_BASE=BASE, PWD=str(cwd))  # PWD as a shell would set it: not ROOT
    environ.update(env or {})
    return subprocess.run(["docker-compose"] + list(args), capture_output=True, text=True, cwd=str(cwd),
                          timeout=timeout, env=environ)


def config(*args: str, cwd: Path = SUBDIR, env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    proc = compose(*args, "config", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    parsed: Dict[str, Any] = yaml.safe_load(proc.stdout)
    return parsed


@pytest.fixture(scope="module")
def runner_image(request: pytest.FixtureRequest) -> None:
    if subprocess.run(["docker", "image", "inspect", BASE], capture_output=True).returncode != 0:
        request.getfixturevalue("e2e_run")  # bootstraps Debian bookworm
    build = compose("build")
    assert build.returncode == 0, build.stderr[-2000:]


def test_compose_file_is_valid_with_and_without_the_gpu_profile() -> None:
    assert compose("config", "-q").returncode == 0
    gpu = config("--profile", "gpu")
    devices = gpu["services"]["runner-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and devices[0]["capabilities"] == ["gpu"]


def test_every_service_is_built_by_compose_and_mounts_the_checkout_wherever_compose_starts() -> None:
    for cwd in (ROOT, SUBDIR, ROOT / "runner"):
        services = config("--profile", "gpu", cwd=cwd)["services"]  # nothing to set (#25)
        assert set(services) == {"runner", "runner-gpu", "report"}
        for name, service in services.items():
            assert Path(service["build"]["context"]) == ROOT / "dockerfiles", name
        for name in ("runner", "runner-gpu"):
            mounts = services[name]["volumes"]
            checkout = [m for m in mounts if (m["source"] if isinstance(m, dict) else m.split(":")[0]) == str(ROOT)]
            assert len(checkout) == 1, (cwd, mounts)
            target = checkout[0]["target"] if isinstance(checkout[0], dict) else checkout[0].split(":")[1]
            assert target == "/keras-matrix" == services[name]["working_dir"]
            assert services[name]["environment"]["KERAS_MATRIX_MOUNTED_ROOT"] == "/keras-matrix"


@pytest.mark.parametrize("host_root", [None, "", str(ROOT)])
def test_runner_service_plans_the_matrix_with_nothing_set(runner_image: None, host_root: Optional[str]) -> None:
    """#25: `docker compose up` exited 2 until KERAS_MATRIX_HOST_ROOT was set; the entrypoint finds it now (and
    a right one set by hand is accepted). Started from a subdirectory, as compose allows."""
    proc = compose("run", "--rm", "runner", "plan", "matrix.yaml", "--profile", "quick",
                   env={} if host_root is None else {"KERAS_MATRIX_HOST_ROOT": host_root})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu" in proc.stdout


def test_runner_service_refuses_a_host_root_that_names_another_directory(runner_image: None) -> None:
    """Named wrongly, the engine would resolve the runner's bind mounts to other (empty) host paths."""
    proc = compose("run", "--rm", "runner", "plan", "matrix.yaml",
                   env={"KERAS_MATRIX_HOST_ROOT": "/tmp/not-the-checkout"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "export KERAS_MATRIX_HOST_ROOT=%s" % ROOT in proc.stderr and "Traceback" not in proc.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def newest_run() -> Iterator[Path]:
    run = ROOT / "results" / "compose-report-test"
    shutil.rmtree(str(run), ignore_errors=True)
    (run / "report").mkdir(parents=True)
    (run / "report" / "index.html").write_text("<title>compose-report-test %f</title>" % time.time())
    yield run
    shutil.rmtree(str(run), ignore_errors=True)


def _get(port: int, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/index.html" % port, timeout=30) as response:
                return str(response.read().decode("utf-8"))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@contextlib.contextmanager
def _report_service(port: int, **env: str) -> Iterator[Callable[[], str]]:  # env: REPORT_DIR
    project = "kmtest-report-%d" % port
    up = compose("-p", project, "up", "-d", "report", env=dict(env, KERAS_MATRIX_REPORT_PORT=str(port)))
    try:
        assert up.returncode == 0, up.stderr[-2000:]
        yield lambda: _get(port, time.monotonic() + 60)
    finally:
        compose("-p", project, "down", "--remove-orphans", timeout=120)


def test_report_service_serves_the_newest_run_or_the_one_named(runner_image: None, newest_run: Path) -> None:
    with _report_service(_free_port()) as served:
        assert served() == (newest_run / "report" / "index.html").read_text()
    with _report_service(_free_port(), REPORT_DIR="reports") as served:
        assert served() == (ROOT / "reports" / "index.html").read_text()


def test_report_service_shows_a_run_started_after_it(runner_image: None, newest_run: Path) -> None:
    """#25: the service picked its directory at start, so `up` never showed the run it launched. A run that
    begins later, with only its results.json so far (under way), is what the next request gets."""
    later = ROOT / "results" / "compose-report-test-later"
    shutil.rmtree(str(later), ignore_errors=True)
    try:
        with _report_service(_free_port()) as served:
            assert served() == (newest_run / "report" / "index.html").read_text()
            doc = json.loads((ROOT / "tests" / "fixtures" / "results-run.json").read_text())
            doc.update(run_id="compose-report-test-later", complete=False)
            later.mkdir(parents=True)
            (later / "results.json").write_text(json.dumps(doc))
            page = served()
            assert "compose-report-test-later" in page and "incomplete" in page, page[:2000]
            (later / "report").mkdir()  # the run ends: its own report is served
            (later / "report" / "index.html").write_text("<title>the later run's report</title>")
            assert served() == "<title>the later run's report</title>"
    finally:
        shutil.rmtree(str(later), ignore_errors=True)


def test_runner_service_runs_a_cell_end_to_end(e2e_run: object, runner_image: None) -> None:
    """The runner in its container measures a real cell through the host's engine (image cached by e2e_run): the
    probe and MNIST bind mounts name the checkout's host path, found by the entrypoint."""
    results = ROOT / "results" / "compose-test"
    shutil.rmtree(str(results), ignore_errors=True)
    proc = compose("run", "--rm", "runner", "run", "tests/data/e2e-matrix.yaml", "--cell",
                   "keras3.15.1-tf2.21.0-py311-cpu", "--results-dir", "results", "--run-id", "compose-test",
                   "--progress", "quiet", "--rerun", timeout=1800)  # no KERAS_MATRIX_HOST_ROOT: found
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((results / "results.json").read_text())
    (cell,) = doc["cells"]
    assert cell["status"] == "ok", cell["reason"]
    assert cell["trainings"]["tensorflow"]["test_accuracy"] > 0.9
    shutil.rmtree(str(results), ignore_errors=True)
