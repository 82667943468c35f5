"""Hostile state (issue 29): the results cache (class 5), concurrent runs (class 6), $GITHUB_STEP_SUMMARY
(class 7) and terminal control characters in what the CLI prints (class 9).

5. A cache entry is reused only when it is ours, bound to its key and its record's sha256, and its record
   satisfies the results schema; anything else is a miss (measured again), said once per run.
6. A run directory is created exclusively and locked: a second run gets its own or a clear refusal.
7. $GITHUB_STEP_SUMMARY is an output path like any other: a regular file, else a warning, never a hang.
9. Every line the CLI writes is neutralised (ESC, OSC, CR, C1, bidi), not only tables.
"""

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import threading
import time

import pytest

from runner.cli.common import append_job_summary, print_summary
from runner.matrix.load import load_matrix
from runner.results.store import RunDirectory, load_results, results_json, validate_results
from runner.run.cache import KEY_VERSION, ResultCache, _record_digest
from runner.run.loop import run_matrix
from runner.run.progress import Progress
from runner.util.errors import UsageError
from runner.util.text import say, terminal_text
from tests.fakes import FakeEngine
from tests.unit.test_hostile import FIXTURE, invoke, snapshot

RECORD = json.loads(FIXTURE.read_text())["cells"][0]
CELL = RECORD["cell_id"]
KEY = "a" * 64
CONTROLS = ["\x1b[31m", "\x1b]0;owned\x07", "\r", "\u202e", "\x9b", "\u2066", "\x00"]


# ---- class 5: the results cache -----------------------------------------------------------------------------

@pytest.fixture
def cache(tmp_path):
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    warnings = []
    return ResultCache(directory, warn=warnings.append), warnings


def entry(record=None, key=KEY, digest=None):
    record = dict(RECORD) if record is None else record
    return {"cache_entry": KEY_VERSION, "key": key,
            "record_sha256": digest if digest is not None else _record_digest(record), "record": record}


def plant(cache, content, key=KEY, mode=0o644):
    path = cache.directory / ("%s.json" % key)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    os.chmod(path, mode)
    return path


def deep(levels):
    return "[" * levels + "]" * levels


BAD_ENTRIES = [
    ("just-id-and-status", {"cell_id": CELL, "status": "ok"}),
    ("bare-record", RECORD),  # the old format: a record with no key or digest
    ("wrong-key", entry(key="b" * 64)),
    ("wrong-digest", entry(digest="0" * 64)),
    ("no-digest", {k: v for k, v in entry().items() if k != "record_sha256"}),
    ("old-version", dict(entry(), cache_entry=2)),
    ("status-a-number", entry(dict(RECORD, status=1))),
    ("cell-id-a-list", entry(dict(RECORD, cell_id=[CELL]))),
    ("trainings-a-string", entry(dict(RECORD, trainings="ok"))),
    ("other-cell", entry(dict(RECORD, cell_id="keras9.9.9-py311-cpu"))),
    ("not-reproducible", entry(dict(RECORD, status="error"))),
    ("unknown-status", entry(dict(RECORD, status="pwned"))),
    ("record-null", entry(None) | {"record": None, "record_sha256": _record_digest(None)}),
    ("a-list", [entry()]),
    ("a-string", json.dumps("ok")),
    ("deep-record", '{"cache_entry": 3, "key": "%s", "record": %s}' % (KEY, deep(100000))),
    ("deep-top", deep(100000)),
    ("nan", json.dumps(entry()).replace('"key"', '"x": NaN, "key"', 1)),
    ("overflow", json.dumps(entry()).replace('"key"', '"x": 1e999, "key"', 1)),
    ("huge-int", json.dumps(entry()).replace('"key"', '"x": %s, "key"' % ("9" * 5000), 1)),
    ("duplicate-key", json.dumps(entry()).replace('"key"', '"key": "x", "key"', 1)),
    ("not-utf8", b"\xff\xfe{}"),
    ("empty", ""),
    ("truncated", json.dumps(entry())[:100]),
    ("controls-in-reason", entry(dict(RECORD, status="error", reason="\x1b]0;x\x07"))),
]


@pytest.mark.parametrize("name,content", BAD_ENTRIES, ids=[b[0] for b in BAD_ENTRIES])
def test_a_bad_cache_entry_is_a_miss_said_once(cache, name, content):
    results, warnings = cache
    plant(results, content)
    assert results.get(KEY, CELL) is None
    assert len(warnings) == 1 and "ignored (measured again)" in warnings[0]
    assert "\x1b" not in warnings[0]


def test_a_good_entry_round_trips_and_a_copy_under_another_key_does_not(cache):
    results, warnings = cache
    assert results.put(KEY, dict(RECORD))
    assert results.get(KEY, CELL) == RECORD and warnings == []
    planted = (results.directory / ("%s.json" % KEY)).read_text()
    plant(results, planted, key="c" * 64)  # an entry copied (or renamed) onto another key
    assert results.get("c" * 64, CELL) is None and len(warnings) == 1


