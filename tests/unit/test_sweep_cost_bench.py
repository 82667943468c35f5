"""bench/sweep_cost.py: a run's cost summed from its results, cached and skipped cells not counted as work."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "sweep_cost.py"


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
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "cost.json"
    assert _module().main(["sweep=%s" % path, "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["sweep"]
    assert summary["wall_seconds"] == 630.0 and (summary["measured"], summary["cached"], summary["cells"]) == (2, 1, 4)
    assert summary["build_seconds"] == 20.0 and summary["container_seconds"] == 40.0
    assert summary["probe_phase_seconds"] == {"libraries": 6.0, "scenarios": 10.0}
    assert summary["training_seconds"] == 4.0 and summary["statuses"] == {"import_failed": 1, "ok": 2, "skipped": 1}
    assert summary["settings"]["lanes"] == 2


def test_a_resumed_run_has_no_single_wall_time_and_a_bad_argument_is_a_message(tmp_path, capsys):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"started_at": "2026-11-29T08:00:00+00:00", "finished_at": "2026-11-29T08:01:00+00:00",
                                "resumed_from": {"cells_kept": ["a"]}, "cells": []}))
    out = tmp_path / "cost.json"
    assert _module().main(["r=%s" % path, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["r"]["wall_seconds"] is None
    assert _module().main(["r=%s" % (tmp_path / "missing.json"), "--out", str(out)]) == 2
    assert "cannot read" in capsys.readouterr().err
