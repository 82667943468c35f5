"""Expectations, as pytest's xfail: what the matrix declares (expect:), the verdict each record gets, and
what `run` and `report` exit with: 0 only when every measured cell met its expectation."""

import json
from pathlib import Path

import pytest

from runner import cli
from runner.matrix.load import load_matrix
from runner.model.outcomes import expectation_summary, expectation_verdict
from runner.results.store import validate_results
from runner.run.mnist import MnistData
from runner.util.errors import MatrixError
from tests.fakes import FakeEngine

GOOD = "keras2.3.1-tf1.15.0-theano1.0.5-py27-cpu"
BROKEN = "keras2.1.6-theano1.0.5-py27-cpu"  # the fake's build fails (apt cannot find python2.7)
HALF = "keras2.2.5-tf1.14.0-theano1.0.5-py27-cpu"  # the fake's Theano training fails, TensorFlow trains

BROKEN_EXPECT = '{status: build_failed, reason: "the fake engine fails this build"}'


def matrix_text(broken_expect=BROKEN_EXPECT, good_expect=None, half_expect=None):
    def cell(name, fields, expect):
        return "  - {name: %s, era: py27, %s%s}\n" % (name, fields, (", expect: %s" % expect) if expect else "")
    return "version: 1\ncells:\n" + cell("good", 'keras: "2.3.1", tensorflow: "1.15.0", theano: "1.0.5"',
                                         good_expect) \
        + cell("broken", 'keras: "2.1.6", theano: "1.0.5"', broken_expect) \
        + cell("half", 'keras: "2.2.5", tensorflow: "1.14.0", theano: "1.0.5"', half_expect)


def ok(backend):
    return {"status": "ok", "stage": "evaluate"}


def failed(stage="train"):
    return {"status": "failed", "stage": stage}


# --------------------------------------------------------------------------------------------------
# The verdict


@pytest.mark.parametrize("expectation, status, trainings, verdict", [
    (None, "ok", {"tensorflow": ok("tensorflow")}, "met"),
    ({"status": "ok"}, "partial", {"tensorflow": ok("tensorflow"), "theano": failed()}, "unexpected_failure"),
    ({"status": "import_failed", "reason": "r"}, "import_failed", {}, "expected_failure"),
    ({"status": "import_failed", "reason": "r"}, "ok", {"tensorflow": ok("tensorflow")}, "unexpected_pass"),
    ({"status": "import_failed", "reason": "r"}, "build_failed", {}, "unexpected_failure"),
    # Per-backend: the named backend fails as declared, the others train.
    ({"trainings": {"theano": "failed"}, "reason": "r"}, "partial",
     {"tensorflow": ok("tensorflow"), "theano": failed()}, "expected_failure"),
    ({"trainings": {"theano": "failed"}, "reason": "r"}, "train_failed",
     {"tensorflow": failed(), "theano": failed()}, "unexpected_failure"),
    ({"trainings": {"theano": "failed"}, "reason": "r"}, "ok",
     {"tensorflow": ok("tensorflow"), "theano": ok("theano")}, "unexpected_pass"),
    ({"trainings": {"theano": "failed"}, "reason": "r"}, "build_failed", {}, "unexpected_failure"),
    # Skipped (no GPU runtime): not measured, so neither met nor failed.
    (None, "skipped", {}, None),
    ({"status": "import_failed", "reason": "r"}, "skipped", {}, None),
])
def test_verdicts_follow_pytest_xfail_strict(expectation, status, trainings, verdict):
    got = expectation_verdict(expectation, status, trainings)
    assert (got.value if got else None) == verdict


def test_summary_counts_then_lists_unexpected_passes_and_failures_last():
    cells = [
        {"cell_id": "a", "status": "ok", "reason": None, "trainings": {}, "expectation": None},
        {"cell_id": "b", "status": "import_failed", "reason": "ImportError: x", "trainings": {},
         "expectation": {"status": "import_failed", "reason": "known"}},
        {"cell_id": "c", "status": "build_failed", "reason": "pip: no wheel", "trainings": {}, "expectation": None},
        {"cell_id": "d", "status": "ok", "reason": None, "trainings": {},
         "expectation": {"status": "import_failed", "reason": "TF pulls keras-nightly"}},
        {"cell_id": "e", "status": "skipped", "reason": "no GPU", "trainings": {}, "expectation": None},
    ]
    lines, all_met = expectation_summary(cells)
    assert not all_met
    assert lines[0] == "== 1 met, 1 expected failure, 1 unexpected failure, 1 unexpected pass, 1 skipped =="
    assert lines[1:] == [
        "UNEXPECTED PASS d: ok, but the matrix expects import_failed (TF pulls keras-nightly); update its expect entry",
        "UNEXPECTED FAILURE c: build_failed (expected ok): pip: no wheel",
    ]
    assert expectation_summary(cells[:2] + cells[4:]) == (
        ["== 1 met, 1 expected failure, 0 unexpected failures, 0 unexpected passes, 1 skipped =="], True)


