"""What a training's samples say: headline, interval, verdict and its causes; the cache key follows the
protocol; the in-container counters of the host's cores."""

import dataclasses
import os

import pytest

from runner.matrix.load import load_matrix
from runner.run.cache import ResultCache
from runner.run.timing import (
    DEFAULT_PROTOCOL,
    LEAN_PROTOCOL,
    THOROUGH_PROTOCOL,
    assess,
    tag_samples,
    wants_another_process,
)
from tests.conftest import probe_scripts


def _sample(wall, process=1, epoch=2, foreign=0.0, steal=0.0, throttled=0.0, warmup=False):
    return {"process": process, "epoch": epoch, "warmup": warmup, "wall": wall, "process_cpu": wall,
            "container_cpu": 2 * wall, "throttled": throttled, "nr_throttled": 0, "steal": steal,
            "cores_busy": 2 * wall + foreign}


def _steady(n=10, wall=1.0, **kw):
    return [_sample(wall + (i % 3 - 1) * 0.005, process=1 + i // 5, epoch=2 + i % 5, **kw) for i in range(n)]


def test_tight_quiet_samples_are_stable_with_their_interval():
    timing = assess(_steady(), DEFAULT_PROTOCOL, "0-1")
    assert timing["verdict"] == "stable" and timing["causes"] == []
    assert timing["seconds"] == 1.0 and timing["interval"][0] <= 1.0 <= timing["interval"][1]
    assert timing["rel_width"] <= 0.03 and timing["samples"] == 10 and timing["processes"] == 2
    assert timing["cpu_per_wall"] == 2.0 and timing["foreign_share"] == 0.0 and timing["throttled_seconds"] == 0.0


def test_warm_up_samples_do_not_move_the_headline():
    samples = [_sample(9.0, epoch=1, warmup=True), _sample(9.0, process=2, epoch=1, warmup=True)] + _steady()
    timing = assess(samples, DEFAULT_PROTOCOL)
    assert timing["seconds"] == 1.0 and timing["samples"] == 10


def test_foreign_work_on_our_cores_makes_a_training_contended_and_says_how_much():
    timing = assess(_steady(foreign=0.38), DEFAULT_PROTOCOL, "0-1")
    assert timing["verdict"] == "contended"
    assert timing["causes"] == ["foreign work on cores 0-1: 38% of wall"]
    assert timing["foreign_share"] == pytest.approx(0.38, abs=0.001)


def test_a_single_burst_of_foreign_work_is_caught_but_tick_rounding_is_not():
    burst = _steady()
    burst[3] = _sample(1.0, foreign=0.4)
    assert assess(burst, DEFAULT_PROTOCOL, "0")["causes"] == ["foreign work on cores 0: 40% of wall"]
    rounding = _steady(foreign=0.02)  # two 10 ms ticks per 1 s epoch: 2%, not a neighbour
    assert assess(rounding, DEFAULT_PROTOCOL)["verdict"] == "stable"
    tiny = _steady(n=4, wall=0.012, foreign=0.01)  # 12 ms smoke epochs: one tick is 80% of wall, yet rounding
    assert assess(tiny, DEFAULT_PROTOCOL)["verdict"] != "contended"


def test_steal_and_throttling_are_named_with_their_size():
    timing = assess(_steady(steal=0.04, throttled=0.12), DEFAULT_PROTOCOL, "0-1")
    assert timing["verdict"] == "contended"
    assert timing["causes"] == ["host steal 4% of wall", "CFS throttling 1.20 s"]


def test_wide_samples_without_a_detected_cause_are_unstable_with_the_width():
    samples = [_sample(w, process=1 + i // 4) for i, w in enumerate([1.0, 1.3, 0.8, 1.2, 0.9, 1.1, 1.4, 0.7])]
    timing = assess(samples, DEFAULT_PROTOCOL)
    assert timing["verdict"] == "unstable"
    assert timing["causes"][0].startswith("95% interval +-") and "after 2 process(es), 8 steady epochs" in \
        timing["causes"][0]


def test_missing_counters_are_unknown_never_zero():
    samples = [{"process": 1, "epoch": 2, "warmup": False, "wall": 1.0} for _ in range(6)]
    timing = assess(samples, DEFAULT_PROTOCOL)
    assert timing["cpu_per_wall"] is None and timing["foreign_share"] is None and timing["steal_share"] is None
    assert timing["throttled_seconds"] is None and timing["verdict"] == "stable"


def test_samples_from_the_container_are_checked_and_tagged():
    raw = [{"wall": 3.0, "steal": "x", "nr_throttled": True}, "junk", {"wall": None}, {"wall": 1.0, "cores_busy": 2}]
    samples = tag_samples(raw, process=2, warmup_epochs=1)
    assert [(s["process"], s["epoch"], s["warmup"], s["wall"]) for s in samples] == [(2, 1, True, 3.0),
                                                                                     (2, 4, False, 1.0)]
    assert samples[0]["steal"] is None and samples[0]["nr_throttled"] is None and samples[1]["cores_busy"] == 2.0


def test_re_measuring_goes_on_to_the_minimum_then_while_wide_up_to_the_maximum():
    wide, tight = {"rel_width": 0.08}, {"rel_width": 0.01}
    assert wants_another_process(tight, 1, THOROUGH_PROTOCOL)  # below min_processes
    assert not wants_another_process(tight, 2, THOROUGH_PROTOCOL)
    assert wants_another_process(wide, 2, THOROUGH_PROTOCOL)
    assert not wants_another_process(wide, THOROUGH_PROTOCOL.max_processes, THOROUGH_PROTOCOL)
    # lean: one process, a second only while wide, never a third
    assert not wants_another_process(tight, 1, LEAN_PROTOCOL) and wants_another_process(wide, 1, LEAN_PROTOCOL)
    assert not wants_another_process(wide, 2, LEAN_PROTOCOL)


def test_the_cache_key_changes_with_the_protocol_and_the_measure_mode(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text('version: 1\ncells:\n  - {name: a, era: py311, keras: "3.0.5", tensorflow: "2.16.2"}\n')
    cell = load_matrix(path).cells[0]
    cache = ResultCache(tmp_path)
    key = cache.key(cell, "FROM x", "sha256:b", "d")
    assert key == cache.key(cell, "FROM x", "sha256:b", "d", DEFAULT_PROTOCOL)
    assert key != cache.key(cell, "FROM x", "sha256:b", "d", THOROUGH_PROTOCOL)  # another budget: measured anew
    assert key != cache.key(cell, "FROM x", "sha256:b", "d", dataclasses.replace(DEFAULT_PROTOCOL, min_processes=3))
    assert key != cache.key(cell, "FROM x", "sha256:b", "d", dataclasses.replace(DEFAULT_PROTOCOL, max_rel_width=0.05))
    smoke = dataclasses.replace(cell)
    object.__setattr__(smoke, "measure", "smoke")  # the sweeps' field, when the Cell has it
    assert cache.key(smoke, "FROM x", "sha256:b", "d") != key


# -- the in-container parts (Python 2.7 compatible; run here on the host's Python) ------------------------------

@pytest.fixture
def probe_modules(monkeypatch):
    return probe_scripts(monkeypatch, "common", "train")


STAT = """cpu  900 0 300 5000 10 0 5 7 0 0
cpu0 100 1 50 2000 4 0 2 3 0 0
cpu1 200 2 60 3000 6 0 3 4 0 0
cpu2 600 0 190 0 0 0 0 0 0 0
intr 1 2 3
"""


def test_cores_busy_counts_user_nice_system_irq_softirq_of_our_cpus_only(probe_modules):
    common, _ = probe_modules
    hz = float(os.sysconf("SC_CLK_TCK"))
    assert common.cores_busy_seconds([0, 1], STAT) == pytest.approx((153 + 265) / hz)  # no idle, iowait, steal
    assert common.cores_busy_seconds([1], STAT) == pytest.approx(265 / hz)
    assert common.cores_busy_seconds([7], STAT) is None  # a CPU we cannot see: unknown, not zero
    assert common.cores_busy_seconds(None, STAT) is None


def test_counters_carry_cores_busy_and_deltas_cover_it(probe_modules):
    common, _ = probe_modules
    start = common.counters()
    assert start["cores_busy"] is not None  # /proc/stat is readable here
    delta = common.counter_delta(start, dict(start, cores_busy=start["cores_busy"] + 0.5, wall=start["wall"] + 1))
    assert delta["cores_busy"] == 0.5 and delta["wall"] == 1.0
    assert common.counter_delta({"wall": 1.0}, {"wall": 2.0})["cores_busy"] is None


def test_train_arguments_and_the_smoke_slice(probe_modules):
    _, train = probe_modules
    args = train.parse_args(["/data/mnist.npz", "6", "--max-batches", "20"])
    assert (args.data, args.epochs, args.max_batches) == ("/data/mnist.npz", 6, 20)
    assert train.parse_args(["d", "3"]).max_batches is None
    assert train.training_slice(60000, 20) == 2560 and train.training_slice(60000, None) == 60000
    assert train.training_slice(100, 20) == 100
    with pytest.raises(SystemExit):
        train.parse_args(["d", "0"])
