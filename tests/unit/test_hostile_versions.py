"""Hostile inputs, second round (issue 29), classes 1, 2, 4, 8 and the two extras, as CLI cases in the
shape of test_hostile.py: every crafted input gets its documented exit code, a one-line error without a
traceback or "internal error", and changes nothing outside the directory the command was asked to use.

1. '===' (arbitrary equality) and unsafe characters in versions; spelling-dependent (uppercase) cell ids.
2. Numbers of more than 30 digits (past 4300, int() raises) in a version, a specifier, a range, --between.
4. The kept versions list read like any input (a non-version line, a BOM, Latin-1, a FIFO, /dev/zero ...).
8. $KERAS_MATRIX_CACHE_DIR that cannot be expanded.
Extras: a results number that overflows to infinity (1e999); an expectation reason without a bound.
"""

import json
import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.matrix import load as matrix_load
from runner.matrix.cells import cell_id, normalize_version, version_slug
from runner.matrix.releases import RangeError, Resolver, read_list
from runner.results.store import SCHEMA_FILE as RESULTS_SCHEMA
from runner.util.errors import MatrixError
from tests.unit.test_hostile import FIXTURE, check_case, invoke, matrix, nothing, snapshot

M = "in/x.yaml"
R = "in/x.json"
BIG = "9" * 5000  # past Python's 4300-digit int() limit
CELL_ID = re.compile(json.loads(RESULTS_SCHEMA.read_text())["$defs"]["cell"]["properties"]["cell_id"]["pattern"])


def keras_is(value):
    """A matrix whose one cell has keras: <value> (written as YAML)."""
    return matrix('version: 1\ncells:\n  - {name: a, era: py311, keras: %s, tensorflow: "2.21.0"}\n' % value)


def group_with(axis_yaml):
    return matrix("version: 1\ngroups:\n  - name: g\n    matrix:\n      era: py311\n%s      tensorflow: \"2.21.0\"\n"
                  % axis_yaml)


def pip_extra(requirement):
    return matrix('version: 1\ncells:\n  - {name: a, era: py311, keras: "3.15.1", tensorflow: "2.21.0", '
                  'pip: [%s]}\n' % json.dumps(requirement))


def expect_reason(length):
    return matrix('version: 1\ncells:\n  - {name: a, era: py311, keras: "3.15.1", tensorflow: "2.21.0", '
                  'expect: {status: build_failed, reason: "%s"}}\n' % ("x" * length))


def results_text(old, new):
    return lambda w: (w / "in" / "x.json").write_text(FIXTURE.read_text().replace(old, new, 1))


def recorded(mutate):
    """A results file whose first cell was changed by mutate(cell) (recorded values: untrusted too)."""
    def setup(w):
        doc = json.loads(FIXTURE.read_text())
        mutate(doc["cells"][0])
        (w / "in" / "x.json").write_text(json.dumps(doc))
    return setup


def era_pip_bootstrap(value):
    era = {"python": "3.11", "template": "py3-cpu", "base": "debian-bookworm", "packages": {"keras": "keras"},
           "pip_bootstrap": value}
    return matrix(json.dumps({"version": 1, "eras": {"mine": era},
                              "cells": [{"name": "a", "era": "mine", "keras": "3.0.0"}]}))


UNSAFE_VERSIONS = [
    '"===../../x"', '"===x\\"$HOME"', '"===1.0"', '"===1.0<b>"', '">=1,===2"', '"===\\u202e1.0"', '"==1.0+a/b"',
    '"<b>1.0"', '"1.0\\u202e"', '"==../x"', '"~=../1"', '"===x\\nRUN id"', '"==1.0 ; id"', '"1.0;id"',
]
HUGE_NUMBERS = [
    ('"%s"' % BIG, "version"), ('">=1,<%s"' % BIG, "specifier"), ('"1.%s"' % BIG, "release part"),
    ('"1.0.post%s"' % BIG, "post release"), ('"1.0rc%s"' % BIG, "pre release"), ('"%s!1.0"' % BIG, "epoch"),
    ('"1.0+%s"' % BIG, "local"), ('"%s"' % ("1" * 31), "31 digits"), ('">=1.0,!=%s.*"' % BIG, "wildcard"),
    (BIG, "bare YAML integer"),
]
TOO_LONG = {"bare YAML integer": "too long"}

