"""What the runner makes of a training container's output (epoch summaries, the training record) and the
timing protocol through an engine: warm-up left out, backends interleaved, re-measured until stable or
out of budget."""

import json

from runner.engine.protocol import RunOutcome
from runner.matrix.load import load_matrix
from runner.probe import MARKER
from runner.run.measure import combine, measure_backends, train_backend, train_process
from runner.run.timing import (
    BUDGETS,
    DEFAULT_PROTOCOL,
    LEAN_PROTOCOL,
    SMOKE_PROTOCOL,
    THOROUGH_PROTOCOL,
    calibration_of,
    tag_samples,
)
from tests.conftest import probe_scripts


class _Answer:
    """An engine that answers every run with one outcome."""

    def __init__(self, outcome):
        self.outcome = outcome

    def run(self, spec):
        return self.outcome


def _cell(tmp_path, device="cpu"):
    path = tmp_path / "m.yaml"
    path.write_text('version: 1\ncells:\n  - {name: a, era: py311, keras: "3.0.5", tensorflow: "2.16.2", '
                    'device: %s}\n' % device)
    return load_matrix(path).cells[0]


def test_a_gpu_cell_that_trained_on_the_cpu_failed(tmp_path):
    output = MARKER + '{"status": "ok", "epoch_seconds": [2, 1], "device": {"gpu": false, "devices": ["CPU"]}}\n'
    record = train_backend(_cell(tmp_path, "gpu"), _Answer(RunOutcome(0, output, 3.0)), "img", "tensorflow",
                           tmp_path, 60, gpu=True)
    assert record["status"] == "failed" and record["stage"] == "device" and record["error"]["type"] == "no_gpu"
    assert record["steady_epoch_seconds"] == 1.0


def test_a_container_that_died_without_a_result_is_a_crash_and_a_timeout_is_a_timeout(tmp_path):
    cell = _cell(tmp_path)
    crashed = train_backend(cell, _Answer(RunOutcome(139, "Segmentation fault\n", 1.0)), "img", "theano", tmp_path, 60)
    assert crashed["status"] == "failed" and crashed["stage"] == "container"
    assert crashed["error"]["type"] == "crash" and "139" in crashed["error"]["message"]
    assert "Segmentation fault" in crashed["log_tail"]
    late = train_backend(cell, _Answer(RunOutcome(None, "", 60.0, timed_out=True)), "img", "theano", tmp_path, 60)
    assert late["status"] == "timeout" and late["error"] == {"type": "timeout", "message": "training ran past 60s"}


# -- the protocol through the engine: warm-up, interleaving, re-measuring ------------------------------------


def _quiet(wall, busy_extra=0.0):
    return {"wall": wall, "process_cpu": wall * 1.9, "container_cpu": wall * 2, "throttled": 0.0,
            "nr_throttled": 0, "steal": 0.0, "cores_busy": wall * 2 + busy_extra}


class _Scripted:
    """Answers each backend's training processes from a script of epoch walls; logs the order of runs."""

    def __init__(self, walls_by_backend, seconds=10.0):
        self.script = {b: list(runs) for b, runs in walls_by_backend.items()}
        self.log = []
        self.specs = []
        self.seconds = seconds

    def run(self, spec):
        backend = spec.env["KERAS_BACKEND"]
        self.log.append(backend)
        self.specs.append(spec)
        walls = self.script[backend].pop(0)
        result = {"status": "ok", "epoch_seconds": walls, "samples": [_quiet(w) for w in walls],
                  "test_accuracy": 0.97, "backend_used": backend}
        return RunOutcome(0, MARKER + json.dumps(result) + "\n", self.seconds)


def _measure(tmp_path, engine, backends, protocol=THOROUGH_PROTOCOL, epochs=6):
    cell = _cell(tmp_path)
    cell = type(cell)(**{**cell.__dict__, "epochs": epochs})
    return measure_backends(backends, lambda b, p: train_process(cell, engine, "img", b, tmp_path, 60, "0-1",
                                                                  process=p, protocol=protocol),
                            protocol, time_left=lambda: True)


