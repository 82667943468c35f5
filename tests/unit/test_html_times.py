"""The report's provenance says when a run happened and how long it took, telling the wall-clock span and the
summed work apart, for a run in one go, a resumed run and merged shards (runner/report/html.py run_times)."""

import html
import re

from runner.report import render_html
from runner.results.merge import merge_results
from tests.unit.test_report import minimal_cell, minimal_doc


def cell(cell_id, start, end, seconds, **extra):
    return minimal_cell(cell_id, started_at="2026-11-29T%s+00:00" % start, finished_at="2026-11-29T%s+00:00" % end,
                        seconds=seconds, **extra)


def run(run_id, start, end, *cells, **extra):
    doc = minimal_doc(*cells)
    doc.update(run_id=run_id, started_at="2026-11-29T%s+00:00" % start, finished_at="2026-11-29T%s+00:00" % end,
               complete=True, **extra)
    return doc


def provenance(doc):
    page = render_html(doc)
    block = page[page.index('<dl class="prov">'):page.index("</dl>")]
    return {html.unescape(k): html.unescape(v)
            for k, v in re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block.replace("\n", ""))}


def test_a_resumed_run_states_its_whole_span_and_its_work_not_its_last_session_as_its_duration():
    # Interrupted after two cells (01:00-02:00 and 02:00-03:00 of work), resumed at 03:56 for the third.
    doc = run("full", "03:56:49", "04:48:17",
              cell("a", "01:00:00", "02:00:00", 3600.0), cell("b", "02:00:00", "03:00:00", 3600.0),
              cell("c", "03:57:00", "04:48:00", 3060.0), cell("gpu", "01:00:00", "01:00:00", 0.0, status="skipped"),
              resumed_from={"cells_kept": ["a", "b"]})
    rows = provenance(doc)
    assert rows["Date"] == "2026-11-29 01:00:00 UTC \u2192 2026-11-29 04:48:17 UTC (3h 48m wall clock, first " \
        "cell's start to last cell's end, a resumed run)"
    assert rows["Recorded"].startswith("2026-11-29 03:56:49 UTC \u2192 2026-11-29 04:48:17 UTC (51m 28s)")
    assert "last session" in rows["Recorded"]
    assert rows["Work"].startswith("2h 51m summed over the own times of 3 measured cells")  # the skipped cell: none


def test_merged_shards_span_all_shards_and_sum_their_work_and_cached_cells_count_in_neither():
    first = run("s1", "01:00:00", "01:30:00", cell("a", "01:00:00", "01:30:00", 1800.0))
    second = run("s2", "05:00:00", "05:10:00", cell("b", "05:00:00", "05:10:00", 600.0),
                 cell("old", "00:00:00", "00:00:10", 10.0, cached=True))
    rows = provenance(merge_results([first, second]))
    assert rows["Date"].endswith("(4h 10m wall clock, first cell's start to last cell's end, 2 merged shards)")
    assert rows["Work"].startswith("40m 00s summed over the own times of 2 measured cells")
    assert "1 cell reused from the cache not counted" in rows["Work"]


def test_a_run_in_one_go_has_one_span_and_no_second_date():
    rows = provenance(run("one", "01:00:00", "01:20:00", cell("a", "01:00:05", "01:19:00", 1135.0)))
    assert rows["Date"] == "2026-11-29 01:00:00 UTC \u2192 2026-11-29 01:20:00 UTC (20m 00s wall clock)"
    assert "Recorded" not in rows and rows["Work"].startswith("18m 55s summed over the own times of 1 measured cell (")
