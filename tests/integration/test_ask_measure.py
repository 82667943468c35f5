"""`ask --measure` on the real engine: a stack no record answers is built as one cell and measured, and the
answer comes from the record it wrote. The cell is the e2e matrix's Keras 3 cell (keras 3.15.1 +
TensorFlow 2.21.0, py311), probed only, so it shares the e2e run's images and costs a probe."""

import json

from tests.integration.conftest import run_cli

CELL = "keras3.15.1-tf2.21.0-py311-cpu"


def test_ask_measures_an_unmeasured_pair(engine, tmp_path):
    # An empty results document: no record answers, so --measure has something to do.
    empty = tmp_path / "published" / "results.json"
    empty.parent.mkdir()
    from runner.results.store import load_results
    from tests.integration.conftest import ROOT

    doc = load_results(ROOT / "reports" / "cross-products" / "results.json")
    doc["cells"] = []
    empty.write_text(json.dumps(doc))
    results_dir = tmp_path / "results"
    proc = run_cli("ask", "keras==3.15.1", "tensorflow==2.21.0", "--results", empty, "--measure",
                   "--depth", "probe", "--results-dir", results_dir, "--format", "json", "--progress", "quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout)
    assert answer["measured"] is True and answer["verdict"] == "imports (not trained)"
    [record] = answer["answers"]
    assert record["cell_id"] == CELL and record["status"] == "ok" and record["measure"] == "probe"
    assert record["versions"]["keras"] == "3.15.1" and record["versions"]["tensorflow"] == "2.21.0"
    assert record["default_backend"] == "tensorflow"  # what Keras said in the container
    [run_dir] = [p for p in results_dir.iterdir() if p.is_dir()]
    assert record["results"] == str(run_dir / "results.json")
    assert (results_dir / (run_dir.name + ".matrix.yaml")).is_file()  # the one-cell matrix, kept beside its run
    written = json.loads((run_dir / "results.json").read_text())
    assert [c["cell_id"] for c in written["cells"]] == [CELL]
