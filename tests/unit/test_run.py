"""The run loop with a fake engine: statuses, isolation of failures, results written as cells end, lanes,
gates, interrupts, a dying engine, resume and the cache. (The real engine is exercised by tests/integration.)"""

import dataclasses
import inspect
import json
from pathlib import Path

import pytest

from runner.engine.protocol import Engine
from runner.matrix.load import load_matrix
from runner.results.store import validate_results
from runner.run import loop
from runner.run.loop import run_matrix
from runner.util.errors import EngineError, Interrupted, ResultsError
from tests.conftest import cores_of
from tests.fakes import MATRIX, FakeEngine

GOOD_ID = "keras2.3.1-tf1.15.0-theano1.0.5-py27-cpu"


@pytest.fixture
def setup(fake_run):
    return fake_run  # (matrix, data, options) of the fake engine's matrix: tests/unit/conftest.py


def run_dir(options, run_id="t"):
    return Path(options.results_dir) / run_id


def test_the_fake_engine_has_every_protocol_method_with_a_compatible_signature():
    methods = [name for name, value in vars(Engine).items() if inspect.isfunction(value) and not name.startswith("_")]
    assert "run" in methods and "build" in methods
    for name in methods:
        wanted = inspect.signature(getattr(Engine, name)).parameters
        got = inspect.signature(getattr(FakeEngine, name)).parameters
        assert list(got) == list(wanted), name
        for param in wanted.values():
            assert got[param.name].kind == param.kind, (name, param.name)
            assert got[param.name].default == param.default, (name, param.name)


def test_every_cell_gets_its_status_and_failures_do_not_stop_the_others(setup):
    matrix, data, options = setup
    doc = run_matrix(matrix, matrix.cells, FakeEngine(), data, options)
    status = {c["name"]: c["status"] for c in doc["cells"]}
    assert status == {"good": "ok", "nowheel": "unsatisfiable", "half": "partial", "gpu": "skipped",
                      "broken": "build_failed"}
    on_disk = json.loads((run_dir(options) / "results.json").read_text())
    validate_results(on_disk)
    assert [c["status"] for c in on_disk["cells"]] == ["ok", "unsatisfiable", "partial", "skipped", "build_failed"]
    by_name = {c["name"]: c for c in doc["cells"]}
    assert "No matching distribution" in by_name["nowheel"]["reason"]
    assert by_name["half"]["reason"].startswith("theano: RuntimeError: boom")
    assert by_name["good"]["trainings"]["tensorflow"]["steady_epoch_seconds"] == 2.1
    assert by_name["good"]["trainings"]["tensorflow"]["first_epoch_seconds"] == 3.0
    assert by_name["good"]["device_used"] == "cpu" and by_name["good"]["installed"] == {"keras": "2.3.1"}
    assert by_name["good"]["build"]["status"] == "built" and by_name["broken"]["build"]["status"] == "failed"
    assert "no GPU runtime" in by_name["gpu"]["reason"]
    # Every record has the same keys, whatever its outcome: one layout.
    keys = {name: set(record) - {"cpuset", "measure_started_at", "measure_seconds", "cache_key", "measured_in_run"}
            for name, record in by_name.items()}
    assert all(k == keys["good"] for k in keys.values()), keys


def test_the_options_are_not_changed_and_can_be_used_again(setup):
    matrix, data, options = setup
    before = dataclasses.asdict(options)
    run_matrix(matrix, matrix.cells[:1], FakeEngine(), data, options)
    assert dataclasses.asdict(options) == before
    doc = run_matrix(matrix, matrix.cells[:1], FakeEngine(), data, dataclasses.replace(options, run_id="again"))
    assert (run_dir(options, "again") / "cells" / (GOOD_ID + ".json")).exists() and doc["run_id"] == "again"


def test_cell_files_are_stable_sorted_json(setup):
    matrix, data, options = setup
    doc = run_matrix(matrix, matrix.cells[:1], FakeEngine(), data, options)
    text = (run_dir(options) / "cells" / (GOOD_ID + ".json")).read_text()
    assert text == json.dumps(doc["cells"][0], indent=2, sort_keys=True) + "\n"


