"""Batch times on the real engine: the training probe's batch callback in the Python 2.7 cell (Keras 2.3.1 on
TensorFlow 1.15, Theano and CNTK) and the JAX-only Keras 3 cell, through a real smoke run. The records carry
every batch's time, the times add up to about the epoch (a correctness check with a generous tolerance, not
a performance claim: other work may share the machine), training still learns, and the callback's own clock
work is a negligible share of a batch."""

import json
import statistics

import pytest

from runner.engine.protocol import Mount, RunSpec
from runner.model.estimators import estimate_all
from runner.results.store import validate_results
from runner.run.measure import IN_CONTAINER_PROBE, PROBE_DIR, parse_marker
from tests.integration.conftest import ROOT, run_cli

MATRIX = ROOT / "tests" / "data" / "batch-times-matrix.yaml"
BACKENDS = {"keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu": {"tensorflow", "theano", "cntk"},
            "keras3.15.1-jax0.10.2-py311-cpu": {"jax"}}
SMOKE_BATCHES = 20  # runner/run/timing.py SMOKE_PROTOCOL.max_batches, timed one batch at a time


@pytest.fixture(scope="module")
def smoke_run(engine, tmp_path_factory):
    results = tmp_path_factory.mktemp("batch-times")
    proc = run_cli("run", MATRIX, "--results-dir", results, "--run-id", "batches", "--rerun", timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return validate_results(json.loads((results / "batches" / "results.json").read_text()))


def test_every_epoch_records_its_batch_times_and_they_add_up_to_the_epoch(smoke_run):
    assert {c["cell_id"] for c in smoke_run["cells"]} == set(BACKENDS)
    for cell in smoke_run["cells"]:
        assert cell["status"] == "ok", (cell["cell_id"], cell.get("reason"))
        assert set(cell["trainings"]) == BACKENDS[cell["cell_id"]]
        for backend, training in cell["trainings"].items():
            where = (cell["cell_id"], backend)
            assert training["test_accuracy"] > 0.7, where  # 3 epochs of 20 batches: it learns (about 0.85)
            assert len(training["samples"]) == 3, where
            for sample in training["samples"]:
                assert sample["batches"] == SMOKE_BATCHES and sample["batch_group"] == 1, (where, sample)
                assert len(sample["batch_us"]) == SMOKE_BATCHES and min(sample["batch_us"]) > 0, where
                share = sum(sample["batch_us"]) / 1e6 / sample["wall"]
                if not sample["warmup"]:  # the warm-up epoch also sets up the data before its first batch
                    assert 0.8 <= share <= 1.02, (where, sample["epoch"], share)
                else:
                    assert 0.5 <= share <= 1.02, (where, sample["epoch"], share)
            figures = estimate_all(training["samples"], resamples=100)
            for name, found in figures.items():
                assert found["seconds"] and found["seconds"] > 0, (where, name, found)
            # The figures come from these batch times (their sizes relative to each other are the quiet
            # study's question: on a busy machine a few slow batches can make the epoch twice the median batch).
            low, higher, middle = (figures[n]["seconds"] for n in ("batch_q10", "batch_q20", "batch_median"))
            assert low <= higher <= middle, (where, low, higher, middle)
            units = [u / 1e6 for s in training["samples"] if not s["warmup"] for u in s["batch_us"][:-1]]
            mode = figures["batch_mode"]["seconds"] / SMOKE_BATCHES
            assert min(units) <= mode <= max(units), (where, mode)
            print(where, {name: found["seconds"] for name, found in figures.items()})


CLOCK_COST = ("import sys, timeit; sys.path.insert(0, '%s'); import train; "
              "print(min(timeit.repeat('c.begin(); c.end()', setup='import train; c = train.BatchClock(1)', "
              "number=20000, repeat=5)) / 20000)" % IN_CONTAINER_PROBE)


@pytest.mark.parametrize("cell_id", sorted(BACKENDS))
def test_the_batch_clock_costs_a_negligible_share_of_a_batch(engine, smoke_run, cell_id):
    """The callback's own work per batch (two clock reads, a counter, an append per group), timed in the
    container, against the shortest median batch time the run measured in that image."""
    spec = RunSpec(image="keras-matrix/cell:" + cell_id, command=["matrix-python", "-c", CLOCK_COST],
                   env={"HOME": "/tmp/home", "PYTHONPATH": IN_CONTAINER_PROBE},
                   mounts=[Mount(str(PROBE_DIR), IN_CONTAINER_PROBE, read_only=True)], cpus="1", memory="1g",
                   timeout=300)
    outcome = engine.run(spec)
    assert outcome.exit_code == 0, outcome.output[-2000:]
    per_batch = float(outcome.output.strip().splitlines()[-1])
    cell = next(c for c in smoke_run["cells"] if c["cell_id"] == cell_id)
    batch = min(statistics.median(u for s in t["samples"] if not s["warmup"] for u in s["batch_us"]) / 1e6
                for t in cell["trainings"].values())
    print("%s: batch clock %.3g s per batch, shortest median batch %.3g s: %.4f%%"
          % (cell_id, per_batch, batch, per_batch / batch * 100))
    assert per_batch / batch < 0.01
    assert parse_marker(outcome.output) is None  # a plain script: no result line
