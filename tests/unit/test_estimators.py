"""The candidate time figures (runner/model/estimators.py) on synthetic batch times: each behaves as its
documentation says. Bursts of added time (what steal and neighbours do) move the epoch median, not the low
quantile or the mode; old samples without batch times still give the epoch figures."""

import random
import statistics

import pytest

from runner.model import estimators
from runner.model.estimators import batch_units, estimate, estimate_all, half_sample_mode, quantile, regroup
from runner.run.timing import tag_samples
from tests.conftest import probe_scripts

BATCHES = 100
BASE_US = 5000


def _epoch(rng, epoch, burst_share=0.0, burst_us=20000, group=1, process=1, cpu=True):
    """One steady epoch of BATCHES batches of ~5 ms (+-1%); burst_share of them hit by a burst."""
    times = [int(rng.gauss(BASE_US, BASE_US * 0.01)) + (burst_us if rng.random() < burst_share else 0)
             for _ in range(BATCHES)]
    sample = {"process": process, "epoch": epoch, "warmup": False, "wall": sum(times) / 1e6,
              "process_cpu": (BATCHES * BASE_US / 1e6) * 1.9 if cpu else None, "batches": BATCHES,
              "batch_group": 1, "batch_us": times}
    return regroup(sample, group) if group > 1 else sample


def _training(seed, burst_share=0.0, epochs=8, **kw):
    rng = random.Random(seed)
    warmup = dict(_epoch(rng, 1, **kw), warmup=True, wall=9.0)  # warm-up: far slower, and left out
    return [warmup] + [_epoch(rng, e + 2, burst_share, **kw) for e in range(epochs)]


def _seconds(samples, name):
    return estimate(samples, name, resamples=200)["seconds"]


def test_every_figure_of_a_quiet_training_is_near_the_true_epoch_time():
    found = estimate_all(_training(1), resamples=200)
    assert set(found) == {"epoch_median", "batch_q10", "batch_q20", "batch_mode", "batch_median", "cpu_median",
                          "slice_q10", "slice_mode", "slice_median"}
    truth = BATCHES * BASE_US / 1e6
    for name in ("epoch_median", "batch_median", "batch_mode"):
        assert found[name]["seconds"] == pytest.approx(truth, rel=0.01), name
    assert found["batch_q10"]["seconds"] < found["batch_median"]["seconds"]  # a low quantile sits below
    assert found["batch_q10"]["seconds"] == pytest.approx(truth, rel=0.03)
    assert found["cpu_median"]["seconds"] == pytest.approx(truth * 1.9)
    for name, one in found.items():
        assert one["epochs"] == 8  # the warm-up epoch is left out of all of them
        if name.startswith("slice_"):  # callback times are not slice times: no slice figure from them
            assert one["seconds"] is None and one["interval"] is None and one["units"] == 0, name
            continue
        low, high = one["interval"]
        assert low <= one["seconds"] <= high, name
    assert found["batch_q10"]["units"] == 8 * (BATCHES - 1)  # every batch but each epoch's last
    assert found["epoch_median"]["units"] == 0


def test_bursts_of_added_time_shift_the_epoch_median_but_not_the_low_quantile_or_the_mode():
    quiet, noisy = _training(2), _training(2, burst_share=0.15)
    shift = {name: _seconds(noisy, name) / _seconds(quiet, name) for name in estimators.FIGURES
             if name != "cpu_median" and name not in estimators.SLICE_FIGURES}
    assert shift["epoch_median"] > 1.4       # 15% of batches +20 ms on 5 ms batches: +60% per epoch
    assert shift["batch_q10"] == pytest.approx(1.0, abs=0.01)
    assert shift["batch_q20"] == pytest.approx(1.0, abs=0.01)
    assert shift["batch_mode"] == pytest.approx(1.0, abs=0.01)
    assert 1.0 < shift["batch_median"] < 1.03  # the median moves a little: 15% of its values jumped above it
    # ... and bursts in most batches move the median of batches too: it is not robust beyond half of them.
    assert _seconds(_training(2, burst_share=0.6), "batch_median") / _seconds(quiet, "batch_median") > 2


