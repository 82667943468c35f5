"""R cells (matrix key r): validation, rendering, the CRAN check and part, the R probe with a fake Rscript,
the record and the report row. No R, no Docker, no network here: fakes stand in for them."""

import json
import stat
import sys
import textwrap
import urllib.error

import pytest

from runner.matrix.load import load_matrix
from runner.render import render_cell
from runner.report.precedence import R_ASPECT, precedence_rows, rows_without_evidence
from runner.run.cell_record import new_cell_record, record_probe
from runner.run.cran import CranCheck, cell_to_build, check_cran, cran_part
from runner.run.measure import PROBE_DIR
from runner.util.errors import MatrixError

sys.path.insert(0, str(PROBE_DIR))  # the installed package's probe too, not only the source tree's
import probe as probe_script  # the in-container probe, importable on the host


def load(tmp_path, cells):
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\ncells:\n" + textwrap.dedent(cells))
    return load_matrix(path, offline=True)


R_CELL = '  - {name: k3r, era: py311, keras: "3.15.1", tensorflow: "2.21.0", jax: "0.10.2", r: true}\n'
CRAN_CELL = '  - {name: k3c, era: py311, keras: "3.15.1", tensorflow: "2.21.0", r: {cran: [keras3]}}\n'


def test_an_r_cell_has_a_readable_distinct_id_and_the_eras_libpython(tmp_path):
    matrix = load(tmp_path, R_CELL + '  - {name: k3, era: py311, keras: "3.15.1", tensorflow: "2.21.0", '
                                     'jax: "0.10.2"}\n')
    with_r, without = matrix.cells
    assert with_r.id == without.id + "-r" == "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu-r"
    assert with_r.r.apt == ("r-base-core", "r-cran-reticulate", "r-cran-jsonlite", "libpython3.11")
    assert with_r.r.cran == () and without.r is None


def test_r_on_python_27_is_refused_with_file_line_and_key(tmp_path):
    with pytest.raises(MatrixError) as caught:
        load(tmp_path, '  - {name: old, era: py27, keras: "2.3.1", theano: "1.0.5", r: true}\n')
    assert caught.value.line == 3 and caught.value.key == "cell old.r" and "Python 3" in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("value", ["0", "1", ".nan", "'yes'", "{cran: [ggplot2]}", "{cran: [../x]}", "{cran: keras3}",
                                   "{cran: [keras3, keras3]}", "{other: 1}"])
def test_r_values_the_schema_refuses(tmp_path, value):
    with pytest.raises(MatrixError) as caught:
        load(tmp_path, '  - {name: k3r, era: py311, keras: "3.15.1", r: %s}\n' % value)
    assert caught.value.line == 3 and str(caught.value.key).startswith("cells[0].r")


def test_r_false_means_no_r_even_on_python_27(tmp_path):
    matrix = load(tmp_path, '  - {name: k3, era: py311, keras: "3.15.1", tensorflow: "2.21.0", r: false}\n'
                            '  - {name: old, era: py27, keras: "2.3.1", theano: "1.0.5", r: false}\n')
    assert [c.r for c in matrix.cells] == [None, None] and not matrix.cells[0].id.endswith("-r")


def test_the_dockerfile_gets_the_r_layer_and_the_cran_layer_only_when_asked(tmp_path):
    plain, cran = load(tmp_path, R_CELL + CRAN_CELL).cells
    text = render_cell(plain)
    assert "apt-get install -y --no-install-recommends r-base-core r-cran-reticulate r-cran-jsonlite " \
           "libpython3.11" in text
    assert "ENV RETICULATE_PYTHON=/opt/venv/bin/python" in text and "cloud.r-project.org" not in text
    with_cran = render_cell(cran)
    assert "install.packages" in with_cran and with_cran.rstrip().endswith('org.keras-matrix.device="cpu"')
    assert "keras3" in with_cran.split("install.packages")[1]
    assert "/run/secrets/ca_bundle" in with_cran.split("R packages from CRAN")[1]
    # CRAN did not answer: built without the CRAN layer, the R layer stays.
    unreachable = CranCheck("https://cloud.r-project.org/", False, "no such host")
    assert render_cell(cell_to_build(cran, unreachable)) == render_cell(cell_to_build(cran, None))
    stripped = render_cell(cell_to_build(cran, unreachable))
    assert "install.packages" not in stripped and "r-cran-reticulate" in stripped
    assert render_cell(cell_to_build(cran, CranCheck("u", True))) == with_cran


