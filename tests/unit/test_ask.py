"""`keras-matrix ask`: pins validated, records matched by what they installed, one answer per record, and
the published results answering the three kinds of question (a working pair, a conflicting pair, a pair
nobody measured)."""

import copy
import json
from pathlib import Path

import pytest

from runner.cli.ask import guess_era, one_cell_matrix
from runner.cli.main import main
from runner.report.answers import Verdict, answers, load_sources, overall, parse_pin, parse_pins
from runner.util.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
CROSS = ROOT / "reports" / "cross-products" / "results.json"
TEMPLATE = json.loads(CROSS.read_text())


def record(cell_id, versions, installed, status="ok", trainings=None, measure="smoke", conflict=None):
    """A schema-valid record: a published one with the stack and outcome replaced."""
    cell = copy.deepcopy(TEMPLATE["cells"][0])
    cell.update(cell_id=cell_id, versions={k: "==" + v for k, v in versions.items()}, installed=installed,
                status=status, measure=measure, conflict=conflict,
                trainings={name: dict(cell["trainings"]["tensorflow"], status=value)
                           for name, value in (trainings or {}).items()})
    return cell


def write_doc(path, cells):
    doc = {k: v for k, v in TEMPLATE.items() if k != "cells"}
    doc["cells"] = cells
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def fixture_docs(tmp_path):
    sweep = write_doc(tmp_path / "sweep" / "results.json", [
        record("k2.8-tf2.8", {"keras": "2.8.0", "tensorflow": "2.8.4"}, {"keras": "2.8.0", "tensorflow-cpu": "2.8.4"},
               trainings={"tensorflow": "ok"}),
        record("k2.8-tf2.10", {"keras": "2.8.0", "tensorflow": "2.10.1"},
               {"keras": "2.8.0", "tensorflow_cpu": "2.10.1"}, status="train_failed",
               trainings={"tensorflow": "failed"}, conflict="pip check: tensorflow-cpu 2.10.1 has requirement"),
        # asked for 2.9.0, pip installed 2.9.3: the installed set is what was measured
        record("k2.9-tf2.9", {"keras": "2.9.0", "tensorflow": "2.9.0"}, {"keras": "2.9.0", "tensorflow": "2.9.3"},
               trainings={"tensorflow": "ok"}),
        record("k3-tf-jax", {"keras": "3.5.0", "tensorflow": "2.19.1", "jax": "0.6.1"},
               {"keras": "3.5.0", "tensorflow_cpu": "2.19.1", "jax": "0.6.1"}, status="partial",
               trainings={"tensorflow": "ok", "jax": "failed"}),
    ])
    probe = write_doc(tmp_path / "probe" / "results.json", [
        record("k2.8-tf2.8-probe", {"keras": "2.8.0", "tensorflow": "2.8.4"}, {"keras": "2.8.0"}, measure="probe"),
    ])
    (tmp_path / "sweep" / "index.html").write_text("<html></html>")
    return load_sources([sweep, probe])


# ---- pins ---------------------------------------------------------------------------------------------------

def test_a_two_part_pin_means_the_release_line_and_a_full_release_means_itself():
    line = parse_pin("keras==2.8")
    assert str(line.specifier) == "==2.8.*" and line.admits("2.8.0") and line.admits("2.8.2")
    assert not line.admits("2.9.0") and not line.admits("2.80.0")
    exact = parse_pin("keras==2.8.0")
    assert exact.admits("2.8.0") and not exact.admits("2.8.1")
    assert parse_pin("keras>=2.8,<2.10").admits("2.9.0") and not parse_pin("keras!=2.8").admits("2.8.1")


@pytest.mark.parametrize("alias,axis", [("tf==2.10", "tensorflow"), ("tensorflow-cpu==2.10", "tensorflow"),
                                        ("Theano==1.0.5", "theano"), ("pytorch==2.1", "torch")])
def test_pins_name_an_axis_by_its_distribution_or_short_name(alias, axis):
    assert parse_pin(alias).axis == axis