def test_the_mode_finds_the_common_batch_time_where_the_median_does_not():
    rng = random.Random(3)
    fast = [rng.gauss(5.0, 0.05) for _ in range(400)]  # the densest cluster, though under half of the values
    slow = [rng.gauss(8.0, 1.0) for _ in range(600)]
    assert half_sample_mode(fast + slow) == pytest.approx(5.0, abs=0.05)
    assert statistics.median(fast + slow) > 5.5
    assert half_sample_mode([1, 2, 2, 2, 3, 10, 11]) == 2
    assert half_sample_mode([4.0]) == 4.0 and half_sample_mode([1.0, 3.0]) == 2.0
    assert half_sample_mode([1.0, 2.0, 3.0]) == 2.0 and half_sample_mode([1.0, 1.5, 3.0]) == 1.25
    with pytest.raises(ValueError):
        half_sample_mode([])


def test_quantile_matches_the_standard_linear_interpolation():
    rng = random.Random(4)
    values = [rng.random() for _ in range(101)]
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    for i, q in enumerate(deciles, start=1):
        assert quantile(values, i / 10) == pytest.approx(q)
    assert quantile([3.0], 0.1) == 3.0 and quantile([1.0, 2.0], 0.5) == 1.5


def test_coarser_groups_sum_their_batches_and_give_the_same_per_batch_scale():
    fine = _training(5)
    coarse = [regroup(s, 8) for s in fine]
    assert coarse[1]["batch_group"] == 8 and len(coarse[1]["batch_us"]) == 13  # 12 full groups and 4 batches
    assert sum(coarse[1]["batch_us"]) == sum(fine[1]["batch_us"])
    assert len(batch_units(coarse[1])) == 12  # the last (short) group is left out
    assert _seconds(coarse, "batch_median") == pytest.approx(_seconds(fine, "batch_median"), rel=0.01)
    grouped = _training(5, group=4)  # as recorded with --batch-group 4
    assert grouped[1]["batch_group"] == 4 and len(grouped[1]["batch_us"]) == 25
    with pytest.raises(ValueError):
        regroup(fine[1], 0)


def test_samples_without_batch_times_give_the_epoch_figures_only():
    old = [{"process": 1, "epoch": e, "warmup": e == 1, "wall": 2.0 + e / 100, "process_cpu": 3.0}
           for e in range(1, 6)]
    found = estimate_all(old, resamples=200)
    assert found["epoch_median"]["seconds"] == pytest.approx(2.035)
    assert found["cpu_median"]["seconds"] == 3.0
    for name in ("batch_q10", "batch_q20", "batch_mode", "batch_median"):
        assert found[name]["seconds"] is None and found[name]["interval"] is None
    mixed = _training(6)[:3] + old[1:]  # one epoch without batch times: no batch figure rather than a partial one
    assert _seconds(mixed, "batch_q10") is None
    no_cpu = _training(6, cpu=False)
    assert _seconds(no_cpu, "cpu_median") is None


def test_intervals_are_deterministic_and_absent_under_two_epochs():
    samples = _training(7)
    first, second = estimate(samples, "batch_q10", 200), estimate(samples, "batch_q10", 200)
    assert first == second and first["rel_width"] is not None and first["rel_width"] < 0.01
    one = estimate(samples[:2], "batch_q10", 200)  # warm-up + one steady epoch
    assert one["seconds"] is not None and one["interval"] is None and one["rel_width"] is None
    assert estimate([], "epoch_median")["seconds"] is None


def test_tag_samples_keeps_consistent_batch_times_and_drops_anything_else():
    good = {"wall": 1.0, "batches": 5, "batch_group": 2, "batch_us": [10, 12, 5]}
    assert tag_samples([good], 1, 0)[0]["batch_us"] == [10, 12, 5]
    assert tag_samples([good], 1, 0)[0]["batches"] == 5 and tag_samples([good], 1, 0)[0]["batch_group"] == 2
    for bad in ({"batch_us": [10, 12]}, {"batch_us": [10, 12, -1]}, {"batch_us": [10, 12, True]},
                {"batch_us": [10, 12, 1.5]}, {"batch_us": "10,12,5"}, {"batches": 0}, {"batch_group": True},
                {"batches": None}):
        tagged = tag_samples([dict(good, **bad)], 1, 0)[0]
        assert tagged["wall"] == 1.0 and "batch_us" not in tagged and "batches" not in tagged, bad
    assert "batch_us" not in tag_samples([{"wall": 1.0}], 1, 0)[0]  # an older train.py: wall times only


