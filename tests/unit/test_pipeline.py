"""The run loop with a fake engine: statuses, isolation of failures, results written as cells end.
(The real engine is exercised by tests/integration.)"""

import json
import threading
import time
from pathlib import Path

import pytest

from runner.data import MnistData
from runner.engine import BuildOutcome, RunOutcome
from runner.errors import EngineError, Interrupted, ResultsError
from runner.matrix import load_matrix
from runner.pipeline import RunOptions, cell_status, run_matrix
from runner.probe import MARKER
from runner.results import validate_results
from tests.conftest import cores_of

MATRIX = """
version: 1
cells:
  - {name: good, era: py27, keras: "2.3.1", tensorflow: "1.15.0", theano: "1.0.5"}
  - {name: nowheel, era: py311, keras: "2.3.1", tensorflow: "1.15.0"}
  - {name: half, era: py27, keras: "2.2.5", tensorflow: "1.14.0", theano: "1.0.5"}
  - {name: gpu, era: py311, keras: "3.15.1", tensorflow: "2.21.0", device: gpu}
  - {name: broken, era: py27, keras: "2.1.6", theano: "1.0.5"}
"""


class FakeEngine:
    """Scripted answers per image; records what the runner asked for."""

    def __init__(self, interrupt_on=None, daemon_dies_on=None, build_seconds=0.0, die_in_build=False, cpus=None,
                 run_seconds=0.0, gpu_runtime=False):
        self.gpu_runtime = gpu_runtime
        self.die_in_build = die_in_build
        self.cpus, self.run_seconds = cpus, run_seconds
        self.active_runs = {}  # -> (cpuset, gpu) of each container while it runs
        self.gpu_runs_together = 0
        self.overlapping_runs = []  # cpusets of runs that found others running
        self.runs = []
        self.builds = []
        self.build_seconds = build_seconds
        self.active_builds = 0
        self.most_parallel_builds = 0
        self.trainings_during_builds = 0
        self.lock = threading.Lock()
        self.interrupt_on = interrupt_on
        self.daemon_dies_on = daemon_dies_on
        self.dead = False

    def alive(self):
        return not self.dead

    def describe(self):
        return {"docker_version": "fake", "gpu_runtime": self.gpu_runtime, "cpus": self.cpus, "memory_bytes": 64 << 30}

    def image(self, ref):
        return {"Id": "sha256:base", "Config": {"Labels": {}}}

    def pull(self, ref, timeout=600):
        return True, "ok"

    def build(self, context, tag, **kwargs):
        with self.lock:
            self.builds.append(tag)
            self.active_builds += 1
            self.most_parallel_builds = max(self.most_parallel_builds, self.active_builds)
        time.sleep(self.build_seconds)
        with self.lock:
            self.active_builds -= 1
        if self.daemon_dies_on and self.daemon_dies_on in tag and kwargs.get("labels") is not None and self.die_in_build:
            self.dead = True
            return BuildOutcome(ok=False, seconds=1, log_tail="ERROR: Cannot connect to the Docker daemon\n")
        if "tf1.15.0-py311" in tag:
            return BuildOutcome(ok=False, seconds=1, log_tail="#9 1.2 ERROR: No matching distribution found for tensorflow==1.15.0\n")
        if "keras2.1.6" in tag:
            return BuildOutcome(ok=False, seconds=1, log_tail="#7 3.0 E: Unable to locate package python2.7\n")
        return BuildOutcome(ok=True, seconds=2, image_id="sha256:img", image_size=1000)

    def run(self, spec):
        self.runs.append(spec)
        if (self.dead and not self.die_in_build) or (self.daemon_dies_on and self.daemon_dies_on in spec.image):
            self.dead = True
            raise EngineError("cannot create a container: connection refused")
        if self.interrupt_on and self.interrupt_on in spec.image:
            raise KeyboardInterrupt
        key = object()
        with self.lock:
            if self.active_runs:
                self.overlapping_runs.append(sorted([c for c, _ in self.active_runs.values()] + [spec.cpuset]))
                if spec.gpu and any(gpu for _, gpu in self.active_runs.values()):
                    self.gpu_runs_together += 1
            self.active_runs[key] = (spec.cpuset, spec.gpu)
        time.sleep(self.run_seconds)
        with self.lock:
            del self.active_runs[key]
        if spec.command[1].endswith("probe.py"):
            result = {"python": "2.7.18", "installed": {"keras": "2.3.1"}, "libraries": {},
                      "default_backend": {"backend": "tensorflow", "error": None, "keras_json": {"backend": "tensorflow"},
                                          "keras_json_written": True}}
            return RunOutcome(0, "noise\n" + MARKER + json.dumps(result) + "\n", 1.0)
        backend = spec.env["KERAS_BACKEND"]
        if self.active_builds:
            self.trainings_during_builds += 1
        if "keras2.2.5" in spec.image and backend == "theano":
            result = {"status": "failed", "stage": "train", "error": {"type": "RuntimeError", "message": "boom"}}
            return RunOutcome(1, MARKER + json.dumps(result) + "\n", 1.0)
        result = {"status": "ok", "stage": "evaluate", "backend_used": backend, "epoch_seconds": [3.0, 2.0, 2.2],
                  "test_accuracy": 0.97, "test_loss": 0.1, "device": {"devices": ["CPU"], "gpu": False}}
        return RunOutcome(0, MARKER + json.dumps(result) + "\n", 8.0)

    def remove_image(self, ref):
        return True

    def disk_usage(self):
        return 1000 * len(self.builds)

    def remove_managed_containers(self):
        return 0

    def remove_stale_containers(self):
        return 0