class FakeResponse:
    def __init__(self, status):
        self.status = status

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_check_cran_is_a_head_request_and_reports_the_error_text():
    seen = {}

    def answering(request, timeout, context):
        seen.update(method=request.get_method(), url=request.full_url, timeout=timeout)
        return FakeResponse(200)
    assert check_cran(None, opener=answering) == CranCheck("https://cloud.r-project.org/", True, None)
    assert seen == {"method": "HEAD", "url": "https://cloud.r-project.org/", "timeout": 5.0}

    def unreachable(request, timeout, context):
        raise urllib.error.URLError("[Errno -2] Name or service not known")
    assert check_cran(None, opener=unreachable).reason == "[Errno -2] Name or service not known"

    def refused(request, timeout, context):
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, None)
    assert check_cran(None, opener=refused) == CranCheck("https://cloud.r-project.org/", False, "HTTP 403 Forbidden")
    bad = check_cran("/nonexistent/ca.pem", opener=answering)
    assert not bad.reachable and "/nonexistent/ca.pem" in bad.reason


def test_the_cran_part_is_skipped_with_the_measured_reason_never_faked(tmp_path):
    plain, cran = load(tmp_path, R_CELL + CRAN_CELL).cells
    assert cran_part(plain, None, None) is None
    skipped = cran_part(cran, CranCheck("u", False, "timed out"), {"r_packages": {"keras3": None}})
    assert skipped["status"] == "skipped" and skipped["reason"].endswith(": timed out")
    found = {"r_packages": {"keras3": "1.4.0"}}
    assert cran_part(cran, CranCheck("u", True), found)["status"] == "installed"
    assert cran_part(cran, CranCheck("u", True), {"r_packages": {"keras3": None}})["status"] == "missing"
    assert cran_part(cran, CranCheck("u", True), None)["status"] == "missing"


def fake_rscript(tmp_path, body):
    path = tmp_path / "Rscript"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_the_probe_runs_one_fresh_rscript_per_scenario_with_the_backend_set_from_r(tmp_path, monkeypatch):
    log = tmp_path / "calls"
    # Answers like r_probe.R: the backend R sets (argument 4; 1 and 2 are --vanilla and the script), else the
    # built-in default; logs its arguments and environment.
    rscript = fake_rscript(tmp_path, textwrap.dedent("""\
        echo "$@ HOME=$HOME KERAS_BACKEND=${KERAS_BACKEND:-unset}" >> %s
        b=${4:-tensorflow}
        echo '@@KERAS_MATRIX_RESULT@@{"id": "'$3'", "r_version": "4.2.2", "python": "/opt/venv/bin/python", \
        "r_packages": {"reticulate": "1.28", "keras": null, "keras3": null}, "backend": "'$b'"}' | tr -d '\n'
        echo
        """) % log)
    monkeypatch.setenv("KERAS_BACKEND", "theano")  # the probe's own environment must not leak into R
    libraries = {"tensorflow": {"importable": True}, "jax": {"importable": True}, "theano": {"importable": False}}
    result = probe_script.r_probe(libraries, width=1, rscript=rscript)
    assert [s["id"] for s in result["scenarios"]] == ["r-default", "r-env-tensorflow", "r-env-jax"]
    assert [s["backend"] for s in result["scenarios"]] == ["tensorflow", "tensorflow", "jax"]
    assert result["r_version"] == "4.2.2" and result["reticulate_version"] == "1.28"
    calls = log.read_text().splitlines()
    assert all("KERAS_BACKEND=unset" in c and "r_probe.R" in c for c in calls)
    assert len({c.split("HOME=")[1].split()[0] for c in calls}) == 3  # a fresh HOME each


