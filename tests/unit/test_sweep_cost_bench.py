"""bench/sweep_cost.py: a run's cost summed from its results, cached and skipped cells not counted as work."""

import importlib.util
import json
import os
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "sweep_cost.py"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results-run.json"


def _module():
    spec = importlib.util.spec_from_file_location("sweep_cost", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(status, cached=False, build=10.0, measure=20.0, phases=None, trainings=None):
    return {"status": status, "cached": cached, "build": {"seconds": build}, "measure_seconds": measure,
            "probe": {"phase_seconds": phases or {"libraries": 3.0, "scenarios": 5.0}}, "trainings": trainings or {}}


def test_a_run_is_summed_over_the_cells_it_measured(tmp_path):
    doc = {"run_id": "sweep", "started_at": "2026-11-29T08:00:00+00:00", "finished_at": "2026-11-29T08:10:30+00:00",
           "settings": {"lanes": 2, "jobs": 2}, "matrix": {"path": "sweeps/x.yaml"},
           "cells": [_cell("ok", trainings={"tensorflow": {"seconds": 4.0}}), _cell("import_failed"),
                     _cell("ok", cached=True), _cell("skipped", build=0, measure=0)]}
    summary = _module().summarize(doc)
    assert summary["wall_seconds"] == 630.0 and (summary["measured"], summary["cached"], summary["cells"]) == (2, 1, 4)
    assert summary["build_seconds"] == 20.0 and summary["container_seconds"] == 40.0
    assert summary["probe_phase_seconds"] == {"libraries": 6.0, "scenarios": 10.0}
    assert summary["training_seconds"] == 4.0 and summary["statuses"] == {"import_failed": 1, "ok": 2, "skipped": 1}
    assert summary["settings"]["lanes"] == 2


def test_a_resumed_run_has_no_single_wall_time_and_a_bad_argument_is_a_message(tmp_path, capsys):
    resumed = {"started_at": "2026-11-29T08:00:00+00:00", "finished_at": "2026-11-29T08:01:00+00:00",
               "resumed_from": {"cells_kept": ["a"]}, "cells": []}
    assert _module().summarize(resumed)["wall_seconds"] is None
    assert _module().main(["r=%s" % (tmp_path / "missing.json"), "--out", str(tmp_path / "cost.json")]) == 2
    assert "no such results file" in capsys.readouterr().err
    # A FIFO or a file that is not a results document is refused by the runner's reader, not hung on.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "list.json").write_text("[1, 2]")
    for bad in (fifo, tmp_path / "list.json"):
        assert _module().main(["r=%s" % bad, "--out", str(tmp_path / "cost.json")]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_a_real_results_file_is_summarized_into_the_output(tmp_path):
    out = tmp_path / "cost.json"
    assert _module().main(["run=%s" % FIXTURE, "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["run"]
    assert summary["cells"] == 17 and summary["wall_seconds"] == 5100.0


def test_the_summary_says_whether_the_run_was_cold_and_which_installer_built_its_cells():
    uv = {"status": "ok", "build": {"seconds": 3.0, "steps": [{"step": "RUN uv pip install --python x keras==3.0"}]}}
    pip = {"status": "ok", "build": {"seconds": 3.0, "steps": [{"step": "RUN /opt/venv/bin/python -m pip install a"}]}}
    clipped = {"status": "ok", "build": {"steps": [  # as the engine records them: the command clipped
        {"step": "[stage-0 4/8] RUN --mount=type=cache,id=keras-matrix-pip-py3.9,target=/root/.cache/pip  if"},
        {"step": "[stage-0 6/8] RUN --mount=type=cache,id=keras-matrix-uv-py3.9,target=/root/.cache/uv  if [ -s"}]}}
    doc = {"disk": {"build_cache_bytes_start": 0}, "cells": [uv, clipped, pip, {"status": "ok", "build": {}}]}
    summary = _module().summarize(doc)
    assert summary["build_cache_bytes_start"] == 0 and summary["installers"] == {"?": 1, "pip": 1, "uv": 2}
    assert _module().summarize({"cells": []})["build_cache_bytes_start"] is None


def test_the_docs_table_splits_container_minutes_into_probes_scenarios_and_trainings(tmp_path, capsys):
    summary = {"started_at": "2026-12-03T18:00:00+00:00", "installers": {"uv": 3}, "cells": 4, "cached": 1,
               "build_cache_bytes_start": 0, "wall_seconds": 600.0, "build_seconds": 120.0,
               "container_seconds": 900.0, "training_seconds": 300.0, "probe_phase_seconds": {"scenarios": 240.0}}
    path = tmp_path / "cost.json"
    path.write_text(json.dumps({"sweep": summary, "old": dict(summary, build_cache_bytes_start=None)}))
    assert _module().main(["--table", str(path)]) == 0
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in capsys.readouterr().out.splitlines()]
    assert rows[0][:6] == ["run", "date", "installer", "cells", "build cache at start", "wall min"]
    assert rows[2] == ["sweep", "2026-12-03", "uv", "4 (1 cached)", "cold (empty)", "10.0", "2.0", "6.0", "4.0", "5.0"]
    assert rows[3][4] == "not recorded"


def test_the_docs_sweep_cost_table_is_generated_from_the_committed_summaries():
    """docs/sweeps.md "What a sweep costs" is `bench/sweep_cost.py --table` over the committed summaries."""
    root = BENCH.parents[1]
    merged = {}
    for name in ("sweep-cost.json", "sweep-cost-uv.json"):
        merged.update(json.loads((root / "bench" / name).read_text()))
    docs = (root / "docs" / "sweeps.md").read_text()
    assert _module().table(merged) + "\n" in docs, "regenerate with: python bench/sweep_cost.py --table " \
        "bench/sweep-cost.json bench/sweep-cost-uv.json"
    uv = json.loads((root / "bench" / "sweep-cost-uv.json").read_text())
    assert all(s["build_cache_bytes_start"] == 0 for label, s in uv.items() if "warm" not in label)  # cold, as said


def test_the_docs_sweep_cost_sentences_are_the_summaries():
    """The figures docs/sweeps.md and docs/performance.md state about the uv runs, from bench/sweep-cost-uv.json."""
    root = BENCH.parents[1]
    old = json.loads((root / "bench" / "sweep-cost.json").read_text())
    uv = json.loads((root / "bench" / "sweep-cost-uv.json").read_text())
    sweeps = " ".join((root / "docs" / "sweeps.md").read_text().split())
    performance = " ".join((root / "docs" / "performance.md").read_text().split())

    def minutes(seconds):
        return "%.1f" % (seconds / 60)

    cross, first, every = uv["cross-products-uv-2"], uv["cross-products-uv"], uv["every-release-uv"]
    assert "196 cells (smoke, no scenario probes), cold: %s min" % minutes(cross["wall_seconds"]) in sweeps
    assert "uv took the builds from %s to %s min of work" % (
        minutes(old["cross-products"]["build_seconds"]), minutes(first["build_seconds"])) in sweeps
    assert "%s min of them in `cross-uv-cold`" % minutes(first["container_seconds"]) in sweeps
    assert "takes %d s: every cell from the result cache" % round(uv["cross-products-uv-2-warm"]["wall_seconds"]) \
        in sweeps
    assert "104 cells, cold: %s min" % minutes(every["wall_seconds"]) in sweeps
    assert "scenario probes are %s of its %s min of containers" % (
        minutes(every["probe_phase_seconds"]["scenarios"]), minutes(every["container_seconds"])) in sweeps
    assert "A warm rerun takes %d s." % round(uv["every-release-uv-warm"]["wall_seconds"]) in sweeps
    unbounded = uv["cross-products-uv-unbounded"]
    assert unbounded["complete"] is False
    assert "its image layers peaked at %.1f GB, the low-disk rule emptied the build cache %d times" % (
        unbounded["layers_bytes_peak"] / 1e9, unbounded["build_cache_emptied"]) in performance