@pytest.mark.parametrize("text,message", [
    ("keras=2.8", "write keras==2.8"), ("keras==banana", "not a requirement"), ("pandas==1.0", "not a library"),
    ("keras", "names no version"), ("keras[tf]==2.8", "no extras"), ("keras==2.8; python_version<'3'", "no extras"),
])
def test_a_bad_pin_is_a_usage_error_with_one_line(text, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        parse_pin(text)


def test_a_library_pinned_twice_or_no_pin_is_refused():
    with pytest.raises(UsageError, match="pinned twice"):
        parse_pins(["keras==2.8", "keras==2.9"])
    with pytest.raises(UsageError, match="at least one pin"):
        parse_pins([])


# ---- matching and verdicts ---------------------------------------------------------------------------------

def test_records_match_on_what_was_installed_and_answers_come_deepest_first(fixture_docs):
    found = answers(fixture_docs, parse_pins(["keras==2.8", "tensorflow==2.8"]))
    assert [a.cell_id for a in found] == ["k2.8-tf2.8", "k2.8-tf2.8-probe"]
    assert [a.verdict for a in found] == [Verdict.WORKS, Verdict.IMPORTS]
    assert overall(found) == "works"  # a probe that imported agrees with a training that worked
    assert found[0].versions == {"keras": "2.8.0", "tensorflow": "2.8.4"}
    assert found[0].link is not None and found[0].link.endswith("index.html#cell-k2.8-tf2.8")
    assert found[1].link is None  # no report page beside that document
    # pip installed 2.9.3 for a 2.9.0 request: a 2.9.3 pin finds it, a 2.9.0 pin does not
    assert [a.cell_id for a in answers(fixture_docs, parse_pins(["tensorflow==2.9.3"]))] == ["k2.9-tf2.9"]
    assert answers(fixture_docs, parse_pins(["tensorflow==2.9.0"])) == []


def test_a_conflicting_pair_does_not_work_and_names_the_conflict(fixture_docs):
    found = answers(fixture_docs, parse_pins(["keras==2.8", "tensorflow==2.10"]))
    assert [(a.cell_id, a.verdict) for a in found] == [("k2.8-tf2.10", Verdict.FAILS)]
    assert found[0].to_dict()["conflict"].startswith("pip check: tensorflow-cpu 2.10.1")


def test_the_verdict_is_about_the_pinned_backend(fixture_docs):
    assert answers(fixture_docs, parse_pins(["keras==3.5", "tensorflow==2.19"]))[0].verdict is Verdict.WORKS
    assert answers(fixture_docs, parse_pins(["keras==3.5", "jax==0.6.1"]))[0].verdict is Verdict.FAILS
    assert answers(fixture_docs, parse_pins(["keras==3.5"]))[0].verdict is Verdict.PARTLY


def test_records_that_disagree_say_it_depends(fixture_docs):
    assert overall(answers(fixture_docs, parse_pins(["keras==2.8"]))) == \
        "depends on the stack: works in 2 of 3 measured stacks"


# ---- the command on fixture documents ------------------------------------------------------------------------

def run_ask(capsys, *args):
    code = main(["ask"] + list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_prints_the_verdict_first_and_exits_zero_even_for_does_not_work(fixture_docs, capsys):
    results = [a for s in fixture_docs for a in ("--results", str(s.path))]
    code, out, _ = run_ask(capsys, "keras==2.8", "tensorflow==2.10", *results)
    assert code == 0
    assert out.splitlines()[0] == "keras==2.8.* tensorflow==2.10.*: does not work"
    assert "keras==2.8.* matched 2.8.0; tensorflow==2.10.* matched 2.10.1" in out
    assert "conflict  pip check: tensorflow-cpu 2.10.1" in out and "cell      k2.8-tf2.10 (sweep, smoke" in out


def test_ask_says_an_unmeasured_pair_is_not_measured_and_how_to_measure_it(fixture_docs, capsys):
    results = [a for s in fixture_docs for a in ("--results", str(s.path))]
    code, out, _ = run_ask(capsys, "keras==2.8", "tensorflow==2.16", *results)
    assert code == 0
    assert out.splitlines()[0] == "keras==2.8.* tensorflow==2.16.*: not measured (no record in sweep, probe)"
    assert "measured tensorflow with keras==2.8.*: 2.8.4, 2.10.1" in out
    assert "keras-matrix ask keras==2.8 tensorflow==2.16 --measure" in out
    code, out, _ = run_ask(capsys, "keras==2.8", "tensorflow==2.16", "--format", "json", *results)
    answer = json.loads(out)
    assert code == 0 and answer["measured"] is False and answer["answers"] == []
    assert answer["neighbours"]["tensorflow"] == ["2.8.4", "2.10.1"]


@pytest.mark.parametrize("args,code,message", [
    (["keras=2.8"], 2, "write keras==2.8"),
    (["keras==2.8", "--results", "/nonexistent/results.json"], 5, "no such results file"),
    (["tensorflow==2.10", "--measure"], 2, "pin keras too"),
])
def test_user_errors_are_one_line_and_no_traceback(capsys, args, code, message):
    got, out, err = run_ask(capsys, *args)
    assert got == code and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---- --measure's one cell --------------------------------------------------------------------------------------

@pytest.mark.parametrize("pins,era", [
    (["keras==2.3.1", "tensorflow==1.15"], "py27"), (["keras==2.1"], "py27"), (["keras==2.8", "tf==2.10"], "py39"),
    (["keras==2.8"], "py39"), (["keras==2.13", "tf==2.13"], "py311"), (["keras==3.5", "jax==0.4.28"], "py311"),
    (["keras==1.2.2", "theano==1.0.5"], "py27"),
])
def test_the_era_follows_the_pins(pins, era):
    assert guess_era(parse_pins(pins)) == era


def test_the_one_cell_matrix_loads_and_expands_to_the_pinned_cell(tmp_path):
    from runner.matrix.load import load_matrix

    path = tmp_path / "ask.yaml"
    path.write_text(one_cell_matrix(parse_pins(["keras==3.15.1", "tensorflow==2.21.0"]), "py311", "probe"))
    matrix = load_matrix(path, offline=True)
    [cell] = matrix.cells
    assert cell.id == "keras3.15.1-tf2.21.0-py311-cpu"  # the e2e matrix's modern cell: its images are shared
    assert cell.measure == "probe" and cell.scenarios is False
    line = tmp_path / "line.yaml"
    line.write_text(one_cell_matrix(parse_pins(["keras==2.8", "tensorflow==2.10"]), "py39", "smoke"))
    assert load_matrix(line, offline=True).cells[0].id == "keras2.8.x-tf2.10.x-py39-cpu"


# ---- the published results -------------------------------------------------------------------------------------

def published(capsys, *pins):
    code, out, err = run_ask(capsys, *pins)
    assert code == 0, err
    return out


def test_published_a_working_pair(capsys):
    out = published(capsys, "keras==3.5", "tensorflow==2.18")
    assert out.splitlines()[0] == "keras==3.5.* tensorflow==2.18.*: works"
    assert "cell      keras3.5.0-tf2.18.1-jax0.5.0-py311-cpu (cross-products, smoke" in out
    assert "default   tensorflow" in out and "conflict  none (pip check clean)" in out
    assert "reports/cross-products/index.html#cell-keras3.5.0-tf2.18.1-jax0.5.0-py311-cpu" in out


def test_published_a_conflicting_pair(capsys):
    out = published(capsys, "keras==2.8", "tensorflow==2.10")
    assert out.splitlines()[0] == "keras==2.8.* tensorflow==2.10.*: does not work"
    assert "cell      keras2.8.0-tf2.10.1-py39-cpu (cross-products, smoke, Python 3.9, cpu)" in out
    assert "conflict  pip check: tensorflow-cpu 2.10.1 has requirement keras<2.11,>=2.10.0, but you have keras 2.8.0" \
        in out
    assert "status    train_failed" in out and "TrackableSaver" in out


def test_published_an_unmeasured_pair(capsys):
    out = published(capsys, "keras==2.8", "tensorflow==2.16")
    assert out.splitlines()[0].startswith("keras==2.8.* tensorflow==2.16.*: not measured (no record in matrix, ")
    assert "measured tensorflow with keras==2.8.*: 2.6.5, 2.7.0, 2.7.4, 2.8.4" in out  # 2.7.0: as released


def test_the_site_link_sets_the_selector_to_the_pair(fixture_docs, tmp_path):
    from runner.report.answer_text import render_text, site_link

    found = answers(fixture_docs, parse_pins(["keras==2.8", "tensorflow==2.10"]))
    page = tmp_path / "site" / "index.html"
    assert site_link(page, found[0]).endswith("site/index.html#keras=2.8.0&with=tensorflow%202.10.1")
    assert site_link(None, found[0]) is None
    text = render_text(parse_pins(["keras==2.8", "tensorflow==2.10"]), found, fixture_docs, site=page)
    assert text.splitlines()[-1].startswith("  site      ") and "#keras=2.8.0&with=tensorflow%202.10.1" in text


# ---- release-day records (as_of) ----------------------------------------------------------------------------

def _as_released(tmp_path, status="ok", trainings=None):
    cell = record("k2.8-tf-asof", {"keras": "2.8.0", "tensorflow": "2.8.0"}, {"keras": "2.8.0", "tensorflow": "2.8.0"},
                  status=status, trainings=trainings or {"tensorflow": "ok"})
    cell["as_of"] = {"cutoff": "2022-02-03T18:54:40Z", "rule": "release", "source": "index 2026-12-03"}
    return write_doc(tmp_path / "as-released" / "results.json", [cell])


def test_a_release_day_record_is_answered_apart_from_todays_verdict(fixture_docs, tmp_path, capsys):
    # today's k2.8 + tf 2.10 does not work; the stack of its release day worked: two answers, never one mixed
    results = [a for s in fixture_docs for a in ("--results", str(s.path))]
    code, out, _ = run_ask(capsys, "keras==2.8", *results, "--results", str(_as_released(tmp_path)))
    lines = out.splitlines()
    assert code == 0 and lines[0] == "keras==2.8.*: depends on the stack: works in 2 of 3 measured stacks"
    assert lines[2] == "  on its release day: works (resolved as of 2022-02-03)"
    cell_line = next(line for line in lines if line.startswith("  cell      k2.8-tf-asof"))
    assert cell_line.startswith("  cell      k2.8-tf-asof (as-released, smoke, Python ")
    assert cell_line.endswith(", cpu, resolved as of 2022-02-03)")


def test_only_release_day_records_say_so_in_the_headline(tmp_path, capsys):
    code, out, _ = run_ask(capsys, "keras==2.8", "--results", str(_as_released(tmp_path)), "--format", "json")
    answer = json.loads(out)
    assert code == 0 and answer["verdict"] == "works" and answer["verdict_as_released"] == "works"
    assert answer["answers"][0]["as_of"] == "2022-02-03"
    code, out, _ = run_ask(capsys, "keras==2.8", "--results", str(_as_released(tmp_path, "import_failed", {})))
    assert out.splitlines()[0] == ("keras==2.8.*: does not work on its release day (resolved as of 2022-02-03; "
                                   "not measured with today's releases)")


def test_published_keras_2_2_0_today_and_on_its_release_day(capsys):
    # reports/as-released: Keras 2.2.0 imported with the TensorFlow of its day; today's sweep: import_failed
    out = published(capsys, "keras==2.2.0")
    assert out.splitlines()[0] == "keras==2.2.0: does not work"
    assert "  on its release day: imports (not trained) (resolved as of 2018-06-06)" in out.splitlines()


def test_the_release_day_sweep_is_read_by_ask_and_not_by_the_sites_tables():
    # the site's default-backend table and rules are about today's installs: a release-day record there
    # turned Keras 2.2.0-2.2.2's AttributeError into 'tensorflow' (2026-12-03)
    from runner.report.answers import published_paths

    assert not any("as-released" in str(p) for p in published_paths(ROOT))
    assert any("as-released" in str(p) for p in published_paths(ROOT, release_day=True))
    site = (ROOT / "reports" / "site" / "index.html").read_text()
    assert "asof" not in site and "as released</a>: linked, not read by this page" in site
