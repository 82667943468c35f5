# -*- coding: utf-8 -*-
"""Train the reference model on MNIST with the backend named by KERAS_BACKEND and report per-epoch
seconds and test accuracy. Runs on Python 2.7 and 3.x, Keras 1.x to 3.x. One JSON line after the marker.

Reference model: 784 -> Dense(128, relu) -> Dense(10, softmax); adam; categorical cross-entropy; batch 128.
Usage: train.py DATA.npz EPOCHS [--max-batches N] [--batch-group K | --slices K]
  --max-batches N: train on the first N*128 images only (a smoke measure: one short epoch per sample).
  --batch-group K: time groups of K batches (default 1: every batch); 0 records no batch times.
  --slices K: no batch callback; each epoch runs as consecutive fit calls of K batches each, timed from outside.

Batch times: each epoch's sample gets `batches` (how many batches the epoch ran), `batch_group` (K) and
`batch_us`, the wall time of each group of K consecutive batches in integer microseconds, measured from the
start of its first batch to the start of the next group (the last group: to the end of the epoch's last
batch), so the loop's own work between batches is counted and the groups add up to nearly the epoch. The
hooks are on_batch_begin / on_batch_end: Keras 0.3 to 2.2 call them directly; Keras 2.3+, tf.keras and
Keras 3 call them from on_train_batch_begin / on_train_batch_end (aliases). A batch time must end when the
batch's work has: Keras 3 on a thread-safe backend (JAX, torch, NumPy, OpenVINO) dispatches batch-end
callbacks asynchronously unless one overrides on_batch_end, and tf.keras converts a batch's logs to numpy
only for callbacks that have batch hooks; so with batch times on, the loop waits for every batch's results
(docs/timing.md, "Batch times"). --batch-group 0 trains as before, for comparison.

Slices (--slices K): batch-level times without any per-batch Python hook. The script shuffles the training
set once per epoch (NumPy's seeded generator, as fit's own shuffle would) and runs the epoch as consecutive
`fit(x[a:b], y[a:b], batch_size=128, epochs=1, shuffle=False, verbose=0)` calls over slices of K batches
(the last slice holds what is left, with the short last batch), so the batches and their order are those
of one shuffled epoch. Each call is timed from outside with the monotonic clock. The epoch's sample records
`batches`, `batch_group` (K), `batch_us` (each slice's call, in integer microseconds) and
`batch_clock: "slices"`; its `wall` is the whole epoch (the shuffle, each slice's gathering, the calls). Each fit
call also does its own set-up (callbacks, the data adapter; the train function is built once and cached by
every Keras from 1.x to 3.x), so a slice's time includes that per-call overhead: bench/timing_study.py
--ab-slices measures it against plain fit.
"""
from __future__ import print_function

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import counter_delta, counters, cpus_allowed, describe_exception, emit

BATCH_SIZE = 128


def device_seen(backend):
    """Which device the backend library itself reports: the runner never assumes it."""
    if backend == "tensorflow":
        from tensorflow.python.client import device_lib
        kinds = sorted(set(d.device_type for d in device_lib.list_local_devices()))
        return {"devices": kinds, "gpu": "GPU" in kinds}
    if backend == "theano":
        import theano
        return {"devices": [str(theano.config.device)], "gpu": str(theano.config.device).startswith(("gpu", "cuda"))}
    if backend == "cntk":
        import cntk
        kinds = [str(d) for d in cntk.device.all_devices()]
        return {"devices": kinds, "gpu": any("GPU" in k.upper() for k in kinds)}
    if backend == "jax":
        import jax
        kinds = sorted(set(d.platform for d in jax.devices()))
        return {"devices": kinds, "gpu": "gpu" in kinds or "cuda" in kinds}
    if backend == "torch":
        import torch
        return {"devices": ["cuda"] if torch.cuda.is_available() else ["cpu"], "gpu": torch.cuda.is_available()}
    if backend == "numpy":
        # NumPy has no device API: it computes on the host CPU only, which is what this says.
        import numpy
        return {"devices": ["cpu"], "gpu": False, "note": "numpy %s computes on the host CPU only"
                % numpy.__version__}
    if backend == "openvino":
        try:
            from openvino import Core
        except ImportError:  # releases before 2023.1 kept it in openvino.runtime only
            from openvino.runtime import Core
        kinds = sorted(set(str(d) for d in Core().available_devices))
        return {"devices": kinds, "gpu": any(k.upper().startswith("GPU") for k in kinds)}
    return {"devices": [], "gpu": False}