@pytest.fixture
def setup(tmp_path):
    matrix_path = tmp_path / "m.yaml"
    matrix_path.write_text(MATRIX)
    matrix = load_matrix(matrix_path)
    data = MnistData(path=tmp_path / "data" / "mnist.npz", sha256="x", source="cache")
    options = RunOptions(results_dir=tmp_path / "results", dockerfiles_dir=tmp_path / "df", run_id="t",
                         progress="quiet", ca_bundle="/nonexistent", cache_dir=tmp_path / "cache")
    return matrix, data, options


def test_every_cell_gets_its_status_and_failures_do_not_stop_the_others(setup):
    matrix, data, options = setup
    doc = run_matrix(matrix, matrix.cells, FakeEngine(), data, options)
    status = {c["name"]: c["status"] for c in doc["cells"]}
    assert status == {"good": "ok", "nowheel": "unsatisfiable", "half": "partial", "gpu": "skipped",
                      "broken": "build_failed"}
    validate_results(json.loads((Path(options.results_dir) / "results.json").read_text()))
    by_name = {c["name"]: c for c in doc["cells"]}
    assert "No matching distribution" in by_name["nowheel"]["reason"]
    assert by_name["half"]["reason"].startswith("theano: RuntimeError: boom")
    assert by_name["good"]["trainings"]["tensorflow"]["steady_epoch_seconds"] == 2.1
    assert by_name["good"]["trainings"]["tensorflow"]["first_epoch_seconds"] == 3.0
    assert "no GPU runtime" in by_name["gpu"]["reason"]


def test_containers_get_no_network_read_only_data_and_the_backend_under_test(setup):
    matrix, data, options = setup
    engine = FakeEngine()
    run_matrix(matrix, matrix.cells[:1], engine, data, options)
    probe, *trainings = engine.runs
    assert "KERAS_BACKEND" not in probe.env and probe.env["HOME"] == "/tmp/home"
    assert [t.env["KERAS_BACKEND"] for t in trainings] == ["tensorflow", "theano"]
    for spec in engine.runs:
        assert all(m.read_only for m in spec.mounts)
        assert spec.user != "0" and spec.cpus == "2"
    assert trainings[0].env["OMP_NUM_THREADS"] == "2" and trainings[0].cpuset == "0-1"


def test_an_interrupt_keeps_finished_cells_and_marks_the_run_incomplete(setup):
    matrix, data, options = setup
    with pytest.raises(Interrupted):
        run_matrix(matrix, matrix.cells, FakeEngine(interrupt_on="keras2.2.5"), data, options)
    doc = validate_results(json.loads((Path(options.results_dir) / "results.json").read_text()))
    assert doc["complete"] is False
    # The GPU cell's skip was known before any build, so it is recorded at once.
    assert [c["name"] for c in doc["cells"]] == ["good", "nowheel", "gpu"]
    assert (Path(options.results_dir) / "cells" / "keras2.3.1-tf1.15.0-theano1.0.5-py27-cpu.json").exists()