# --------------------------------------------------------------------------------------------------
# The matrix


def load(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return {cell.id: cell for cell in load_matrix(path).cells}


def test_group_expectation_applies_to_its_cells_and_an_include_entry_overrides_it(tmp_path):
    cells = load(tmp_path, """
version: 1
groups:
  - name: g
    expect: {status: import_failed, reason: "group-wide"}
    matrix:
      era: py27
      keras: ["2.2.5", "2.3.1"]
      theano: "1.0.5"
      include:
        - {keras: "2.3.1", expect: {trainings: {theano: failed}, reason: "only Theano"}}
""")
    assert cells["keras2.2.5-theano1.0.5-py27-cpu"].expect.status == "import_failed"
    assert cells["keras2.2.5-theano1.0.5-py27-cpu"].expect.reason == "group-wide"
    include = cells["keras2.3.1-theano1.0.5-py27-cpu"].expect
    assert include.status is None and include.trainings == (("theano", "failed"),)
    assert include.to_record() == {"status": None, "trainings": {"theano": "failed"}, "reason": "only Theano"}


def test_a_cell_without_expect_has_none(tmp_path):
    assert load(tmp_path, matrix_text(broken_expect=None))[BROKEN].expect is None


@pytest.mark.parametrize("expect, message", [
    ("{status: build_failed}", "expects build_failed but gives no reason"),
    ("{trainings: {theano: failed}}", "expects failed trainings but gives no reason"),
    ("{trainings: {tensorflow: failed}, reason: r}", "names tensorflow, which this cell does not install"),
    ("{status: ok, trainings: {theano: failed}, reason: r}", "expects status ok but theano to fail"),
    ("{status: broken, reason: r}", "'broken' is not one of"),
    ("{status: skipped, reason: r}", "'skipped' is not one of"),
    ("{status: build_failed, reason: r, why: x}", "unknown key 'why'"),
    ("{status: build_failed, reason: ''}", "should be non-empty"),
    ("{status: any}", "expects any but gives no reason"),
    ("{status: any, trainings: {theano: failed}, reason: r}", "any leaves every outcome open"),
])
def test_bad_expectations_are_refused_with_file_line_and_key(tmp_path, expect, message):
    with pytest.raises(MatrixError) as error:
        load(tmp_path, matrix_text(broken_expect=expect))
    assert message in str(error.value) and "m.yaml:4" in str(error.value), str(error.value)


# --------------------------------------------------------------------------------------------------
# `run` and `report` through the command line, with the fake engine


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    """Runs `keras-matrix run` on a matrix text with the fake engine; -> (exit code, stdout, results doc)."""
    import runner.engine.docker
    import runner.run.mnist

    class ConnectedFake(FakeEngine):
        def connect(self):
            return self

    data_file = tmp_path / "data" / "mnist.npz"
    data_file.parent.mkdir()
    data_file.write_bytes(b"fake")
    monkeypatch.setattr(runner.engine.docker, "DockerEngine", ConnectedFake)
    monkeypatch.setattr(runner.run.mnist, "prepare_mnist",
                        lambda directory, log: MnistData(path=data_file, sha256="x", source="cache"))
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)

    def run(text, run_id, capsys, *extra):
        matrix = tmp_path / ("%s.yaml" % run_id)
        matrix.write_text(text)
        code = cli.main(["run", str(matrix), "--results-dir", str(tmp_path / "results"), "--run-id", run_id,
                         "--cache-dir", str(tmp_path / "cache"), "--dockerfiles-dir", str(tmp_path / "df"),
                         "--progress", "quiet", *extra])
        out = capsys.readouterr().out
        path = tmp_path / "results" / run_id / "results.json"
        return code, out, validate_results(json.loads(path.read_text())), path
    return run


def test_a_declared_broken_cell_exits_zero_and_without_its_expectation_exits_one_naming_it(fake_run, capsys):
    half = '{trainings: {theano: failed}, reason: "the fake Theano training fails"}'
    code, out, doc, _ = fake_run(matrix_text(half_expect=half), "declared", capsys)
    verdicts = {c["cell_id"]: c["expectation_verdict"] for c in doc["cells"]}
    assert code == 0, out
    assert verdicts == {GOOD: "met", BROKEN: "expected_failure", HALF: "expected_failure"}
    assert "== 1 met, 2 expected failures, 0 unexpected failures, 0 unexpected passes, 0 skipped ==" in out
    assert "UNEXPECTED" not in out

    code, out, doc, _ = fake_run(matrix_text(broken_expect=None, half_expect=half), "undeclared", capsys, "--rerun")
    assert code == 1
    assert out.rstrip().splitlines()[-1] == (
        "UNEXPECTED FAILURE %s: build_failed (expected ok): docker build failed (see the log)" % BROKEN)
    broken = [c for c in doc["cells"] if c["cell_id"] == BROKEN][0]
    assert broken["expectation"] == {"status": "ok", "trainings": None, "reason": None}
    assert broken["expectation_verdict"] == "unexpected_failure"


