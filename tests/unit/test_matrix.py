"""Loading, validating and expanding matrix files."""

import subprocess
import sys
import textwrap

import pytest
import yaml
from packaging.version import Version

from runner.matrix.cells import normalize_version, version_slug
from runner.matrix.load import load_matrix
from runner.matrix.releases import read_list
from runner.matrix.selection import select
from runner.util.errors import MatrixError, UsageError
from tests.conftest import ROOT


def write(tmp_path, text, name="m.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_matrix_spans_every_keras_minor_line():
    matrix = load_matrix(ROOT / "matrix.yaml", offline=True)
    lines = {".".join(c.keras.lstrip("=").split(".")[:2]) for c in matrix.cells}
    expected = {"1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4"} | {"2.%d" % n for n in range(6, 16)} \
        | {"3.%d" % n for n in range(0, 16)}
    assert expected <= lines
    backends = {axis for c in matrix.cells for axis in c.backend_names}
    assert {"tensorflow", "theano", "cntk", "jax"} <= backends
    assert {c.device for c in matrix.cells} == {"cpu", "gpu"}
    # Every multi-backend Keras 2.0-2.3 cell has all three backends of its era.
    legacy = [c for c in matrix.cells if c.group == "keras2-multibackend"]
    assert legacy and all(set(c.backend_names) == {"tensorflow", "theano", "cntk"} for c in legacy)
    # The quick profile resolves to real cells.
    assert len(select(matrix, profile="quick")) == 2


def test_include_exclude_follow_github_actions_semantics(tmp_path):
    path = write(tmp_path, """
        version: 1
        groups:
          - name: g
            matrix:
              era: py27
              keras: ["2.2.5", "2.3.1"]
              theano: "1.0.5"
              device: [cpu, gpu]
              exclude:
                - {keras: "2.2.5", device: gpu}
              include:
                - {keras: "2.3.1", tensorflow: "1.15.0"}     # adds a key to matching combos
                - {era: py27, keras: "2.0.9", theano: "1.0.4"}  # matches nothing: a new combo
        """)
    cells = {c.id: c for c in load_matrix(path).cells}
    assert sorted(cells) == sorted([
        "keras2.2.5-theano1.0.5-py27-cpu",
        "keras2.3.1-tf1.15.0-theano1.0.5-py27-cpu",
        "keras2.3.1-tf1.15.0-theano1.0.5-py27-gpu",
        "keras2.0.9-theano1.0.4-py27-cpu",
    ])
    assert cells["keras2.3.1-tf1.15.0-theano1.0.5-py27-cpu"].requirements == (
        ("tensorflow", "tensorflow==1.15.0"), ("theano", "Theano==1.0.5"), ("keras", "keras==2.3.1"))
    assert cells["keras2.3.1-tf1.15.0-theano1.0.5-py27-gpu"].requirements[0] == ("tensorflow", "tensorflow-gpu==1.15.0")


def test_include_never_overwrites_an_original_value(tmp_path):
    path = write(tmp_path, """
        version: 1
        groups:
          - name: g
            matrix:
              era: py27
              keras: "2.3.1"
              theano: ["1.0.4", "1.0.5"]
              include:
                - {theano: "1.0.5", cntk: "2.7.post2"}
        """)
    ids = [c.id for c in load_matrix(path).cells]
    assert ids == ["keras2.3.1-theano1.0.4-py27-cpu", "keras2.3.1-theano1.0.5-cntk2.7.post2-py27-cpu"]


def test_versions_keep_their_text_and_specifiers_are_normalized():
    assert normalize_version("2.10", "f", 1, "k") == "==2.10"  # YAML would have made this 2.1
    assert normalize_version(">=2.3,<2.4", "f", 1, "k") == "<2.4,>=2.3"
    assert version_slug("<2.4,>=2.3") == "ge2.3-lt2.4"
    assert normalize_version(None, "f", 1, "k") is None


BAD_VALUES = [
    ('"2.0\\nRUN curl x | sh"', "line break"),
    ('">=1; rm -rf /"', "not a PEP 440 version"),
    ('""', "empty or padded version"),
    ('"$(reboot)"', "not a PEP 440 version"),
    ('"2.3.1 "', "empty or padded version"),
    ("{a: 1}", "invalid value"),
    ("true", "invalid value"),
]


@pytest.mark.parametrize("value,message", BAD_VALUES)
def test_bad_versions_are_rejected_with_file_line_and_key(tmp_path, value, message):
    path = write(tmp_path, """
        version: 1
        groups:
          - name: g
            matrix:
              era: py27
              keras: %s
        """ % value)
    with pytest.raises(MatrixError) as err:
        load_matrix(path)
    assert message in str(err.value)
    assert str(err.value).startswith("%s:7: " % path)
    assert err.value.exit_code == 2


@pytest.mark.parametrize("text,message", [
    ("version: 1\nkerass: 1\n", "unknown key 'kerass'"),
    ("version: 2\n", "1 was expected"),
    ("- a\n- b\n", "must be a YAML mapping"),
    ("version: 1\nversion: 1\n", "duplicate key 'version'"),
    ("version: [1\n", "invalid YAML"),
    ("version: 1\ngroups: {}\n", "is not of type 'array'"),
    ("version: 1\n", "no cells"),
    ("version: 1\ncells:\n  - {name: a, keras: '2.3.1', era: nope}\n", "unknown era 'nope'"),
    ("version: 1\ncells:\n  - {name: a, keras: '2.3.1', era: py27, jax: '0.4.1'}\n", "has no package for 'jax'"),
    ("version: 1\ncells:\n  - {name: a, keras: '2.3.1', era: py27, device: tpu}\n", "is not one of"),
    ("version: 1\ncells:\n  - {name: a, keras: '2.3.1', era: py27}\n  - {name: b, keras: '2.3.1', era: py27}\n",
     "duplicate cell keras2.3.1-py27-cpu"),
    ("version: 1\ncells:\n  - {name: a, keras: '2.3.1', era: py27}\nprofiles: {q: [nothing-*]}\n", "matches no cell"),
])
def test_bad_matrix_files_give_one_clear_error(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(MatrixError) as err:
        load_matrix(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("override,message", [
    ({"apt": ["python3; rm -rf /"]}, "is not a Debian package name"),
    ({"constraints": ["numpy<1.17; rm -rf /"]}, "is not a valid pip requirement"),
    ({"constraints": ["evil @ https://example.invalid/x.whl"]}, "URLs and environment markers are not allowed"),
    ({"packages": {"keras": "keras==2.0"}}, "give the package name only"),
    ({"packages": {"keras": "keras$(id)"}}, "is not a valid pip requirement"),
    ({"symlinks": [{"when": "keras", "link": "/a b", "target": "/b"}]}, "is not a plain absolute path"),
    ({"symlinks": [{"when": "keras", "link": "/a/../../etc/passwd", "target": "/b"}]}, "is not a plain absolute path"),
    ({"pip_bootstrap": "20.3.4; echo"}, "is not a pip version"),
    ({"installer": "conda"}, "is not one of"),
    ({"installer": "uv"}, "installer uv needs uv_version"),
    ({"installer": "uv", "uv_version": "0.13.9; echo"}, "is not a uv version"),
    ({"installer": "uv", "uv_version": 13}, "is not of type"),
    ({"installer": "uv", "uv_version": "0.13.9", "python": "2.7"}, "uv does not install packages for Python 2.7"),
    ({"installer": "uv", "uv_version": "0.13.9\n"}, "line break"),
    ({"template": "../../etc/passwd"}, "does not match"),
    ({"template": "nosuch"}, "no template 'nosuch'"),
    ({"python": "3.11; echo"}, "does not match"),
    ({"base": "elsewhere"}, "unknown base 'elsewhere'"),
    ({"preinstall": ["x\nRUN curl evil | sh"]}, "line break"),
    # A pattern ending in `$` lets a trailing newline by; every field is checked whole.
    ({"python": "3.11\n"}, "line break"),
    ({"apt": ["python3\n"]}, "line break"),
    ({"symlinks": [{"when": "keras", "link": "/usr/bin/x\n", "target": "/b"}]}, "line break"),
    ({"template": "py3-cpu\n"}, "line break"),
    ({"base": "debian-bookworm\n"}, "line break"),
])
def test_every_era_field_is_validated_before_a_template_sees_it(tmp_path, override, message):
    import json

    era = {"python": "3.11", "template": "py3-cpu", "base": "debian-bookworm", "packages": {"keras": "keras"}}
    era.update(override)
    doc = {"version": 1, "eras": {"mine": era}, "cells": [{"name": "a", "era": "mine", "keras": "3.0.0"}]}
    path = tmp_path / "m.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    with pytest.raises(MatrixError) as err:
        load_matrix(path)
    assert message in str(err.value)


@pytest.mark.parametrize("base_yaml,message", [
    ("image: 'debian:12; rm -rf /'", "is not a valid image reference"),
    ("image: \"debian\\nRUN x\"", "line break"),
    ("image: \"debian:12\\n\"", "line break"),
    ("bootstrap: {suite: bookworm, mirror: \"http://x/\\n\"}", "line break"),
    ("bootstrap: {suite: \"bookworm\\n\"}", "line break"),
    ("bootstrap: {suite: bookworm, mirror: 'http://x/$(id)'}", "is not a plain http(s) mirror URL"),
    ("bootstrap: {suite: 'bookworm; id'}", "does not match"),
])
def test_base_fields_are_validated(tmp_path, base_yaml, message):
    path = write(tmp_path, """
        version: 1
        bases:
          mine:
            %s
        eras:
          mine: {python: "3.11", template: py3-cpu, base: mine, packages: {keras: keras}}
        cells:
          - {name: a, era: mine, keras: "3.0.0"}
        """ % base_yaml)
    with pytest.raises(MatrixError) as err:
        load_matrix(path)
    assert message in str(err.value)


def test_selection_by_cell_filter_and_profile():
    matrix = load_matrix(ROOT / "matrix.yaml", offline=True)
    theano = "keras2.3.1-theano1.0.5-py27-cpu"
    assert [c.id for c in select(matrix, cells=[theano])] == [theano]
    assert all(c.device == "cpu" and c.era.name == "py27" for c in select(matrix, filters=["device=cpu", "era=py27"]))
    assert {c.group for c in select(matrix, cells=["keras1"])} == {"keras1"}
    assert {c.keras for c in select(matrix, filters=["keras=3.15.*"])} == {"==3.15.0", "==3.15.1"}
    with pytest.raises(UsageError):
        select(matrix, cells=["no-such-cell"])
    with pytest.raises(UsageError):
        select(matrix, filters=["colour=blue"])
    with pytest.raises(UsageError):
        select(matrix, profile="nope")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "runner"] + list(args), capture_output=True, text=True,
                          cwd=str(ROOT), timeout=120)


def test_cli_bad_matrix_exits_2_with_one_line_and_no_traceback(tmp_path):
    path = write(tmp_path, "version: 1\ngroups:\n  - name: x\n    matrix:\n"
                           "      keras: '>=1; rm -rf /'\n      era: py27\n")
    proc = run_cli("plan", str(path))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert ":5: groups[x].matrix.keras:" in proc.stderr


def test_cli_plan_lists_the_shipped_matrix_as_table_and_json():
    proc = run_cli("plan", "matrix.yaml", "--offline")
    assert proc.returncode == 0
    assert "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu" in proc.stdout
    import json

    proc = run_cli("plan", "matrix.yaml", "--offline", "--format", "json", "--filter", "device=gpu")
    cells = json.loads(proc.stdout)
    assert cells and all(c["device"] == "gpu" for c in cells)


def test_cli_every_command_has_help():
    for command in ("plan", "render", "run", "report", "diff"):
        proc = run_cli(command, "--help")
        assert proc.returncode == 0 and "usage:" in proc.stdout


# ---- hostile inputs (issue 16) --------------------------------------------------------------------------

CELL = '  - {name: a, era: py311, keras: "3.15.1", tensorflow: "2.21.0"}\n'


@pytest.mark.parametrize("limits,key", [
    ("{cpus: '0'}", "cpus"), ("{cpus: 0}", "cpus"), ("{cpus: '0.05'}", "cpus"), ("{cpus: 1025}", "cpus"),
    ("{memory: 0k}", "memory"), ("{memory: 63m}", "memory"), ("{memory: 5000g}", "memory"),
    ("{memory: \"6g\\n\"}", "memory"), ("{pids: 15}", "pids"),
])
def test_limits_that_mean_no_limit_or_nonsense_are_refused(tmp_path, limits, key):
    path = write(tmp_path, "version: 1\ndefaults:\n  limits: %s\ncells:\n%s" % (limits, CELL))
    with pytest.raises(MatrixError, match="defaults.limits.%s: " % key if "\\n" not in limits else "line break"):
        load_matrix(path)


def test_sane_limits_are_kept_as_written(tmp_path):
    path = write(tmp_path, "version: 1\ndefaults:\n  limits: {cpus: 0.5, memory: 64m, pids: 16}\ncells:\n" + CELL)
    limits = load_matrix(path).cells[0].limits
    assert (limits.cpus, limits.memory, limits.pids) == ("0.5", "64m", 16)


def test_a_huge_product_is_refused_from_axis_lengths_before_it_is_built(tmp_path):
    axis = "[%s]" % ", ".join('"1.%d"' % i for i in range(100))
    path = write(tmp_path, "version: 1\ngroups:\n  - name: big\n    matrix:\n      era: [py311]\n"
                 "      keras: %s\n      tensorflow: %s\n      jax: %s\n      torch: %s\n" % ((axis,) * 4))
    with pytest.raises(MatrixError, match=r":5: groups\[big\].matrix: this group expands to 100000000 cells"):
        load_matrix(path)


def test_merge_keys_follow_yaml_precedence(tmp_path):
    """Own keys override merged ones; an earlier mapping in `<<: [...]` overrides a later one."""
    path = write(tmp_path, """\
        version: 1
        cells:
          - &first {name: a, era: py311, keras: "2.3.1", tensorflow: "2.21.0"}
          - &second {name: b, era: py27, keras: "2.2.5", tensorflow: "1.15.0"}
          - {<<: [*first, *second], name: c, keras: "3.15.1"}
        """)
    c = select(load_matrix(path), cells=["c"])[0]
    assert (c.era.name, c.keras, dict(c.backends)["tensorflow"]) == ("py311", "==3.15.1", "==2.21.0")


def test_a_fifo_matrix_is_refused_at_once(tmp_path):
    import os

    os.mkfifo(tmp_path / "m.yaml")
    with pytest.raises(MatrixError, match="not a regular file"):
        load_matrix(tmp_path / "m.yaml")


def test_the_shipped_matrix_follows_the_newest_keras_and_tensorflow_with_ranges():
    """docs/ci.md: a new Keras 3 or TensorFlow 2 release enters the scheduled run by itself (keras3-follow)."""
    group = [g for g in yaml.safe_load((ROOT / "matrix.yaml").read_text())["groups"] if g["name"] == "keras3-follow"][0]
    assert set(group["matrix"]["keras"]) == {"releases"} and set(group["matrix"]["tensorflow"]) == {"releases"}
    matrix = load_matrix(ROOT / "matrix.yaml", offline=True)
    since = {"==%s" % v for v in read_list("keras")[0] if v >= Version("3.15")}
    follow = {c.keras for c in matrix.cells if c.group == "keras3-follow"}
    assert follow and follow | {"==3.15.1"} == since  # every release from 3.15 (3.15.1 with TF 2.21: in keras3)
