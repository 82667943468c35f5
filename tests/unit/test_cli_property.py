"""Property test over the whole CLI: whatever the arguments and whatever the files hold, the exit code is
a documented one (0, 1, 2, 3, 4, 5, 130) and no traceback or "internal error" reaches the user.

main() runs in-process (fast) in a scratch directory holding one file, `f`, whose content is drawn too.
"""

import contextlib
import io
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner import cli
from tests.conftest import ROOT

DOCUMENTED = {0, 1, 2, 3, 4, 5, 130}
FIXTURE = (ROOT / "tests" / "fixtures" / "results-run.json").read_text()
GOOD_MATRIX = 'version: 1\ncells:\n  - {name: a, era: py311, keras: "3.15.1", tensorflow: "2.21.0"}\n'

hostile_text = st.one_of(
    # No device paths: a regressed writer would replace /dev/null on the test machine.
    st.sampled_from(["../../x", "in", ".", "..", "f", "f/", "nan", "inf", "-1", "0", "1/0",
                     "1/99999999999999999999", "a\nb", "\u202eevil", "$(id)", "*", "2/1", "1e400", "", "-", "--",
                     "x" * 300, "01", "0x1F", "1_0", "keras=2.*", "device=\n", "results"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20),
)
OPTIONS = {
    "plan": ["--shard", "--shards", "--format", "--cell", "--filter", "--profile"],
    "render": ["--shard", "--cell", "--filter", "--out", "--stdout"],
    "run": ["--run-id", "--results-dir", "--ca-bundle", "--jobs", "--lanes", "--resume", "--shard", "--cell"],
    "report": ["--out", "--format"],
    "merge": ["-o", "--matrix", "--allow-duplicates", "--allow-mixed-matrices"],
    "diff": ["--threshold", "--format", "--fail-on-regression", "--allow-removed"],
}
FLAGS = {"--stdout", "--resume", "--allow-duplicates", "--allow-mixed-matrices", "--fail-on-regression",
         "--allow-removed"}
matrices = st.one_of(
    st.just(GOOD_MATRIX),
    st.builds(lambda a, b: GOOD_MATRIX.replace(a, b), st.sampled_from(["3.15.1", "py311", "a", "cells", "2.21.0"]),
              st.one_of(hostile_text, st.sampled_from(["010", "0x1F", "1:30", "&a x", "*a", "[*a, *a]", "'x\n'"]))),
    st.text(max_size=200),
)
results_files = st.one_of(
    st.just(FIXTURE),
    st.builds(lambda a, b: FIXTURE.replace(a, b, 1),
              st.sampled_from(['"ok"', "5.91", '"cells"', '"kind"', "[", "{", "true", '"matrix"', '"cell_id"']),
              st.sampled_from(["NaN", "Infinity", "-Infinity", "9" * 400, '"x"', "null", "[]", "{}", "",
                               '"kind": 1, "kind"'])),
    st.binary(max_size=100),
)


@st.composite
def invocations(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    args = []
    for option in draw(st.lists(st.sampled_from(OPTIONS[command]), max_size=3)):
        args.append(option)
        if option not in FLAGS:
            args.append(draw(hostile_text))
    content = draw(results_files if command in ("report", "merge", "diff") else matrices)
    return command, args, content


def run_main(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse: usage errors (2), --help/--version (0)
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(invocation=invocations())
def test_every_exit_is_documented_and_no_traceback_is_printed(tmp_path_factory, invocation):
    command, args, content = invocation
    scratch = tmp_path_factory.mktemp("cli")
    path = scratch / "f"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="replace")
    positional = ["f", "f"] if command in ("diff", "merge") else ["f"]
    argv = [command] + positional + args
    if command == "merge" and "-o" not in args:
        argv += ["-o", "merged.json"]
    cwd = os.getcwd()
    os.chdir(scratch)
    try:
        code, err = run_main(argv)
    finally:
        os.chdir(cwd)
    assert code in DOCUMENTED, (argv, err)
    assert "Traceback" not in err and "internal error" not in err, (argv, err)


def test_the_property_would_see_an_internal_error(monkeypatch):
    """The check above is not vacuous: a bug inside a command is reported as "internal error"."""
    monkeypatch.setattr(json, "dumps", lambda *a, **k: 1 / 0)
    code, err = run_main(["plan", str(ROOT / "tests" / "data" / "e2e-matrix.yaml"), "--format", "json"])
    assert code == 1 and "internal error" in err
