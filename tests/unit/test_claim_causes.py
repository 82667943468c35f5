"""Issue #28's eight wrong claims, each at its cause: the classifier or the grouping that produced it, over
hand-made records and over the published results the claims were made from."""

import copy
import json
from pathlib import Path

import pytest

from runner.report.fields import field_values, installed_of, keras_version
from runner.report.findings import compute_findings, import_error_key, reads_keras_backend
from runner.report.precedence import line_of, names_backend, precedence, precedence_rows, release_runs, scenarios_of
from runner.report.table import precedence_summary_markdown

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def load(name):
    return json.loads((REPORTS / name / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def every_release():
    return load("every-release")


@pytest.fixture(scope="module")
def cross_products():
    return load("cross-products")


def by_id(findings):
    return {f["id"]: f for f in findings}


def scenario(sid, backend=None, error=None, env=None, planted=None):
    return {"id": sid, "description": sid, "env": env or {}, "backend": backend,
            "error": {"type": error[0], "message": error[1]} if error else None,
            "keras_json_before": {"backend": planted} if planted else None}


def cell(version, scenarios, cell_id=None):
    return {"cell_id": cell_id or "keras%s-cpu" % version, "installed": {"keras": version},
            "versions": {"keras": "==" + version}, "scenarios": scenarios}


def releases_of(doc, row):
    versions = {c["cell_id"]: keras_version(c) for c in doc["cells"]}
    return sorted({versions[c] for c in row["cells"]})


# ---- 1. an error naming the backend KERAS_HOME's keras.json planted means it was read ----------------------

CONFLICT = ("AttributeError", "'module' object has no attribute 'set_keras_submodules'")


def test_an_error_naming_the_planted_backend_is_honoured_then_raised():
    keras_home = scenario("keras-home", error=("ValueError", "Unable to import backend : jax"),
                          env={"KERAS_HOME": "$KERAS_HOME"}, planted="jax")
    doc = {"cells": [cell("2.2.0", [scenario("default", error=CONFLICT), keras_home])]}
    [row] = [r for r in precedence_rows(doc) if r["aspect"] == "KERAS_HOME"]
    assert row["observed"].startswith("honoured, then raised (its keras.json names jax)")


def test_an_error_naming_something_else_shows_nothing_rather_than_not_honoured():
    keras_home = scenario("keras-home", error=CONFLICT, env={"KERAS_HOME": "$KERAS_HOME"}, planted="theano")
    doc = {"cells": [cell("2.4.3", [scenario("default", error=CONFLICT), keras_home])]}
    [row] = [r for r in precedence_rows(doc) if r["aspect"] == "KERAS_HOME"]
    assert row["observed"].startswith("not shown (raised before answering")


def test_the_default_s_own_error_names_nothing():
    default = scenario("default", error=("ImportError", "No module named tensorflow"))
    same = scenario("env-missing-tensorflow", error=("ImportError", "No module named tensorflow"),
                    env={"KERAS_BACKEND": "tensorflow"})
    assert not names_backend(same, "tensorflow", default)
    assert names_backend(same, "tensorflow", None)
    assert not names_backend(scenario("x", error=("ImportError", "No module named tensorflowx")), "tensorflow")


def test_published_keras_home_2_2_0_to_2_2_2_and_2_4_2_read_the_file(every_release):
    rows = [r for r in precedence_rows(every_release) if r["aspect"] == "KERAS_HOME"]
    honoured = {v for r in rows if r["observed"].startswith("honoured") for v in releases_of(every_release, r)}
    assert {"2.2.0", "2.2.1", "2.2.2", "2.4.2"} <= honoured
    assert not any(r["observed"].startswith("not honoured") and "raised" in r["observed"] for r in rows)


# ---- 2. rows grouped by what the records show, not by a fixed 2.4-2.15 line --------------------------------

def test_lines_are_majors_and_no_row_spans_2_4_to_2_15():
    assert line_of("2.4.2") == line_of("2.15.0") == line_of("2.0.0") == "2.x"


def test_published_2_4_0_to_2_4_2_read_keras_backend_and_only_2_6_to_2_15_show_no_choice(every_release):
    rows = [r for r in precedence_rows(every_release) if r["aspect"] == "precedence"]
    no_choice = {v for r in rows if r["observed"].startswith("no choice") for v in releases_of(every_release, r)}
    assert "2.4.2" not in no_choice and "2.4.3" not in no_choice
    assert {v for v in no_choice if v.startswith("2.")} == {
        "2.6.0", "2.7.0", "2.8.0", "2.9.0", "2.10.0", "2.11.0", "2.12.0", "2.13.1", "2.14.0", "2.15.0"}
    [row] = [r for r in rows if releases_of(every_release, r) == ["2.4.0", "2.4.1", "2.4.2"]]
    assert row["observed"].startswith("KERAS_BACKEND honoured, then raised (KERAS_BACKEND=theano")


def test_a_row_s_releases_read_as_runs_of_consecutive_measured_releases(every_release):
    assert release_runs(["2.0.5", "2.1.0", "2.2.3"], ["2.0.5", "2.1.0", "2.2.0", "2.2.3"]) == "2.0.5-2.1.0, 2.2.3"
    table = precedence_summary_markdown(every_release)
    assert "2.4-2.15" not in table and "releases from" not in table
    assert "Keras 3.0.0-3.0.4, 3.1.0-3.15.1" in table  # KERAS_HOME honoured: 3.0.5's file named its default


# ---- 5. a "first release with X" needs a scenario that can tell X from the default ---------------------------

def test_an_answer_equal_to_the_default_does_not_show_keras_backend_was_read():
    ignored = [scenario("default", "theano"), scenario("env-theano", "theano", env={"KERAS_BACKEND": "theano"}),
               scenario("env-missing-tensorflow", "theano", env={"KERAS_BACKEND": "tensorflow"})]
    unknown = [scenario("default", "theano"), scenario("env-theano", "theano", env={"KERAS_BACKEND": "theano"})]
    read = [scenario("default", "theano"), scenario("env-theano", "theano", env={"KERAS_BACKEND": "theano"}),
            scenario("env-missing-tensorflow", error=("ImportError", "No module named tensorflow"),
                     env={"KERAS_BACKEND": "tensorflow"})]
    assert reads_keras_backend(scenarios_of({"scenarios": ignored})) is False
    assert reads_keras_backend(scenarios_of({"scenarios": unknown})) is None
    assert reads_keras_backend(scenarios_of({"scenarios": read})) is True
    doc = {"cells": [cell("0.2.0", [scenario("default", error=("ImportError", "cannot import name backend")),
                                    scenario("env-theano", error=("ImportError", "cannot import name backend"))]),
                     cell("0.3.0", ignored), cell("0.3.1", read)]}
    title = by_id(compute_findings(doc))["backend-accepted-theano"]["title"]
    assert "first gives theano between Keras 0.3.0 and 0.3.1" in title or "at Keras 0.3.1" in title


def test_published_keras_backend_theano_is_first_read_by_0_3_1(every_release):
    title = by_id(compute_findings(every_release))["backend-accepted-theano"]["title"]
    assert "first gives theano at Keras 0.3.1 (the release after 0.3.0)" in title


# ---- 6. what the cross products' import failures raised, every one named -------------------------------------

def test_import_errors_are_grouped_by_the_exception_without_its_path():
    key = import_error_key({"type": "builtins.ImportError", "message": "cannot import name 'tensor' from "
                            "'tensorflow.python.framework' (/opt/venv/lib/python3.9/site-packages/x.py)"})
    assert key == "ImportError: cannot import name 'tensor' from 'tensorflow.python.framework'"


def test_a_cell_without_keras_default_backend_is_grouped_by_its_own_backends_import_error():
    # Keras 3 with torch alone: the default probe raises "No module named 'tensorflow'" whatever torch does (Keras
    # defaults to the absent TensorFlow); the cell failed because torch's import did. The finding named the
    # TensorFlow error for all 16 such cross-product cells before it read the backend's own.
    torch_cell = {"cell_id": "keras3.0.5-torch2.15.0-py311-cpu", "status": "import_failed",
                  "versions": {"keras": "==3.0.5", "torch": "==2.15.0"},
                  "default_backend": {"backend": None, "keras_json": {"backend": "tensorflow"},
                                      "error": {"type": "builtins.ModuleNotFoundError",
                                                "message": "No module named 'tensorflow'"}},
                  "trainings": {"torch": {"status": "failed", "stage": "import",
                                          "error": {"type": "builtins.ModuleNotFoundError",
                                                    "message": "No module named 'packaging'"}}}}
    tf_cell = copy.deepcopy(torch_cell)  # TensorFlow installed: the default probe's error is the cell's
    tf_cell.update(cell_id="keras2.6.0-tf2.12.1-py311-cpu", versions={"keras": "==2.6.0", "tensorflow": "==2.12.1"},
                   trainings={"tensorflow": {"status": "failed", "stage": "import",
                                             "error": {"type": "builtins.ImportError", "message": "other"}}})
    tf_cell["default_backend"]["error"] = {"type": "builtins.AttributeError", "message": "no ArgSpec"}
    finding = by_id(compute_findings({"cells": [torch_cell, tf_cell]}))["import-errors"]
    assert sorted((item["text"], item["cells"]) for item in finding["items"]) == [
        ("1 cell: AttributeError: no ArgSpec", ["keras2.6.0-tf2.12.1-py311-cpu"]),
        ("1 cell: ModuleNotFoundError: No module named 'packaging'", ["keras3.0.5-torch2.15.0-py311-cpu"])]


def test_published_cross_products_name_every_import_error(cross_products):
    finding = by_id(compute_findings(cross_products))["import-errors"]
    counts = {item["text"].split(": ", 1)[1]: len(item["cells"]) for item in finding["items"]}
    assert sum(counts.values()) == 85  # 69 Keras 2 x TensorFlow pairs and 16 Keras 3 x torch pairs
    assert "ModuleNotFoundError: No module named 'tensorflow'" not in counts
    assert counts["ModuleNotFoundError: No module named 'packaging'"] == 12  # Keras 3.0-3.3 with any torch
    assert counts["TypeError: register_pytree_node() got an unexpected keyword argument 'flatten_with_keys_fn'"] == 4
    assert counts["AttributeError: module 'inspect' has no attribute 'ArgSpec'"] == 24
    assert counts["tensorflow.python.util.tf_export.SymbolAlreadyExposedError: Symbol Zeros is already exposed "
                  "as ()."] == 5
    assert counts["ModuleNotFoundError: No module named 'keras_preprocessing'"] == 3
    assert sum(n for k, n in counts.items() if "AlreadyExistsError" in k) == 2


# ---- 7. installed names in PEP 503 form, for new records and old ones ------------------------------------

def test_published_installed_names_read_in_pep_503_form(every_release):
    # The hand-made cases are in test_report_fields.py.
    for record in every_release["cells"]:
        assert all(name == name.lower() and "_" not in name and "." not in name for name in installed_of(record))


# ---- 8. KERAS_BACKEND=numpy counted in every cell that asked, not only where numpy was requested ----------

def test_published_keras_3_0_5_numpy_backend_raises(every_release):
    finding = by_id(compute_findings(every_release))["backend-accepted-numpy"]
    assert "in every Keras version measured" not in finding["title"]
    assert "but not in Keras 3.0.5" in finding["title"]
    assert any(item["text"].startswith("Keras 3.0.5: raised ModuleNotFoundError") for item in finding["items"])


def test_a_backend_not_requested_is_judged_from_its_env_scenario():
    base = [scenario("default", "tensorflow"), scenario("env-jax", "jax", env={"KERAS_BACKEND": "jax"})]
    broken = copy.deepcopy(base) + [scenario("env-numpy", error=("ModuleNotFoundError", "No module named 'torch'"),
                                             env={"KERAS_BACKEND": "numpy"})]
    working = copy.deepcopy(base) + [scenario("env-numpy", "numpy", env={"KERAS_BACKEND": "numpy"})]
    doc = {"cells": [cell("3.0.4", working), cell("3.0.5", broken), cell("3.1.0", working)]}
    assert by_id(compute_findings(doc))["backend-accepted-numpy"]["title"].endswith("but not in Keras 3.0.5")


# ---- claims as data: every finding names the fields it read ---------------------------------------------------

def test_every_published_finding_names_its_fields_and_they_resolve(every_release, cross_products):
    for doc in (every_release, cross_products, load(".")):
        cells = {c["cell_id"]: c for c in doc["cells"]}
        for finding in compute_findings(doc):
            assert finding["fields"], finding["id"]
            first = cells[finding["cells"][0]] if finding["cells"] else {}
            for path in finding["fields"]:
                assert field_values(first, path)  # resolves (to None where the record lacks it)


def test_field_paths_select_scenarios_by_id_and_any_key():
    record = cell("3.0.5", [scenario("default", "tensorflow"), scenario("env-jax", "jax")])
    record["trainings"] = {"jax": {"status": "ok"}, "tensorflow": {"status": "failed"}}
    assert field_values(record, "scenarios[env-*].backend") == [("scenarios[env-jax].backend", "jax")]
    assert field_values(record, "trainings.*.status") == [("trainings.jax.status", "ok"),
                                                          ("trainings.tensorflow.status", "failed")]
    assert field_values(record, "pip_check.problems") == [("pip_check.problems", None)]


def test_precedence_of_a_cell_whose_every_env_raised_the_default_s_error_says_so():
    found = scenarios_of({"scenarios": [scenario("default", error=CONFLICT),
                                        scenario("env-theano", error=CONFLICT, env={"KERAS_BACKEND": "theano"})]})
    assert precedence(found).startswith("KERAS_BACKEND: every value raised")