def test_a_record_the_schema_refuses_is_never_written(cache):
    results, _ = cache
    assert not results.put(KEY, {"cell_id": CELL, "status": "ok"})
    assert not (results.directory / ("%s.json" % KEY)).exists()


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "group-writable", "world-writable",
                                  "directory-world-writable", "dev-zero-link", "too-big"])
def test_an_entry_that_is_not_a_private_regular_file_is_a_miss(cache, tmp_path, kind):
    results, warnings = cache
    path = results.directory / ("%s.json" % KEY)
    good = json.dumps(entry())
    if kind == "symlink":  # a planted link, even to a valid entry (a symlinked cache directory's trick)
        (tmp_path / "elsewhere.json").write_text(good)
        os.symlink(tmp_path / "elsewhere.json", path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "group-writable":
        plant(results, good, mode=0o664)
    elif kind == "world-writable":
        plant(results, good, mode=0o646)
    elif kind == "directory-world-writable":
        plant(results, good)
        os.chmod(results.directory, 0o777)
    elif kind == "dev-zero-link":
        os.symlink("/dev/zero", path)
    elif kind == "too-big":
        with open(path, "wb") as handle:
            handle.truncate(300 << 20)
        os.chmod(path, 0o644)
    started = time.monotonic()
    assert results.get(KEY, CELL) is None
    assert time.monotonic() - started < 2
    assert len(warnings) == 1


def test_a_symlinked_cache_directory_is_judged_by_the_directory_it_points_at(tmp_path):
    shared = tmp_path / "shared"  # a directory anyone may write, e.g. under /tmp
    shared.mkdir()
    os.chmod(shared, 0o777)
    os.symlink(shared, tmp_path / "cache")
    warnings = []
    results = ResultCache(tmp_path / "cache", warn=warnings.append)
    plant(results, entry())  # well-formed and bound to its key: only the place is wrong
    assert results.get(KEY, CELL) is None and "writable by other users" in warnings[0]
    os.chmod(shared, 0o755)  # a private directory behind the link is fine
    assert ResultCache(tmp_path / "cache").get(KEY, CELL) == RECORD


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to plant a file owned by another user")
def test_an_entry_owned_by_another_user_is_a_miss(cache):
    results, warnings = cache
    path = plant(results, entry())
    os.chown(path, 12345, 12345)
    assert results.get(KEY, CELL) is None and "another user" in warnings[0]


def test_an_entry_too_deep_for_the_encoder_is_a_miss_too(cache, monkeypatch):
    import runner.run.cache

    results, warnings = cache
    plant(results, entry(dict(RECORD, extra=json.loads("[" * 400 + "]" * 400))))

    def too_deep(record):
        raise RecursionError("maximum recursion depth exceeded")
    monkeypatch.setattr(runner.run.cache, "_record_digest", too_deep)  # a deeper caller's stack than here
    assert results.get(KEY, CELL) is None and "recursion" in warnings[0]


def test_many_bad_entries_are_reported_once(cache):
    results, warnings = cache
    for index in range(5):
        plant(results, {"cell_id": CELL, "status": "ok"}, key="%064d" % index)
        assert results.get("%064d" % index, CELL) is None
    assert len(warnings) == 1 and results.bad_entries == 5


def test_a_planted_minimal_entry_is_measured_again_and_the_results_stay_valid(fake_run):
    """Before: {cell_id, status: ok} under the right key was reused, and the run's results.json failed the
    schema; a planted record was published as measured ok (cached: true)."""
    matrix, data, options = fake_run
    run_matrix(matrix, matrix.cells, FakeEngine(), data, options)
    entries = sorted((options.cache_dir / "results").glob("*.json"))
    assert entries
    for path in entries:
        cell_id = json.loads(path.read_text())["record"]["cell_id"]
        path.write_text(json.dumps({"cell_id": cell_id, "status": "ok"}))
    engine = FakeEngine()
    doc = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, run_id="again"))
    assert not any(c.get("cached") for c in doc["cells"]) and engine.builds
    validate_results(json.loads((options.results_dir / "again" / "results.json").read_text()))


# ---- class 6: concurrent runs ------------------------------------------------------------------------------

def test_a_given_run_id_is_created_exclusively(tmp_path):
    with RunDirectory(tmp_path, "night") as first:
        assert first.path == tmp_path / "night"
        with pytest.raises(UsageError, match="already exists"):
            RunDirectory(tmp_path, "night")


