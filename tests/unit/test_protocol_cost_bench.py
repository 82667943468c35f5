"""bench/protocol_cost.py: the timing budget's cost model on a real run's records. On synthetic trainings it
decides like runner/run/measure.py; on the published run it gives back the recorded processes; the numbers
docs/timing.md states ("The budget") are the committed JSON's."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from runner.run.timing import BUDGETS, LEAN_PROTOCOL, THOROUGH_PROTOCOL
from tests.conftest import load_bench

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "timing.md").read_text()
COST = json.loads((ROOT / "bench" / "protocol-cost.json").read_text())


@pytest.fixture(scope="module")
def bench():
    return load_bench("protocol_cost")


def _training(steady_by_process, overhead=10.0, warm=3.0):
    samples = []
    for process, steady in enumerate(steady_by_process, start=1):
        samples.append({"process": process, "epoch": 1, "warmup": True, "wall": warm})
        samples += [{"process": process, "epoch": e + 2, "warmup": False, "wall": w} for e, w in enumerate(steady)]
    seconds = sum(s["wall"] for s in samples) + overhead * len(steady_by_process)
    return {"samples": samples, "seconds": seconds}


TIGHT = [1.0, 1.0, 1.01]
WIDE = [1.0, 1.6, 0.7]


def test_each_process_costs_its_overhead_warm_up_and_steady_epochs(bench):
    cell = {"measure_seconds": 100.0, "trainings": {"tensorflow": _training([TIGHT, TIGHT])}}
    one = bench.cell_cost(cell, replace(LEAN_PROTOCOL, max_processes=1), 3)
    assert one["processes"] == {"tensorflow": 1}
    assert one["trainings_seconds"] == pytest.approx(10.0 + 3.0 + 5 * 1.0)  # o + w + S x e, S = 5 steady
    assert one["probe_seconds"] == pytest.approx(100.0 - cell["trainings"]["tensorflow"]["seconds"])
    assert one["recorded_processes"] == {"tensorflow": 2}


def test_a_wide_training_takes_the_extra_process_a_tight_one_does_not(bench):
    cell = {"measure_seconds": 200.0,
            "trainings": {"tensorflow": _training([TIGHT, TIGHT]), "theano": _training([WIDE, WIDE, WIDE])}}
    lean = bench.cell_cost(cell, replace(LEAN_PROTOCOL, min_steady_epochs=3), 3)
    assert lean["processes"] == {"tensorflow": 1, "theano": 2}
    thorough = bench.cell_cost(cell, THOROUGH_PROTOCOL, 3)  # 2 each; theano stays wide; a quarter of room
    assert thorough["processes"] == {"tensorflow": 2, "theano": 3}


def test_the_model_gives_back_the_published_runs_processes_and_the_docs_state_its_numbers(bench):
    thorough, lean = COST["budgets"]["thorough"], COST["budgets"]["lean"]
    assert thorough["processes"] == thorough["recorded_processes"] == 175
    assert thorough["processes_per_training"] == {"2": 39, "3": 23, "4": 7}
    assert COST["protocols"] == {name: p.key() for name, p in BUDGETS.items()}  # the JSON is of these budgets
    assert bench.cost_table(COST) in DOCS
    floor = thorough["builds_minutes"] + thorough["probes_minutes"]
    minimal = COST["variants"]["one process of 3 steady epochs, never a second"]["total_minutes"]
    three = COST["variants"]["lean, steady epochs 3, remeasure above +-3%"]["total_minutes"]
    for text in ("175 processes (39 trainings of 2, 23 of 3, 7 of 4)",
                 "%.1f min of training\ncontainers against the %.1f recorded" % (thorough["trainings_minutes"],
                                                                              thorough["recorded_trainings_minutes"]),
                 "from %.1f to %.1f min of work" % (thorough["total_minutes"], lean["total_minutes"]),
                 "from %.1f to\n%.1f min" % (thorough["trainings_minutes"], lean["trainings_minutes"]),
                 "(%.1f min) and the probes (%.1f min" % (thorough["builds_minutes"], thorough["probes_minutes"]),
                 "come to %.1f min" % floor, "gives %.1f" % minimal,
                 "costs %.1f min more than 3" % (lean["total_minutes"] - three)):
        assert text in DOCS, text


def test_the_table_option_and_a_bad_file(bench, tmp_path, capsys):
    assert bench.main(["--table", str(ROOT / "bench" / "protocol-cost.json")]) == 0
    assert capsys.readouterr().out == bench.cost_table(COST)
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--results", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.json")])
    assert exit_info.value.code == 2 and "cannot read the results" in capsys.readouterr().err