def parse_args(argv):
    parser = argparse.ArgumentParser(description="train the reference model, report per-epoch samples")
    parser.add_argument("data")
    parser.add_argument("epochs", type=int)
    parser.add_argument("--max-batches", type=int, default=None)
    parser.add_argument("--batch-group", type=int, default=1)
    parser.add_argument("--slices", type=int, default=0)
    parser.add_argument("--calibrate", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 1 or (args.max_batches is not None and args.max_batches < 1):
        parser.error("epochs and --max-batches must be at least 1")
    if args.batch_group < 0:
        parser.error("--batch-group must be 0 (no batch times) or more")
    if args.slices < 0:
        parser.error("--slices must be 0 (one fit call) or more")
    if args.calibrate < 0:
        parser.error("--calibrate must be 0 (none) or more repetitions")
    if args.slices:
        args.batch_group = 0  # slices time batches from outside: no batch callback at all
    return args


# The clock for batch times: monotonic where the Python has one (3.3+); Python 2.7 has time.time only.
_clock = getattr(time, "perf_counter", time.time)


class BatchClock(object):
    """Wall time of each group of `group` consecutive batches of one epoch, in integer microseconds.
    Keras-free so it can be tested anywhere; the Keras callback calls it from its batch hooks. Costs one
    clock read per batch begin and end, and an append per group."""

    def __init__(self, group):
        self.group = group
        self.reset()

    def reset(self):
        self.marks = []  # clock at the start of each group, then at the end of the last batch
        self.count = 0
        self.last_end = None

    def begin(self):
        if self.count % self.group == 0:
            self.marks.append(_clock())
        self.count += 1

    def end(self):
        self.last_end = _clock()

    def finish(self):
        """-> {batches, batch_group, batch_us} for the epoch just ended; {} when no batch was timed."""
        if not self.count or self.last_end is None:
            return {}
        marks = self.marks + [self.last_end]
        return {"batches": self.count, "batch_group": self.group,
                "batch_us": [int(round((b - a) * 1e6)) for a, b in zip(marks, marks[1:])]}


SLICES = "slices"  # the batch_clock of slice times (runner/model/vocabulary.py BatchClock)


# The calibration workload: the reference model's first layer, forward, on a batch (NumPy only, so the same
# in every image from Keras 0.3 to 3.x). Timed in the training's own process before and after the fit, it
# says how fast this machine was for dense float32 work at that moment: a reference for the VM's drift,
# not a figure of Keras.
CALIBRATION_DOTS = 100


def calibrate(np, repetitions):
    """Wall seconds of each repetition of CALIBRATION_DOTS (128 x 784) . (784 x 128) products and a relu."""
    state = np.random.RandomState(1)
    batch = state.rand(BATCH_SIZE, 784).astype("float32")
    weights = state.rand(784, 128).astype("float32")
    seconds = []
    for _ in range(repetitions):
        started = _clock()
        for _ in range(CALIBRATION_DOTS):
            np.maximum(batch.dot(weights), 0.0)
        seconds.append(round(_clock() - started, 6))
    return seconds


def slice_bounds(count, batch_size, per_slice):
    """[(start, stop), ...] of consecutive slices of per_slice batches covering `count` images; the last one
    holds what is left (and the short last batch)."""
    step = batch_size * per_slice
    return [(a, min(a + step, count)) for a in range(0, count, step)]


def fit_keywords(major, epochs, callbacks, shuffle):
    """fit's keyword arguments in the Keras release's spelling: Keras 1.x called epochs nb_epoch."""
    args = {"batch_size": BATCH_SIZE, "verbose": 0, "callbacks": callbacks, "shuffle": shuffle}
    args["nb_epoch" if major == 1 else "epochs"] = epochs
    return args


def train_in_slices(model, x_train, y_train, epochs, per_slice, np, major):
    """Train `epochs` epochs as fit calls over slices of per_slice batches, each timed from outside.
    -> (epoch_seconds, samples) like the epoch callback's, each sample with its slice times."""
    epoch_seconds, samples = [], []
    bounds = slice_bounds(len(x_train), BATCH_SIZE, per_slice)
    batches = -(-len(x_train) // BATCH_SIZE)
    for _ in range(epochs):
        started = counters()
        order = np.random.permutation(len(x_train))
        times = []
        for a, b in bounds:
            # Each slice gathered on its own, outside its timing: a copy of the whole shuffled epoch (188 MB of
            # MNIST) cost 0.9-1.5 s per epoch of fresh pages on this VM under load, more than the slices.
            x_part, y_part = x_train[order[a:b]], y_train[order[a:b]]
            begin = _clock()
            model.fit(x_part, y_part, **fit_keywords(major, 1, [], False))
            times.append(int(round((_clock() - begin) * 1e6)))
        delta = counter_delta(started, counters())
        delta.update({"batches": batches, "batch_group": per_slice, "batch_us": times, "batch_clock": SLICES})
        epoch_seconds.append(delta["wall"])
        samples.append(delta)
    return epoch_seconds, samples


OVERHEAD_REPEATS = 3  # fit calls of 1 batch and of K batches each, for the per-call overhead


def fit_call_overhead(model, x_train, y_train, per_slice, major):
    """A rough per-call overhead of fit, in microseconds: the median time of a fit call over 1 batch (t1) and
    over per_slice batches (tK), t1 = o + b and tK = o + K b give o = (K t1 - tK) / (K - 1). Run after the
    evaluation (the extra batches train the model further, after its accuracy is recorded). None for K = 1."""
    if per_slice < 2 or len(x_train) < per_slice * BATCH_SIZE:
        return None
    medians = []
    for count in (1, per_slice):
        times = []
        for _ in range(OVERHEAD_REPEATS):
            begin = _clock()
            model.fit(x_train[:count * BATCH_SIZE], y_train[:count * BATCH_SIZE],
                      **fit_keywords(major, 1, [], False))
            times.append(_clock() - begin)
        medians.append(sorted(times)[len(times) // 2])
    return int(round(max(0.0, (per_slice * medians[0] - medians[1]) / (per_slice - 1)) * 1e6))


def _major(version):
    try:
        return int(str(version or "2").split(".")[0])
    except ValueError:
        return 2


def training_slice(count, max_batches):
    """How many training images to use: all, or the first max_batches batches."""
    return count if max_batches is None else min(count, max_batches * BATCH_SIZE)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    data_path, epochs = args.data, args.epochs
    requested = os.environ.get("KERAS_BACKEND")
    result = {"backend": requested, "stage": "import", "epochs": epochs, "batch_size": BATCH_SIZE,
              "threads": os.environ.get("OMP_NUM_THREADS"), "cpus_allowed": cpus_allowed(),
              "max_batches": args.max_batches}
    try:
        import keras
        import numpy as np
        from keras import backend as K
        from keras.layers import Dense
        from keras.models import Sequential

        result["keras_version"] = getattr(keras, "__version__", None)
        result["backend_used"] = K.backend()
        if result["backend_used"] != requested:
            raise RuntimeError("Keras used backend %r although KERAS_BACKEND=%r" % (result["backend_used"], requested))
        result["device"] = device_seen(result["backend_used"])

        result["stage"] = "data"
        with np.load(data_path) as data:
            x_train = data["x_train"].reshape(-1, 784).astype("float32") / 255.0
            x_test = data["x_test"].reshape(-1, 784).astype("float32") / 255.0
            y_train = np.eye(10, dtype="float32")[data["y_train"]]
            y_test = np.eye(10, dtype="float32")[data["y_test"]]
        keep = training_slice(len(x_train), args.max_batches)
        x_train, y_train = x_train[:keep], y_train[:keep]
        result["train_images"] = int(keep)
        np.random.seed(0)

        result["stage"] = "build"
        major = _major(result["keras_version"])
        if major >= 3:
            model = Sequential([keras.Input(shape=(784,)), Dense(128, activation="relu"),
                                Dense(10, activation="softmax")])
        else:
            model = Sequential()
            model.add(Dense(128, input_dim=784, activation="relu"))
            model.add(Dense(10, activation="softmax"))
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

        epoch_seconds = []
        samples = []  # per epoch: wall, CPU of the process and of the container, throttling, host steal

        clock = BatchClock(args.batch_group) if args.batch_group else None

        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if clock:
                    clock.reset()
                self.started = counters()

            def on_epoch_end(self, epoch, logs=None):
                delta = counter_delta(self.started, counters())
                if clock:
                    delta.update(clock.finish())
                epoch_seconds.append(delta["wall"])
                samples.append(delta)

        class BatchTimer(keras.callbacks.Callback):
            def on_batch_begin(self, batch, logs=None):
                clock.begin()

            def on_batch_end(self, batch, logs=None):
                clock.end()

        if args.calibrate:
            result["stage"] = "calibrate"
            result["calibration"] = {"before": calibrate(np, args.calibrate)}

        result["stage"] = "train"
        callbacks = [EpochTimer()] + ([BatchTimer()] if clock else [])
        started = time.time()
        if args.slices:
            result["slices"] = args.slices
            epoch_seconds, samples = train_in_slices(model, x_train, y_train, epochs, args.slices, np, major)
        else:
            model.fit(x_train, y_train, **fit_keywords(major, epochs, callbacks, True))
        result["fit_seconds"] = time.time() - started
        result["epoch_seconds"] = epoch_seconds
        result["samples"] = samples

        result["stage"] = "evaluate"
        scores = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
        scores = scores if isinstance(scores, (list, tuple)) else [scores]
        result["test_loss"] = float(scores[0])
        result["test_accuracy"] = float(scores[-1])
        if args.calibrate:
            result["stage"] = "calibrate"
            result["calibration"]["after"] = calibrate(np, args.calibrate)
        if args.slices:
            result["stage"] = "overhead"
            result["fit_call_us"] = fit_call_overhead(model, x_train, y_train, args.slices, major)
        result["status"] = "ok"
    except BaseException as exc:
        result["status"] = "failed"
        result["error"] = describe_exception(exc)
    emit(result)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
