"""uv, the installer of the Python 3 eras, on the real engine: a stack uv proves unsatisfiable is classified
`unsatisfiable` with uv's own explanation, in well under a minute of build (pip would backtrack or fail with a
bare error), and the report shows that explanation; a cell uv installs still looks to the probe as a pip install
would (pip in the venv, `pip check`, the installed set without uv itself).

The cells are small: two that stop at their first install layer, and one Keras 3 + JAX cell whose layers it shares
with the matrix's Keras 3.15.1 + JAX cell (probe measure, no training)."""

import json

import pytest

from runner.results.store import validate_results
from tests.integration.conftest import run_cli

CONCLUSION = "we can conclude that your requirements are unsatisfiable"

MATRIX = """\
version: 1
defaults: {measure: probe, timeout_minutes: 10}
cells:
  # py39's era pins protobuf<3.20 (TensorFlow < 2.12 breaks with protobuf 4): a pin above it cannot be installed.
  - {name: pins-conflict, era: py39, keras: "2.11.0", pip: ["protobuf==4.25.0"],
     expect: {status: unsatisfiable, reason: "protobuf==4.25.0 against the era's protobuf<3.20"}}
  # TensorFlow 1.15 has no wheel for CPython 3.11.
  - {name: no-wheel, era: py311, keras: "3.15.1", tensorflow: "1.15.0",
     expect: {status: unsatisfiable, reason: "no TensorFlow 1.15 wheel for Python 3.11"}}
  - {name: uv-jax, era: py311, keras: "3.15.0", jax: "0.10.2",
     expect: {status: any, reason: "the test reads what the probe saw of a uv install, whatever the outcome"}}
"""


@pytest.fixture(scope="module")
def uv_run(engine, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uv")
    matrix = tmp / "matrix.yaml"
    matrix.write_text(MATRIX)
    proc = run_cli("run", matrix, "--results-dir", tmp / "results", "--run-id", "uv", "--rerun", "--progress", "quiet",
                   timeout=1800)
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr[-3000:]
    doc = validate_results(json.loads((tmp / "results" / "uv" / "results.json").read_text()))
    yield proc, tmp, {c["name"]: c for c in doc["cells"]}
    engine.remove_image("keras-matrix/cell:%s" % next(c["cell_id"] for c in doc["cells"] if c["name"] == "uv-jax"))


def test_the_run_meets_its_expectations(uv_run):
    proc, _, _ = uv_run
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])


@pytest.mark.parametrize("name,because", [
    ("pins-conflict", "Because you require protobuf==4.25.0 and protobuf<3.20, " + CONCLUSION),
    ("no-wheel", "Because tensorflow-cpu==1.15.0 has no wheels with a matching Python ABI tag"),
])
def test_an_unsatisfiable_stack_carries_uv_s_explanation_and_ends_in_seconds(uv_run, name, because):
    _, _, cells = uv_run
    cell = cells[name]
    assert cell["status"] == "unsatisfiable", (cell["reason"], cell["build"]["log_tail"])
    assert cell["reason"].startswith(because), cell["reason"]
    assert CONCLUSION in cell["build"]["resolver"] and cell["build"]["resolver"].startswith(cell["reason"])
    assert cell["build"]["status"] == "failed" and cell["build"]["seconds"] < 60, cell["build"]["seconds"]


def test_uv_s_hint_is_kept_in_the_record(uv_run):
    _, _, cells = uv_run
    assert "(hint: You require CPython 3.11" in cells["no-wheel"]["build"]["resolver"]


def test_the_report_shows_the_resolver_s_explanation(uv_run):
    _, tmp, cells = uv_run
    out = tmp / "report"
    proc = run_cli("report", tmp / "results" / "uv" / "results.json", "-o", out, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (out / "index.html").read_text()
    assert "Why no solution exists" in html
    # Escaped like every untrusted text (uv writes `cp311` in backquotes and >= in derivations).
    assert "Because you require protobuf==4.25.0 and protobuf&lt;3.20" in html


def test_a_cell_uv_installed_looks_to_the_probe_as_a_pip_install(uv_run):
    _, _, cells = uv_run
    cell = cells["uv-jax"]
    assert cell["build"]["status"] == "built", cell["reason"]
    installed = cell["installed"]
    assert installed["keras"] == "3.15.0" and installed["jax"] == "0.10.2"
    assert "pip" in installed and "uv" not in installed  # the venv keeps pip; uv lives outside it
    assert cell["pip_check"]["exit_code"] == 0 and cell["pip_check"]["problems"] == []
    assert cell["default_backend"]["backend"] or cell["default_backend"]["error"]  # the probe ran