def test_containers_get_read_only_mounts_the_backend_under_test_and_pinned_threads_and_cores(setup):
    matrix, data, options = setup
    engine = FakeEngine()
    doc = run_matrix(matrix, matrix.cells[:1], engine, data, dataclasses.replace(options, timing_budget="thorough"))
    assert doc["settings"]["timing_budget"] == "thorough"
    probe, *trainings = engine.runs
    assert "KERAS_BACKEND" not in probe.env and probe.env["HOME"] == "/tmp/home"
    # backends interleaved, a new process each round (runner/run/timing.py; thorough: at least two rounds)
    assert [t.env["KERAS_BACKEND"] for t in trainings][:4] == ["tensorflow", "theano", "tensorflow", "theano"]
    for spec in engine.runs:
        assert spec.mounts and all(m.read_only for m in spec.mounts)
        assert spec.cpus is None and spec.cpuset == "0-1"  # pinned: the cpuset bounds it, no CFS quota
    assert trainings[0].env["OMP_NUM_THREADS"] == "2" and trainings[0].cpuset == "0-1"


def test_an_interrupt_keeps_finished_cells_and_marks_the_run_incomplete(setup):
    matrix, data, options = setup
    with pytest.raises(Interrupted, match="3 finished cells kept"):
        run_matrix(matrix, matrix.cells, FakeEngine(interrupt_on="keras2.2.5"), data, options)
    doc = validate_results(json.loads((run_dir(options) / "results.json").read_text()))
    assert doc["complete"] is False
    # The GPU cell's skip was known before any build, so it is recorded at once.
    assert [c["name"] for c in doc["cells"]] == ["good", "nowheel", "gpu"]
    assert (run_dir(options) / "cells" / (GOOD_ID + ".json")).exists()


def test_a_daemon_that_dies_mid_run_stops_cleanly_and_resume_continues(setup):
    matrix, data, options = setup
    with pytest.raises(EngineError, match="stopped answering during cell keras2.2.5.*--resume --run-id t"):
        run_matrix(matrix, matrix.cells, FakeEngine(daemon_dies_on="keras2.2.5"), data, options)
    assert [c["name"] for c in json.loads((run_dir(options) / "results.json").read_text())["cells"]] == [
        "good", "nowheel", "gpu"]

    engine = FakeEngine()
    doc = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, resume=True))
    assert [c["name"] for c in doc["cells"]] == ["good", "nowheel", "half", "gpu", "broken"]
    assert doc["complete"] is True and sorted(doc["resumed_from"]["cells_kept"]) == sorted(
        [GOOD_ID, "keras2.3.1-tf1.15.0-py311-cpu", "keras3.15.1-tf2.21.0-py311-gpu"])
    assert not any("keras2.3.1-tf1.15.0-theano" in spec.image for spec in engine.runs)  # not measured again


def test_an_unwritable_results_directory_is_a_clear_error(setup, tmp_path):
    matrix, data, options = setup
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    with pytest.raises(ResultsError, match="cannot write results to .*not-a-directory"):
        run_matrix(matrix, matrix.cells[:1], FakeEngine(), data, dataclasses.replace(options, results_dir=blocker))


def test_an_unchanged_cell_is_neither_rebuilt_nor_measured_again(setup):
    matrix, data, options = setup
    first = run_matrix(matrix, matrix.cells, FakeEngine(), data, options)
    engine = FakeEngine()
    second = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, run_id="warm"))
    status = {c["name"]: (c["status"], c["cached"]) for c in second["cells"]}
    # Reproducible outcomes come from the cache; a build failure (maybe the network) is tried again.
    assert status == {"good": ("ok", True), "nowheel": ("unsatisfiable", True), "half": ("partial", True),
                      "gpu": ("skipped", False), "broken": ("build_failed", False)}
    assert engine.builds == ["keras-matrix/cell:keras2.1.6-theano1.0.5-py27-cpu"] and engine.runs == []
    good = {c["name"]: c for c in first["cells"]}["good"]
    cached_good = {c["name"]: c for c in second["cells"]}["good"]
    assert cached_good["trainings"] == good["trainings"] and cached_good["measured_in_run"] == "t"
    validate_results(json.loads((run_dir(options, "warm") / "results.json").read_text()))

    engine = FakeEngine()
    rerun = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, run_id="rerun", rerun=True))
    assert not any(c["cached"] for c in rerun["cells"]) and len(engine.builds) == 4


