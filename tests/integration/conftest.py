"""Integration tests run against the real Docker engine. A missing engine is a failure, not a skip:
a green run that skipped them would be a lie. (`bash .ci/ensure-docker.sh` starts one.)"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
E2E_MATRIX = ROOT / "tests" / "data" / "e2e-matrix.yaml"


@pytest.fixture(scope="session")
def engine():
    from runner.util.errors import EngineError

    try:
        from runner.engine.docker import DockerEngine

        return DockerEngine().connect()
    except EngineError as exc:
        pytest.fail("the Docker end-to-end tests need a running engine: %s" % exc)


def run_cli(*args, timeout=3600, **kwargs):
    return subprocess.run([sys.executable, "-m", "runner"] + [str(a) for a in args], capture_output=True,
                          text=True, cwd=str(ROOT), timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def e2e_run(engine, tmp_path_factory):
    """One real run of the e2e matrix through the CLI, shared by the tests that read its results."""
    results_dir = tmp_path_factory.mktemp("results")
    # --rerun: measured now, whatever the results cache holds from earlier runs (and the cache refreshed).
    proc = run_cli("run", E2E_MATRIX, "--results-dir", results_dir, "--run-id", "e2e", "--rerun")
    run_dir = results_dir / "e2e"
    doc = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").exists() else None
    return proc, run_dir, doc