def test_the_probe_batch_clock_times_groups_from_begin_to_begin(monkeypatch):
    _, train = probe_scripts(monkeypatch, "common", "train")
    ticks = iter([0.0, 0.010, 0.011, 0.020, 0.021, 0.030, 0.031, 0.040])  # begin reads it at a group start only
    monkeypatch.setattr(train, "_clock", lambda: next(ticks))
    clock = train.BatchClock(2)
    assert clock.finish() == {}  # no batch yet
    for _ in range(5):  # begin and end of 5 batches; groups start at batches 0, 2 and 4
        clock.begin()
        clock.end()
    assert clock.finish() == {"batches": 5, "batch_group": 2, "batch_us": [20000, 11000, 9000]}
    clock.reset()
    assert clock.finish() == {}
    args = train.parse_args(["d", "3", "--batch-group", "16"])
    assert args.batch_group == 16 and train.parse_args(["d", "3"]).batch_group == 1
    assert train.parse_args(["d", "3", "--batch-group", "0"]).batch_group == 0
    with pytest.raises(SystemExit):
        train.parse_args(["d", "3", "--batch-group", "-1"])


SLICE = 16           # batches per fit call
SLICE_BATCHES = 469  # a full MNIST epoch: 29 slices of 16 batches and a last one of 5
OVERHEAD_US = 600    # fit's own work per call, in every slice


