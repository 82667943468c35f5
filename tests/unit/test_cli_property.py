"""Property test over the whole CLI: whatever the arguments and whatever the files hold, the exit code is
a documented one (0, 1, 2, 3, 4, 5, 130) and no traceback or "internal error" reaches the user. The same
holds for range axes expanded against a fake package index on 127.0.0.1 (whatever it answers), for the
environment variables the tool reads, and for whatever a results-cache entry holds (issue 29).

main() runs in-process (fast) in a scratch directory holding one file, `f`, whose content is drawn too.
"""

import contextlib
import http.server
import io
import json
import os
import threading
import time

import pytest
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


# ---- issue 29: range axes, the package index, environment variables and cache entries ------------------------

RANGE_MATRIX = ('version: 1\ngroups:\n  - name: g\n    matrix:\n      era: py311\n      keras: {releases: %s}\n'
                '      tensorflow: "2.16.2"\n')
ranges = st.one_of(
    st.sampled_from(['">=3.0,<3.2"', '"===3.0"', '">=%s"' % ("9" * 5000), '""', '">=2.0RC1,<3"', "null", "[]",
                     '">=99"', '"<0"', '"~=3"', '"==3.*"', '"!=3.0.*"', '">=3.0,<3.2,===x"', "3", "{a: 1}",
                     '">=1\\u202e"', '">=%s"' % ("1" * 31)]),
    hostile_text.map(json.dumps),
)
INDEX_ANSWERS = {
    "good": (200, json.dumps({"releases": {"3.0.0": [{}], "3.1.0": [{}]}}).encode()),
    "deep": (200, b'{"releases": ' + b"[" * 100000 + b"]" * 100000 + b"}"),
    "array": (200, b"[]"),
    "not-json": (200, b"<html>"),
    "huge-int": (200, b'{"releases": {"3.0.0": [' + b"9" * 5000 + b"]}}"),
    "arbitrary-equality": (200, json.dumps({"releases": {"===../../x": [{}], "3.0.0": [{}]}}).encode()),
    "controls": (500, b"\x1b]0;owned\x07"),
    "huge-version": (200, json.dumps({"releases": {"9" * 5000: [{}]}}).encode()),
    "empty": (200, b""),
}
environments = st.fixed_dictionaries({}, optional={
    "KERAS_MATRIX_CACHE_DIR": st.sampled_from(["~no-such-user/x", "~", "cache", "f", "", "\u202ex", "a\nb",
                                               "/proc/self/fd/0", "x" * 5000]),
    "GITHUB_STEP_SUMMARY": st.sampled_from(["summary.md", "f", ".", "no/such/dir/s.md", "fifo", "", "link"]),
    "KERAS_MATRIX_INDEX_URL": st.sampled_from(["file:///etc/passwd", "ftp://127.0.0.1/", "http://x\n", "",
                                               "\u202ehttp://127.0.0.1/", "javascript:x"]),
    "KERAS_MATRIX_CA_BUNDLE": st.sampled_from(["f", "fifo", ".", "/dev/zero", "no-such.pem"]),
})


