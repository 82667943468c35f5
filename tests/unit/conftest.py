"""The hostile-input suites' shared fixture (tests/unit/test_hostile*.py)."""

import pytest

from tests.conftest import ROOT

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