def test_changing_one_cell_measures_only_that_cell(setup, tmp_path):
    matrix, data, options = setup
    run_matrix(matrix, matrix.cells, FakeEngine(), data, options)
    changed = tmp_path / "changed.yaml"
    changed.write_text(MATRIX.replace('theano: "1.0.5"}\n  - {name: nowheel',
                                      'theano: "1.0.5", epochs: 5}\n  - {name: nowheel'))
    matrix = load_matrix(changed)
    engine = FakeEngine()
    doc = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, run_id="changed"))
    measured = sorted({spec.image for spec in engine.runs})
    assert measured == ["keras-matrix/cell:" + GOOD_ID]
    assert {c["name"]: c["cached"] for c in doc["cells"]}["good"] is False


def test_prune_removes_the_images_of_built_cells_only(setup):
    matrix, data, options = setup
    engine = FakeEngine()
    doc = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, prune=True))
    assert sorted(engine.removed_images) == sorted(["keras-matrix/cell:" + GOOD_ID,
                                                    "keras-matrix/cell:keras2.2.5-tf1.14.0-theano1.0.5-py27-cpu"])
    # A removed image leaves its layers in BuildKit's cache: --prune trims it after each pruned cell too,
    # and the run says how much that gave back.
    assert engine.cache_trims == [loop.PRUNED_BUILD_CACHE_KEEP] * 2
    assert doc["disk"]["build_cache_trimmed_bytes"] == 1000


def test_prune_empties_the_build_cache_when_the_engines_disk_runs_low(setup):
    # BuildKit's size accounting misses what cache mounts grew by; free disk is the fact that counts
    matrix, data, options = setup
    engine = FakeEngine()
    engine.free_disk = loop.PRUNED_LOW_DISK - 1
    doc = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, prune=True))
    assert engine.cache_trims == [loop.PRUNED_BUILD_CACHE_KEEP, -1] * 2
    assert doc["disk"]["build_cache_emptied"] == 2 and doc["disk"]["build_cache_trimmed_bytes"] == 2000


def test_without_prune_the_build_cache_is_left_alone(setup):
    matrix, data, options = setup
    engine = FakeEngine()
    doc = run_matrix(matrix, matrix.cells, engine, data, options)
    assert engine.cache_trims == [] and "build_cache_trimmed_bytes" not in doc["disk"]
    assert doc["disk"]["build_cache_bytes_start"] == 0  # the fake's cache is empty: a cold run, recorded


def test_builds_run_in_parallel_but_never_during_a_timed_training(setup):
    matrix, data, options = setup
    engine = FakeEngine(build_seconds=0.2)
    doc = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, jobs=3))
    assert engine.trainings_during_builds == 0 and engine.most_parallel_builds >= 2
    assert [c["name"] for c in doc["cells"]] == ["good", "nowheel", "half", "gpu", "broken"]  # matrix order kept
    assert doc["settings"]["jobs"] == 3 and doc["disk"]["layers_bytes_peak"] == 4000


def test_a_daemon_that_dies_during_a_build_is_not_recorded_as_a_build_failure(setup):
    matrix, data, options = setup
    with pytest.raises(EngineError, match="stopped answering during cell keras2.2.5"):
        run_matrix(matrix, matrix.cells, FakeEngine(daemon_dies_on="keras2.2.5", die_in_build=True), data, options)
    doc = json.loads((run_dir(options) / "results.json").read_text())
    assert [c["name"] for c in doc["cells"]] == ["good", "nowheel", "gpu"] and doc["complete"] is False


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
        assert cell["measure_seconds"] == 9.0  # probe 1 s + one training process of 8 s (engine; lean budget)