def test_a_chosen_run_id_that_is_taken_gets_the_next_free_name(tmp_path):
    with RunDirectory(tmp_path, "20260101T000000Z", unique=True) as first, \
            RunDirectory(tmp_path, "20260101T000000Z", unique=True) as second, \
            RunDirectory(tmp_path, "20260101T000000Z", unique=True) as third:
        assert [first.run_id, second.run_id, third.run_id] == ["20260101T000000Z", "20260101T000000Z-2",
                                                               "20260101T000000Z-3"]


def test_a_run_being_written_cannot_be_resumed_by_another_until_it_ends(tmp_path):
    first = RunDirectory(tmp_path, "night")
    with pytest.raises(UsageError, match="being written by another process"):
        RunDirectory(tmp_path, "night", resume=True)
    first.close()
    with RunDirectory(tmp_path, "night", resume=True) as resumed:
        assert resumed.path == tmp_path / "night"


@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_a_resumed_run_directory_must_be_a_directory(tmp_path, kind):
    (tmp_path / "target").mkdir()
    if kind == "symlink":
        os.symlink(tmp_path / "target", tmp_path / "night")
    else:
        (tmp_path / "night").write_text("x")
    with pytest.raises(UsageError):
        RunDirectory(tmp_path, "night", resume=True)


def test_many_runs_started_together_each_get_a_directory_of_their_own(tmp_path):
    barrier = threading.Barrier(8)
    claimed, errors = [], []

    def claim():
        barrier.wait()
        try:
            claimed.append(RunDirectory(tmp_path, "20260101T000000Z", unique=True))
        except Exception as exc:  # pragma: no cover - the failure the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len({c.path for c in claimed}) == 8
    for directory in claimed:
        directory.close()


def test_two_runs_without_a_run_id_in_one_second_write_two_directories(fake_run, monkeypatch):
    matrix, data, options = fake_run
    monkeypatch.setattr(time, "strftime", lambda *args: "20260101T000000Z")
    chosen = dataclasses.replace(options, run_id=None, unique_run_id=True)
    first = run_matrix(matrix, matrix.cells[:1], FakeEngine(), data, chosen)
    second = run_matrix(matrix, matrix.cells[:1], FakeEngine(), data, chosen)
    assert (first["run_id"], second["run_id"]) == ("20260101T000000Z", "20260101T000000Z-2")
    assert load_results(options.results_dir / "20260101T000000Z-2")["run_id"] == "20260101T000000Z-2"


def test_a_run_whose_directory_appeared_after_the_check_is_refused(fake_run):
    matrix, data, options = fake_run
    (options.results_dir / "t").mkdir(parents=True)  # another run took it between check_run_dir and the run
    with pytest.raises(UsageError, match="already exists"):
        run_matrix(matrix, matrix.cells[:1], FakeEngine(), data, options)
    assert list((options.results_dir / "t").iterdir()) == []


def _bisect_inputs(fake_run):
    """(matrix, template cell, Keras 1.0.0..1.0.3 from the kept list, data, options) for a fake-engine bisect."""
    from runner.bisect import template_of
    from runner.matrix.releases import Resolver
    from runner.matrix.selection import select
    from tests.unit.test_bisect import MATRIX as BISECT_MATRIX

    _, data, options = fake_run
    path = options.results_dir.parent / "b.yaml"
    path.write_text(BISECT_MATRIX)
    matrix = load_matrix(path)
    template = template_of(select(matrix, ["keras1.0.8-*-cpu"]), "keras")
    return matrix, template, Resolver(offline=True).between("keras", "1.0.0", "1.0.3"), data, options


def test_two_bisects_started_together_get_a_directory_each(fake_run, monkeypatch):
    from runner.bisect import run_bisect

    matrix, template, expansion, data, options = _bisect_inputs(fake_run)
    monkeypatch.setattr(time, "strftime", lambda *args: "20260101T000000Z")
    lines = []
    for _ in range(2):
        run_bisect(matrix, template, "keras", expansion, "default_backend", FakeEngine(), data,
                   dataclasses.replace(options, run_id=None), "probe", out=lines.append)
    names = sorted(p.name for p in options.results_dir.iterdir())
    assert names == ["bisect-keras-20260101T000000Z", "bisect-keras-20260101T000000Z-2"]
    for name in names:
        assert json.loads((options.results_dir / name / "bisect.json").read_text())["cells_measured"] >= 2


# ---- class 7: $GITHUB_STEP_SUMMARY -----------------------------------------------------------------------

def summary_target(world, kind):
    path = world / "out" / "summary.md"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "missing-parent":
        path = world / "out" / "no" / "such" / "summary.md"
    elif kind == "symlink":
        os.symlink(world / "outside" / "victim.txt", path)
    elif kind == "dev-null-link":
        os.symlink("/dev/null", path)
    elif kind == "regular":
        path.write_text("before\n")
    return path


