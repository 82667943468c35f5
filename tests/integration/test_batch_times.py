"""Batch times on the real engine: the training probe's batch callback in the Python 2.7 cell (Keras 2.3.1 on
TensorFlow 1.15, Theano and CNTK) and the JAX-only Keras 3 cell, through a real smoke run. The records carry
every batch's time, the times add up to about the epoch (a correctness check with a generous tolerance, not
a performance claim: other work may share the machine), training still learns, and the callback's own clock
work is a negligible share of a batch. Then slices (train.py --slices: fit calls of a few batches timed from
outside, no batch callback) in the same two images: recorded, adding up to about the epoch, learning, read by
the slice figures only; and consecutive fit calls reuse one train function, in every backend."""

import json
import statistics

import pytest

from runner.engine.protocol import Mount, RunSpec
from runner.model.estimators import estimate_all
from runner.results.store import validate_results
from runner.run.measure import IN_CONTAINER_PROBE, PROBE_DIR, parse_marker
from runner.run.timing import tag_samples
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
        # the build's Dockerfile steps as BuildKit reported them (each layer built with its seconds, or cached)
        steps = cell["build"].get("steps") or []
        assert steps and "FROM" in steps[0]["step"] and steps[-1]["step"].startswith("["), cell["build"]
        assert all(s["cached"] or isinstance(s["seconds"], float) for s in steps), steps
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
                if name.startswith("slice_"):  # callback times are not slice times
                    assert found["seconds"] is None, (where, name, found)
                else:
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


SLICE_BATCHES, PER_SLICE = 40, 4  # 10 fit calls of 4 batches per epoch
SLICED = [(cell_id, backend) for cell_id in sorted(BACKENDS) for backend in sorted(BACKENDS[cell_id])]


def _train(engine, cell_id, backend, *options):
    spec = RunSpec(image="keras-matrix/cell:" + cell_id,
                   command=["matrix-python", IN_CONTAINER_PROBE + "/train.py", "/data/mnist.npz", "3"] + list(options),
                   env={"HOME": "/tmp/home", "KERAS_BACKEND": backend, "OMP_NUM_THREADS": "2"},
                   mounts=[Mount(str(PROBE_DIR), IN_CONTAINER_PROBE, read_only=True),
                           Mount(str(ROOT / ".cache" / "data"), "/data", read_only=True)],
                   cpus="2", memory="4g", timeout=900)
    outcome = engine.run(spec)
    result = parse_marker(outcome.output)
    assert outcome.exit_code == 0 and result and result["status"] == "ok", outcome.output[-3000:]
    return result


@pytest.fixture(scope="module")
def mnist():
    """The training data where the runner keeps it (a run of the e2e matrix or the lead's cache put it there)."""
    path = ROOT / ".cache" / "data" / "mnist.npz"
    if not path.is_file():
        pytest.fail("%s is missing: run `python -m runner run tests/data/batch-times-matrix.yaml` once" % path)
    return path


@pytest.mark.parametrize("cell_id,backend", SLICED, ids=["%s-%s" % (c.split("-")[0], b) for c, b in SLICED])
def test_slices_are_recorded_add_up_to_the_epoch_and_training_still_learns(engine, mnist, cell_id, backend):
    """train.py --slices on the real engine: each epoch as fit calls of 4 batches timed from outside, in every
    backend of the Python 2.7 cell and the JAX cell; the runner accepts the samples and the slice figures come
    out; fit's per-call overhead is measured (printed: a size, not a claim)."""
    result = _train(engine, cell_id, backend, "--max-batches", str(SLICE_BATCHES), "--slices", str(PER_SLICE))
    where = (cell_id, backend)
    assert result["slices"] == PER_SLICE and result["test_accuracy"] > 0.8, (where, result["test_accuracy"])
    assert isinstance(result["fit_call_us"], int) and result["fit_call_us"] >= 0, where
    samples = tag_samples(result["samples"], 1, 1)
    assert len(samples) == 3
    for sample in samples:
        assert sample["batches"] == SLICE_BATCHES and sample["batch_group"] == PER_SLICE, (where, sample)
        assert sample["batch_clock"] == "slices" and len(sample["batch_us"]) == SLICE_BATCHES // PER_SLICE
        assert min(sample["batch_us"]) > 0
        # The rest is the epoch's shuffle, slicing and counter reads: a visible share of these short epochs of
        # 40 batches (0.2 s in TensorFlow 1.15), a smaller one of a full epoch's 469.
        share = sum(sample["batch_us"]) / 1e6 / sample["wall"]
        assert (0.6 if not sample["warmup"] else 0.4) <= share <= 1.0, (where, sample["epoch"], share)
    figures = estimate_all(samples, resamples=100)
    assert all(figures[n]["seconds"] for n in ("slice_q10", "slice_mode", "slice_median", "epoch_median")), figures
    assert figures["batch_mode"]["seconds"] is None  # slice times are not read as callback times
    print(where, "fit per call %d us" % result["fit_call_us"],
          {n: figures[n]["seconds"] for n in ("epoch_median", "slice_mode")})


TRAIN_FUNCTION_KEPT = """
import os, sys, numpy as np, keras
from keras.models import Sequential
from keras.layers import Dense
major = int(keras.__version__.split(".")[0])
if major >= 3:
    model = Sequential([keras.Input(shape=(784,)), Dense(16, activation="relu"), Dense(10, activation="softmax")])
else:
    model = Sequential()
    model.add(Dense(16, input_dim=784, activation="relu"))
    model.add(Dense(10, activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="adam")
x, y = np.zeros((256, 784), "float32"), np.eye(10, dtype="float32")[np.zeros(256, "int64")]
kw = {"batch_size": 128, "verbose": 0, "shuffle": False, ("nb_epoch" if major == 1 else "epochs"): 1}
model.fit(x, y, **kw)
first = model.train_function
model.fit(x[:128], y[:128], **kw)
print("kept" if model.train_function is first and first is not None else "rebuilt")
"""


@pytest.mark.parametrize("cell_id,backend", SLICED, ids=["%s-%s" % (c.split("-")[0], b) for c, b in SLICED])
def test_consecutive_fit_calls_reuse_one_train_function(engine, cell_id, backend):
    """What slices rely on: fit builds its train function once and the next call reuses it (Keras 2.3.1 on
    TensorFlow 1.15, Theano and CNTK; Keras 3 on JAX), so a slice pays no rebuild or retrace."""
    spec = RunSpec(image="keras-matrix/cell:" + cell_id, command=["matrix-python", "-c", TRAIN_FUNCTION_KEPT],
                   env={"HOME": "/tmp/home", "KERAS_BACKEND": backend}, cpus="2", memory="2g", timeout=600)
    outcome = engine.run(spec)
    assert outcome.exit_code == 0 and outcome.output.strip().splitlines()[-1] == "kept", outcome.output[-2000:]