def test_one_lane_measures_one_cell_at_a_time(setup, tmp_path):
    _, data, options = setup
    path = tmp_path / "lanes.yaml"
    path.write_text(LANES_MATRIX)
    matrix = load_matrix(path)
    engine = FakeEngine(cpus=4, run_seconds=0.05)
    doc = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, lanes=1))
    assert doc["settings"]["lanes"] == 1 and engine.overlapping_runs == []
    assert len(engine.runs) == 8  # every cell was measured (probe, one training process: lean), one after the other


def test_gpu_cells_never_share_the_gpu_even_in_separate_lanes(setup, tmp_path):
    _, data, options = setup
    path = tmp_path / "gpu.yaml"
    path.write_text(LANES_MATRIX.replace('"}\n', '", device: gpu}\n'))
    matrix = load_matrix(path)
    assert all(cell.device == "gpu" for cell in matrix.cells)
    engine = FakeEngine(cpus=4, run_seconds=0.1, gpu_runtime=True)
    doc = run_matrix(matrix, matrix.cells, engine, data, options)
    assert doc["settings"]["lanes"] == 2 and engine.runs and all(spec.gpu for spec in engine.runs)
    assert engine.gpu_runs_together == 0 and engine.overlapping_runs == []


def test_build_cache_gives_each_cell_a_directory_of_its_own(setup, tmp_path):
    # A local BuildKit cache has one index: two cells sharing a directory would overwrite each other's entries.
    matrix, data, options = setup
    engine = FakeEngine()
    cache = tmp_path / "buildkit"
    run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, build_cache=cache))
    built = [tag.split(":", 1)[1] for tag in engine.builds]
    assert built and engine.build_caches == [cache / cell_id for cell_id in built]


class _CountingEngine(FakeEngine):
    """Records, as each build starts, how many built images are still on the engine (not yet removed)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built_ok, self.present_at_build = [], []

    def build(self, spec):
        with self.lock:
            self.present_at_build.append(len(set(self.built_ok) - set(self.removed_images)))
        outcome = super().build(spec)
        if outcome.ok:
            with self.lock:
                self.built_ok.append(spec.tag)
        return outcome


def test_prune_keeps_builds_within_its_slots_of_measuring(setup, monkeypatch):
    """Builds are quicker than measuring: unbounded, every image was built long before its turn (51 GB of
    unmeasured images on 2026-12-03). Under --prune a build waits for a slot, given back once its cell is
    measured and its image removed; without --prune builds run ahead as before."""
    from runner.run.context import AheadLimit

    matrix, data, options = setup
    made = []
    monkeypatch.setattr(loop, "AheadLimit", lambda slots: made.append(slots) or AheadLimit(1))
    engine = _CountingEngine(run_seconds=0.05)
    doc = run_matrix(matrix, matrix.cells, engine, data, dataclasses.replace(options, prune=True, jobs=3))
    assert made == [doc["settings"]["lanes"] + 3]  # the real bound: one round of the lanes and the builds
    assert len(engine.present_at_build) == 4 and max(engine.present_at_build) == 0
    assert {c["name"]: c["status"] for c in doc["cells"]}["good"] == "ok"
    free = _CountingEngine(run_seconds=0.05)
    run_matrix(matrix, matrix.cells, free, data, dataclasses.replace(options, jobs=3, run_id="unbounded", rerun=True))
    assert max(free.present_at_build) >= 1


def test_builds_take_their_slots_in_turn_and_a_waiting_build_stops_with_the_run():
    import threading

    from runner.run.context import AheadLimit, StopRequest

    limit, stop = AheadLimit(2), StopRequest()
    limit.take(0, stop)
    limit.take(1, stop)
    started = []
    later = threading.Thread(target=lambda: (limit.take(3, stop), started.append(3)))
    later.start()
    limit.give_back()  # one cell measured: build 2 may start, build 3 still waits its turn
    limit.take(2, stop)
    later.join(timeout=1.0)
    assert started == [] and later.is_alive()
    limit.give_back()
    later.join(timeout=5.0)
    assert started == [3]
    stop.requested = True
    with pytest.raises(KeyboardInterrupt):
        limit.take(10, stop)
