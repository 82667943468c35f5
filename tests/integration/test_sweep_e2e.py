"""A small real slice of the sweep capabilities on the engine: a release range expanded from the kept list,
a Keras x TensorFlow cross product with the smoke measure and no scenario probes, its heatmap, a warm rerun
that builds and measures nothing, and bisect on a recorded field. The Keras 3.15 + TensorFlow 2.21 layers
are those of the e2e matrix's modern cell; TensorFlow 2.20 adds one layer.

Nothing here knows whether a pair works: the assertions are on what each record says it measured."""

import json
import re

import pytest

from runner.results.store import validate_results
from tests.integration.conftest import run_cli

SWEEP = """version: 1
defaults:
  measure: smoke
  scenarios: false
  timeout_minutes: 25
  limits: {memory: 6g, cpus: 1, pids: 4096}
  expect: {status: any, reason: "a cross product explores"}
groups:
  - name: k3-x-tf
    matrix:
      era: py311
      keras: {releases: ">=3.15,<3.16"}
      tensorflow: ["2.20.0", "2.21.0"]
"""


@pytest.fixture(scope="module")
def sweep(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    matrix = root / "sweep.yaml"
    matrix.write_text(SWEEP)
    first = run_cli("run", matrix, "--offline", "--results-dir", root, "--run-id", "cold", "--rerun", "--prune")
    warm = run_cli("run", matrix, "--offline", "--results-dir", root, "--run-id", "warm", timeout=600)
    return root, matrix, first, warm


def _cells(doc):
    return {c["cell_id"]: c for c in doc["cells"]}


def test_a_range_becomes_one_smoke_cell_per_release_and_pair(sweep):
    root, _, first, _ = sweep
    assert first.returncode == 0, first.stderr[-3000:]  # expect any: no outcome fails the run
    doc = validate_results(json.loads((root / "cold" / "results.json").read_text()))
    (expansion,) = doc["matrix"]["expansions"]
    assert expansion["axis"] == "keras" and expansion["source"] == "list" and len(expansion["versions"]) >= 2
    cells = _cells(doc)
    assert len(cells) == 2 * len(expansion["versions"])
    for cell in cells.values():
        assert cell["measure"] == "smoke" and cell["expectation_verdict"] == "observed"
        # What pip installed is recorded, with its own verdict on the set, and no scenario was asked.
        if cell["build"]["status"] == "built":
            assert cell["installed"]["keras"] == cell["versions"]["keras"].lstrip("=")
            assert cell["pip_check"]["exit_code"] in (0, 1)
            assert "scenarios" not in cell and cell["probe"]["scenarios_asked"] is False
            assert cell["default_backend"]["backend"] or cell["default_backend"]["error"]
    assert any(c["status"] == "ok" and c["trainings"]["tensorflow"]["status"] == "ok" for c in cells.values())


def test_the_report_draws_the_pairs_as_a_heatmap_linking_each_cell(sweep):
    root, _, _, _ = sweep
    html = (root / "cold" / "report" / "index.html").read_text()
    assert 'class="heatmap' in html
    doc = json.loads((root / "cold" / "results.json").read_text())
    for cell_id in _cells(doc):  # each square links to its cell's details
        assert re.search(r'class="hm hm-[a-z]+" href="#cell-%s"' % re.escape(cell_id), html), cell_id
    assert "trained (smoke)" in (root / "cold" / "report" / "summary.md").read_text()


def test_a_warm_rerun_of_the_sweep_builds_and_measures_nothing(sweep):
    root, _, first, warm = sweep
    assert warm.returncode == 0, warm.stderr[-3000:]
    assert ": build" not in warm.stderr and ": train " not in warm.stderr and ": probe" not in warm.stderr
    doc = validate_results(json.loads((root / "warm" / "results.json").read_text()))
    measured = _cells(json.loads((root / "cold" / "results.json").read_text()))
    for cell_id, record in _cells(doc).items():
        if measured[cell_id]["status"] in ("ok", "partial", "train_failed", "import_failed", "unsatisfiable"):
            assert record["cached"] is True and record["measured_in_run"] == "cold", cell_id


def test_bisect_finds_the_first_release_whose_recorded_field_differs(sweep):
    root, matrix, _, _ = sweep
    doc = json.loads((root / "cold" / "results.json").read_text())
    (expansion,) = doc["matrix"]["expansions"]
    low, high = expansion["versions"][0], expansion["versions"][1]
    proc = run_cli("bisect", matrix, "--offline", "--cell", "keras%s-tf2.21.0-*" % low, "--axis", "keras",
                   "--between", low, high, "--on", "installed.keras", "--measure", "probe",
                   "--results-dir", root, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert high in proc.stdout and low in proc.stdout
    (summary_path,) = root.glob("bisect-keras-*/bisect.json")
    summary = json.loads(summary_path.read_text())
    assert summary["first_differing"] == high and summary["on"] == "installed.keras"
    assert summary["cells_measured"] <= 2  # the two bounds: nothing lies between them
