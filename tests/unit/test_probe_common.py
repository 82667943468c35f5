"""The in-container helpers that need no Keras: run here on the host's Python."""

import os
import sys

import pytest

from runner.measure import PROBE_DIR


@pytest.fixture
def common(monkeypatch):
    monkeypatch.syspath_prepend(str(PROBE_DIR))
    sys.modules.pop("common", None)
    import common

    return common


def test_cpus_allowed_is_the_kernels_affinity(common):
    assert common.cpus_allowed() == sorted(os.sched_getaffinity(0))


def test_cpus_allowed_without_sched_getaffinity_reads_the_kernels_list(common, monkeypatch):
    expected = sorted(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity")  # as on Python 2.7
    assert common.cpus_allowed() == expected
