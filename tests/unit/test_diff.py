"""Diff of two runs: broken, fixed, default backend changed, slower, faster, added, removed."""

import copy
import json
from pathlib import Path

import pytest

from runner.report import diff_results, format_diff, has_regressions

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def old():
    return load("results-previous.json")


@pytest.fixture
def new():
    return load("results-run.json")


def ids(entries):
    return [e["cell_id"] for e in entries]


def test_diff_finds_what_broke_got_fixed_changed_default_and_timing(old, new):
    diff = diff_results(old, new)
    assert ids(diff["broken"]) == ["keras2.0.9-tf1.4.1-theano1.0.5-cntk2.7.post2-py27-cpu",
                                   "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu",
                                   "keras2.15.0-tf2.15.1-py311-cpu"]
    partial = diff["broken"][1]
    assert (partial["old_status"], partial["new_status"], partial["backends"]) == ("ok", "partial", ["cntk"])
    assert ids(diff["fixed"]) == ["keras1.0.8-tf1.0.1-theano1.0.5-py27-cpu"]
    assert diff["default_changed"] == [{"cell_id": "keras1.2.2-tf1.0.1-theano1.0.5-py27-cpu",
                                        "old": "theano", "new": "tensorflow"}]
    [slower] = diff["slower"]
    assert (slower["cell_id"], slower["backend"]) == ("keras2.9.0-tf2.9.3-py39-cpu", "tensorflow")
    assert slower["old_seconds"] == pytest.approx(3.01) and slower["new_seconds"] == pytest.approx(5.1)
    [faster] = diff["faster"]
    assert (faster["cell_id"], faster["backend"]) == ("keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu", "jax")
    assert ids(diff["added"]) == ["keras3.15.1-jax0.10.2-py311-cpu"]
    assert ids(diff["removed"]) == ["keras2.11.0-tf2.11.1-py39-cpu"]
    assert sorted(ids(diff["status_changed"])) == ["keras2.12.0-tf2.12.1-py311-cpu", "keras2.3.1-py27-cpu"]
    assert diff["compared"] == 16 and diff["unchanged"] == 7
    assert has_regressions(diff)
    json.dumps(diff)


def test_a_run_against_itself_has_no_changes(new):
    diff = diff_results(new, copy.deepcopy(new))
    assert not has_regressions(diff)
    assert diff["unchanged"] == diff["compared"] == len(new["cells"])
    assert "no regressions" in format_diff(diff)


def test_the_threshold_decides_what_is_slower(old, new):
    # keras2.9.0-tf2.9.3-py39-cpu/tensorflow went from 3.01s to 5.10s: +69.4%.
    assert ids(diff_results(old, new, slower_threshold=0.69)["slower"]) == ["keras2.9.0-tf2.9.3-py39-cpu"]
    assert diff_results(old, new, slower_threshold=0.70)["slower"] == []
    with pytest.raises(ValueError):
        diff_results(old, new, slower_threshold=-1)


@pytest.mark.parametrize("section", ["broken", "slower", "default_changed", "removed"])
def test_each_regression_kind_alone_counts(section):
    assert has_regressions({section: [{"cell_id": "c"}]})
    assert not has_regressions({"fixed": [{"cell_id": "c"}], "faster": [{"cell_id": "c"}],
                                "added": [{"cell_id": "c"}], "not_selected": [{"cell_id": "c"}]})
    assert not has_regressions({"removed": [{"cell_id": "c"}]}, allow_removed=True)


def test_format_diff_terminal_and_markdown(old, new):
    diff = diff_results(old, new)
    terminal = format_diff(diff, "terminal")
    assert "REGRESSIONS" in terminal and "Broken (3)" in terminal and "Slower" in terminal
    assert "keras2.9.0-tf2.9.3-py39-cpu tensorflow: 3.01s -> 5.10s (+69%; no samples: not tested for noise)" in terminal
    markdown = format_diff(diff, "markdown")
    assert markdown.startswith("### keras-matrix diff")
    assert "**Default backend changed (1)**" in markdown
    assert "<script" not in markdown and "&lt;script&gt;" in markdown  # a reason from a container, escaped
    with pytest.raises(ValueError):
        format_diff(diff, "html")


def test_timings_from_different_hosts_are_called_out(old, new):
    old["provenance"]["host"]["cpu_model"] = "AMD EPYC 7B13"
    diff = diff_results(old, new)
    assert diff["hosts_differ"]
    assert "different hosts" in format_diff(diff)