# (id, setup, argv, expected exit code, text stderr must hold, the one path the command may change)
CASES = [
    # ---- class 1: '===' and unsafe characters, in every command that takes a matrix ------------------------
    *[("unsafe-%s-%d" % (cmd, i), keras_is(value), argv, 2, "keras", None)
      for i, value in enumerate(UNSAFE_VERSIONS)
      for cmd, argv in [("plan", ["plan", M]), ("render", ["render", M, "--out", "out"]),
                        ("run", ["run", M, "--run-id", "z"]),
                        ("bisect", ["bisect", M, "--offline", "--axis", "keras", "--between", "3.14.1", "3.15.1"])]],
    ("unsafe-in-group-axis", group_with('      keras: ["3.15.1", "===../../x"]\n'), ["plan", M], 2, "'==='", None),
    ("unsafe-in-include", matrix('version: 1\ngroups:\n  - name: g\n    matrix:\n      era: py311\n'
                                 '      keras: "3.15.1"\n      tensorflow: "2.21.0"\n      include:\n'
                                 '        - {keras: "===../x"}\n'), ["plan", M], 2, "'==='", None),
    ("unsafe-in-range", group_with('      keras: {releases: "===3.0"}\n'), ["plan", M, "--offline"], 2, "'==='",
     None),
    ("unsafe-pip-arbitrary-equality", pip_extra("scipy===1.0"), ["plan", M], 2, "pip", None),
    ("unsafe-bisect-between", nothing, ["bisect", "in/m.yaml", "--offline", "--axis", "keras", "--between",
                                        "===3.14.1", "3.15.1"], 2, "--between", None),
    ("uppercase-version-accepted", keras_is('">=2.0RC1,<3"'), ["plan", M, "--format", "ids"], 0, "", None),
    # ---- class 2: numbers past the digit limit --------------------------------------------------------------
    *[("digits-%s-%s" % (where, cmd), keras_is(value), argv, 2, TOO_LONG.get(where, "keras"), None)
      for value, where in HUGE_NUMBERS
      for cmd, argv in [("plan", ["plan", M]), ("render", ["render", M, "--out", "out"])]],
    ("digits-range", group_with('      keras: {releases: ">=3.0,<%s"}\n' % BIG), ["plan", M, "--offline"], 2,
     "refused", None),
    ("digits-range-31", group_with('      keras: {releases: ">=%s"}\n' % ("1" * 31)), ["plan", M, "--offline"], 2,
     "digits", None),
    ("digits-group-axis", group_with('      keras: ["3.15.1", "%s"]\n' % BIG), ["plan", M], 2, "refused", None),
    ("digits-pip", pip_extra("scipy==%s" % BIG), ["plan", M], 2, "pip", None),
    ("digits-pip-31", pip_extra("scipy==1.%s" % ("1" * 31)), ["plan", M], 2, "pip", None),
    *[("digits-between-%s" % name, nothing, ["bisect", "in/m.yaml", "--offline", "--axis", "keras", "--between",
                                             low, high], 2, "--between", None)
      for name, low, high in [("low", BIG, "3.15.1"), ("high", "3.14.1", BIG), ("both", BIG, BIG + "1"),
                              ("31", "1" * 31, "3.15.1"), ("post", "3.14.1.post" + BIG, "3.15.1")]],
    ("digits-era-pip-bootstrap", era_pip_bootstrap(BIG), ["plan", M], 2, "pip version", None),
    *[("digits-recorded-%s-%s" % (name, cmd), recorded(mutate), argv, 0, "", allowed)
      for name, mutate in [("installed", lambda c: c["installed"].update(keras=BIG)),
                           ("requested", lambda c: c["versions"].update(keras="==" + BIG)),
                           ("both", lambda c: (c["installed"].update(keras="1." + BIG),
                                               c["versions"].update(keras=">=" + BIG)))]
      for cmd, argv, allowed in [("report", ["report", R, "--out", "out/r"], "out"),
                                 ("diff", ["diff", "in/run.json", R], None),
                                 ("merge", ["merge", R, "-o", "out/m.json"], "out")]],
    ("digits-shard", nothing, ["plan", "in/m.yaml", "--shard", "1/" + BIG], 2, "--shard", None),
    # ---- class 8: an unusable $KERAS_MATRIX_CACHE_DIR fails only the commands that use it -------------------
    ("cache-dir-variable-plan", nothing, ["plan", "in/m.yaml"], 0, "", None),
    ("cache-dir-variable-render", nothing, ["render", "in/m.yaml", "--out", "out"], 0, "", "out"),
    ("cache-dir-variable-report", nothing, ["report", "in/run.json", "--out", "out/r"], 0, "", "out"),
    ("cache-dir-variable-run", nothing, ["run", "in/m.yaml", "--run-id", "z"], 2, "KERAS_MATRIX_CACHE_DIR", None),
    ("cache-dir-variable-bisect", nothing, ["bisect", "in/m.yaml", "--offline", "--axis", "keras", "--between",
                                            "3.14.1", "3.15.1"], 2, "KERAS_MATRIX_CACHE_DIR", None),
    ("cache-dir-variable-run-option-wins", nothing, ["run", "in/m.yaml", "--run-id", "z", "--cache-dir", "in/c"],
     3, "Docker", "in"),
    # ---- extras: overflowing numbers and unbounded reasons ---------------------------------------------------
    *[("overflow-%s-%s" % (token, cmd), results_text('"first_epoch_seconds": 5.91', '"first_epoch_seconds": %s'
                                                     % token), argv, 5, "overflows", None)
      for token in ["1e999", "-1e999", "1.5e400", "9" * 20 + ".0e300"]
      for cmd, argv in [("report", ["report", R, "--out", "out/r"]), ("diff", ["diff", "in/run.json", R]),
                        ("merge", ["merge", R, "-o", "out/m.json"])]],
    ("reason-too-long-matrix", expect_reason(2001), ["plan", M], 2, "reason", None),
    ("reason-at-the-bound-matrix", expect_reason(2000), ["plan", M], 0, "", None),
]