def test_a_sweep_that_declares_no_outcome_records_each_as_observed_and_exits_zero(fake_run, capsys, tmp_path):
    """expect: {status: any} (cross products, release sweeps): every outcome is a finding, none fails the run,
    and JUnit shows the failures as skipped with the outcome, not as red tests."""
    sweep = '{status: any, reason: "a cross product explores"}'
    code, out, doc, path = fake_run(matrix_text(broken_expect=sweep, good_expect=sweep, half_expect=sweep),
                                    "sweep", capsys)
    assert code == 0, out
    assert {c["expectation_verdict"] for c in doc["cells"]} == {"observed"}
    assert "== 0 met, 0 expected failures, 0 unexpected failures, 0 unexpected passes, 0 skipped, 3 observed ==" in out
    assert "UNEXPECTED" not in out
    junit = (path.parent / "report" / "junit.xml").read_text()
    assert "observed, no outcome declared (a cross product explores): build_failed" in junit
    assert "<failure" not in junit


def test_a_cell_declared_broken_that_works_is_an_unexpected_pass(fake_run, capsys):
    code, out, _, _ = fake_run(matrix_text(good_expect='{status: import_failed, reason: "was broken"}',
                                           half_expect='{status: partial, reason: "Theano fails"}'), "xpass", capsys)
    assert code == 1
    assert out.rstrip().splitlines()[-1].startswith("UNEXPECTED PASS %s: ok, but the matrix expects import_failed"
                                                    % GOOD)


def test_cached_records_are_judged_by_the_current_matrix(fake_run, capsys):
    half = '{status: partial, reason: "Theano fails"}'
    assert fake_run(matrix_text(half_expect=half), "first", capsys)[0] == 0
    code, out, doc, _ = fake_run(matrix_text(half_expect=None), "second", capsys)  # same cells: cache hits
    half_record = [c for c in doc["cells"] if c["cell_id"] == HALF][0]
    assert half_record["cached"] is True and half_record["expectation_verdict"] == "unexpected_failure"
    assert code == 1 and ("UNEXPECTED FAILURE %s: partial" % HALF) in out


def test_report_prints_the_summary_and_strict_fails_on_unexpected_outcomes(fake_run, capsys):
    _, _, _, results = fake_run(matrix_text(), "r", capsys)  # half is not declared: an unexpected failure
    assert cli.main(["report", str(results)]) == 0
    out = capsys.readouterr().out
    assert "== 1 met, 1 expected failure, 1 unexpected failure, 0 unexpected passes, 0 skipped ==" in out
    assert cli.main(["report", str(results), "--strict"]) == 1
    assert "UNEXPECTED FAILURE %s: partial" % HALF in capsys.readouterr().out
    # Markdown stays one document on stdout; the verdicts go to stderr.
    assert cli.main(["report", str(results), "--format", "markdown"]) == 0
    captured = capsys.readouterr()
    assert "UNEXPECTED" not in captured.out and "UNEXPECTED FAILURE" in captured.err


def test_report_of_results_without_verdicts_judges_them_against_ok(tmp_path, capsys):
    # The published run as an older runner wrote it: no expectation and no verdict in any record.
    published = Path(__file__).resolve().parents[2] / "reports" / "results.json"
    doc = json.loads(published.read_text(encoding="utf-8"))
    for record in doc["cells"]:
        record.pop("expectation", None)
        record.pop("expectation_verdict", None)
    bare = tmp_path / "results.json"
    bare.write_text(json.dumps(doc), encoding="utf-8")
    assert cli.main(["report", str(bare)]) == 0
    out = capsys.readouterr().out
    assert "5 unexpected failures" in out and "UNEXPECTED FAILURE keras2.4.3-tf2.5.3-py39-cpu: import_failed" in out


def test_the_shipped_matrix_declares_every_failure_of_the_published_run(capsys):
    root = Path(__file__).resolve().parents[2]
    assert cli.main(["report", str(root / "reports" / "results.json"), "--matrix", str(root / "matrix.yaml"),
                     "--strict"]) == 0
    out = capsys.readouterr().out
    assert "== 41 met, 5 expected failures, 0 unexpected failures, 0 unexpected passes, 34 skipped ==" in out


def test_a_resumed_run_judges_the_cells_it_keeps_by_the_current_matrix(fake_run, capsys):
    half = '{status: partial, reason: "Theano fails"}'
    assert fake_run(matrix_text(half_expect=half), "resumed", capsys)[0] == 0
    code, out, doc, _ = fake_run(matrix_text(half_expect=None), "resumed", capsys, "--resume")
    half_record = [c for c in doc["cells"] if c["cell_id"] == HALF][0]
    assert half_record["expectation"]["status"] == "ok" and half_record["expectation_verdict"] == "unexpected_failure"
    assert code == 1 and ("UNEXPECTED FAILURE %s: partial" % HALF) in out
