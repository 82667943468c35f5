"""The in-container helpers that need no Keras: run here on the host's Python."""

import os
import sys

import pytest

from runner.run.measure import PROBE_DIR
from tests.conftest import probe_scripts


@pytest.fixture
def common(monkeypatch):
    return probe_scripts(monkeypatch, "common")


def test_cpus_allowed_is_the_kernels_affinity(common):
    assert common.cpus_allowed() == sorted(os.sched_getaffinity(0))


def test_cpus_allowed_without_sched_getaffinity_reads_the_kernels_list(common, monkeypatch):
    expected = sorted(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity")  # as on Python 2.7
    assert common.cpus_allowed() == expected


def test_library_imports_share_one_process_until_an_import_fails_after_loading_something(monkeypatch, tmp_path):
    """Fake libraries on the host's Python: a missing one and a working one are answered by the shared
    process; one that raises after loading a module stops it, and each library after it (here a crashing
    one and Keras) is asked in a fresh process of its own, with the same answers a lone import gives."""
    (tmp_path / "good.py").write_text("__version__ = '1.0'\n")
    (tmp_path / "half.py").write_text("import helper_mod\nraise ValueError('half imported')\n")
    (tmp_path / "helper_mod.py").write_text("")
    (tmp_path / "crashy.py").write_text("import os\nos._exit(3)\n")
    (tmp_path / "keras.py").write_text("__version__ = '9.9'\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.syspath_prepend(str(PROBE_DIR))
    for name in ("common", "installed", "scenarios", "probe"):
        sys.modules.pop(name, None)
    import probe

    monkeypatch.setattr(probe, "LIBRARIES", ["keras", "missing_lib", "good", "half", "crashy"])
    calls = []
    real = probe._imports
    monkeypatch.setattr(probe, "_imports", lambda names, timeout=600: calls.append(list(names)) or real(names, timeout))
    answers = probe.library_imports(width=1)
    assert calls == [["missing_lib", "good", "half", "crashy", "keras"], ["crashy"], ["keras"]]
    assert answers["good"] == {"importable": True, "version": "1.0"}
    assert answers["keras"] == {"importable": True, "version": "9.9"}
    assert answers["missing_lib"]["importable"] is False and "missing_lib" in answers["missing_lib"]["error"]["message"]
    assert answers["half"]["error"]["message"] == "half imported"
    assert answers["crashy"]["error"]["type"] == "crash" and "exit code 3" in answers["crashy"]["error"]["message"]
