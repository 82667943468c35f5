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


def test_gpu_cells_take_the_gpu_one_at_a_time_even_with_cores_free():
    pool = CorePool(8)
    events = []

    def gpu_cell(name):
        with pool.cores(1, gpu=True):
            events.append(name + " in")
            time.sleep(0.1)
            events.append(name + " out")

    threads = [threading.Thread(target=gpu_cell, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert [e.split()[1] for e in events] == ["in", "out", "in", "out"]


def test_a_training_waits_for_running_builds_and_blocks_new_ones():
    gate = TrainingGate()
    events = []
    build_started = threading.Event()

    def build(name, hold):
        with gate.building():
            build_started.set()
            events.append(name + " build in")
            time.sleep(hold)
            events.append(name + " build out")

    def training():
        with gate.training():
            events.append("training in")
            time.sleep(0.2)
            events.append("training out")

    first = threading.Thread(target=build, args=("first", 0.3))
    first.start()
    build_started.wait(2)
    trainer = threading.Thread(target=training)
    trainer.start()
    time.sleep(0.1)  # the training now waits for the first build
    second = threading.Thread(target=build, args=("second", 0.0))
    second.start()
    for thread in (first, trainer, second):
        thread.join(10)
    assert events == ["first build in", "first build out", "training in", "training out",
                      "second build in", "second build out"]
