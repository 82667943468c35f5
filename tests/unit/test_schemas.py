"""The JSON Schemas are the contracts: they are valid and the shipped files satisfy them."""

import json

import jsonschema

from runner.matrix.load import ERAS_FILE
from runner.matrix.load import SCHEMA_FILE as MATRIX_SCHEMA
from runner.matrix.yamlload import load_yaml
from runner.results.store import SCHEMA_FILE as RESULTS_SCHEMA
from tests.conftest import ROOT


def test_schemas_are_valid_json_schemas():
    for path in (MATRIX_SCHEMA, RESULTS_SCHEMA):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_shipped_matrix_and_era_data_validate_against_the_schema():
    validator = jsonschema.Draft202012Validator(json.loads(MATRIX_SCHEMA.read_text()))
    for path in (ROOT / "matrix.yaml", ERAS_FILE):
        doc = load_yaml(path.read_text(), path)
        assert list(validator.iter_errors(doc)) == [], path


def test_matrix_file_points_editors_at_the_schema():
    first = (ROOT / "matrix.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=runner/resources/matrix.schema.json"