@pytest.mark.parametrize("trainings,default,expected", [
    ({}, {"error": {"type": "ImportError", "message": "No module named tensorflow"}}, "import_failed"),
    ({}, {"backend": "tensorflow", "error": None}, "ok"),
    ({"a": {"status": "failed", "stage": "import"}, "b": {"status": "failed", "stage": "import"}}, {}, "import_failed"),
    ({"a": {"status": "failed", "stage": "train"}}, {}, "train_failed"),
    ({"a": {"status": "timeout", "stage": "train"}}, {}, "timeout"),
    ({"a": {"status": "ok"}, "b": {"status": "failed", "stage": "train"}}, {}, "partial"),
])
def test_status_taxonomy(trainings, default, expected):
    assert cell_status(None, trainings, default)[0] == expected


def test_a_daemon_that_dies_mid_run_stops_cleanly_and_resume_continues(setup):
    matrix, data, options = setup
    with pytest.raises(EngineError, match="stopped answering during cell keras2.2.5.*--resume --run-id t"):
        run_matrix(matrix, matrix.cells, FakeEngine(daemon_dies_on="keras2.2.5"), data, options)
    run_dir = Path(options.results_dir)
    assert [c["name"] for c in json.loads((run_dir / "results.json").read_text())["cells"]] == ["good", "nowheel", "gpu"]

    engine = FakeEngine()
    options.results_dir, options.resume = run_dir.parent, True
    doc = run_matrix(matrix, matrix.cells, engine, data, options)
    assert [c["name"] for c in doc["cells"]] == ["good", "nowheel", "half", "gpu", "broken"]
    assert doc["complete"] is True and sorted(doc["resumed_from"]["cells_kept"]) == sorted(
        ["keras2.3.1-tf1.15.0-theano1.0.5-py27-cpu", "keras2.3.1-tf1.15.0-py311-cpu",
         "keras3.15.1-tf2.21.0-py311-gpu"])
    assert not any("keras2.3.1-tf1.15.0-theano" in spec.image for spec in engine.runs)  # not measured again


def test_an_unwritable_results_directory_is_a_clear_error(setup, tmp_path):
    matrix, data, options = setup
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    options.results_dir = blocker
    with pytest.raises(ResultsError, match="cannot write results to .*not-a-directory"):
        run_matrix(matrix, matrix.cells[:1], FakeEngine(), data, options)


def _again(options, run_id, **changes):
    return RunOptions(results_dir=Path(options.results_dir).parent, dockerfiles_dir=options.dockerfiles_dir,
                      run_id=run_id, progress="quiet", ca_bundle="/nonexistent", cache_dir=options.cache_dir, **changes)


def test_an_unchanged_cell_is_neither_rebuilt_nor_measured_again(setup):
    matrix, data, options = setup
    first = run_matrix(matrix, matrix.cells, FakeEngine(), data, options)
    engine = FakeEngine()
    second = run_matrix(matrix, matrix.cells, engine, data, _again(options, "warm"))
    status = {c["name"]: (c["status"], c["cached"]) for c in second["cells"]}
    # Reproducible outcomes come from the cache; a build failure (maybe the network) is tried again.
    assert status == {"good": ("ok", True), "nowheel": ("unsatisfiable", True), "half": ("partial", True),
                      "gpu": ("skipped", False), "broken": ("build_failed", False)}
    assert engine.builds == ["keras-matrix/cell:keras2.1.6-theano1.0.5-py27-cpu"] and engine.runs == []
    good = {c["name"]: c for c in first["cells"]}["good"]
    cached_good = {c["name"]: c for c in second["cells"]}["good"]
    assert cached_good["trainings"] == good["trainings"] and cached_good["measured_in_run"] == "t"
    validate_results(json.loads((Path(options.results_dir).parent / "warm" / "results.json").read_text()))

    engine = FakeEngine()
    rerun = run_matrix(matrix, matrix.cells, engine, data, _again(options, "rerun", rerun=True))
    assert not any(c["cached"] for c in rerun["cells"]) and len(engine.builds) == 4


