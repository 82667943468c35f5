"""The probe's scenario, tf.keras, pip-check and package-ownership output in the cell record: copied into
fields of their own (valid against results.schema.json), and a broken installed set named as the reason."""

import copy
import json
from pathlib import Path

import pytest

from runner.model.outcomes import cell_status, conflict_text
from runner.model.records import Status
from runner.results.store import ResultsError, validate_results
from runner.run.cell_record import record_probe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
IMPORT_ERROR = {"type": "AttributeError", "message": "module 'keras' has no attribute 'backend'"}
SHARED = {"keras": ["keras 2.4.3", "keras-nightly 2.5.0"]}
PIP = {"exit_code": 1, "problems": ["tensorflow 2.5.3 requires numpy~=1.19.2, but you have numpy 1.23.5."]}


@pytest.fixture
def doc():
    return json.loads((FIXTURES / "results-run.json").read_text(encoding="utf-8"))


def measured_probe(name):
    measured = json.loads((FIXTURES / "probe-scenarios.json").read_text(encoding="utf-8"))[name]
    return {"python": measured["python"], "installed": measured["installed"], "scenarios": measured["scenarios"],
            "tf_keras": measured["tf_keras"], "pip_check": measured["pip_check"],
            "shared_packages": measured["shared_packages"], "package_owners": {"keras": ["keras 3.15.1"]},
            "default_backend": {"backend": "tensorflow"}}


@pytest.mark.parametrize("name", ["keras3", "keras2"])
def test_measured_probe_output_lands_in_fields_of_its_own_and_validates(doc, name):
    cell = doc["cells"][0]
    probe = measured_probe(name)
    record_probe(cell, probe)
    assert cell["scenarios"] == probe["scenarios"] and cell["tf_keras"] == probe["tf_keras"]
    assert cell["pip_check"] == {"exit_code": 0, "problems": []} and cell["shared_packages"] == {}
    assert cell["conflict"] is None
    assert "scenarios" not in cell["probe"] and cell["probe"]["package_owners"] == {"keras": ["keras 3.15.1"]}
    validate_results(doc, "doc")


def test_the_schema_refuses_a_scenario_without_its_answer(doc):
    cell = doc["cells"][0]
    record_probe(cell, measured_probe("keras3"))
    del cell["scenarios"][1]["backend"]
    with pytest.raises(ResultsError, match="scenarios/1"):
        validate_results(doc, "doc")


def test_an_older_probe_leaves_the_new_fields_out(doc):
    cell = doc["cells"][0]
    record_probe(cell, {"installed": {"keras": "2.3.1"}, "default_backend": {"backend": "theano"}})
    assert not {"scenarios", "tf_keras", "pip_check", "shared_packages", "conflict"} & set(cell)
    validate_results(doc, "doc")


def test_untrusted_shapes_are_coerced_or_dropped(doc):
    cell = doc["cells"][0]
    record_probe(cell, {"scenarios": ["x", {"id": "default", "description": "d", "env": {}, "backend": None,
                                             "error": None}],
                        "pip_check": {"exit_code": True, "problems": "oops"}, "shared_packages": {"k": "a"},
                        "tf_keras": "no"})
    assert [s["id"] for s in cell["scenarios"]] == ["default"]
    assert cell["pip_check"] == {"exit_code": None, "problems": []} and cell["shared_packages"] == {}
    assert cell["tf_keras"] is None
    validate_results(doc, "doc")


def test_a_collision_and_a_broken_requirement_are_the_conflict(doc):
    cell = doc["cells"][0]
    probe = measured_probe("keras2")
    probe.update(shared_packages=SHARED, pip_check=PIP)
    record_probe(cell, probe)
    assert cell["conflict"] == ("keras 2.4.3 and keras-nightly 2.5.0 both install keras/; pip check: tensorflow "
                                "2.5.3 requires numpy~=1.19.2, but you have numpy 1.23.5")
    validate_results(doc, "doc")


def test_a_failed_cell_with_a_conflict_names_it_instead_of_what_keras_raised():
    conflict = conflict_text(copy.deepcopy(PIP), SHARED)
    status, reason = cell_status({}, {"error": IMPORT_ERROR}, conflict)
    assert status == Status.IMPORT_FAILED
    assert reason.startswith("conflict: keras 2.4.3 and keras-nightly 2.5.0 both install keras/; pip check:")
    assert cell_status({}, {"error": IMPORT_ERROR}, None)[1].startswith("AttributeError")
    failed = {"tensorflow": {"status": "failed", "stage": "train", "error": IMPORT_ERROR}}
    assert cell_status(failed, {}, conflict)[1].startswith("conflict: ")


def test_a_working_cell_keeps_its_status_and_its_conflict_stays_a_field():
    assert cell_status({"tensorflow": {"status": "ok"}}, {}, "x both install y/") == (Status.OK, None)
    partial = {"tensorflow": {"status": "ok"}, "theano": {"status": "failed", "stage": "import"}}
    assert cell_status(partial, {}, "x both install y/") == (Status.PARTIAL, "theano: import")


def test_namespace_sharing_is_no_conflict_and_no_problems_is_none():
    assert conflict_text({"exit_code": 0, "problems": []}, {"google": ["protobuf 3.20"]}) is None
