"""Keras 3's numpy and openvino backends as axes, and a cell's `pip:` list of extra pinned requirements:
refused where Keras has no such backend, validated before anything reaches a Dockerfile, rendered as layers."""

import json
import textwrap

import jsonschema
import pytest

from runner.cli import main
from runner.matrix.expand import with_version
from runner.matrix.load import SCHEMA_FILE, load_matrix
from runner.matrix.selection import select
from runner.model.records import BACKEND_SINCE_KERAS, BACKENDS, SHORT_NAMES
from runner.render import render_cell
from runner.util.errors import MatrixError
from tests.conftest import ROOT

CELL = '{name: c, era: py311, keras: "%s", tensorflow: "2.21.0", %s}'


def write(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def one_cell(tmp_path, keras="3.15.1", rest='numpy: "2.4.6"'):
    return write(tmp_path, "version: 1\ncells:\n  - " + CELL % (keras, rest) + "\n")


def refusal(path):
    with pytest.raises(MatrixError) as info:
        load_matrix(path, offline=True)
    return info.value


# ---- the axes -------------------------------------------------------------------------------------------

def test_numpy_and_openvino_are_backends_with_a_keras_floor():
    assert BACKENDS[-2:] == ("numpy", "openvino")
    assert SHORT_NAMES["numpy"] == "numpy" and SHORT_NAMES["openvino"] == "openvino"
    assert BACKEND_SINCE_KERAS == {"numpy": "3.0", "openvino": "3.8"}


def test_a_cell_with_every_installable_keras3_backend_trains_each_of_them(tmp_path):
    path = write(tmp_path, """
        version: 1
        cells:
          - {name: all, era: py311, keras: "3.15.1", tensorflow: "2.21.0", jax: "0.10.2", numpy: "2.4.6",
             openvino: "2026.4.1", pip: ["scipy==1.17.1"]}
        """)
    (cell,) = load_matrix(path, offline=True).cells
    assert cell.backend_names == ("tensorflow", "jax", "numpy", "openvino")
    assert cell.id == "keras3.15.1-tf2.21.0-jax0.10.2-numpy2.4.6-openvino2026.4.1-py311-cpu"
    assert cell.extras == ("scipy==1.17.1",)
    assert cell.requirements == (
        ("tensorflow", "tensorflow-cpu==2.21.0"), ("jax", "jax[cpu]==0.10.2"), ("numpy", "numpy==2.4.6"),
        ("openvino", "openvino==2026.4.1"), ("pip", "scipy==1.17.1"), ("keras", "keras==3.15.1"))
    assert cell.versions()["numpy"] == "==2.4.6" and cell.versions()["openvino"] == "==2026.4.1"


@pytest.mark.parametrize("keras,axis", [
    ("2.15.0", 'numpy: "2.0.2"'),
    ("2.15.0", 'openvino: "2024.6.0"'),
    ("3.7.0", 'openvino: "2024.6.0"'),   # openvino arrived in Keras 3.8
    ("<4", 'numpy: "2.0.2"'),           # no lower bound: may be Keras 2
    ("==3.*", 'openvino: "2024.6.0"'),  # admits 3.0-3.7
    (">3.7", 'openvino: "2024.6.0"'),   # admits 3.7.1
])
def test_a_backend_keras_does_not_have_is_refused_with_file_line_and_key(tmp_path, keras, axis):
    error = refusal(one_cell(tmp_path, keras, axis))
    name = axis.split(":")[0]
    assert error.line == 3 and error.key == "cell c.%s" % name
    assert "the %s backend exists in Keras %s and later only" % (name, BACKEND_SINCE_KERAS[name]) in str(error)
    assert str(error).startswith("%s:3: cell c.%s: " % (tmp_path / "m.yaml", name))


def test_a_backend_axis_without_keras_is_refused(tmp_path):
    path = write(tmp_path, 'version: 1\ncells:\n  - {name: c, era: py311, keras: null, numpy: "2.4.6"}\n')
    assert "but this cell has no keras" in str(refusal(path))


@pytest.mark.parametrize("keras,axis", [
    ("3.0.5", 'numpy: "1.26.4"'), (">=3.0,<4", 'numpy: "2.0.2"'), ("3.8.0", 'openvino: "2024.6.0"'),
    ("~=3.8", 'openvino: "2024.6.0"'), ("==3.15.*", 'openvino: "2026.4.1"'),
])
def test_keras3_cells_may_have_them(tmp_path, keras, axis):
    (cell,) = load_matrix(one_cell(tmp_path, keras, axis), offline=True).cells
    assert cell.backend_names[-1] == axis.split(":")[0]


def test_a_group_is_checked_combination_by_combination(tmp_path):
    path = write(tmp_path, """
        version: 1
        groups:
          - name: g
            matrix:
              era: py311
              keras: ["2.15.0", "3.15.1"]
              openvino: "2026.4.1"
        """)
    error = refusal(path)
    assert error.key == "groups[g].openvino" and "keras ==2.15.0" in str(error)


def test_bisect_cannot_move_a_numpy_cell_to_keras_2(tmp_path):
    (cell,) = load_matrix(one_cell(tmp_path), offline=True).cells
    assert with_version(cell, "keras", "3.0.5").keras == "==3.0.5"
    with pytest.raises(MatrixError, match="numpy backend exists in Keras 3.0 and later only"):
        with_version(cell, "keras", "2.15.0")


def test_the_command_line_exits_2_on_a_refused_axis(tmp_path, capsys):
    path = one_cell(tmp_path, "2.15.0", 'numpy: "2.0.2"')
    assert main(["plan", str(path), "--offline"]) == 2
    assert "m.yaml:3: cell c.numpy: the numpy backend exists in Keras 3.0 and later only" in capsys.readouterr().err


# ---- pip: extra pinned requirements ----------------------------------------------------------------------

@pytest.mark.parametrize("value,message", [
    ('["scipy"]', "pin one release with '=='"),
    ('["scipy>=1.15"]', "pin one release with '=='"),
    ('["scipy==1.*"]', "pin one release with '=='"),
    ('["scipy==1.15.3,!=1.15.2"]', "pin one release with '=='"),
    ('["scipy @ https://example.invalid/scipy.whl"]', "URLs and environment markers are not allowed"),
    ('["scipy==1.15.3; sys_platform == \'linux\'"]', "URLs and environment markers are not allowed"),
    ('["scipy==1.15.3 && rm -rf /"]', "is not a valid pip requirement"),
    ('["scipy==1.15.3 $(touch /tmp/x)"]', "is not a valid pip requirement"),
    ('["--index-url=https://evil.invalid/simple"]', "is not a valid pip requirement"),
    ('["-e ."]', "is not a valid pip requirement"),
    ('["scipy==`id`"]', "is not a valid pip requirement"),
    ('[" scipy==1.15.3"]', "expected a pip requirement"),
    ('["numpy==2.4.6"]', "installed by an axis of this matrix"),
    ('["keras==3.15.1"]', "installed by an axis of this matrix"),
    ('["Tensorflow_CPU==2.21.0"]', "installed by an axis of this matrix"),
    ('["jax==0.10.2"]', "installed by an axis of this matrix"),
    ('["scipy==1.15.3", "SciPy==1.15.3"]', "named twice"),
])
def test_hostile_or_loose_pip_entries_are_refused(tmp_path, value, message):
    error = refusal(one_cell(tmp_path, rest='numpy: "2.4.6", pip: %s' % value))
    assert message in str(error)
    assert error.line == 3 and str(error.key).startswith("cell c.pip[")


@pytest.mark.parametrize("value", ['"scipy==1.15.3"', "[]", "[1]", '["%s==1"]' % ("a" * 201),
                                   "[%s]" % ", ".join('"p%d==1"' % n for n in range(21))])
def test_the_schema_bounds_the_pip_list(tmp_path, value):
    if value == "[]":  # an empty list is a list: it adds nothing
        (cell,) = load_matrix(one_cell(tmp_path, rest="pip: []"), offline=True).cells
        assert cell.extras == ()
        return
    error = refusal(one_cell(tmp_path, rest="pip: %s" % value))
    assert "pip" in str(error.key)


def test_a_line_break_in_a_pip_entry_never_gets_through(tmp_path):
    error = refusal(one_cell(tmp_path, rest='pip: ["scipy==1.15.3\\nRUN curl evil"]'))
    assert "line break or control character" in str(error)


def test_pip_on_a_group_and_an_include_entry_the_include_wins(tmp_path):
    path = write(tmp_path, """
        version: 1
        groups:
          - name: g
            pip: ["scipy==1.17.1"]
            matrix:
              era: py311
              keras: ["3.8.0", "3.15.1"]
              numpy: "2.0.2"
              include:
                - {keras: "3.8.0", pip: ["scipy==1.15.3", "pandas==2.2.3"]}
        """)
    extras = {c.keras: c.extras for c in load_matrix(path, offline=True).cells}
    assert extras == {"==3.8.0": ("scipy==1.15.3", "pandas==2.2.3"), "==3.15.1": ("scipy==1.17.1",)}


def test_pip_inside_a_group_matrix_is_not_an_axis(tmp_path):
    path = write(tmp_path, """
        version: 1
        groups:
          - name: g
            matrix: {era: py311, keras: "3.15.1", pip: ["scipy==1.17.1"]}
        """)
    assert "unknown key 'pip'" in str(refusal(path))


def test_cells_that_differ_only_in_pip_are_duplicates(tmp_path):
    path = write(tmp_path, """
        version: 1
        cells:
          - {name: a, era: py311, keras: "3.15.1", numpy: "2.4.6", pip: ["scipy==1.17.1"]}
          - {name: b, era: py311, keras: "3.15.1", numpy: "2.4.6", pip: ["scipy==1.16.3"]}
        """)
    assert "duplicate cell keras3.15.1-numpy2.4.6-py311-cpu" in str(refusal(path))


# ---- rendering -------------------------------------------------------------------------------------------

def test_the_requirements_are_layers_of_the_rendered_dockerfile_in_order(tmp_path):
    path = write(tmp_path, """
        version: 1
        cells:
          - {name: all, era: py311, keras: "3.15.1", tensorflow: "2.21.0", jax: "0.10.2", numpy: "2.4.6",
             openvino: "2026.4.1", pip: ["scipy==1.17.1", "jax-extra[x]==1.0"]}
        """)
    (cell,) = load_matrix(path, offline=True).cells
    text = render_cell(cell)
    command = "uv pip install --python /opt/venv/bin/python "  # the era's installer (eras.yaml installer: uv)
    installs = [line.split(command, 1)[1] for line in text.splitlines() if command in line]
    assert installs == ["tensorflow-cpu==2.21.0", "'jax[cpu]==0.10.2'", "numpy==2.4.6", "openvino==2026.4.1",
                        "scipy==1.17.1", "'jax-extra[x]==1.0'", "keras==3.15.1"]
    assert text.count("# An extra requirement from the cell's pip: list") == 2


def test_a_numpy_cell_shares_the_framework_layers_of_the_same_stack_without_it(tmp_path):
    path = write(tmp_path, """
        version: 1
        cells:
          - {name: a, era: py311, keras: "3.15.1", tensorflow: "2.21.0", jax: "0.10.2"}
          - {name: b, era: py311, keras: "3.15.1", tensorflow: "2.21.0", jax: "0.10.2", numpy: "2.4.6"}
        """)
    a, b = (render_cell(c) for c in load_matrix(path, offline=True).cells)
    assert b[b.index("FROM"):].startswith(a[a.index("FROM"):a.index("# keras:")])
    assert "# numpy:" in b[b.index("# jax:"):b.index("# keras:")]


# ---- the shipped matrix and the schema -------------------------------------------------------------------

def test_the_shipped_matrix_trains_numpy_and_openvino_outside_the_quick_profile():
    matrix = load_matrix(ROOT / "matrix.yaml", offline=True)
    group = [c for c in matrix.cells if c.group == "keras3-all-backends"]
    assert {c.keras for c in group} == {"==3.8.0", "==3.15.1"}
    for cell in group:
        assert cell.backend_names == ("tensorflow", "jax", "numpy", "openvino")
        assert [req for axis, req in cell.requirements if axis == "pip"][0].startswith("scipy==")
        assert dict(cell.expect.trainings) == {"numpy": "failed", "openvino": "failed"} and cell.expect.reason
    quick = {c.id for c in select(matrix, profile="quick")}
    assert quick == {"keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu",
                     "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu"}
    # torch in one cell only, alone, its layer straight on the base (bench/torch-install.json: 5.6 GB a layer):
    # never added to the TensorFlow + JAX stacks, where it would be a new layer per framework pair.
    torch = [c for c in matrix.cells if "torch" in c.backend_names]
    assert [(c.name, c.backend_names, c.requirements[0][0]) for c in torch] == \
        [("keras3-torch-only", ("torch",), "torch")]
    assert not any("torch" in c.backend_names for c in select(matrix, profile="quick"))


def test_the_schema_knows_the_new_axes_and_pip():
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    doc = {"version": 1,
           "groups": [{"name": "g", "pip": ["scipy==1.17.1"],
                       "matrix": {"era": "py311", "keras": "3.15.1", "numpy": ["2.4.6"], "openvino": "2026.4.1",
                                  "include": [{"keras": "3.15.1", "pip": ["scipy==1.16.3"]}],
                                  "exclude": [{"numpy": "2.4.6", "openvino": "2026.4.1"}]}}],
           "cells": [{"name": "c", "era": "py311", "keras": "3.15.1", "numpy": "2.4.6", "openvino": None,
                      "pip": ["scipy==1.17.1"],
                      "expect": {"trainings": {"numpy": "failed", "openvino": "failed"}, "reason": "r"}}]}
    assert list(validator.iter_errors(doc)) == []
    era = schema["properties"]["eras"]["additionalProperties"]["properties"]
    assert {"numpy", "openvino"} <= set(era["packages"]["properties"])
    assert set(BACKENDS) == set(schema["$defs"]["expect"]["properties"]["trainings"]["propertyNames"]["enum"])