def test_an_rscript_that_says_nothing_is_recorded_as_such(tmp_path):
    rscript = fake_rscript(tmp_path, "echo 'Error: boom' >&2; exit 1\n")
    result = probe_script.r_probe({}, rscript=rscript)
    (only,) = result["scenarios"]
    assert only["id"] == "r-default" and only["error"]["type"] == "crash" and "boom" in only["error"]["message"]
    assert probe_script.which("no-such-program-here") is None


def r_cell_record(tmp_path, scenarios, cran=None):
    cell = load(tmp_path, R_CELL).cells[0]
    record = new_cell_record(cell)
    record_probe(record, {
        "installed": {"keras": "3.15.1"},
        "default_backend": {"backend": "tensorflow", "keras_version": "3.15.1"},
        "scenarios": [{"id": "default", "env": {}, "backend": "tensorflow", "error": None}],
        "r": {"rscript": "/usr/bin/Rscript", "r_version": "4.2.2", "reticulate_version": "1.28",
              "python": "/opt/venv/bin/python", "r_packages": {"reticulate": "1.28", "keras3": None},
              "scenarios": scenarios}})
    if cran:
        record["r"]["cran"] = cran
    return record


def test_the_record_and_the_report_row(tmp_path):
    record = r_cell_record(tmp_path, [
        {"id": "r-default", "backend": "tensorflow", "config_backend": "tensorflow", "env": {}},
        {"id": "r-env-jax", "backend": "jax", "config_backend": "jax", "env": {"KERAS_BACKEND": "jax"}},
        {"id": "r-env-tensorflow", "error": {"type": "python.builtin.ImportError/error", "message": "no libdevice",
                                             "stage": "import"}}],
        cran={"requested": ["keras3"], "status": "skipped", "reason": "CRAN (https://cloud.r-project.org/) did "
                                                                       "not answer before the build: timed out"})
    assert "r" not in record["probe"] and record["r"]["python"] == "/opt/venv/bin/python"
    doc = {"cells": [record]}
    (row,) = [r for r in precedence_rows(doc) if r["aspect"] == R_ASPECT]
    assert row["line"] == "3.x" and row["cells"] == [record["cell_id"]]
    assert row["observed"].startswith("R 4.2.2, reticulate 1.28: keras$backend$backend() via reticulate: tensorflow")
    assert "with Sys.setenv(KERAS_BACKEND='jax') first: jax" in row["observed"]
    assert "KERAS_BACKEND='tensorflow') first: raised python.builtin.ImportError/error: no libdevice (at import)" \
        in row["observed"]
    assert "CRAN keras3: skipped (" in row["observed"] and "timed out" in row["observed"]
    assert rows_without_evidence(precedence_rows(doc), doc) == []
    # An R row citing a cell without R records has no evidence behind it.
    bare = dict(record)
    del bare["r"]
    assert rows_without_evidence([row], {"cells": [bare]}) == [row]


def test_a_cell_without_r_gives_no_r_row_and_no_r_field(tmp_path):
    cell = load(tmp_path, '  - {name: k3, era: py311, keras: "3.15.1", tensorflow: "2.21.0"}\n').cells[0]
    record = new_cell_record(cell)
    record_probe(record, {"scenarios": [{"id": "default", "env": {}, "backend": "tensorflow", "error": None}],
                          "default_backend": {"backend": "tensorflow"}, "installed": {"keras": "3.15.1"}})
    assert "r" not in record
    assert [r for r in precedence_rows({"cells": [record]}) if r["aspect"] == R_ASPECT] == []
    assert json.dumps(record)  # plain JSON