class _Index(http.server.BaseHTTPRequestHandler):
    answer = "good"

    def do_GET(self):
        status, body = INDEX_ANSWERS[type(self).answer]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def fake_index():
    """A fake package index on 127.0.0.1 for the whole module; what it answers is drawn per example."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/pypi" % server.server_address[1]
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def environment(values):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@st.composite
def range_invocations(draw):
    command = draw(st.sampled_from(["plan", "render", "run", "bisect"]))
    args = [draw(st.sampled_from(["--offline", "--cell", "--filter"]))] if draw(st.booleans()) else []
    if args and args[0] != "--offline":
        args.append(draw(hostile_text))
    if command == "render":
        args += ["--out", "out"]
    if command == "bisect":
        args += ["--axis", "keras", "--between", draw(st.sampled_from(["3.0.0", "===3.0", "9" * 5000, "x"])),
                 draw(st.sampled_from(["3.1.0", "3.1.1", "1" * 31]))]
    return command, args, RANGE_MATRIX % draw(ranges), draw(st.sampled_from(sorted(INDEX_ANSWERS))), \
        draw(environments)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(invocation=range_invocations())
def test_range_axes_index_answers_and_environment_never_give_an_internal_error(tmp_path_factory, fake_index,
                                                                               invocation):
    command, args, content, answer, env = invocation
    scratch = tmp_path_factory.mktemp("range")
    (scratch / "f").write_text(content)
    os.mkfifo(scratch / "fifo")
    os.symlink("/dev/null", scratch / "link")
    _Index.answer = answer
    cwd = os.getcwd()
    os.chdir(scratch)
    try:
        with environment(dict({"KERAS_MATRIX_INDEX_URL": fake_index}, **env)):
            started = time.monotonic()
            code, err = run_main([command, "f"] + args)
            elapsed = time.monotonic() - started
    finally:
        os.chdir(cwd)
    assert code in DOCUMENTED, (command, args, content[:200], answer, env, err)
    assert "Traceback" not in err and "internal error" not in err, (command, args, answer, env, err)
    assert elapsed < 10, (command, args, answer, env)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(env=environments, command=st.sampled_from(["report", "merge", "diff"]))
def test_environment_variables_never_break_the_results_commands(tmp_path_factory, env, command):
    scratch = tmp_path_factory.mktemp("env")
    (scratch / "f").write_text(FIXTURE)
    os.mkfifo(scratch / "fifo")
    os.symlink("/dev/null", scratch / "link")
    argv = {"report": ["report", "f", "-o", "out"], "merge": ["merge", "f", "-o", "m.json"],
            "diff": ["diff", "f", "f"]}[command]
    cwd = os.getcwd()
    os.chdir(scratch)
    try:
        with environment(env):
            code, err = run_main(argv)
    finally:
        os.chdir(cwd)
    assert code == 0, (argv, env, err)
    assert "Traceback" not in err and "internal error" not in err


GOOD_RECORD = json.loads(FIXTURE)["cells"][0]
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=3), max_leaves=10)


@st.composite
def cache_entries(draw):
    """A cache entry as planted: the good one with a field changed, the record mangled, or any bytes."""
    from runner.run.cache import KEY_VERSION, _record_digest

    record = dict(GOOD_RECORD)
    kind = draw(st.sampled_from(["good", "field", "record-field", "bytes", "value"]))
    if kind == "record-field":
        record[draw(st.sampled_from(sorted(record) + ["extra"]))] = draw(json_values)
    entry = {"cache_entry": KEY_VERSION, "key": "a" * 64, "record_sha256": _record_digest(record), "record": record}
    if kind == "field":
        entry[draw(st.sampled_from(sorted(entry)))] = draw(json_values)
    if kind == "bytes":
        return kind, draw(st.binary(max_size=200))
    if kind == "value":
        return kind, json.dumps(draw(json_values)).encode()
    return kind, json.dumps(entry).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(planted=cache_entries())
def test_a_cache_entry_is_reused_only_when_it_is_valid_and_bound_to_its_key(tmp_path_factory, planted):
    from runner.results.store import cell_record_problem
    from runner.run.cache import ResultCache

    kind, content = planted
    directory = tmp_path_factory.mktemp("cache")
    os.chmod(directory, 0o755)
    (directory / ("a" * 64 + ".json")).write_bytes(content)
    os.chmod(directory / ("a" * 64 + ".json"), 0o644)
    warnings = []
    got = ResultCache(directory, warn=warnings.append).get("a" * 64, GOOD_RECORD["cell_id"])
    if got is not None:
        assert cell_record_problem(got) is None and got["cell_id"] == GOOD_RECORD["cell_id"]
        assert json.loads(content)["key"] == "a" * 64
    else:
        assert kind != "good" and len(warnings) == 1