def test_changing_one_cell_measures_only_that_cell(setup, tmp_path):
    matrix, data, options = setup
    run_matrix(matrix, matrix.cells, FakeEngine(), data, options)
    changed = tmp_path / "changed.yaml"
    changed.write_text(MATRIX.replace('theano: "1.0.5"}\n  - {name: nowheel', 'theano: "1.0.5", epochs: 5}\n  - {name: nowheel'))
    matrix = load_matrix(changed)
    engine = FakeEngine()
    doc = run_matrix(matrix, matrix.cells, engine, data, _again(options, "changed"))
    measured = sorted({spec.image for spec in engine.runs})
    assert measured == ["keras-matrix/cell:keras2.3.1-tf1.15.0-theano1.0.5-py27-cpu"]
    assert {c["name"]: c["cached"] for c in doc["cells"]}["good"] is False


def test_builds_run_in_parallel_but_never_during_a_timed_training(setup):
    matrix, data, options = setup
    options.jobs = 3
    engine = FakeEngine(build_seconds=0.2)
    doc = run_matrix(matrix, matrix.cells, engine, data, options)
    assert engine.trainings_during_builds == 0 and engine.most_parallel_builds >= 2
    assert [c["name"] for c in doc["cells"]] == ["good", "nowheel", "half", "gpu", "broken"]  # matrix order kept
    assert doc["settings"]["jobs"] == 3 and doc["disk"]["layers_bytes_peak"] == 4000


def test_a_daemon_that_dies_during_a_build_is_not_recorded_as_a_build_failure(setup):
    matrix, data, options = setup
    with pytest.raises(EngineError, match="stopped answering during cell keras2.2.5"):
        run_matrix(matrix, matrix.cells, FakeEngine(daemon_dies_on="keras2.2.5", die_in_build=True), data, options)
    doc = json.loads((Path(options.results_dir) / "results.json").read_text())
    assert [c["name"] for c in doc["cells"]] == ["good", "nowheel", "gpu"] and doc["complete"] is False


def test_docker_timestamps_parse_and_unset_ones_are_none():
    from runner.engine import _docker_time

    assert _docker_time("2026-11-27T09:30:01.123456789Z") == 1795771801
    assert _docker_time("0001-01-01T00:00:00Z") is None and _docker_time("") is None and _docker_time("bad") is None


LANES_MATRIX = """
version: 1
defaults: {limits: {cpus: 2, memory: 4g}}
cells:
  - {name: a, era: py27, keras: "2.3.1", tensorflow: "1.15.0"}
  - {name: b, era: py27, keras: "2.2.5", tensorflow: "1.14.0"}
  - {name: c, era: py27, keras: "2.2.4", tensorflow: "1.13.2"}
  - {name: d, era: py27, keras: "2.2.2", tensorflow: "1.12.3"}
"""


def test_cells_measured_side_by_side_get_disjoint_cores_and_never_meet_a_build(setup, tmp_path):
    _, data, options = setup
    path = tmp_path / "lanes.yaml"
    path.write_text(LANES_MATRIX)
    matrix = load_matrix(path)
    engine = FakeEngine(cpus=4, run_seconds=0.15, build_seconds=0.1)
    doc = run_matrix(matrix, matrix.cells, engine, data, options)
    assert doc["settings"]["lanes"] == 2  # 4 CPUs hold two 2-core cells
    assert [c["name"] for c in doc["cells"]] == ["a", "b", "c", "d"]  # matrix order, whatever ended first
    assert engine.overlapping_runs, "two lanes never measured at the same time"
    for cpusets in engine.overlapping_runs:  # containers running together never share a core
        cores = [core for cpuset in cpusets for core in cores_of(cpuset)]
        assert len(cores) == len(set(cores))
    assert {spec.cpuset for spec in engine.runs} <= {"0-1", "2-3"}
    assert engine.trainings_during_builds == 0
    for cell in doc["cells"]:
        assert cell["cpuset"] in ("0-1", "2-3") and cell["trainings"]["tensorflow"]["cpuset"] == cell["cpuset"]
        assert cell["measure_seconds"] == 9.0  # probe 1 s + training 8 s, as the engine reported


