"""bench/reproducibility.py's bookkeeping: max/min per training, orderings held or flipped across reruns,
and the contention run's flags (the benchmark itself needs the engine: the lead runs it)."""

import os
import time

import pytest

from tests.conftest import load_bench


@pytest.fixture(scope="module")
def repro():
    return load_bench("reproducibility")


def _doc(tf_walls, jax_walls, verdict="stable"):
    def training(walls):
        samples = [{"process": 1, "epoch": i + 2, "warmup": False, "wall": w} for i, w in enumerate(walls)]
        return {"status": "ok", "samples": samples,
                "timing": {"seconds": sorted(walls)[len(walls) // 2], "verdict": verdict, "causes": []}}
    return {"cells": [{"cell_id": "k3", "cpuset": "0-1",
                       "trainings": {"jax": training(jax_walls), "tensorflow": training(tf_walls)}}]}


SLOW = [1.00, 1.01, 0.99, 1.02, 1.00, 0.98, 1.01, 1.00]
FAST = [0.50, 0.51, 0.49, 0.50, 0.52, 0.50, 0.49, 0.51]


def test_reruns_that_agree_hold_and_meet_the_target(repro):
    summary = repro.rerun_summary([_doc(SLOW, FAST), _doc(SLOW, FAST), _doc(SLOW, FAST)])
    assert summary["orderings"]["k3: tensorflow vs jax"] == {"verdicts": ["slower"] * 3, "held": True,
                                                             "flipped": False}
    assert summary["trainings"]["k3 tensorflow"]["max_over_min"] == 1.0
    assert summary["all_within_target"] and summary["no_ordering_flipped"] and summary["every_ordering_held"]


def test_a_flipped_ordering_and_a_wide_rerun_are_reported(repro):
    summary = repro.rerun_summary([_doc(SLOW, FAST), _doc(FAST, SLOW), _doc([w * 1.3 for w in SLOW], FAST)])
    claim = summary["orderings"]["k3: tensorflow vs jax"]
    assert claim["flipped"] and not claim["held"] and not summary["no_ordering_flipped"]
    assert summary["trainings"]["k3 tensorflow"]["max_over_min"] == 2.6 and not summary["all_within_target"]


def test_an_ordering_of_flagged_trainings_is_not_compared(repro):
    # The bench follows the report's rule: a contended or unstable training is compared with nothing.
    summary = repro.rerun_summary([_doc(SLOW, FAST, verdict="contended"), _doc(SLOW, FAST),
                                   _doc(SLOW, FAST, verdict="unstable")])
    claim = summary["orderings"]["k3: tensorflow vs jax"]
    assert claim["verdicts"] == ["not compared", "slower", "not compared"]
    assert not claim["held"] and not claim["flipped"] and summary["orderings_compared"] == 0


def test_the_contention_run_must_flag_every_training(repro):
    assert repro.contention_summary(_doc(SLOW, FAST, "contended"), [0, 1])["all_flagged"]
    assert not repro.contention_summary(_doc(SLOW, FAST, "stable"), [0, 1])["all_flagged"]
    assert repro.training_cores([_doc(SLOW, FAST)]) == [0, 1]


def test_the_hog_spins_on_the_given_core_and_is_stopped(repro):
    core = sorted(os.sched_getaffinity(0))[0]
    hogs = repro.start_hogs([core])
    try:
        time.sleep(0.3)
        assert os.sched_getaffinity(hogs[0].pid) == {core} and hogs[0].poll() is None
    finally:
        repro.stop_hogs(hogs)
    assert hogs[0].poll() is not None


def test_a_figure_read_against_its_calibration_cancels_a_machine_that_ran_slower(repro):
    # the second rerun's machine is 1.3x slower for everything: the headline moves, the calibrated figure not
    def doc(factor):
        out = _doc([w * factor for w in SLOW], FAST)
        for training in out["cells"][0]["trainings"].values():
            for sample in training["samples"]:
                sample["calibration"] = 0.1 * factor
        return out
    summary = repro.rerun_summary([doc(1.0), doc(1.3), doc(1.0)])
    entry = summary["trainings"]["k3 tensorflow"]
    assert entry["max_over_min"] == 1.3 and entry["calibrated_max_over_min"] == 1.0
    assert entry["calibrated"] == [10.0, 10.0, 10.0]
    # records without calibration (older train.py) give no calibrated figure, not a wrong one
    assert repro.rerun_summary([_doc(SLOW, FAST)] * 2)["trainings"]["k3 tensorflow"]["calibrated_max_over_min"] is None


def test_the_within_cell_ratio_and_its_spread_over_reruns(repro):
    summary = repro.rerun_summary([_doc(SLOW, FAST), _doc([w * 1.1 for w in SLOW], FAST)])
    entry = summary["ratios"]["k3: tensorflow / jax"]
    assert entry["ratios"] == [2.0, 2.2] and entry["max_over_min"] == 1.1 and entry["meets_target"] is False
    assert not summary["all_ratios_within_target"]


def test_the_markdown_tables_quote_the_results_file(repro):
    summary = repro.rerun_summary([_doc(SLOW, FAST), _doc(SLOW, FAST)])
    contention = repro.contention_summary(_doc(SLOW, FAST, "contended"), [0, 1])
    text = repro.markdown_tables({"reruns": summary, "contention": contention})
    assert "| k3 tensorflow | 1.000, 1.000 | 1.000 | - | stable, stable |" in text
    assert "| k3: tensorflow / jax | 2.000, 2.000 | 1.000 |" in text
    assert "| k3 jax | contended | 0.500 |  |" in text


def test_the_docs_quote_the_committed_run(repro):
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = json.loads((root / "bench" / "reproducibility.json").read_text())
    assert repro.markdown_tables(result) in (root / "docs" / "timing.md").read_text()
    assert result["settings"]["timing_budget"] == "lean" and result["contention"]["all_shown"]
