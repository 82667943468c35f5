"""Hostile inputs (issue 16): every crafted input gets its documented exit code, a one-line error and no
traceback, within a few seconds, and changes nothing outside the directory the command was asked to use.

Each case runs `runner.cli.main` in-process inside a fresh tree: `in/` (inputs), `out/` (the one place a
command may write, when the case allows it), `outside/victim.txt` (what a planted symlink points at) and
`results/prev/` (a run already recorded). The whole tree is snapshotted before and after.
"""

import hashlib
import json
import os
import stat
import time
from pathlib import Path

import pytest

from runner import cli
from runner.report import term_text
from runner.util.text import one_line
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "results-run.json"
E2E = ROOT / "tests" / "data" / "e2e-matrix.yaml"
ONE_CELL = 'version: 1\ncells:\n  - {name: a, era: py311, keras: "3.15.1", tensorflow: "2.21.0"}\n'
MODERN = "keras3.15.1-tf2.21.0-py311-cpu"


def snapshot(root, allowed=None):
    """path -> (type, content digest or link target, mode) for everything under root except `allowed`."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if allowed and (rel == allowed or rel.startswith(allowed + os.sep)):
                continue
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                content = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            else:
                content = None
            state[rel] = (stat.S_IFMT(st.st_mode), content, stat.S_IMODE(st.st_mode))
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return state


def check_case(world, capsys, setup, argv, code, message, allowed):
    """One hostile case: the exit code and message expected, no traceback or internal error, within 10 s,
    and nothing written outside the places the case allows (the victim outside untouched)."""
    setup(world)
    before = snapshot(world, allowed)
    started = time.monotonic()
    got = invoke(argv)
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert got == code, err
    assert message in err
    assert "Traceback" not in err and "internal error" not in err
    assert elapsed < 10, "took %.1f s" % elapsed
    assert snapshot(world, allowed) == before
    assert (world / "outside" / "victim.txt").read_text() == "precious\n"


def invoke(argv):
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse refuses a bad option this way
        return exc.code


# ---- building blocks for the cases -------------------------------------------------------------------

def matrix(text):
    return lambda w: (w / "in" / "x.yaml").write_text(text)


def results(mutate):
    def setup(w):
        doc = json.loads(FIXTURE.read_text())
        out = mutate(doc)
        (w / "in" / "x.json").write_text(out if isinstance(out, str) else json.dumps(out))
    return setup


def raw_results(replace_from, replace_to):
    return lambda w: (w / "in" / "x.json").write_text(FIXTURE.read_text().replace(replace_from, replace_to, 1))


def fifo(name):
    return lambda w: os.mkfifo(w / name)


def symlink(name, target):
    def setup(w):
        (w / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(w / target, w / name)
    return setup


def nothing(w):
    return None


def version_matrix(value):
    return matrix('version: 1\ncells:\n  - {name: a, era: py311, keras: %s, tensorflow: "2.21.0"}\n' % value)


def limits_matrix(limits):
    return matrix("version: 1\ndefaults:\n  limits: %s\n" % limits + ONE_CELL.split("\n", 1)[1])


def era_matrix(override):
    era = {"python": "3.11", "template": "py3-cpu", "base": "debian-bookworm", "packages": {"keras": "keras"}}
    era.update(override)
    return matrix(json.dumps({"version": 1, "eras": {"mine": era},
                              "cells": [{"name": "a", "era": "mine", "keras": "3.0.0"}]}))  # JSON is YAML


def merge_bomb(levels=20, width=10):
    lines = ["version: 1", "x0: &a0 {k: 1}"]
    for i in range(1, levels):
        lines.append("x%d: &a%d {<<: [%s]}" % (i, i, ", ".join(["*a%d" % (i - 1)] * width)))
    return "\n".join(lines) + "\n"


def alias_bomb(levels=9):
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels):
        lines.append("a%d: &a%d [%s]" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)))
    return "\n".join(lines) + "\n"


def product_bomb():
    versions = lambda n: "[%s]" % ", ".join('"1.%d"' % i for i in range(n))
    return ("version: 1\ngroups:\n  - name: g\n    matrix:\n      era: [py311]\n"
            "      keras: %s\n      tensorflow: %s\n      jax: %s\n      torch: %s\n"
            % (versions(100), versions(100), versions(100), versions(100)))


def shard_doc(sha, cells):
    def mutate(doc):
        doc["matrix"]["sha256"] = sha
        doc["cells"] = doc["cells"][cells]
        return doc
    return mutate


def two_shards(second_sha):
    def setup(w):
        results(shard_doc("a" * 64, slice(0, 5)))(w)
        os.replace(w / "in" / "x.json", w / "in" / "s1.json")
        results(shard_doc(second_sha, slice(5, None)))(w)
        os.replace(w / "in" / "x.json", w / "in" / "s2.json")
    return setup


def nan_in(token):
    return raw_results('"first_epoch_seconds": 5.91', '"first_epoch_seconds": %s' % token)


BAD_JSON = "not valid JSON"
M = "in/x.yaml"
R = "in/x.json"
DIFF = ["diff", "in/run.json"]

# (id, setup, argv, expected exit code, text stderr must hold, the one path the command may change)
CASES = [
    # ---- paths: run ids -------------------------------------------------------------------------------
    *[("run-id-%d" % i, nothing, ["run", "in/m.yaml", "--run-id", bad], 2, "--run-id", None) for i, bad in enumerate([
        "../../x", "..", ".", "/tmp/abs", "a/b", "a\nb", "a\rb", "x" * 101, "", "a b", "\u00fcber", "a\x00b",
        "a\u202eb", "$(id)", "a;b", "~root", "a\\b", "*"])],
    ("run-id-reused", nothing, ["run", "in/m.yaml", "--run-id", "prev"], 2, "already exists", None),
    ("run-id-reused-dangling-link", symlink("results/gone", "nowhere"), ["run", "in/m.yaml", "--run-id", "gone"],
     2, "already exists", None),
    ("resume-without-id", nothing, ["run", "in/m.yaml", "--resume"], 2, "--resume needs", None),
    ("ca-bundle-missing", nothing, ["run", "in/m.yaml", "--ca-bundle", "in/nope.pem"], 2, "--ca-bundle", None),
    ("ca-bundle-directory", nothing, ["run", "in/m.yaml", "--ca-bundle", "in"], 2, "not a regular file", None),
    ("ca-bundle-fifo", fifo("in/ca.pem"), ["run", "in/m.yaml", "--ca-bundle", "in/ca.pem"], 2, "not a regular", None),
    ("run-id-fine-engine-absent", nothing, ["run", "in/m.yaml", "--run-id", "night-1.a_b"], 3, "Docker", None),
    ("resume-existing-engine-absent", nothing, ["run", "in/m.yaml", "--run-id", "prev", "--resume"], 3, "Docker",
     None),
    # ---- paths: merge -o and render ------------------------------------------------------------------------
    ("merge-onto-fifo", fifo("out/merged.json"), ["merge", "in/run.json", "-o", "out/merged.json"], 5,
     "not a regular file", None),
    ("merge-onto-directory", lambda w: (w / "out" / "merged.json").mkdir(),
     ["merge", "in/run.json", "-o", "out/merged.json"], 5, "not a regular file", None),
    # (not /dev/null itself: a regressed writer would replace the machine's /dev/null)
    ("merge-onto-symlink-replaces-link", symlink("out/merged.json", "outside/victim.txt"),
     ["merge", "in/run.json", "-o", "out/merged.json"], 0, "merged", "out"),
    ("render-planted-tmp-link", symlink("out/%s/Dockerfile.tmp" % MODERN, "outside/victim.txt"),
     ["render", "in/m.yaml", "--out", "out"], 0, "", "out"),
    ("render-planted-dockerfile-link", symlink("out/%s/Dockerfile" % MODERN, "outside/victim.txt"),
     ["render", "in/m.yaml", "--out", "out"], 0, "", "out"),
    ("render-cell-dir-is-link", symlink("out/%s" % MODERN, "outside"), ["render", "in/m.yaml", "--out", "out"], 1,
     "symbolic link", None),
    ("resume-into-link", symlink("results/linked", "outside"), ["run", "in/m.yaml", "--run-id", "linked", "--resume"],
     2, "not a run directory", None),
    ("render-dockerfile-is-fifo",
     lambda w: ((w / "out" / MODERN).mkdir(), os.mkfifo(w / "out" / MODERN / "Dockerfile")),
     ["render", "in/m.yaml", "--out", "out"], 1, "not a regular file", None),
    ("build-cache-fifo", fifo("in/cache"), ["run", "in/m.yaml", "--build-cache", "in/cache"], 2, "--build-cache",
     None),
    ("build-cache-file", lambda w: (w / "in" / "cache").write_text("x"),
     ["run", "in/m.yaml", "--build-cache", "in/cache"], 2, "not a directory", None),
    # ---- bisect: every value checked before an engine or a build is asked for ------------------------------
    *[("bisect-on-%d" % i, nothing, ["bisect", "in/m.yaml", "--offline", "--axis", "keras", "--between", "3.14.1",
                                     "3.15.1", "--on", bad], 2, "--on", None)
      for i, bad in enumerate(["../../etc", "a..b", "", ".status", "status\n", "a b", "x" * 65, "a.b.c.d.e.f.g.h.i"])],
    *[("bisect-between-%d" % i, nothing, ["bisect", "in/m.yaml", "--offline", "--axis", "keras", "--between", bad,
                                          "3.15.1", "--on", "status"], 2, "--between", None)
      for i, bad in enumerate(["../x", "3.15.1\n", "0", "NaN", "9" * 400])],
    # ---- bounded work ---------------------------------------------------------------------------------------
    ("yaml-merge-bomb", matrix(merge_bomb()), ["plan", M], 2, "", None),
    ("yaml-merge-bomb-wide", matrix(merge_bomb(levels=4, width=60)), ["plan", M], 2, "", None),
    ("yaml-alias-bomb", matrix(alias_bomb()), ["plan", M], 2, "aliases", None),
    ("product-bomb", matrix(product_bomb()), ["plan", M], 2, "limit is 100000 cells", None),
    ("matrix-fifo", fifo("in/x.yaml"), ["plan", M], 2, "not a regular file", None),
    ("matrix-dev-zero", nothing, ["plan", "/dev/zero"], 2, "not a regular file", None),
    ("matrix-directory", nothing, ["plan", "in"], 2, "directory", None),
    ("matrix-too-big", matrix("#" * (300 << 10)), ["plan", M], 2, "more than the 262144", None),
    ("matrix-too-many-values", matrix("version: 1\nx: [%s]\n" % ",".join(["1"] * 60000)), ["plan", M], 2,
     "more than 50000 keys and values", None),
    ("results-fifo-report", fifo("in/x.json"), ["report", R], 5, "not a regular file", None),
    ("results-fifo-diff", fifo("in/x.json"), DIFF + [R], 5, "not a regular file", None),
    ("results-fifo-merge", fifo("in/x.json"), ["merge", R, "-o", "out/m.json"], 5, "not a regular file", None),
    ("results-dev-zero", nothing, ["report", "/dev/zero"], 5, "not a regular file", None),
    *[("shard-%d" % i, nothing, ["plan", "in/m.yaml", "--shard", bad], 2, "--shard", None) for i, bad in enumerate([
        "1/10000000", "1/" + "9" * 400, "1/1001", "0/1", "3/2", "1/2 ", " 1/2", "01/2", "1_0/20", "+1/2", "1/2/3",
        "-1/2", "1\n/2", "\u0661/\u0662", "1/0", "a/b"])],
    ("shard-fine", nothing, ["plan", "in/m.yaml", "--shard", "1/1"], 0, "", None),
    ("shard-more-than-cells", nothing, ["plan", "in/m.yaml", "--shard", "2/2"], 2, "matches no cell", None),
    # ---- validation holes ---------------------------------------------------------------------------------
    *[("newline-%s" % name, setup, ["plan", M], 2, "line break", None) for name, setup in [
        ("keras", version_matrix('"3.15.1\\n"')),
        ("python", era_matrix({"python": "3.11\n"})),
        ("apt", era_matrix({"apt": ["curl\n"]})),
        ("template", era_matrix({"template": "py3-cpu\n"})),
        ("symlink", era_matrix({"symlinks": [{"when": "keras", "link": "/usr/bin/x\n", "target": "/b"}]})),
        ("base", era_matrix({"base": "debian-bookworm\n"})),
        ("pip-bootstrap", era_matrix({"pip_bootstrap": "20.3.4\n"})),
        ("preinstall", era_matrix({"preinstall": ["numpy\nRUN id"]})),
        ("era-name", matrix('version: 1\neras:\n  "x\\n": {python: "3.11", template: py3-cpu, base: debian-bookworm,'
                            ' packages: {keras: keras}}\ncells:\n  - {name: a, era: py311, keras: "3.0.0"}\n')),
        ("image", matrix('version: 1\nbases:\n  b: {image: "debian:12\\n"}\n' + ONE_CELL.split("\n", 1)[1])),
        ("suite", matrix('version: 1\nbases:\n  b: {bootstrap: {suite: "bookworm\\n"}}\n'
                         + ONE_CELL.split("\n", 1)[1])),
        ("mirror", matrix('version: 1\nbases:\n  b: {bootstrap: {suite: bookworm, mirror: "http://x/\\n"}}\n'
                          + ONE_CELL.split("\n", 1)[1])),
        ("cell-name", matrix('version: 1\ncells:\n  - {name: "a\\n", era: py311, keras: "3.15.1"}\n')),
        ("unicode-line-separator", version_matrix('"3.15.1\\u2028"')),
        ("memory", limits_matrix('{memory: "6g\\n"}')),
    ]],
    *[("yaml11-int-%s" % text, version_matrix(text), ["plan", M], 2, "quote it", None)
      for text in ["010", "0x1F", "2_0", "1:30", "0b11", "-0x1", "1_000", "190:20:30"]],
    ("quoted-version-fine", version_matrix("'3.15.1'"), ["plan", M], 0, "", None),
    ("merge-key-override-accepted",
     matrix('version: 1\ncells:\n  - &d {name: a, era: py311, keras: "2.3.1", tensorflow: "2.21.0"}\n'
            '  - {<<: *d, name: b, keras: "3.15.1"}\n'), ["plan", M, "--format", "ids"], 0, "", None),
    ("merge-key-own-duplicate-refused",
     matrix('version: 1\ncells:\n  - {name: a, era: py311, keras: "2.3.1", keras: "3.15.1"}\n'), ["plan", M], 2,
     "duplicate key", None),
    ("merge-key-not-a-mapping", matrix('version: 1\ncells:\n  - {<<: 3, name: a, era: py311}\n'), ["plan", M], 2,
     "merge", None),
    *[("limits-%s" % name, limits_matrix(value), ["plan", M], 2, key, None) for name, value, key in [
        ("cpus-zero-text", "{cpus: '0'}", "cpus"), ("cpus-zero", "{cpus: 0}", "cpus"),
        ("cpus-huge", "{cpus: 5000}", "cpus"), ("cpus-tiny", "{cpus: '0.01'}", "cpus"),
        ("memory-zero", "{memory: 0k}", "memory"), ("memory-tiny", "{memory: 1m}", "memory"),
        ("memory-huge", "{memory: 99999g}", "memory"), ("pids-low", "{pids: 1}", "pids"),
    ]],
    ("limits-fine", limits_matrix("{cpus: '0.5', memory: 64m, pids: 16}"), ["plan", M], 0, "", None),
    # ---- results files ------------------------------------------------------------------------------------
    *[("results-%s-%s" % (cmd, name), setup, argv, 5, message, None)
      for name, setup, message in [
          ("nan", nan_in("NaN"), BAD_JSON), ("infinity", nan_in("Infinity"), BAD_JSON),
          ("minus-infinity", nan_in("-Infinity"), BAD_JSON), ("huge-int", nan_in("9" * 400), BAD_JSON),
          ("31-digit-int", nan_in("1" + "0" * 30), BAD_JSON),
          ("duplicate-key", raw_results('"kind": ', '"kind": "x", "kind": '), "duplicate key"),
          ("not-utf8", lambda w: (w / "in" / "x.json").write_bytes(b"\xff\xfe{}"), "cannot read"),
          ("empty", lambda w: (w / "in" / "x.json").write_text(""), BAD_JSON),
          ("deep", lambda w: (w / "in" / "x.json").write_text("[" * 100000), BAD_JSON),
          ("foreign", lambda w: (w / "in" / "x.json").write_text("[]"), "not a keras-matrix results file"),
      ]
      for cmd, argv in [("report", ["report", R]), ("diff", DIFF + [R]), ("merge", ["merge", R, "-o", "out/m.json"])]],
    ("merge-mixed-matrices", two_shards("b" * 64), ["merge", "in/s1.json", "in/s2.json", "-o", "out/m.json"], 5,
     "different matrix", None),
    ("merge-mixed-allowed", two_shards("b" * 64),
     ["merge", "in/s1.json", "in/s2.json", "-o", "out/m.json", "--allow-mixed-matrices"], 0, "merged", "out"),
    ("merge-same-matrix", two_shards("a" * 64), ["merge", "in/s1.json", "in/s2.json", "-o", "out/m.json"], 0,
     "merged", "out"),
    ("diff-all-removed", results(lambda d: dict(d, cells=[])), DIFF + [R, "--fail-on-regression"], 1,
     "have no result", None),
    ("diff-one-removed", results(lambda d: dict(d, cells=d["cells"][1:])), DIFF + [R, "--fail-on-regression"], 1,
     "1 cells", None),
    ("diff-removed-allowed", results(lambda d: dict(d, cells=d["cells"][1:])),
     DIFF + [R, "--fail-on-regression", "--allow-removed"], 0, "", None),
    ("diff-removed-no-gate", results(lambda d: dict(d, cells=d["cells"][1:])), DIFF + [R], 0, "", None),
    *[("threshold-%s" % bad, nothing, DIFF + ["in/run.json", "--threshold", bad], 2, "--threshold", None)
      for bad in ["nan", "NaN", "inf", "-inf", "-0.1", "1e400", "abc", "", "0x10", "1_0", "1001"]],
    ("threshold-fine", nothing, DIFF + ["in/run.json", "--threshold", "0.5"], 0, "", None),
    *[("numeric-%s-%s" % (opt, bad), nothing, argv + [opt, bad], 2, opt, None)
      for opt, argv in [("--jobs", ["run", "in/m.yaml"]), ("--lanes", ["run", "in/m.yaml"]),
                        ("--shards", ["plan", "in/m.yaml", "--format", "github-matrix"])]
      for bad in ["0", "-1", "1_0", " 2", "1e3", "99999999999999999999"]],
]


@pytest.mark.parametrize("case_id,setup,argv,code,message,allowed", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(world, capsys, case_id, setup, argv, code, message, allowed):
    check_case(world, capsys, setup, argv, code, message, allowed)


def test_there_are_more_than_a_hundred_cases():
    assert len(CASES) > 100


def test_a_merge_key_override_is_taken_as_yaml_defines_it(world, capsys):
    (world / "in" / "x.yaml").write_text(
        'version: 1\ncells:\n  - &base {name: a, era: py311, keras: "2.3.1", tensorflow: "2.21.0"}\n'
        '  - {<<: *base, name: b, keras: "3.15.1"}\n')
    assert invoke(["plan", M, "--format", "ids"]) == 0
    assert capsys.readouterr().out.split() == ["keras2.3.1-tf2.21.0-py311-cpu", MODERN]


def test_merge_keeps_a_planted_symlinks_target_and_writes_a_regular_file(world, capsys):
    symlink("out/merged.json", "outside/victim.txt")(world)
    assert invoke(["merge", "in/run.json", "-o", "out/merged.json"]) == 0
    assert not os.path.islink(world / "out" / "merged.json")
    assert json.loads((world / "out" / "merged.json").read_text())["cells"]


def test_reusing_a_run_id_never_drops_recorded_cells(world, capsys):
    recorded = (world / "results" / "prev" / "results.json").read_bytes()
    assert invoke(["run", "in/m.yaml", "--run-id", "prev"]) == 2
    assert (world / "results" / "prev" / "results.json").read_bytes() == recorded


def test_a_default_run_id_already_taken_is_left_alone(world, capsys, monkeypatch):
    """The run takes prev-2 instead (issue 29: RunDirectory; tests/unit/test_hostile_state.py); here it stops
    at the missing engine, before any directory is made, and prev is untouched."""
    import time as time_module

    monkeypatch.setattr(time_module, "strftime", lambda *args: "prev")
    recorded = (world / "results" / "prev" / "results.json").read_bytes()
    assert invoke(["run", "in/m.yaml"]) == 3
    assert "already exists" not in capsys.readouterr().err
    assert (world / "results" / "prev" / "results.json").read_bytes() == recorded
    assert sorted(p.name for p in (world / "results").iterdir()) == ["prev"]


def test_ctrl_c_during_render_leaves_no_temp_files_and_no_empty_directories(world, capsys, monkeypatch):
    import runner.util.fileio

    calls = {"n": 0}
    real_fsync = os.fsync

    def interrupted_fsync(fd):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real_fsync(fd)

    monkeypatch.setattr(runner.util.fileio.os, "fsync", interrupted_fsync)
    assert invoke(["render", str(E2E), "--out", "out"]) == 130
    leftovers = [p for p in (world / "out").rglob("*") if p.is_file() and p.name != "Dockerfile"]
    empty = [p for p in (world / "out").rglob("*") if p.is_dir() and not any(p.iterdir())]
    assert leftovers == [] and empty == []
    assert len(list((world / "out").rglob("Dockerfile"))) == 2


def test_yaml_bombs_are_refused_fast(world, capsys):
    for text in (merge_bomb(levels=40, width=5), alias_bomb(12)):
        (world / "in" / "x.yaml").write_text(text)
        started = time.monotonic()
        assert invoke(["plan", M]) == 2
        assert time.monotonic() - started < 2


@pytest.mark.parametrize("hostile", ["\u202e", "\u2066", "\u200f", "\u061c", "\x1b[31m", "\x9b"])
def test_bidi_and_terminal_controls_are_neutralised_in_text_helpers(hostile):
    value = "build failed %sgnp.exe" % hostile
    assert hostile not in term_text(value, 200)
    assert hostile not in one_line(value)
    assert "gnp.exe" in term_text(value, 200)


@pytest.mark.parametrize("fmt", ["terminal", "markdown"])
@pytest.mark.parametrize("hostile", ["\u202e", "\u2067", "\x1b]0;title\x07", "\u200f"])
def test_bidi_and_terminal_controls_never_reach_the_table(fmt, hostile):
    from runner.report import render_table

    doc = json.loads(FIXTURE.read_text())
    doc["cells"][0]["cell_id"] = "evil%sexe.gnp" % hostile
    out = render_table(doc, fmt)
    assert hostile not in out and "\x1b" not in out
    assert "exe.gnp" in out  # the value is shown, only the control is gone
