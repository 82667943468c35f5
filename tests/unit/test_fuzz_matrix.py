"""Property test: no input, however malformed, makes the loader raise anything but MatrixError, and every
MatrixError says where (the file, and a line or key when the document has them) and maps to exit code 2."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.matrix.load import load_matrix
from runner.util.errors import MatrixError


def assert_names_the_place(err, path):
    """A refusal a user can act on: exit 2, the file named, one line, and no Python internals."""
    message = str(err)
    assert err.exit_code == 2
    assert message.startswith(str(path)) or message.startswith(str(load_matrix.__defaults__[0]))
    assert "\n" not in message and "Traceback" not in message
    if err.line is not None:
        assert ":%d: " % err.line in message
    if err.key:
        assert "%s: " % err.key in message

KEYS = ["version", "groups", "cells", "eras", "bases", "defaults", "profiles", "matrix", "name", "keras",
        "tensorflow", "theano", "cntk", "jax", "era", "device", "include", "exclude", "python", "template",
        "apt", "packages", "symlinks", "image", "bootstrap", "suite", "epochs", "limits", "x"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(
    ["2.3.1", "py27", "py311", "cpu", "gpu", ">=1; rm", "1.10", "", "keras", "debian-bookworm", "3.11"]),
    st.text(max_size=12))
documents = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=5)), max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.one_of(documents, st.fixed_dictionaries({"version": st.just(1)}, optional={
    "groups": st.lists(st.fixed_dictionaries({"name": st.just("g"), "matrix": st.dictionaries(
        st.sampled_from(KEYS), documents, max_size=5)}), max_size=2),
    "cells": st.lists(st.dictionaries(st.sampled_from(KEYS), scalars, max_size=6), max_size=3),
    "eras": st.dictionaries(st.sampled_from(["py27", "new"]), documents, max_size=2)})))
def test_structured_garbage_never_raises_anything_but_matrix_error(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("fuzz") / "m.yaml"
    path.write_text(json.dumps(doc))
    try:
        load_matrix(path)
    except MatrixError as err:
        assert_names_the_place(err, path)
        # JSON puts the whole document on line 1: a line, when given, can only be that one
        assert err.line in (None, 1)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_matrix_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "m.yaml"
    path.write_bytes(text.encode("utf-8", "replace"))  # lone surrogates become '?': the file is UTF-8
    try:
        load_matrix(path)
    except MatrixError as err:
        assert_names_the_place(err, path)
        if err.line is not None:
            assert 1 <= err.line <= text.count("\n") + 2


yaml11_ints = st.one_of(st.integers(0, 99).map(lambda n: "0%o" % (n + 8)), st.integers(1, 255).map(hex),
                        st.integers(1, 99).map(lambda n: "%d_%d" % (n, n)),
                        st.integers(1, 59).map(lambda n: "1:%02d" % n))


@settings(max_examples=60, deadline=None)
@given(value=yaml11_ints, axis=st.sampled_from(["keras", "tensorflow"]))
def test_yaml11_integer_forms_in_versions_are_refused_with_a_hint_to_quote(tmp_path_factory, value, axis):
    path = tmp_path_factory.mktemp("fuzz") / "m.yaml"
    extra = "    tensorflow: %s\n" % value if axis == "tensorflow" else ""
    path.write_text("version: 1\ncells:\n  - name: a\n    era: py311\n    keras: %s\n%s"
                    % (value if axis == "keras" else "'3.15.1'", extra))
    try:
        load_matrix(path)
    except MatrixError as err:
        assert_names_the_place(err, path)
        assert err.line == (5 if axis == "keras" else 6) and "quote it ('%s')" % value in str(err)
    else:
        raise AssertionError("%s: %s was accepted" % (axis, value))


@settings(max_examples=80, deadline=None)
@given(field=st.sampled_from(["name", "era", "keras", "tensorflow"]),
       tail=st.sampled_from(["\\n", "\\r", "\\r\\n", "\\u2028", "\\x85", "\\t"]))
def test_a_line_break_in_any_value_is_refused_naming_its_key(tmp_path_factory, field, tail):
    path = tmp_path_factory.mktemp("fuzz") / "m.yaml"
    cell = {"name": "a", "era": "py311", "keras": "3.15.1", "tensorflow": "2.21.0"}
    cell[field] += tail
    path.write_text("version: 1\ncells:\n  - {%s}\n" % ", ".join('%s: "%s"' % kv for kv in cell.items()))
    try:
        load_matrix(path)
    except MatrixError as err:
        assert_names_the_place(err, path)
        assert "line break or control character" in str(err) and err.key and err.key.startswith("cells[0].")
    else:
        raise AssertionError("accepted %r" % path.read_text())
