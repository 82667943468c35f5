"""Findings are computed from the results alone and cite the cells they come from."""

import copy
import json
from pathlib import Path

import pytest

from runner.report import compute_findings
from runner.report.fields import keras_version, spec_version

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def doc():
    return json.loads((FIXTURES / "results-run.json").read_text(encoding="utf-8"))


def by_id(findings):
    return {f["id"]: f for f in findings}


def cell(doc, cell_id):
    return next(c for c in doc["cells"] if c["cell_id"] == cell_id)


def test_every_finding_is_well_formed_and_cites_existing_cells(doc):
    findings = compute_findings(doc)
    ids = {c["cell_id"] for c in doc["cells"]}
    assert findings and len({f["id"] for f in findings}) == len(findings)
    for finding in findings:
        assert set(finding) >= {"id", "title", "text", "cells"}
        assert finding["title"] and finding["text"] and finding["cells"], finding["id"]
        assert set(finding["cells"]) <= ids, finding["id"]
        for item in finding["items"]:
            assert item["cells"] and set(item["cells"]) <= set(finding["cells"])
    json.dumps(findings)  # findings.json


def test_default_backend_per_keras_version_and_where_it_changes(doc):
    findings = by_id(compute_findings(doc))
    default = findings["default-backend"]
    lines = default["text"].splitlines()
    assert lines[0] == "Keras 1.0.8: theano (1 cell)"
    assert "Keras 2.3.1: tensorflow (1 cell); raised ImportError (2 cells)" in lines
    assert "theano" in default["title"] and "tensorflow" in default["title"]
    change = findings["default-backend-change-1.0.8-1.2.2"]
    assert "between Keras 1.0.8 (theano) and Keras 1.2.2 (tensorflow)" in change["text"]
    assert change["cells"] == ["keras1.0.8-tf1.0.1-theano1.0.5-py27-cpu", "keras1.2.2-tf1.0.1-theano1.0.5-py27-cpu"]
    # Cells that never reached the probe say nothing about the default.
    assert "keras2.0.9-tf1.4.1-theano1.0.5-cntk2.7.post2-py27-cpu" not in default["cells"]


def test_nothing_is_assumed_about_which_backend_is_the_default(doc):
    for record in doc["cells"]:
        if record["default_backend"].get("backend") == "tensorflow":
            record["default_backend"]["backend"] = "cntk"
    findings = by_id(compute_findings(doc))
    assert "Keras 1.2.2 to 2.2.5 (2 versions): cntk (2 cells)" in findings["default-backend"]["text"]
    change = findings["default-backend-change-1.0.8-1.2.2"]
    assert change["title"] == "Default backend changes from theano to cntk between Keras 1.0.8 and 1.2.2 " \
        "(the releases between them, if any, not measured)"


def test_versions_group_by_what_pip_installed(doc):
    record = cell(doc, "keras2.9.0-tf2.9.3-py39-cpu")
    record["installed"]["keras"] = "2.9.1"  # pip resolved something else than the pin
    del cell(doc, "keras2.12.0-tf2.12.1-py311-cpu")["installed"]["keras"]  # unknown: the request counts
    text = by_id(compute_findings(doc))["default-backend"]["text"]
    # 2.9.0 (the GPU cell), 2.9.1 (installed) and 2.12.0 (requested) are three versions with one answer.
    assert "Keras 2.9.0 to 2.12.0 (3 versions): tensorflow (3 cells)" in text
    assert keras_version({"versions": {"keras": "==2.3.1"}}) == "2.3.1"
    assert spec_version(">=2.3,<2.4") == ">=2.3,<2.4"


def test_default_backend_errors_say_whether_other_backends_still_trained(doc):
    finding = by_id(compute_findings(doc))["default-backend-errors"]
    assert finding["level"] == "warning"
    assert finding["cells"] == ["keras2.3.1-theano1.0.5-py27-cpu", "keras2.3.1-py27-cpu",
                                "keras3.15.1-jax0.10.2-py311-cpu"]
    theano_only, no_backend, jax_only = finding["text"].splitlines()
    assert "raised ImportError: No module named tensorflow" in theano_only
    assert "Keras raised instead of falling back" in theano_only and "theano still trained" in theano_only
    assert "no backend library to try" in no_backend
    assert "ModuleNotFoundError: No module named 'tensorflow'" in jax_only and "jax still trained" in jax_only