STEADY = [5.0, 1.00, 1.01, 0.99, 1.00, 1.01]  # a slow first epoch, then within 1%


def test_warm_up_epochs_are_recorded_but_never_in_the_headline(tmp_path):
    engine = _Scripted({"tensorflow": [STEADY, STEADY]})
    training = _measure(tmp_path, engine, ["tensorflow"])["tensorflow"]
    warm = [s for s in training["samples"] if s["warmup"]]
    assert [(s["process"], s["epoch"], s["wall"]) for s in warm] == [(1, 1, 5.0), (2, 1, 5.0)]
    assert len(training["samples"]) == 12 and training["timing"]["samples"] == 10
    assert training["timing"]["seconds"] == 1.0 == training["steady_epoch_seconds"]
    assert training["first_epoch_seconds"] == 5.0 and training["steady_epoch_spread"] == [0.99, 1.01]
    assert training["timing"]["verdict"] == "stable" and training["timing"]["causes"] == []


def test_backends_are_measured_interleaved_a_new_process_each_round(tmp_path):
    engine = _Scripted({b: [STEADY, STEADY] for b in ("tensorflow", "theano", "cntk")})
    trainings = _measure(tmp_path, engine, ["tensorflow", "theano", "cntk"])
    assert engine.log == ["tensorflow", "theano", "cntk", "tensorflow", "theano", "cntk"]
    assert all(t["timing"]["processes"] == 2 and t["seconds"] == 20.0 for t in trainings.values())
    assert all(spec.cpus is None and spec.cpuset == "0-1" for spec in engine.specs)  # pinned, no quota


def test_a_wide_training_is_measured_again_until_stable_and_only_it(tmp_path):
    noisy = [5.0, 1.0, 1.3, 0.8, 1.2, 0.9]
    engine = _Scripted({"tensorflow": [STEADY] * 4, "jax": [noisy, noisy, STEADY, STEADY]}, seconds=10.0)
    # budget: extra processes may cost half the first two rounds (40 s): room for two more of jax's
    protocol = type(THOROUGH_PROTOCOL)(remeasure_share=0.5)
    trainings = _measure(tmp_path, engine, ["tensorflow", "jax"], protocol)
    assert engine.log == ["tensorflow", "jax", "tensorflow", "jax", "jax", "jax"]
    assert trainings["tensorflow"]["timing"]["processes"] == 2
    assert trainings["jax"]["timing"]["processes"] == 4  # max_processes


def test_the_lean_budget_gives_one_process_and_a_second_interleaved_one_only_to_a_wide_training(tmp_path):
    noisy = [5.0, 1.0, 1.3, 0.8, 1.2, 0.9]
    engine = _Scripted({"tensorflow": [STEADY] * 3, "jax": [noisy] * 3}, seconds=10.0)
    trainings = _measure(tmp_path, engine, ["tensorflow", "jax"], LEAN_PROTOCOL)
    assert engine.log == ["tensorflow", "jax", "jax"]  # never a third process, though jax stays wide
    assert trainings["tensorflow"]["timing"]["processes"] == 1 and trainings["jax"]["timing"]["processes"] == 2
    assert trainings["jax"]["timing"]["verdict"] == "unstable"


def test_the_lean_budget_runs_one_process_of_warm_up_and_five_steady_epochs_and_is_the_default(tmp_path):
    engine = _Scripted({"tensorflow": [STEADY]})
    training = _measure(tmp_path, engine, ["tensorflow"], LEAN_PROTOCOL, epochs=3)["tensorflow"]
    assert engine.specs[0].command[3] == "6" and training["timing"]["processes"] == 1
    assert DEFAULT_PROTOCOL is LEAN_PROTOCOL is BUDGETS["lean"] and BUDGETS["thorough"] is THOROUGH_PROTOCOL
    assert (THOROUGH_PROTOCOL.min_processes, THOROUGH_PROTOCOL.max_processes) == (2, 4)  # the published runs'