def sampled(walls, verdict="stable", causes=()):
    """A finished training as recorded with the timing protocol: a warm-up epoch, then `walls`."""
    samples = [{"process": 0, "epoch": 0, "warmup": True, "wall": 9.0}]
    samples += [{"process": i // 5, "epoch": 1 + i % 5, "warmup": False, "wall": w} for i, w in enumerate(walls)]
    ordered = sorted(walls)
    return {"status": "ok", "epoch_seconds": [9.0] + list(walls), "steady_epoch_seconds": ordered[len(walls) // 2],
            "test_accuracy": 0.97, "samples": samples,
            "timing": {"estimator": "median", "seconds": ordered[len(walls) // 2],
                       "interval": [ordered[0], ordered[-1]], "confidence": 0.95, "rel_width": 0.02,
                       "samples": len(walls), "processes": 2, "verdict": verdict, "causes": list(causes)}}


def one_cell_doc(training):
    return {"run_id": "r", "cells": [{"cell_id": "c1", "status": "ok", "trainings": {"tensorflow": training}}]}


def test_slower_than_the_last_run_only_when_the_samples_show_it():
    steady = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00, 1.01, 0.99, 1.00, 1.02]
    noisy_but_higher = [0.70, 1.90, 0.80, 1.80, 0.75, 1.85, 0.72, 1.70, 0.90, 1.60]  # median +28%, overlapping
    clearly_slower = [w * 1.3 for w in steady]
    old = one_cell_doc(sampled(steady))
    assert diff_results(old, one_cell_doc(sampled(noisy_but_higher)), slower_threshold=0.1)["slower"] == []
    slower = diff_results(old, one_cell_doc(sampled(clearly_slower)), slower_threshold=0.1)["slower"]
    assert [e["cell_id"] for e in slower] == ["c1"] and slower[0]["tested"] and slower[0]["p"] < 0.01
    assert "p=" in format_diff(diff_results(old, one_cell_doc(sampled(clearly_slower)), slower_threshold=0.1))
    # The threshold stays the minimum effect size: +30% is not "slower" at a 50% threshold.
    assert diff_results(old, one_cell_doc(sampled(clearly_slower)), slower_threshold=0.5)["slower"] == []
    # A contended training is never called slower, whatever its samples.
    contended = one_cell_doc(sampled(clearly_slower, verdict="contended", causes=["steal"]))
    assert diff_results(old, contended, slower_threshold=0.1)["slower"] == []


# ---- the scheduled job's comparison (the workflow diffs a CPU-only selection against the published run) ----

PUBLISHED = Path(__file__).resolve().parents[2] / "reports" / "results.json"


def _cpu_selection_of_the_published_run():
    """What the scheduled job's merged results look like: `--filter device=cpu`, every selected cell measured."""
    from runner.results.merge import merge_results

    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    cpu = dict(published, cells=[c for c in published["cells"] if c["device"] == "cpu"])
    return published, merge_results([cpu], expected_cells=[c["cell_id"] for c in cpu["cells"]])


def test_a_cpu_selection_against_the_published_run_is_no_regression(tmp_path):
    from runner.cli import main

    published, merged = _cpu_selection_of_the_published_run()
    assert any(c["device"] == "gpu" for c in published["cells"])  # the GPU cells the selection leaves out
    diff = diff_results(published, merged)
    assert diff["removed"] == [] and len(diff["not_selected"]) == sum(c["device"] == "gpu" for c in published["cells"])
    new = tmp_path / "merged.json"
    new.write_text(json.dumps(merged))
    assert main(["diff", str(PUBLISHED), str(new), "--format", "markdown", "--fail-on-regression"]) == 0


def test_a_selected_cell_without_a_result_is_removed_and_the_verdict_and_exit_agree(tmp_path, capsys):
    from runner.cli import main

    published, merged = _cpu_selection_of_the_published_run()
    lost = merged["cells"].pop(0)["cell_id"]  # selected, but its shard recorded nothing
    new = tmp_path / "merged.json"
    new.write_text(json.dumps(merged))
    assert main(["diff", str(PUBLISHED), str(new), "--format", "markdown", "--fail-on-regression"]) == 1
    out, err = capsys.readouterr()
    assert "REGRESSIONS" in out and lost in out and lost in err
    assert main(["diff", str(PUBLISHED), str(new), "--format", "markdown", "--fail-on-regression",
                 "--allow-removed"]) == 0
    assert "no regressions" in capsys.readouterr().out


def test_timings_from_another_machine_are_not_compared(old, new):
    slower = copy.deepcopy(new)
    slower["provenance"]["host"] = dict(old["provenance"].get("host") or {}, cpu_model="another CPU", cpus=64)
    diff = diff_results(old, slower)
    assert diff["hosts_differ"] and not diff["timings_compared"]
    assert diff["slower"] == [] and diff["faster"] == []
    assert "timings not compared" in format_diff(diff)
