"""Terminal output fits $COLUMNS (#25): `plan` and `report` abbreviate as pytest and tox do (columns the
cell id already spells drop, long values are clipped with an ellipsis, ids keep both ends); into a pipe
with no $COLUMNS nothing is clipped (a log or grep gets whole lines); files written to disk keep everything."""

from pathlib import Path
from typing import List

import pytest

from runner.cli import main
from tests.conftest import ROOT

PUBLISHED = ["reports/results.json", "reports/every-release/results.json", "reports/cross-products/results.json"]


def _lines(text: str) -> List[str]:
    return text.splitlines()


@pytest.fixture
def piped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)


@pytest.mark.parametrize("width", [80, 120])
def test_plan_fits_columns(width: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", str(width))  # honoured into a pipe too, as pytest and tox do
    assert main(["plan", str(ROOT / "matrix.yaml"), "--offline"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in _lines(out)) <= width
    ids = [line.split()[0] for line in _lines(out)[2:82]]
    assert len(ids) == 80 and "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu" in ids  # whole at 80 too
    assert "not shown: keras, python, device" in out and "80 cells (80 in the matrix)" in " ".join(out.split())


@pytest.mark.parametrize("results", PUBLISHED)
@pytest.mark.parametrize("width", [80, 120])
def test_report_fits_columns(width: int, results: str, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["report", str(ROOT / results)]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in _lines(out)) <= width, [line for line in _lines(out) if len(line) > width][:3]
    assert " met, " in out and "cells: " in out  # the verdicts and the counts are still there


def test_report_abbreviates_and_says_what_it_left_out(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["report", str(ROOT / "reports/results.json")]) == 0
    out = capsys.readouterr().out
    assert "(not shown: python, device)" in out
    assert "keras1.0.8-tf1.0.1-theano1.0.5-py27-cpu  ok  default backend: theano" in _lines(out)
    assert "    tensorflow  1.37 s \u00b16%* 97.7%" in out  # the flag abbreviated to '*', the time and accuracy kept


def test_into_a_pipe_without_columns_nothing_is_clipped(piped: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(ROOT / "matrix.yaml"), "--offline"]) == 0
    plan = capsys.readouterr().out
    assert max(len(line) for line in _lines(plan)) > 150 and "\u2026" not in plan
    assert main(["report", str(ROOT / "reports/results.json")]) == 0
    report = capsys.readouterr().out
    assert max(len(line) for line in _lines(report)) > 150 and "\u2026" not in report
    assert "[contended: foreign work 90%]" in report


def test_markdown_written_to_disk_keeps_full_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["report", str(ROOT / "reports/results.json"), "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    summary = (tmp_path / "summary.md").read_text()
    assert max(len(line) for line in _lines(summary)) > 200
    assert "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu" in summary
    assert "contended: host steal" in summary


def test_clipping_helpers() -> None:
    from runner.util.text import elide_middle, fit_table

    assert elide_middle("keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu", 21) == "keras2.3.1\u20262-py27-cpu"
    table = fit_table(["cell", "note"], [["keras2.3.1-tf1.15.0-theano1.0.5-py27-cpu", "x" * 100]], 60)
    assert max(len(line) for line in table.splitlines()) <= 60
    assert table.splitlines()[2].startswith("keras2.3.1-tf1.15.0-theano1.0.5-py27-cpu  xxx")  # the id stays whole
    assert table.endswith("\u2026")