def test_a_slices_protocol_asks_train_py_for_slices_and_no_batch_callback(tmp_path, monkeypatch):
    engine = _Scripted({"tensorflow": [STEADY]})
    _measure(tmp_path, engine, ["tensorflow"], LEAN_PROTOCOL.__class__(**{**LEAN_PROTOCOL.__dict__, "slices": 16}))
    _, train = probe_scripts(monkeypatch, "common", "train")
    args = train.parse_args(engine.specs[0].command[2:])
    assert args.slices == 16 and args.batch_group == 0


def test_the_budget_ends_re_measuring_and_a_still_wide_training_is_unstable(tmp_path):
    noisy = [5.0, 1.0, 1.3, 0.8, 1.2, 0.9]
    engine = _Scripted({"tensorflow": [noisy] * 4, "jax": [noisy] * 4}, seconds=10.0)
    protocol = type(THOROUGH_PROTOCOL)(remeasure_share=0.25)  # a quarter of 40 s: room for one more process
    trainings = _measure(tmp_path, engine, ["tensorflow", "jax"], protocol)
    assert engine.log == ["tensorflow", "jax", "tensorflow", "jax", "tensorflow"]
    timing = trainings["jax"]["timing"]
    assert timing["verdict"] == "unstable" and "after 2 process(es)" in timing["causes"][0]


def test_a_failed_process_ends_its_backend_and_fails_the_training(tmp_path):
    class _FailsSecond(_Scripted):
        def run(self, spec):
            if self.log.count(spec.env["KERAS_BACKEND"]) == 1:
                self.log.append(spec.env["KERAS_BACKEND"])
                return RunOutcome(139, "Segmentation fault\n", 1.0)
            return super().run(spec)

    engine = _FailsSecond({"theano": [STEADY] * 4})
    training = _measure(tmp_path, engine, ["theano"])["theano"]
    assert engine.log == ["theano", "theano"]
    assert training["status"] == "failed" and training["error"]["type"] == "crash"
    assert len(training["samples"]) == 6  # the good process's samples are kept


def test_smoke_measure_trains_once_on_a_few_batches(tmp_path):
    engine = _Scripted({"tensorflow": [[2.0, 0.1, 0.1]]})
    _measure(tmp_path, engine, ["tensorflow"], SMOKE_PROTOCOL, epochs=3)
    command = engine.specs[0].command
    # no calibration: a smoke training's figure is never read against the machine
    assert engine.log == ["tensorflow"] and command[-5:] == ["3", "--max-batches", "20", "--batch-group", "1"]


def test_a_process_runs_at_least_warm_up_plus_the_steady_epochs_or_the_cells_own_count(tmp_path):
    for cell_epochs, expected in ((3, "4"), (8, "8")):
        engine = _Scripted({"tensorflow": [STEADY, STEADY]})
        _measure(tmp_path, engine, ["tensorflow"], epochs=cell_epochs)
        assert engine.specs[0].command[3] == expected


def test_a_full_measure_turns_train_pys_batch_clock_off(tmp_path, monkeypatch):
    """train.py times every batch unless told otherwise (its --batch-group defaults to 1, for smoke measures
    and the study); a full measure's batch_group 0 must reach it as --batch-group 0, or every full training
    would run with the batch callback that slows Theano and TensorFlow 1.15 (docs/timing.md)."""
    engine = _Scripted({"tensorflow": [STEADY, STEADY]})
    _measure(tmp_path, engine, ["tensorflow"], epochs=3)
    _, train = probe_scripts(monkeypatch, "common", "train")
    args = train.parse_args(engine.specs[0].command[2:])  # after matrix-python and the script
    assert args.batch_group == 0 and args.slices == 0 and args.max_batches is None
    assert args.calibrate == DEFAULT_PROTOCOL.calibrate == 0  # off: it did not track the drift (docs/timing.md)


