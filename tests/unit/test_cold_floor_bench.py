"""bench/cold_floor.py: a run's wall against its floor (critical-path builds + measuring / lanes), from its
records; the figures docs/performance.md states are the committed JSON's."""

import json

import pytest

from tests.conftest import ROOT, load_bench

DOCS = (ROOT / "docs" / "performance.md").read_text()
FLOOR = json.loads((ROOT / "bench" / "cold-floor.json").read_text())


@pytest.fixture(scope="module")
def bench():
    return load_bench("cold_floor")


def _cell(start, end, measure, build, steps=None):
    cell = {"started_at": "2026-12-01T10:%s+00:00" % start, "finished_at": "2026-12-01T10:%s+00:00" % end,
            "measure_seconds": measure, "build": {"seconds": build}, "measured_in_run": "r"}
    if steps is not None:
        cell["build"]["steps"] = steps
    return cell


def _step(name, seconds=None):
    return {"step": name, "seconds": seconds, "cached": seconds is None}


def test_a_resumed_run_counts_its_stretches_and_its_floor_is_builds_plus_measuring_over_lanes(bench):
    doc = {"settings": {"lanes": 2}, "cells": [_cell("00:00", "01:00", 40.0, 30.0), _cell("01:00", "02:00", 50.0, 2.0),
                                               _cell("30:00", "31:00", 30.0, 1.0)]}  # a 28-minute pause: resumed
    found = bench.from_results(doc, "r")
    assert found["wall_seconds"] == 180.0 and found["stretches"][1][0].endswith("10:30:00+00:00")
    assert found["critical_build_seconds"] == 30.0 and found["floor_seconds"] == 30.0 + 120.0 / 2
    assert found["over_floor"] == round(180.0 / 90.0, 3) and found["cells_waiting_seconds"] == 60.0
    assert found["builds_from"].startswith("the longest cell build")


def test_with_per_step_times_each_distinct_layer_counts_once_on_the_longest_chain(bench):
    base, tf, k1, k2 = "[1/3] FROM base", "[2/3] RUN pip install tensorflow", "[3/3] RUN pip install keras==1", \
        "[3/3] RUN pip install keras==2"
    cells = [_cell("00:00", "01:00", 10.0, 45.0, [_step(base, 0.0), _step(tf, 40.0), _step(k1, 5.0)]),
             _cell("01:00", "02:00", 10.0, 3.0, [_step(base), _step(tf), _step(k2, 3.0)])]  # tf taken from cache
    assert bench.critical_path_from_steps(cells) == 45.0  # base + tf (built once, by the first) + keras 1
    cells[1]["build"]["steps"][2]["seconds"] = 9.0
    assert bench.critical_path_from_steps(cells) == 49.0  # the second chain: tf's 40 s from the first build
    assert bench.critical_path_from_steps(cells + [_cell("02:00", "03:00", 1.0, 1.0)]) is None  # one without steps
    found = bench.from_results({"settings": {"lanes": 1}, "cells": cells}, "r")
    assert found["builds_from"] == "steps" and found["critical_build_seconds"] == 49.0


def test_the_gated_floor_adds_the_builds_over_jobs_and_cold_comes_from_the_recorded_cache(bench):
    cells = [_cell("00:00", "01:00", 40.0, 30.0), _cell("01:00", "02:30", 50.0, 20.0)]
    doc = {"settings": {"lanes": 1, "jobs": 2}, "disk": {"build_cache_bytes_start": 0}, "cells": cells}
    found = bench.from_results(doc, "r")
    assert found["gated_floor_seconds"] == 90.0 + 50.0 / 2 and found["over_gated_floor"] == round(150.0 / 115.0, 3)
    assert found["cold"] is True  # an empty build cache at the start, as recorded
    doc["disk"]["build_cache_bytes_start"] = 5 << 30
    assert bench.from_results(doc, "r")["cold"] is False


def test_the_docs_state_the_committed_figures(bench):
    runs = FLOOR["runs"]
    for run in runs.values():
        assert "%.1f + %.1f / %d = %.1f s | %.3fx |" % (run["critical_build_seconds"], run["measure_seconds"],
                                                        run["lanes"], run["floor_seconds"], run["over_floor"]) in DOCS
        assert "| %.1f s |" % run["wall_seconds"] in DOCS
    published = runs["results.json (full-20261203)"]
    assert published["cold"] is True and published["builds_from"] == "steps"
    assert "%d of its %d cells" % (published["cells"] - published["cells_built_over_5s"], published["cells"]) in DOCS
    assert "spent %.1f min in all" % (published["cells_waiting_seconds"] / 60) in DOCS
    assert "%.1f + %.1f / %d = %.1f s, and the run took %.3fx of it" % (
        published["measure_seconds"], published["build_seconds_total"], published["jobs"],
        published["gated_floor_seconds"], published["over_gated_floor"]) in " ".join(DOCS.split())
    meets = [r["over_floor"] <= FLOOR["target"] for r in runs.values()]
    assert meets == [True, True, False] and "Both benchmark runs meet" in DOCS


def test_an_unreadable_input_is_a_message(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--bench", str(tmp_path / "none.json"), "--out", str(tmp_path / "o.json")])
    assert exit_info.value.code == 2 and "cannot read a run's records" in capsys.readouterr().err