def test_a_fallback_is_reported_when_keras_used_another_backend_than_its_keras_json(doc):
    record = cell(doc, "keras2.3.1-theano1.0.5-py27-cpu")
    record["default_backend"].update(backend="theano", error=None)
    finding = by_id(compute_findings(doc))["default-backend-fallback"]
    assert finding["cells"] == ["keras2.3.1-theano1.0.5-py27-cpu"]
    assert "keras.json names tensorflow but Keras reported theano" in finding["text"]


def test_failing_stacks_are_grouped_by_status_with_their_reasons(doc):
    findings = by_id(compute_findings(doc))
    for status in ("partial", "train_failed", "import_failed", "unsatisfiable", "build_failed", "timeout",
                   "skipped", "error"):
        finding = findings["status-%s" % status]
        assert finding["cells"] == [c["cell_id"] for c in doc["cells"] if c["status"] == status]
    assert "status-ok" not in findings
    assert "No matching distribution found for tensorflow==1.8.0" in findings["status-unsatisfiable"]["text"]
    skipped = findings["status-skipped"]
    assert len(skipped["items"]) == 1 and "(3 cells)" in skipped["text"]  # one reason, three cells
    assert findings["status-build_failed"]["level"] == "error" and skipped["level"] == "info"


def sampled(walls, verdict="stable", causes=()):
    """A finished training recorded with the timing protocol: one warm-up epoch, then `walls`."""
    samples = [{"process": 0, "epoch": 0, "warmup": True, "wall": 9.0}]
    samples += [{"process": i // 5, "epoch": 1 + i % 5, "warmup": False, "wall": w} for i, w in enumerate(walls)]
    middle = sorted(walls)[len(walls) // 2]
    return {"samples": samples, "timing": {
        "estimator": "median", "seconds": middle, "interval": [min(walls), max(walls)], "confidence": 0.95,
        "rel_width": 0.02, "samples": len(walls), "processes": 2, "verdict": verdict, "causes": list(causes)}}


MULTI = "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu"
TF = [3.20, 3.25, 3.18, 3.22, 3.21, 3.19, 3.24, 3.20, 3.23, 3.20]


def test_backends_are_compared_inside_each_cell_never_across_cells(doc):
    finding = by_id(compute_findings(doc))["backend-speed"]
    assert "fastest-backend" not in by_id(compute_findings(doc))
    # One line per cell with two or more finished trainings, citing that cell alone.
    multi = [c["cell_id"] for c in doc["cells"]
             if sum(t["status"] == "ok" for t in c["trainings"].values()) >= 2]
    assert [item["cells"] for item in finding["items"]] == [[c] for c in multi]
    # Two steady epochs per backend (the fixture's old records) cannot show a difference: no claim.
    assert "faster" not in finding["text"]
    line = next(i["text"] for i in finding["items"] if i["cells"] == [MULTI])
    assert "jax vs tensorflow: 1.53x (no interval: too few samples), not significant (p=0.333, 2 vs 2 samples: " \
        "too few to tell)" in line


def test_a_backend_is_faster_only_when_its_samples_show_it(doc):
    trainings = cell(doc, MULTI)["trainings"]
    trainings["tensorflow"].update(sampled(TF))
    trainings["jax"].update(sampled([w * 0.66 for w in TF]))
    line = by_id(compute_findings(doc))["backend-speed"]["items"]
    text = next(i["text"] for i in line if i["cells"] == [MULTI])
    # Claimed as a ratio with its bootstrap interval: 3.21 / 2.12 = 1.52x.
    assert "jax 1.52x faster than tensorflow (95% 1.50x-1.53x, p=" in text and "10 vs 10 samples" in text
    assert "jax 2.12 s \u00b12%" in text  # the headline figures with their uncertainty
    # Overlapping samples with a median 3% apart: no claim either way.
    trainings["jax"].update(sampled([w * 0.97 for w in TF[5:] + TF[:5]]))
    text = next(i["text"] for i in by_id(compute_findings(doc))["backend-speed"]["items"] if i["cells"] == [MULTI])
    assert "jax vs tensorflow: 1.03x (95% " in text and "), under the 5% minimum difference (p=" in text
    assert "faster" not in text


def test_an_unstable_training_is_compared_with_nothing_and_flagged(doc):
    trainings = cell(doc, MULTI)["trainings"]
    trainings["tensorflow"].update(sampled(TF))
    trainings["jax"].update(sampled([w * 0.5 for w in TF], verdict="contended", causes=["steal"]))
    findings = by_id(compute_findings(doc))
    text = next(i["text"] for i in findings["backend-speed"]["items"] if i["cells"] == [MULTI])
    # The ratio with its interval, no claim: one of the two is flagged (the figure keeps its flag and cause).
    assert "jax vs tensorflow: 2.00x (95% 1.98x-2.02x), not claimed: jax flagged" in text and "faster" not in text
    assert "jax 1.60 s \u00b12% [contended: steal]" in text
    flagged = findings["timing-unstable"]
    assert flagged["level"] == "warning" and flagged["cells"] == [MULTI]
    assert "jax 1.60 s \u00b12% [contended: steal] (95% " in flagged["text"] and "10 steady samples" in flagged["text"]
    assert "flagged (contended or unstable): quoted with the cause" in flagged["title"]


def test_a_smoke_cell_says_it_trains_and_claims_no_speed(doc):
    """A smoke run (a few batches, one process) is a check that a stack trains: its time is never compared,
    called noisy, or shown as a figure."""
    from runner.report.table import table_rows

    smoke = cell(doc, MULTI)
    smoke["measure"] = "smoke"
    smoke["trainings"]["tensorflow"].update(sampled(TF))
    smoke["trainings"]["jax"].update(sampled([w * 0.5 for w in TF], verdict="unstable", causes=["few samples"]))
    findings = by_id(compute_findings(doc))
    assert MULTI not in findings.get("timing-unstable", {"cells": []})["cells"]
    assert all(i["cells"] != [MULTI] for i in findings["backend-speed"]["items"])
    row = " | ".join(next(r for r in table_rows(doc)[1] if r[0] == MULTI))
    assert row.count("trained (smoke)") == 2 and "unstable" not in row and "3.2" not in row


def test_expectations_are_reported_like_pytest_xfail(doc):
    cell(doc, "keras2.3.1-py27-cpu").update(expectation={"status": "import_failed", "reason": "no backend"},
                                            expectation_verdict="expected_failure")
    cell(doc, "keras2.15.0-tf2.15.1-py311-cpu").update(expectation_verdict="unexpected_failure")
    cell(doc, MULTI).update(expectation={"status": "import_failed", "reason": "jax too new"},
                            expectation_verdict="unexpected_pass")
    findings = compute_findings(doc)
    ids = [f["id"] for f in findings]
    assert ids[-3:] == ["expected-failures", "unexpected-failures", "unexpected-passes"]  # unexpected last
    found = by_id(findings)
    assert found["expected-failures"]["level"] == "info"
    assert "as declared (no backend)" in found["expected-failures"]["text"]
    assert found["unexpected-failures"]["cells"] == ["keras2.15.0-tf2.15.1-py311-cpu"]
    assert "error, expected ok" in found["unexpected-failures"]["text"]
    assert "declared broken (jax too new), but it worked" in found["unexpected-passes"]["text"]


def test_a_gpu_cell_that_trained_on_the_cpu_is_flagged(doc):
    finding = by_id(compute_findings(doc))["gpu-silent-cpu-fallback"]
    assert finding["level"] == "error" and finding["cells"] == ["keras2.9.0-tf2.9.3-py39-gpu"]
    assert "a GPU was requested but tensorflow saw none (devices: CPU)" in finding["text"]


def test_gpu_cells_that_saw_a_gpu_are_said_to(doc):
    record = cell(doc, "keras2.9.0-tf2.9.3-py39-gpu")
    training = record["trainings"]["tensorflow"]
    training.update(status="ok", stage="evaluate", error=None, device={"devices": ["CPU", "GPU"], "gpu": True})
    findings = by_id(compute_findings(doc))
    assert "gpu-silent-cpu-fallback" not in findings
    assert findings["gpu-used"]["cells"] == ["keras2.9.0-tf2.9.3-py39-gpu"]


def test_findings_of_an_empty_or_minimal_run():
    assert compute_findings({"cells": []}) == []
    minimal = {"cells": [{"cell_id": "c1", "status": "ok", "versions": {}, "python": "3.11", "device": "cpu",
                          "trainings": {}, "default_backend": {}, "build": {}}]}
    assert compute_findings(copy.deepcopy(minimal)) == []


def test_a_broken_installed_set_is_a_conflict_not_keras_choosing(doc):
    # keras 2.4.3 + TF 2.5: keras-nightly writes the same keras/ package, and pip check objects to numpy.
    broken = cell(doc, "keras2.3.1-py27-cpu")
    broken["shared_packages"] = {"keras": ["Keras 2.4.3", "keras-nightly 2.5.0.dev2021032900"]}
    broken["pip_check"] = {"exit_code": 1, "problems": ["tensorflow 2.5.3 has requirement numpy~=1.19.2, "
                                                        "but you have numpy 1.23.5."]}
    broken["conflict"] = "both install keras/"
    found = by_id(compute_findings(doc))
    conflict = found["installed-set-conflicts"]
    assert conflict["cells"] == ["keras2.3.1-py27-cpu"]
    assert "keras-nightly 2.5.0.dev2021032900" in conflict["text"] and "numpy~=1.19.2" in conflict["text"]
    assert "keras2.3.1-py27-cpu" not in found["default-backend-errors"]["cells"]


def _env_cell(keras, answer, conflict=None):
    """A probe-only cell with cntk installed whose KERAS_BACKEND=cntk scenario said `answer` (a backend name,
    or an exception type)."""
    scenario = {"id": "env-cntk", "env": {"KERAS_BACKEND": "cntk"}}
    if answer in ("cntk", "theano"):
        scenario.update(backend=answer, error=None)
    else:
        scenario.update(backend=None, error={"type": answer, "message": "Unknown backend"})
    record = {"cell_id": "keras%s-cntk-py27-cpu" % keras, "status": "ok",
              "versions": {"keras": "==" + keras, "cntk": "==2.7.post2"}, "scenarios": [scenario]}
    if conflict:
        record["conflict"] = conflict
    return record


def test_first_release_that_honours_keras_backend_for_an_installed_library():
    cells = [_env_cell("2.0.3", "builtins.ValueError"), _env_cell("2.0.4", "builtins.ValueError"),
             _env_cell("2.0.5", "cntk"), _env_cell("2.0.6", "cntk"),
             _env_cell("2.0.7", "builtins.AttributeError", conflict="two distributions write keras/")]
    # The run's expansion of a release range lists every release: 2.0.5 is the one right after 2.0.4.
    expansion = {"axis": "keras", "versions": ["2.0.3", "2.0.4", "2.0.5", "2.0.6", "2.0.7"]}
    finding = by_id(compute_findings({"cells": cells, "matrix": {"expansions": [expansion]}}))["backend-accepted-cntk"]
    assert finding["title"] == \
        "KERAS_BACKEND=cntk (installed) first gives cntk at Keras 2.0.5 (the release after 2.0.4)"
    assert finding["text"].splitlines() == ["Keras 2.0.3 to 2.0.4 (2 versions): raised ValueError (2 cells)",
                                            "Keras 2.0.5 to 2.0.6 (2 versions): cntk (2 cells)"]
    # A broken installed set is a conflict, not Keras refusing the backend: it is not evidence here.
    assert "keras2.0.7-cntk-py27-cpu" not in finding["cells"]


def test_a_backend_honoured_everywhere_and_one_answered_by_another_name():
    everywhere = by_id(compute_findings({"cells": [_env_cell("2.1.6", "cntk"), _env_cell("2.3.1", "cntk")]}))
    assert everywhere["backend-accepted-cntk"]["title"].endswith("gives cntk in every Keras version measured")
    other = by_id(compute_findings({"cells": [_env_cell("2.0.4", "theano")]}))["backend-accepted-cntk"]
    assert other["title"] == "KERAS_BACKEND=cntk (installed) never gives cntk in the Keras versions measured"
    assert other["text"] == "Keras 2.0.4: theano (1 cell)"


def test_a_version_gives_the_backend_when_one_of_its_stacks_did():
    # Keras 0.3.0 raised under Theano 1.0 (its stack) and gave theano under Theano 0.8: the release accepts it.
    cells = [_env_cell("2.3.1", "cntk"), dict(_env_cell("2.3.1", "builtins.ImportError"), cell_id="only-cntk")]
    finding = by_id(compute_findings({"cells": cells}))["backend-accepted-cntk"]
    assert finding["title"] == "KERAS_BACKEND=cntk (installed) gives cntk in every Keras version measured " \
        "(not in every cell)"
    assert finding["text"] == "Keras 2.3.1: cntk (1 cell); raised ImportError (1 cell)"
    earlier = [_env_cell("2.0.4", "builtins.ValueError")] + cells
    expansion = {"axis": "keras", "versions": ["2.0.4", "2.0.5", "2.3.1"]}
    assert by_id(compute_findings({"cells": earlier, "matrix": {"expansions": [expansion]}}))[
        "backend-accepted-cntk"]["title"] == "KERAS_BACKEND=cntk (installed) first gives cntk between Keras 2.0.4 " \
        "and 2.3.1 (1 release between them not measured)"


def test_a_partial_cell_names_every_backend_that_failed():
    failed = {"status": "failed", "stage": "train", "error": {"type": "builtins.NotImplementedError",
                                                              "message": "fit not implemented"}}
    record = {"cell_id": "k3", "status": "partial", "reason": "numpy: NotImplementedError: fit not implemented",
              "versions": {"keras": "==3.15.1"},
              "trainings": {"jax": {"status": "ok"}, "openvino": dict(failed), "numpy": dict(failed)}}
    finding = by_id(compute_findings({"cells": [record]}))["status-partial"]
    assert finding["text"].splitlines() == ["numpy: NotImplementedError: fit not implemented",
                                            "openvino: NotImplementedError: fit not implemented"]


def test_a_probe_only_cell_that_raised_is_not_called_backendless():
    record = _env_cell("0.3.0", "builtins.ImportError")
    record.update(measure="probe", default_backend={"backend": None, "error": {
        "type": "exceptions.ImportError", "message": "cannot import name downsample"}})
    [item] = by_id(compute_findings({"cells": [record]}))["default-backend-errors"]["items"]
    assert item["text"].endswith("probe only: no backend was trained.")


def test_releases_without_a_backend_choice_are_labelled_apart_from_chosen_defaults():
    def probed(keras, constant):
        scenarios = [{"id": "default", "backend": "tensorflow", "error": None},
                     {"id": "env-tensorflow", "backend": "tensorflow", "error": None},
                     {"id": "env-missing-theano", "backend": "tensorflow" if constant else None,
                      "error": None if constant else {"type": "builtins.ValueError", "message": "Unknown"}}]
        return {"cell_id": "k" + keras, "versions": {"keras": "==" + keras, "tensorflow": "==2.11.1"},
                "default_backend": {"backend": "tensorflow", "error": None}, "scenarios": scenarios}
    findings = by_id(compute_findings({"cells": [probed("2.3.1", False), probed("2.11.0", True),
                                                  probed("3.0.0", False)]}))
    assert findings["default-backend"]["text"].splitlines() == [
        "Keras 2.3.1: tensorflow (1 cell)",
        "Keras 2.11.0: tensorflow (KERAS_BACKEND ignored) (1 cell)",
        "Keras 3.0.0: tensorflow (1 cell)"]
    assert not [f for f in findings if f.startswith("default-backend-change")]  # the same default throughout
