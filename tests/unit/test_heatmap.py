"""The compatibility heatmaps (runner/report/heatmap.py) as the page draws them: what a mark says of its cell,
and that the page's search filters the marks like every other view of a cell."""

import re

from runner.report import render_html
from runner.report.heatmap import OUTCOMES, outcome
from tests.unit.test_report import minimal_cell, minimal_doc


def probe_cell(keras, tf, **extra):
    return minimal_cell("keras%s-tf%s-py39-cpu" % (keras, tf), python="3.9", measure="probe",
                        versions={"keras": "==" + keras, "tensorflow": "==" + tf}, **extra)


def test_a_build_that_ran_past_its_time_limit_is_a_build_failure_not_a_training_failure():
    # Keras 2.4.0 + TF 2.5.3 on the every-release sweep: pip backtracked until the build's time limit.
    timed_out = probe_cell("2.4.0", "2.5.3", status="timeout", default_backend=None, build={"status": "timeout"},
                           reason="the build ran past its time limit while pip was backtracking through tensorflow")
    assert outcome(timed_out) == outcome(timed_out, "tensorflow") == "install"
    assert outcome(probe_cell("2.4.0", "2.5.3", status="timeout", build={"status": "failed"})) == "install"
    # a cell whose build finished and that timed out later is not an install failure
    assert outcome(probe_cell("2.4.0", "2.5.3", status="timeout", build={"status": "built"})) == "training"
    page = render_html(minimal_doc(timed_out, probe_cell("2.4.0", "2.6.0")))
    label, mark = next((label, mark) for key, label, mark in OUTCOMES if key == "install")
    assert "build" in label  # the legend names what the mark means
    assert re.search(r'<a class="hm hm-install" href="#cell-keras2.4.0-tf2.5.3-py39-cpu"[^>]*>%s</a>' % mark, page)


def test_heatmap_marks_carry_the_search_text_the_search_box_filters_on():
    cells = [probe_cell("2.%d.0" % k, "2.%d.0" % t) for k in (6, 7) for t in (6, 7)]
    page = render_html(minimal_doc(*cells))
    marks = re.findall(r'<a class="hm [^"]*"[^>]*>', page)
    assert len(marks) == 4
    for tag in marks:
        cell_id = re.search(r'data-km-cell="([^"]*)"', tag).group(1)
        search = re.search(r'data-search="([^"]*)"', tag)
        assert search, "a heatmap mark without data-search is hidden by any search: %s" % tag
        assert cell_id in search.group(1) and "keras 2." in search.group(1)
