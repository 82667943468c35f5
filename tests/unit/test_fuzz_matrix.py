"""Property test: no input, however malformed, makes the loader raise anything but MatrixError."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import MatrixError
from runner.matrix import load_matrix

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
    except MatrixError:
        pass


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_matrix_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "m.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if False else path.write_bytes(
        text.encode("utf-8", "replace"))
    try:
        load_matrix(path)
    except MatrixError:
        pass