@pytest.mark.parametrize("kind,warning", [("fifo", "not a regular file"), ("directory", "Is a directory"),
                                          ("missing-parent", "No such file"), ("symlink", "symbolic link"),
                                          ("dev-null-link", "symbolic link"), ("regular", None),
                                          ("absent", None)])
def test_the_job_summary_is_a_regular_file_or_a_warning(world, capsys, monkeypatch, kind, warning):
    """Before: a FIFO hung `report -o`; a directory or a missing parent was an internal error."""
    path = summary_target(world, kind)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    before = snapshot(world, "out")
    started = time.monotonic()
    assert invoke(["report", "in/run.json", "-o", "out/r"]) == 0  # the reports are written either way
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    assert (world / "out" / "r" / "index.html").is_file()
    if warning:
        assert "warning: $GITHUB_STEP_SUMMARY" in err and warning in err
    else:
        assert "| " in path.read_text() and "warning" not in err
    if kind == "regular":
        assert path.read_text().startswith("before\n")
    assert snapshot(world, "out") == before
    assert (world / "outside" / "victim.txt").read_text() == "precious\n"


def test_a_fifo_with_a_reader_is_refused_too(tmp_path, capsys):
    path = tmp_path / "summary"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        append_job_summary(str(path), "x\n")
    finally:
        os.close(reader)
    assert "not a regular file" in capsys.readouterr().err


# ---- class 9: terminal controls at every terminal write -------------------------------------------------------

@pytest.mark.parametrize("control", CONTROLS)
def test_terminal_text_keeps_lines_and_drops_controls(control):
    shown = terminal_text("a%sb\nc\td" % control)
    assert control not in shown and "\nc\td" in shown and shown.startswith("a")


def hostile_results(world, control, mutate=None):
    doc = json.loads(FIXTURE.read_text())
    doc["run_id"] = "run%sid" % control
    if mutate:
        mutate(doc)
    (world / "in" / "x.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("control", CONTROLS[:5])
def test_merge_errors_never_print_a_raw_run_id(world, capsys, control):
    """Before: merge/report errors embedded the run id raw (ESC, OSC, CR, bidi)."""
    hostile_results(world, control)
    assert invoke(["merge", "in/x.json", "in/x.json", "-o", "out/m.json"]) == 5
    err = capsys.readouterr().err
    assert err.startswith("error: ") and control not in err and "\x1b" not in err


@pytest.mark.parametrize("control", CONTROLS[:5])
def test_every_error_line_is_neutralised(world, capsys, monkeypatch, control):
    import runner.cli.plan

    def hostile(args):
        raise UsageError("bad value %s here" % control)
    monkeypatch.setattr(runner.cli.plan, "command", hostile)
    assert invoke(["plan", "in/m.yaml"]) == 2
    err = capsys.readouterr().err
    assert control not in err and "bad value" in err


@pytest.mark.parametrize("control", CONTROLS[:5])
def test_the_expectation_summary_prints_recorded_values_neutralised(control):
    """Before: the UNEXPECTED ... lines printed recorded statuses raw."""
    doc = json.loads(FIXTURE.read_text())
    cell = doc["cells"][0]
    cell["status"] = "build_failed"
    cell["expectation"] = {"status": "import_%sfailed" % control, "trainings": {"theano%s" % control: "failed"},
                           "reason": "r%s" % control}
    cell.pop("expectation_verdict", None)
    stream = io.StringIO()
    print_summary(doc, stream)
    out = stream.getvalue()
    assert "UNEXPECTED" in out and control not in out


@pytest.mark.parametrize("control", CONTROLS[:5])
def test_the_progress_log_prints_a_cached_reason_neutralised(control):
    stream = io.StringIO()
    progress = Progress("human", 1, stream=stream, live=False)
    progress.cell_done(1, "c%s" % control, {"status": "error", "cached": True, "reason": "boom%s" % control})
    assert control not in stream.getvalue() and "boom" in stream.getvalue()


@pytest.mark.parametrize("control", CONTROLS[:5])
def test_bisect_prints_a_recorded_default_backend_neutralised(fake_run, capsys, control):
    from runner.bisect import run_bisect

    matrix, template, expansion, data, options = _bisect_inputs(fake_run)
    engine = FakeEngine(default_backend_change=("1.0.2", "theano", "tensor%sflow" % control))
    run_bisect(matrix, template, "keras", expansion, "default_backend", engine, data, options, "probe")
    out = capsys.readouterr().out
    assert "tensor" in out and control not in out


def test_say_writes_to_the_stream_it_is_given():
    stream = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        say("x\x1b[2Jy", stream)
        say("plain")
    assert stream.getvalue() == "x [2Jy\n" and stdout.getvalue() == "plain\n"


def test_results_json_is_what_the_cache_digests():
    assert _record_digest(RECORD) == hashlib.sha256(results_json(RECORD).encode()).hexdigest()