def _slice_epoch(rng, epoch, burst_share=0.0, burst_us=40000):
    """One steady epoch run as fit calls of SLICE batches of ~5 ms, each call timed from outside."""
    sizes = [SLICE] * (SLICE_BATCHES // SLICE) + [SLICE_BATCHES % SLICE]
    times = [OVERHEAD_US + int(rng.gauss(BASE_US * n, BASE_US * n * 0.01))
             + (burst_us if rng.random() < burst_share else 0) for n in sizes]
    return {"process": 1, "epoch": epoch, "warmup": False, "wall": sum(times) / 1e6 + 0.05, "process_cpu": 1.0,
            "batches": SLICE_BATCHES, "batch_group": SLICE, "batch_us": times, "batch_clock": "slices"}


def _slice_training(seed, burst_share=0.0, epochs=8):
    rng = random.Random(seed)
    warmup = dict(_slice_epoch(rng, 1), warmup=True, wall=20.0)
    return [warmup] + [_slice_epoch(rng, e + 2, burst_share) for e in range(epochs)]


def test_slice_figures_are_the_slice_time_times_the_slices_an_epoch_runs():
    found = estimate_all(_slice_training(8), resamples=200)
    per_slice = (OVERHEAD_US + SLICE * BASE_US) / 1e6
    truth = per_slice * SLICE_BATCHES / SLICE  # 29.3 slices' worth: the short last one counts by its batches
    for name in ("slice_mode", "slice_median"):
        assert found[name]["seconds"] == pytest.approx(truth, rel=0.01), name
    assert found["slice_q10"]["seconds"] < found["slice_median"]["seconds"]
    assert found["slice_q10"]["units"] == 8 * (SLICE_BATCHES // SLICE)  # every epoch's short last slice left out
    for name in ("batch_q10", "batch_q20", "batch_mode", "batch_median"):  # slice times are not callback times
        assert found[name]["seconds"] is None, name
    # the epoch also counts the time outside the calls (the shuffle and slicing: 0.05 s here)
    assert found["epoch_median"]["seconds"] - found["slice_mode"]["seconds"] == pytest.approx(0.05, abs=0.03)
    low, high = found["slice_mode"]["interval"]
    assert low <= found["slice_mode"]["seconds"] <= high


def test_bursts_in_some_slices_move_the_epoch_median_but_not_the_slice_mode_or_low_quantile():
    quiet, noisy = _slice_training(9), _slice_training(9, burst_share=0.2)
    shift = {name: _seconds(noisy, name) / _seconds(quiet, name)
             for name in ("epoch_median", "slice_q10", "slice_mode", "slice_median")}
    assert shift["epoch_median"] > 1.08  # 20% of slices +40 ms on ~81 ms slices: +10% per epoch
    assert shift["slice_q10"] == pytest.approx(1.0, abs=0.01)
    assert shift["slice_mode"] == pytest.approx(1.0, abs=0.01)


def test_tag_samples_keeps_the_slice_clock_and_drops_times_of_an_unknown_clock():
    good = {"wall": 1.0, "batches": 5, "batch_group": 2, "batch_us": [10, 12, 5]}
    assert tag_samples([dict(good, batch_clock="slices")], 1, 0)[0]["batch_clock"] == "slices"
    assert "batch_clock" not in tag_samples([dict(good, batch_clock="callback")], 1, 0)[0]  # absent = callback
    assert "batch_clock" not in tag_samples([good], 1, 0)[0]
    for bad in ("sundial", 3, None, ["slices"]):
        tagged = tag_samples([dict(good, batch_clock=bad)], 1, 0)[0]
        assert "batch_us" not in tagged and "batch_clock" not in tagged, bad


class _FakeModel:
    """Records every fit call's inputs and keywords."""

    def __init__(self):
        self.calls = []

    def fit(self, x, y, **kw):
        self.calls.append((x.copy(), y.copy(), kw))


def test_the_probe_trains_an_epoch_as_fit_calls_over_slices_of_one_shuffled_epoch(monkeypatch):
    import numpy as np

    _, train = probe_scripts(monkeypatch, "common", "train")
    ticks = iter(range(10000))
    monkeypatch.setattr(train, "_clock", lambda: next(ticks) * 0.001)  # every call takes 1 ms
    x = np.arange(1000, dtype="float32").reshape(-1, 1)
    y = x * 2
    model = _FakeModel()
    np.random.seed(0)
    seconds, samples = train.train_in_slices(model, x, y, 2, 3, np, 3)  # 8 batches of 128: slices 3, 3, 2
    assert [len(c[0]) for c in model.calls] == [384, 384, 232] * 2
    first_epoch = np.concatenate([c[0] for c in model.calls[:3]]).ravel()
    assert sorted(first_epoch) == list(range(1000)) and list(first_epoch) != list(range(1000))  # shuffled once
    np.random.seed(0)
    assert list(first_epoch) == list(x[np.random.permutation(1000)].ravel())  # NumPy's seeded permutation
    assert all((c[1] == c[0] * 2).all() for c in model.calls)  # labels travel with their images
    assert all(c[2] == {"batch_size": 128, "verbose": 0, "callbacks": [], "shuffle": False, "epochs": 1}
               for c in model.calls)
    assert len(seconds) == 2 and len(samples) == 2
    for sample in samples:
        assert sample["batches"] == 8 and sample["batch_group"] == 3 and sample["batch_clock"] == "slices"
        assert sample["batch_us"] == [1000, 1000, 1000]
        assert tag_samples([sample], 1, 0)[0]["batch_us"] == [1000, 1000, 1000]  # the runner accepts them
    assert train.fit_keywords(1, 1, [], False)["nb_epoch"] == 1  # Keras 1.x spelled epochs nb_epoch
    assert "epochs" not in train.fit_keywords(1, 1, [], False)
    assert train.slice_bounds(300, 128, 1) == [(0, 128), (128, 256), (256, 300)]


def test_the_probe_estimates_fits_per_call_overhead_from_one_batch_and_k_batch_calls(monkeypatch):
    import numpy as np

    _, train = probe_scripts(monkeypatch, "common", "train")
    now = [0.0]
    monkeypatch.setattr(train, "_clock", lambda: now[0])

    class Timed:
        def fit(self, x, y, **kw):
            now[0] += 0.002 + 0.001 * len(x) / 128  # 2 ms per call + 1 ms per batch

    x = np.zeros((128 * 16, 1), dtype="float32")
    assert train.fit_call_overhead(Timed(), x, x, 16, 3) == 2000
    assert train.fit_call_overhead(Timed(), x, x, 1, 3) is None  # one batch per slice: nothing to tell apart
    assert train.fit_call_overhead(Timed(), x[:128], x[:128], 16, 3) is None  # too few images


def test_the_probe_slices_option_turns_the_batch_callback_off(monkeypatch):
    _, train = probe_scripts(monkeypatch, "common", "train")
    args = train.parse_args(["d", "3", "--slices", "16"])
    assert args.slices == 16 and args.batch_group == 0
    assert train.parse_args(["d", "3"]).slices == 0
    with pytest.raises(SystemExit):
        train.parse_args(["d", "3", "--slices", "-1"])


def test_train_py_calibrates_with_numpy_alone_and_refuses_a_negative_count(monkeypatch):
    import numpy as np

    _, train = probe_scripts(monkeypatch, "common", "train")
    seconds = train.calibrate(np, 3)
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
    assert train.parse_args(["d", "3"]).calibrate == 0
    assert train.parse_args(["d", "3", "--calibrate", "5"]).calibrate == 5
    with pytest.raises(SystemExit):
        train.parse_args(["d", "3", "--calibrate", "-1"])