def test_the_calibration_reaches_every_sample_of_its_process_and_hostile_values_are_dropped():
    raw = [{"wall": 2.0}, {"wall": 1.0}, {"wall": 1.1}]
    median_of_both = calibration_of({"calibration": {"before": [0.1, 0.3, 0.2], "after": [0.4, 0.25, 9e9]}})
    assert median_of_both == 0.25  # 9e9 is no calibration time: dropped
    samples = tag_samples(raw, 2, 1, median_of_both)
    assert [s["calibration"] for s in samples] == [0.25] * 3 and samples[0]["warmup"]
    assert "calibration" not in tag_samples(raw, 1, 1)[0]
    for hostile in (None, [], {"before": "x"}, {"before": [-1, 0, True, "1"]}, {"after": [float("nan")]}):
        assert calibration_of({"calibration": hostile}) is None
    # valid JSON that no float holds (a 400-digit integer: float() raises OverflowError), and 1e999 (infinity)
    huge = json.loads("1" + "0" * 400)
    for hostile in ({"before": [huge]}, {"after": [float("inf"), float("-inf")]}):
        assert calibration_of({"calibration": hostile}) is None
    [kept] = tag_samples([{"wall": huge}, {"wall": float("inf")}, {"wall": 1.0, "steal": huge}], 1, 0)
    assert kept["epoch"] == 3 and kept["wall"] == 1.0 and kept["steal"] is None  # the third epoch, its steal dropped


def test_a_process_that_reported_only_its_warm_up_gives_no_figure_rather_than_a_warm_one(tmp_path):
    engine = _Scripted({"tensorflow": [[2.0], [2.1]]})
    training = _measure(tmp_path, engine, ["tensorflow"], epochs=1)["tensorflow"]
    assert training["steady_epoch_seconds"] is None and training["timing"] is None
    assert all(s["warmup"] for s in training["samples"])


def test_an_old_train_script_without_samples_still_gives_samples_from_its_epochs(tmp_path):
    output = MARKER + '{"status": "ok", "epoch_seconds": [3, 1, 1.1, 1.2]}\n'
    one = train_process(_cell(tmp_path), _Answer(RunOutcome(0, output, 3.0)), "img", "tensorflow", tmp_path, 60)
    record = combine([one])
    assert [s["wall"] for s in record["samples"]] == [3.0, 1.0, 1.1, 1.2]
    assert record["samples"][0]["warmup"] and record["timing"]["cpu_per_wall"] is None


def test_the_cfs_quota_is_dropped_only_where_the_cpuset_already_gives_exactly_the_limit(tmp_path):
    cell = _cell(tmp_path)  # cpus: 2
    fractional = type(cell)(**{**cell.__dict__, "limits": type(cell.limits)(cpus="1.5")})
    cases = ((cell, "0-1", None), (cell, "2,3", None), (cell, None, "2"), (fractional, "0-1", "1.5"))
    for which, cpuset, quota in cases:
        engine = _Scripted({"tensorflow": [STEADY]})
        train_process(which, engine, "img", "tensorflow", tmp_path, 60, cpuset)
        assert engine.specs[0].cpus == quota and engine.specs[0].cpuset == cpuset


class _Recorder(_Answer):
    def __init__(self, outcome):
        super().__init__(outcome)
        self.specs = []

    def run(self, spec):
        self.specs.append(spec)
        return self.outcome


def test_a_cell_without_scenarios_tells_the_probe_and_one_with_them_sets_nothing(tmp_path):
    """`scenarios: false` (or run --no-scenarios) reaches probe.py as one variable; the default cell's probe
    environment is what it always was."""
    import dataclasses

    from runner.run.measure import probe_cell

    cell = _cell(tmp_path)
    engine = _Recorder(RunOutcome(0, MARKER + '{"python": "3.11"}\n', 1.0))
    assert probe_cell(cell, engine, "img", 60)[0] == {"python": "3.11"}
    probe_cell(dataclasses.replace(cell, scenarios=False), engine, "img", 60)
    with_scenarios, without = engine.specs
    assert "MATRIX_PROBE_SCENARIOS" not in with_scenarios.env and without.env["MATRIX_PROBE_SCENARIOS"] == "0"
