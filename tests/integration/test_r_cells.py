"""R cells through the real engine and the CLI: the R cell of matrix.yaml (Keras 3 with TensorFlow and JAX,
R and reticulate from Debian), measured as `measure: probe` (no training), and what R saw through reticulate
compared with what the Python probe measured in the same cell. No backend name is written here: every
expected answer comes from the cell's own Python records."""

import json
import textwrap

from runner.report.precedence import R_ASPECT, precedence_rows, rows_without_evidence
from tests.integration.conftest import run_cli

CELL = "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu-r"


def test_r_sees_what_python_sees(engine, tmp_path):
    matrix = tmp_path / "r-matrix.yaml"
    matrix.write_text(textwrap.dedent("""\
        version: 1
        cells:
          - {name: keras3-r, era: py311, keras: "3.15.1", tensorflow: "2.21.0", jax: "0.10.2",
             r: {cran: [keras3]}, measure: probe}
        """))
    proc = run_cli("run", matrix, "--results-dir", tmp_path / "results", "--run-id", "r", "--rerun",
                   "--progress", "quiet", timeout=3600)
    doc = json.loads((tmp_path / "results" / "r" / "results.json").read_text())
    (cell,) = doc["cells"]
    assert cell["cell_id"] == CELL and cell["status"] == "ok", (proc.stderr[-3000:], cell.get("reason"))
    python_default = cell["default_backend"]["backend"]
    python_env = {s["id"][len("env-"):]: s for s in cell["scenarios"] if s["id"].startswith("env-")}
    assert python_default  # the Python probe answered: the R answers are checked against it

    r = cell["r"]
    assert r["r_version"] and r["reticulate_version"] and r["python"] == cell["probe"]["executable"]
    by_id = {s["id"]: s for s in r["scenarios"]}
    trained = [b for b in ("tensorflow", "theano", "cntk", "jax", "torch") if b in cell["versions"]]
    assert sorted(by_id) == sorted(["r-default"] + ["r-env-" + b for b in trained])
    default = by_id["r-default"]
    assert default.get("error") is None, default
    assert default["backend"] == python_default and default["keras_version"] == cell["default_backend"]["keras_version"]
    assert default["config_backend"] == python_default  # Keras 3: keras$config$backend() agrees
    for backend in trained:
        said = by_id["r-env-" + backend]
        assert said["env"] == {"KERAS_BACKEND": backend}
        assert said.get("error") is None, said
        assert said["backend"] == python_env[backend]["backend"]  # what KERAS_BACKEND gives from Python

    cran = doc["settings"]["cran"]
    if cran["reachable"]:
        assert r["cran"]["status"] in ("installed", "missing")
        if r["cran"]["status"] == "installed":
            value = default["r_functions"]["keras3::config_backend()"]
            assert value == {"value": python_default}
    else:  # skipped, with the error the run measured, never faked
        assert r["cran"]["status"] == "skipped" and cran["reason"] in r["cran"]["reason"]
        assert r["r_packages"]["keras3"] is None and default["r_functions"] == {}

    rows = [row for row in precedence_rows(doc) if row["aspect"] == R_ASPECT]
    assert rows and all(row["cells"] == [CELL] for row in rows)
    assert "via reticulate: %s" % python_default in rows[0]["observed"]
    assert rows_without_evidence(precedence_rows(doc), doc) == []
