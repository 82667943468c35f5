"""Fixtures the unit suites share: the hostile-input world (tests/unit/test_hostile*.py) and a run of the
fake engine's matrix (tests/unit/test_run.py, test_hostile_state.py)."""

import pytest

from runner.matrix.load import load_matrix
from runner.run.context import RunOptions
from runner.run.mnist import MnistData
from tests.conftest import ROOT
from tests.fakes import MATRIX

FIXTURE = ROOT / "tests" / "fixtures" / "results-run.json"
ONE_CELL = 'version: 1\ncells:\n  - {name: a, era: py311, keras: "3.15.1", tensorflow: "2.21.0"}\n'


@pytest.fixture
def world(tmp_path, monkeypatch):
    """A fresh tree: `in/` (inputs), `out/` (the one place a command may write, when the case allows it),
    `outside/victim.txt` (what a planted symlink points at) and `results/prev/` (a run already recorded)."""
    for name in ("in", "out", "outside", "results/prev"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "outside" / "victim.txt").write_text("precious\n")
    (tmp_path / "results" / "prev" / "results.json").write_text(FIXTURE.read_text())
    (tmp_path / "in" / "m.yaml").write_text(ONE_CELL)
    (tmp_path / "in" / "run.json").write_text(FIXTURE.read_text())
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def fake_run(tmp_path):
    """(matrix, data, options) for run_matrix with tests/fakes.py's engine: its matrix, a data file that is
    never read, and options that write under tmp_path only."""
    matrix_path = tmp_path / "m.yaml"
    matrix_path.write_text(MATRIX)
    matrix = load_matrix(matrix_path)
    data = MnistData(path=tmp_path / "data" / "mnist.npz", sha256="x", source="cache")
    options = RunOptions(results_dir=tmp_path / "results", dockerfiles_dir=tmp_path / "df", run_id="t",
                         progress="quiet", ca_bundle="/nonexistent", cache_dir=tmp_path / "cache")
    return matrix, data, options
