"""The run's concurrency tools: cpusets, how many lanes fit, the core pool and the training gate."""

import threading
import time

import pytest

from runner.matrix.load import load_matrix
from runner.run.scheduling import CorePool, TrainingGate, cores_for, cpuset_text, lanes_for, memory_bytes
from tests.conftest import cores_of


@pytest.mark.parametrize("cores,text", [([0], "0"), ([0, 1], "0-1"), ([3, 0, 1, 2], "0-3"), ([0, 1, 2, 5], "0-2,5"),
                                        ([1, 3, 5], "1,3,5")])
def test_cpuset_text(cores, text):
    assert cpuset_text(cores) == text and sorted(cores_of(text)) == sorted(cores)


def _cells(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\n" + text)
    return load_matrix(path).cells


def _ten(limits):
    return 'defaults: {limits: %s}\ncells:\n' % limits + "".join(
        '  - {name: x%d, era: py311, keras: "3.0.%d", tensorflow: "2.16.2"}\n' % (i, i) for i in range(10))


def test_lanes_fit_the_cores_and_the_memory(tmp_path):
    two_core = _cells(tmp_path, _ten("{cpus: 2, memory: 6g}"))
    assert lanes_for(two_core, 2, 64 << 30) == 1
    assert lanes_for(two_core, 16, 64 << 30) == 8
    assert lanes_for(two_core, 16, 20 << 30) == 3  # three 6g limits fit in 20 GiB, not four
    assert lanes_for(two_core, 1, None) == 1
    assert lanes_for(two_core, 16, 20 << 30, requested=5) == 5  # asked for: memory limits are caps, not use
    assert lanes_for(two_core, 2, 64 << 30, requested=4) == 1  # but never more than the cores hold
    assert lanes_for(two_core[:3], 16, 64 << 30) == 3 and lanes_for(two_core[:1], 16, 64 << 30, requested=4) == 1
    assert lanes_for([], 16, 64 << 30) == 1


def test_a_fractional_cpu_limit_is_pinned_to_whole_cores(tmp_path):
    odd = _cells(tmp_path, _ten('{cpus: "1.5", memory: 2g}'))
    assert cores_for(odd[0], 8) == 2 and cores_for(odd[0], 1) == 1
    assert lanes_for(odd, 8, None) == 4


@pytest.mark.parametrize("text,expected", [("512k", 512 * 1024), ("6g", 6 * 1024 ** 3), ("300m", 300 * 1024 ** 2)])
def test_memory_limits_are_binary_multiples(text, expected):
    assert memory_bytes(text) == expected


def test_the_core_pool_lends_disjoint_cores_and_waits_when_none_are_free():
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


class WaitRecorder(threading.Condition):
    """A Condition that notes which thread waits on it: a test then knows a thread is blocked in the pool
    or the gate, instead of sleeping and hoping it got there."""

    def __init__(self):
        super().__init__()
        self.waiting = set()

    def wait(self, timeout=None):
        self.waiting.add(threading.current_thread().name)
        try:
            return super().wait(timeout)
        finally:
            self.waiting.discard(threading.current_thread().name)


class LockRecorder:
    """A Lock that notes which thread is blocked acquiring it (the pool's GPU lock)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.waiting = set()

    def __enter__(self):
        name = threading.current_thread().name
        if not self._lock.acquire(blocking=False):
            self.waiting.add(name)
            self._lock.acquire()
            self.waiting.discard(name)
        return self

    def __exit__(self, *exc):
        self._lock.release()


def _until(predicate, what):
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting until " + what
        time.sleep(0.002)


def _holding(events, name, gate_open):
    """A job body that records entering, holds until the test opens its gate, then records leaving."""
    def body():
        events.append(name + " in")
        assert gate_open.wait(10)
        events.append(name + " out")
    return body


def test_gpu_cells_take_the_gpu_one_at_a_time_even_with_cores_free():
    pool = CorePool(8)
    pool._gpu = recorder = LockRecorder()
    events = []
    release_a, release_b = threading.Event(), threading.Event()
    release_b.set()

    def gpu_cell(body):
        with pool.cores(1, gpu=True):
            body()

    a = threading.Thread(target=gpu_cell, args=(_holding(events, "a", release_a),), name="a")
    a.start()
    _until(lambda: events == ["a in"], "a holds the GPU")
    b = threading.Thread(target=gpu_cell, args=(_holding(events, "b", release_b),), name="b")
    b.start()
    _until(lambda: "b" in recorder.waiting, "b waits for the GPU")
    assert events == ["a in"]  # 7 cores are free, yet b waits
    release_a.set()
    for thread in (a, b):
        thread.join(10)
    assert events == ["a in", "a out", "b in", "b out"]


def test_a_training_waits_for_running_builds_and_blocks_new_ones():
    gate = TrainingGate()
    gate._cond = recorder = WaitRecorder()
    events = []
    release_first, release_training, release_second = threading.Event(), threading.Event(), threading.Event()
    release_second.set()

    def build(body):
        with gate.building():
            body()

    def training():
        with gate.training():
            _holding(events, "training", release_training)()

    first = threading.Thread(target=build, args=(_holding(events, "first build", release_first),), name="first")
    first.start()
    _until(lambda: events == ["first build in"], "the first build runs")
    trainer = threading.Thread(target=training, name="trainer")
    trainer.start()
    _until(lambda: "trainer" in recorder.waiting, "the training waits for the first build")
    second = threading.Thread(target=build, args=(_holding(events, "second build", release_second),), name="second")
    second.start()
    _until(lambda: "second" in recorder.waiting, "the second build waits for the training")
    assert events == ["first build in"]
    release_first.set()
    _until(lambda: events[-1:] == ["training in"], "the training runs once the first build ended")
    assert "second" in recorder.waiting and "second build in" not in events  # blocked while the training runs
    release_training.set()
    for thread in (first, trainer, second):
        thread.join(10)
    assert events == ["first build in", "first build out", "training in", "training out",
                      "second build in", "second build out"]