@pytest.fixture
def cache_variable(monkeypatch):
    monkeypatch.setenv("KERAS_MATRIX_CACHE_DIR", "~no-such-user-here/x")


@pytest.mark.parametrize("case_id,setup,argv,code,message,allowed", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_round_two(world, capsys, monkeypatch, case_id, setup, argv, code, message, allowed):
    if case_id.startswith("cache-dir-variable"):
        monkeypatch.setenv("KERAS_MATRIX_CACHE_DIR", "~no-such-user-here/x")
    check_case(world, capsys, setup, argv, code, message, allowed)


def test_there_are_more_than_a_hundred_cases_here_too():
    assert len(CASES) > 100


def test_a_results_file_with_an_overflowing_number_is_refused_not_charted(world, capsys):
    """Before: accepted, and rendering its chart raised IndexError (an internal error)."""
    results_text('"first_epoch_seconds": 5.91', '"first_epoch_seconds": 1e999')(world)
    assert invoke(["report", R, "--out", "out/r"]) == 5
    err = capsys.readouterr().err
    assert "overflows" in err and not (world / "out" / "r").exists()


def test_an_expectation_reason_in_results_is_bounded_by_the_schema(world, capsys):
    doc = json.loads(FIXTURE.read_text())
    doc["cells"][0]["expectation"] = {"status": "build_failed", "trainings": None, "reason": "x" * 2001}
    (world / "in" / "x.json").write_text(json.dumps(doc))
    assert invoke(["report", R, "--out", "out/r"]) == 5
    assert "expectation" in capsys.readouterr().err


# ---- class 1: one spelling, one id ------------------------------------------------------------------------

@pytest.mark.parametrize("spelling,normal", [(">=2.0RC1,<3", "<3,>=2.0rc1"), ("2.0RC1", "==2.0rc1"),
                                             ("==1.0+Local.X", "==1.0+local.x"), ("1.0.POST1", "==1.0.post1"),
                                             ("~=2.3", "~=2.3"), ("!=1.0.*,>=1", "!=1.0.*,>=1"),
                                             (">=2.0-rc.1", ">=2.0rc1"), ("v1.0", "==1.0")])
def test_versions_are_normalized_so_the_id_does_not_depend_on_the_spelling(spelling, normal):
    assert normalize_version(spelling, None, None, "keras") == normal
    assert CELL_ID.fullmatch(cell_id(normal, (("tensorflow", "==2.21.0"),), "3.11", "cpu"))


def test_the_runs_own_results_are_readable_for_an_uppercase_spelling(world, capsys):
    """Before: '>=2.0RC1,<3' kept its capitals in the cell id, and report refused the run's results.json."""
    keras_is('">=2.0RC1,<3"')(world)
    assert invoke(["plan", M, "--format", "ids"]) == 0
    (ident,) = capsys.readouterr().out.split()
    assert ident == "kerasge2.0rc1-lt3-tf2.21.0-py311-cpu" and CELL_ID.fullmatch(ident)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.=<>!~*+,abcrpostdevRCV_-/ $\"'\\\u202e", max_size=40))