def test_one_lane_measures_one_cell_at_a_time(setup, tmp_path):
    _, data, options = setup
    path = tmp_path / "lanes.yaml"
    path.write_text(LANES_MATRIX)
    matrix = load_matrix(path)
    options.lanes = 1
    engine = FakeEngine(cpus=4, run_seconds=0.05)
    doc = run_matrix(matrix, matrix.cells, engine, data, options)
    assert doc["settings"]["lanes"] == 1 and engine.overlapping_runs == []



@pytest.mark.parametrize("cores,text", [([0], "0"), ([0, 1], "0-1"), ([3, 0, 1, 2], "0-3"), ([0, 1, 2, 5], "0-2,5"),
                                        ([1, 3, 5], "1,3,5")])
def test_cpuset_text(cores, text):
    from runner.pipeline import cpuset_text

    assert cpuset_text(cores) == text and sorted(cores_of(text)) == sorted(cores)


def test_lanes_fit_the_cores_and_the_memory(tmp_path):
    from runner.pipeline import lanes_for

    def cells(text):
        path = tmp_path / "m.yaml"
        path.write_text("version: 1\n" + text)
        return load_matrix(path).cells

    two_core = cells('defaults: {limits: {cpus: 2, memory: 6g}}\ncells:\n' + "".join(
        '  - {name: x%d, era: py311, keras: "3.0.%d", tensorflow: "2.16.2"}\n' % (i, i) for i in range(10)))
    assert lanes_for(two_core, 2, 64 << 30) == 1
    assert lanes_for(two_core, 16, 64 << 30) == 8
    assert lanes_for(two_core, 16, 20 << 30) == 3  # three 6g limits fit in 20 GiB, not four
    assert lanes_for(two_core, 1, None) == 1
    odd = cells('defaults: {limits: {cpus: "1.5", memory: 2g}}\ncells:\n' + "".join(
        '  - {name: x%d, era: py311, keras: "3.0.%d", tensorflow: "2.16.2"}\n' % (i, i) for i in range(10)))
    assert lanes_for(odd, 8, None) == 4  # 1.5 CPUs is pinned to 2 whole cores
    assert lanes_for(two_core, 16, 20 << 30, requested=5) == 5  # asked for: memory limits are caps, not use
    assert lanes_for(two_core, 2, 64 << 30, requested=4) == 1  # but never more than the cores hold
    assert lanes_for(two_core[:3], 16, 64 << 30) == 3 and lanes_for(two_core[:1], 16, 64 << 30, requested=4) == 1


def test_the_core_pool_lends_disjoint_cores_and_waits_when_none_are_free():
    from runner.pipeline import CorePool

    pool = CorePool(3)
    with pool.cores(2) as first:
        assert first == "0-1"
        got = []
        waiter = threading.Thread(target=lambda: got.append(pool.cores(2).__enter__()))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and got == []  # only core 2 is free
    waiter.join(3)
    assert got == ["0-1"]
    with CorePool(2).cores(8) as everything:  # more than the host has: all of it, never a deadlock
        assert everything == "0-1"


def test_gpu_cells_never_share_the_gpu_even_in_separate_lanes(setup, tmp_path):
    _, data, options = setup
    path = tmp_path / "gpu.yaml"
    path.write_text(LANES_MATRIX.replace('}\n', ', device: gpu}\n').replace("limits: {cpus: 2, memory: 4g}, device: gpu}",
                                                                          "limits: {cpus: 2, memory: 4g}}"))
    matrix = load_matrix(path)
    assert all(cell.device == "gpu" for cell in matrix.cells)
    engine = FakeEngine(cpus=4, run_seconds=0.1, gpu_runtime=True)
    doc = run_matrix(matrix, matrix.cells, engine, data, options)
    assert doc["settings"]["lanes"] == 2 and engine.runs and all(spec.gpu for spec in engine.runs)
    assert engine.gpu_runs_together == 0
