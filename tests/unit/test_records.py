"""runner/model/records.py is the one definition of the results records; results.schema.json is the published
contract. Every field a record type declares is documented in the schema, and every field the schema
documents is declared in the record type, so neither can grow without the other."""

import json
import typing

import pytest

from runner.model import records
from runner.model.records import Status, TrainingStatus
from runner.util.paths import resources_dir

SCHEMA = json.loads((resources_dir() / "results.schema.json").read_text())
CELL = SCHEMA["$defs"]["cell"]["properties"]
TRAINING = CELL["trainings"]["additionalProperties"]["properties"]

PAIRS = [
    ("RunDocument", SCHEMA["properties"]),
    ("CellRecord", CELL),
    ("TrainingRecord", TRAINING),
    ("BuildRecord", CELL["build"]["properties"]),
    ("DefaultBackend", CELL["default_backend"]["properties"]),
    ("Sample", TRAINING["samples"]["items"]["properties"]),
    ("Timing", TRAINING["timing"]["properties"]),
    ("Expectation", CELL["expectation"]["properties"]),
    ("RRecord", CELL["r"]["properties"]),
    ("RScenario", CELL["r"]["properties"]["scenarios"]["items"]["properties"]),
    ("RError", CELL["r"]["properties"]["scenarios"]["items"]["properties"]["error"]["properties"]),
    ("CranPart", CELL["r"]["properties"]["cran"]["properties"]),
]


@pytest.mark.parametrize("type_name,properties", PAIRS, ids=[name for name, _ in PAIRS])
def test_record_types_and_schema_name_the_same_fields(type_name, properties):
    declared = set(typing.get_type_hints(getattr(records, type_name)))
    documented = set(properties)
    assert declared - documented == set(), "declared in records.%s but not in the schema" % type_name
    assert documented - declared == set(), "in the schema but not declared in records.%s" % type_name


def test_status_enums_are_the_schema_enums():
    assert sorted(s.value for s in Status) == sorted(CELL["status"]["enum"])
    assert sorted(s.value for s in TrainingStatus) == sorted(TRAINING["status"]["enum"])
    assert sorted(s.value for s in records.BuildStatus) == sorted(CELL["build"]["properties"]["status"]["enum"])
    verdicts = [v for v in CELL["expectation_verdict"]["enum"] if v is not None]
    assert [v.value for v in records.ExpectationVerdict] == verdicts
    assert [v.value for v in records.Stability] == TRAINING["timing"]["properties"]["verdict"]["enum"]


def test_statuses_print_as_their_value_in_text_and_json():
    assert str(Status.IMPORT_FAILED) == "import_failed" and "%s" % Status.OK == "ok"
    assert "{}".format(Status.TIMEOUT) == "timeout" and json.dumps({"s": Status.OK}) == '{"s": "ok"}'
