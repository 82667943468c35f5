"""report/precedence.py and report/conflicts.py over scenario records measured in the real images
(tests/fixtures/probe-scenarios.json: the probe run by hand in the Keras 3.15.1 and Keras 2.3.1 cells)."""

import copy
import json
from pathlib import Path

import pytest

from runner.report.conflicts import conflict_sentence, conflicts
from runner.report.precedence import (
    HEADERS,
    line_of,
    precedence,
    precedence_rows,
    rows_without_evidence,
    scenarios_of,
    table_rows,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "probe-scenarios.json"
K3 = "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu"
K2 = "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu"


@pytest.fixture
def doc():
    measured = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return {"cells": [measured["keras2"], measured["keras3"]]}


def observed(rows, line, aspect):
    return [(row["observed"], row["cells"]) for row in rows if row["line"] == line and row["aspect"] == aspect]


def no_choice_cell():
    """Keras 2.11 as it answers: backend() is 'tensorflow' whatever KERAS_BACKEND says."""
    def scenario(sid, env=None, backend="tensorflow", before=None):
        return {"id": sid, "description": sid, "env": env or {}, "backend": backend, "error": None,
                "keras_json_before": before, "keras_json_after": None, "keras_json_path": None}
    return {"cell_id": "keras2.11.0-tf2.11.0-py310-cpu", "installed": {"keras": "2.11.0"}, "scenarios": [
        scenario("default"), scenario("env-tensorflow", {"KERAS_BACKEND": "tensorflow"}),
        scenario("env-missing-theano", {"KERAS_BACKEND": "theano"}),
        scenario("json-tensorflow", before={"backend": "tensorflow"}),
        scenario("env-vs-json", {"KERAS_BACKEND": "tensorflow"}, before={"backend": "theano"})]}


@pytest.mark.parametrize("version, line", [
    ("0.3.3", "0.x"), ("1.1.0", "1.x"), ("2.0.9", "2.x"), ("2.3.1", "2.x"), ("2.4.3", "2.x"),
    ("2.15.0", "2.x"), ("3.15.1", "3.x"), ("4.0.0", None), (None, None), ("nightly", None)])
def test_keras_lines(version, line):
    assert line_of(version) == line


def test_measured_precedence_env_over_keras_json_over_the_default(doc):
    rows = precedence_rows(doc)
    expected = "KERAS_BACKEND > keras.json > built-in default (tensorflow)"
    assert observed(rows, "3.x", "precedence") == [(expected, [K3])]
    assert observed(rows, "2.x", "precedence") == [(expected, [K2])]


def test_a_stale_keras_json_breaks_keras_3_and_decides_keras_2(doc):
    rows = precedence_rows(doc)
    aspect = "stale keras.json (Keras 1.0: theano, image_dim_ordering th)"
    assert observed(rows, "3.x", aspect) == [
        ("raised ValueError: Unable to import backend : theano; the file left as it was", [K3])]
    assert observed(rows, "2.x", aspect) == [("theano; the file left as it was", [K2])]


def test_tf_keras_and_the_legacy_switch(doc):
    [(text, cells)] = observed(precedence_rows(doc), "3.x", "tf.keras")
    assert text.startswith("TensorFlow 2.21.0: keras 3.15.1 (tf.keras is keras._tf_keras.keras)")
    assert "TF_USE_LEGACY_KERAS=1 (tf-keras not installed): raised ImportError" in text and cells == [K3]
    assert observed(precedence_rows(doc), "2.x", "tf.keras") == []  # TensorFlow 1.15: not asked


def test_a_line_without_a_choice_says_so():
    assert precedence(scenarios_of(no_choice_cell())) == \
        "no choice: backend() is always tensorflow, whatever KERAS_BACKEND says"


def test_cells_that_disagree_give_one_row_each_and_cells_that_agree_share_one(doc):
    twin = copy.deepcopy(doc["cells"][1])
    twin["cell_id"] = "keras3.15.1-tf2.21.0-jax0.10.2-py312-cpu"
    other = copy.deepcopy(doc["cells"][1])
    other["cell_id"] = "keras3.15.1-broken"
    next(s for s in other["scenarios"] if s["id"] == "env-vs-json").update(backend="jax")
    rows = precedence_rows({"cells": doc["cells"] + [twin, other]})
    assert sorted(cells for _, cells in observed(rows, "3.x", "precedence")) == [
        ["keras3.15.1-broken"], sorted([K3, twin["cell_id"]])]


def test_every_row_has_cells_behind_it(doc):
    rows = precedence_rows({"cells": doc["cells"] + [no_choice_cell(), {"cell_id": "old", "installed": {}}]})
    assert rows and rows_without_evidence(rows, doc) != []  # the no-choice cell is not in `doc`
    assert rows_without_evidence(rows, {"cells": doc["cells"] + [no_choice_cell()]}) == []
    assert {row["line"] for row in rows} == {"2.x", "3.x"}


def test_a_row_without_a_cell_or_citing_the_wrong_line_is_caught(doc):
    rows = precedence_rows(doc)
    orphan = dict(rows[0], cells=[])
    wrong_line = dict(rows[0], line="1.x")
    unknown = dict(rows[0], cells=["no-such-cell"])
    assert rows_without_evidence([orphan, wrong_line, unknown] + rows, doc) == [orphan, wrong_line, unknown]


def test_table_rows_are_plain_text_with_cells_cited(doc):
    headers, rows = table_rows(precedence_rows(doc))
    assert headers == HEADERS and all(len(row) == len(HEADERS) for row in rows)
    assert all(row[3] for row in rows)


def test_untrusted_backend_names_stay_on_one_line(doc):
    cell = copy.deepcopy(doc["cells"][1])
    cell["scenarios"][0]["backend"] = "tensorflow\n\x1b[31mred"
    text = precedence(scenarios_of(cell))
    assert "\n" not in text and "\x1b" not in text


def test_conflicts_name_the_shared_package_and_pip_checks_problem(doc):
    broken = {"cell_id": "keras2.4.3-tf2.5.3-py38-cpu", "name": "keras2.4.3-tf2.5.3", "versions": {},
              "shared_packages": {"keras": ["keras 2.4.3", "keras-nightly 2.5.0.dev2021032900"]},
              "pip_check": {"exit_code": 1, "problems": [
                  "tensorflow 2.5.3 has requirement numpy~=1.19.2, but you have numpy 1.23.5."]}}
    found = conflicts({"cells": doc["cells"] + [broken]})
    assert [c["cell_id"] for c in found] == [broken["cell_id"]]  # the measured cells are clean
    sentence = conflict_sentence(found[0])
    assert "keras 2.4.3 and keras-nightly 2.5.0.dev2021032900 both install keras/" in sentence
    assert sentence.endswith("pip check: tensorflow 2.5.3 has requirement numpy~=1.19.2, but you have numpy 1.23.5")
    # A stack that works in spite of pip's complaint says so (Keras 2.6 trains on TensorFlow 2.7).
    working = dict(broken, cell_id="keras2.6.0-tf2.7.4-py39-cpu", status="ok", shared_packages={})
    assert conflict_sentence(conflicts({"cells": [working]})[0]).endswith("(it imported and trained all the same)")


def test_keras_3_runtime_switch(doc):
    assert observed(precedence_rows(doc), "3.x", "runtime switch") == [
        ("keras.config.set_backend(jax) after importing with tensorflow: jax", [K3])]
    assert observed(precedence_rows(doc), "2.x", "runtime switch") == []


def test_one_installed_backend_gives_no_order_only_what_was_asked():
    cell = no_choice_cell()
    cell["installed"] = {"keras": "1.2.2"}
    for scenario in cell["scenarios"]:
        if scenario["id"] == "env-missing-theano":
            scenario.update(backend=None, error={"type": "ValueError", "message": "Unknown backend: theano"})
    assert precedence(scenarios_of(cell)) == ("KERAS_BACKEND=tensorflow with keras.json naming theano (not "
                                              "installed): tensorflow; built-in default (tensorflow)")


def test_the_html_and_markdown_reports_show_the_precedence_table_with_its_cells(doc):
    from runner.report import render_html, summary_markdown

    full = {"schema_version": 1, "kind": "keras-matrix-results", "run_id": "scenarios", "provenance": {},
            "cells": doc["cells"]}
    page = render_html(full)
    assert '<section class="card" id="precedence">' in page
    section = page.split('id="precedence"', 1)[1].split("</section>", 1)[0]
    for row in precedence_rows(full):
        for cell_id in row["cells"]:
            assert 'href="#cell-%s"' % cell_id in section  # every row links to the cells behind it
    markdown = summary_markdown(full)
    assert "### How Keras picks its backend" in markdown
    assert markdown.count("\n| 3.x") + markdown.count("\n| 2.x") >= len(precedence_rows(full))


def test_keras_json_naming_a_backend_that_cannot_be_imported_at_all_does_not_read_as_ignored(doc):
    # Measured in the Keras 3.15.1 + TensorFlow cell without scipy: KERAS_BACKEND=numpy and keras.json naming
    # numpy both raised "No module named 'scipy'". That says numpy does not work, not that keras.json is ignored.
    cell = copy.deepcopy(doc["cells"][1])
    scipy = {"type": "builtins.ModuleNotFoundError", "message": "No module named 'scipy'"}
    for scenario in cell["scenarios"]:
        if scenario["id"] in ("env-numpy", "json-numpy"):
            scenario.update(backend=None, error=scipy)
    assert precedence(scenarios_of(cell)) == "KERAS_BACKEND > keras.json > built-in default (tensorflow)"
    json_tf = next(s for s in cell["scenarios"] if s["id"] == "json-tensorflow")
    json_tf.update(backend="numpy")  # a working backend's keras.json not followed still says so
    assert precedence(scenarios_of(cell)).endswith("not honoured: keras.json")


def test_a_keras_3_without_a_runtime_switch_says_so(doc):
    # Keras 3.0.5 as measured: none of the switch functions exists; the probe records error type "none".
    keras3 = copy.deepcopy(doc["cells"][1])
    for scenario in keras3["scenarios"]:
        if scenario["id"] == "runtime-switch":
            scenario.update(switch_function=None, backend=None, error={
                "type": "none", "message": "this Keras has none of keras.config.set_backend, keras.utils.set_backend"})
    assert observed(precedence_rows({"cells": [keras3]}), "3.x", "runtime switch") == [
        ("none: this Keras has none of keras.config.set_backend, keras.utils.set_backend", [K3])]


def test_keras_home_naming_the_default_backend_shows_nothing(doc):
    # KERAS_HOME's keras.json naming what Keras picks anyway: "honoured" would be read into a coincidence.
    keras3 = copy.deepcopy(doc["cells"][1])
    found = {s["id"]: s for s in keras3["scenarios"]}
    default = found["default"]["backend"]
    found["keras-home"].update(keras_json_before={"backend": default}, backend=default, error=None)
    rows = observed(precedence_rows({"cells": [keras3]}), "3.x", "KERAS_HOME")
    assert rows == [("not shown (its keras.json names the built-in default, %s): %s" % (default, default), [K3])]


def test_tf_keras_with_tf_keras_installed_names_its_release(doc):
    # As measured in the keras3-tf-keras cell: tf_keras has no __version__; pip's record names the release.
    keras3 = copy.deepcopy(doc["cells"][1])
    keras3["tf_keras"].update(tf_keras_installed="2.21.0", legacy={
        "package": "tf_keras", "version": None, "module": "tf_keras.api._v2.keras", "tensorflow_version": "2.21.0"})
    [(text, _)] = observed(precedence_rows({"cells": [keras3]}), "3.x", "tf.keras")
    assert text.endswith("with TF_USE_LEGACY_KERAS=1 (tf-keras 2.21.0 installed): tf_keras (no __version__) "
                         "(tf.keras is tf_keras.api._v2.keras)")


def test_the_scratch_home_in_an_error_is_named_once(doc):
    # Two cells raising the same error from their own random scratch HOMEs give one row.
    cells = []
    for index, scratch in enumerate(("/tmp/scenarios-cT8xEr/home-4RnLeO", "/tmp/scenarios-_zcwWs/home-V1M2mR")):
        cell = copy.deepcopy(doc["cells"][0])
        cell["cell_id"] = "k2-%d" % index
        for scenario in cell["scenarios"]:
            if scenario["id"] == "readonly-home":
                scenario.update(backend=None, home_writable=False, keras_json_path=None, error={
                    "type": "builtins.ValueError", "message": "Unable to create '%s/.theano'" % scratch})
        cells.append(cell)
    assert observed(precedence_rows({"cells": cells}), "2.x", "unwritable HOME") == [
        ("raised ValueError: Unable to create '$HOME/.theano'; keras.json not written", ["k2-0", "k2-1"])]


def test_the_readme_table_names_the_releases_behind_each_row(doc, capsys):
    from runner import cli
    from runner.report.table import precedence_summary_markdown
    from runner.results.store import load_results

    text = precedence_summary_markdown(doc)
    header, rule, *rows = text.splitlines()
    assert [h.strip() for h in header.split("|")[1:-1]] == ["Keras line", "Question", "Observed", "Releases measured"]
    assert set(rule) <= set("|-")
    assert rows and all(row.split("|")[-2].strip().endswith("(1 cell)") for row in rows)
    assert any("| 3.x " in row and "Keras 3.15.1 (1 cell)" in row for row in rows)
    published = Path(__file__).resolve().parents[2] / "reports" / "results.json"
    assert cli.main(["report", str(published), "--format", "precedence"]) == 0
    assert capsys.readouterr().out == precedence_summary_markdown(load_results(published))