def test_an_accepted_version_always_gives_an_id_the_results_schema_accepts(text):
    try:
        spec = normalize_version(text, None, None, "keras")
    except MatrixError:
        return
    assert re.fullmatch(r"[0-9a-z.*+!,<>=~_-]+", spec)
    assert CELL_ID.fullmatch(cell_id(spec, (), "3.11", "cpu")), (text, spec, version_slug(spec))


# ---- class 4: the kept versions list, read like input ------------------------------------------------------

def lists_dir(tmp_path, content=None):
    directory = tmp_path / "versions"
    directory.mkdir()
    if content is not None:
        (directory / "keras.txt").write_bytes(content)
    return directory


LIST_CASES = [
    ("non-version-line", b"3.0.0\nnot a version\n", "not a PEP 440 version"),
    ("huge-line", b"3.0.0\n" + b"1" * 100000 + b"\n", "not a PEP 440 version"),
    ("huge-digits", b"3.0.0\n" + BIG.encode() + b"\n", "not a PEP 440 version"),
    ("arbitrary-equality", b"===3.0.0\n", "not a PEP 440 version"),
    ("latin-1", b"3.0.0\n# caf\xe9\n", "not UTF-8"),
    ("nul-bytes", b"3.0.0\n\x00\x00\n", "not a PEP 440 version"),
    ("too-big", b"#" * (2 << 20), "more than"),
    ("empty", b"", "no keras release"),
    ("only-comments", b"# generated: \n", "no keras release"),
    ("control-in-line", b"3.0.0\n3.1\x1b[31m\n", "not a PEP 440 version"),
]


@pytest.mark.parametrize("name,content,message", LIST_CASES, ids=[c[0] for c in LIST_CASES])
def test_a_bad_versions_list_is_a_range_error_naming_the_problem(tmp_path, name, content, message):
    resolver = Resolver(offline=True, lists_dir=lists_dir(tmp_path, content))
    with pytest.raises(RangeError, match=message):
        resolver.expand("keras", ">=3.0")


def test_a_bom_at_the_start_of_the_list_is_allowed(tmp_path):
    versions, date = read_list("keras", lists_dir(tmp_path, b"\xef\xbb\xbf# generated: 2026-01-01\n3.0.0\n3.1.0\n"))
    assert [str(v) for v in versions] == ["3.0.0", "3.1.0"] and date == "2026-01-01"


def special_list(kind):
    def make(directory):
        path = directory / "keras.txt"
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "directory":
            path.mkdir()
        elif kind == "link-to-dev-zero":
            os.symlink("/dev/zero", path)
        elif kind == "link-to-directory":
            os.symlink(directory, path)
        elif kind == "link-loop":
            os.symlink(path, path)
        elif kind == "sparse-300mb":
            with open(path, "wb") as handle:
                handle.truncate(300 << 20)
    return make


@pytest.mark.parametrize("kind,message", [("fifo", "not a regular file"), ("directory", "directory"),
                                          ("link-to-dev-zero", "not a regular file"),
                                          ("link-to-directory", "directory"), ("link-loop", "cannot read"),
                                          ("sparse-300mb", "more than")])
def test_a_versions_list_that_is_no_regular_file_fails_at_once(tmp_path, kind, message):
    directory = lists_dir(tmp_path)
    special_list(kind)(directory)
    started = time.monotonic()
    with pytest.raises(RangeError, match=message):
        Resolver(offline=True, lists_dir=directory).expand("keras", ">=3.0")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "non-version"])
def test_plan_reports_a_bad_versions_list_as_a_matrix_error(world, capsys, monkeypatch, kind):
    directory = world / "in" / "versions"
    directory.mkdir()
    if kind == "non-version":
        (directory / "keras.txt").write_text("3.0.0\n<script>\n")
    else:
        special_list(kind)(directory)
    real = matrix_load.Resolver
    monkeypatch.setattr(matrix_load, "Resolver", lambda offline=False: real(offline=True, lists_dir=directory))
    group_with('      keras: {releases: ">=3.0,<3.2"}\n')(world)
    before = snapshot(world)
    assert invoke(["plan", M, "--offline"]) == 2
    err = capsys.readouterr().err
    assert "versions list" in err and "Traceback" not in err and "internal error" not in err
    assert snapshot(world) == before


def test_the_shipped_lists_still_read(tmp_path):
    for path in sorted(Path(Resolver().lists_dir).glob("*.txt")):
        versions, _ = read_list(path.stem, path.parent)
        assert versions, path
