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
    probe, calls = _fake_libraries(tmp_path, monkeypatch, "def backend():\n    return 'fake'\n")
    answers = probe.library_imports(width=1)
    assert calls == [["missing_lib", "good", "half", "crashy", "keras"], ["crashy"], ["keras"]]
    assert answers["good"] == {"importable": True, "version": "1.0"}
    assert answers["keras"] == {"importable": True, "version": "9.9"}
    assert answers["missing_lib"]["importable"] is False and "missing_lib" in answers["missing_lib"]["error"]["message"]
    assert answers["half"]["error"]["message"] == "half imported"
    assert answers["crashy"]["error"]["type"] == "crash" and "exit code 3" in answers["crashy"]["error"]["message"]


def _fake_libraries(tmp_path, monkeypatch, keras_backend_code):
    """Fake libraries on the host's Python (a working one, one that raises half imported, one that crashes) and a
    Keras package whose backend module is keras_backend_code; the probe imported with LIBRARIES set to them."""
    (tmp_path / "good.py").write_text("__version__ = '1.0'\n")
    (tmp_path / "half.py").write_text("import helper_mod\nraise ValueError('half imported')\n")
    (tmp_path / "helper_mod.py").write_text("")
    (tmp_path / "crashy.py").write_text("import os\nos._exit(3)\n")
    (tmp_path / "keras").mkdir()
    (tmp_path / "keras" / "__init__.py").write_text("import sys\nsys.stderr.write('keras says hi\\n')\n"
                                                    "__version__ = '9.9'\n")
    (tmp_path / "keras" / "backend.py").write_text(keras_backend_code)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.syspath_prepend(str(PROBE_DIR))
    for name in ("common", "installed", "scenarios", "probe"):
        sys.modules.pop(name, None)
    import probe

    monkeypatch.setattr(probe, "LIBRARIES", ["keras", "missing_lib", "good", "half", "crashy"])
    calls = []
    real = probe._imports
    monkeypatch.setattr(probe, "_imports", lambda names, timeout=600: calls.append(list(names)) or real(names, timeout))
    return probe, calls


def test_the_default_backend_process_asks_the_other_libraries_once_keras_answered(monkeypatch, tmp_path):
    """Keras imported and answered: the libraries are asked in that process after it (no second process
    paying the backend's import), with the same stop rule; what it could not answer goes one per process."""
    probe, calls = _fake_libraries(tmp_path, monkeypatch, "def backend():\n    return 'fakebackend'\n")
    then = ["missing_lib", "good", "half", "crashy"]
    default, asked = probe.default_backend(then)
    assert default["backend"] == "fakebackend" and default["keras_version"] == "9.9"
    assert "error" not in default and "library" not in default
    # Keras' own stderr only: what the library imports printed is not the default's
    assert "keras says hi" in default["stderr_tail"] and probe.STDERR_SPLIT not in default["stderr_tail"]
    assert sorted(asked) == ["good", "half", "keras", "missing_lib"]  # half stopped it: crashy not asked there
    answers = probe.library_imports(width=1, answered=asked)
    assert calls == [["crashy"]]
    assert answers["keras"] == {"importable": True, "version": "9.9"}
    assert answers["good"] == {"importable": True, "version": "1.0"}
    assert answers["missing_lib"]["importable"] is False
    assert answers["half"]["error"]["message"] == "half imported"
    assert answers["crashy"]["error"]["type"] == "crash"


def test_a_keras_that_fails_leaves_the_libraries_to_a_process_of_their_own(monkeypatch, tmp_path):
    """Keras' backend() raised: its process may be half-initialised, so it asks nothing more and the
    libraries get the shared process (Keras last) as before."""
    probe, calls = _fake_libraries(tmp_path, monkeypatch, "def backend():\n    raise RuntimeError('no backend')\n")
    default, asked = probe.default_backend(["missing_lib", "good", "half", "crashy"])
    assert default["error"]["message"] == "no backend" and asked == {}
    answers = probe.library_imports(width=1, answered=asked)
    assert calls == [["missing_lib", "good", "half", "crashy", "keras"], ["crashy"], ["keras"]]
    assert answers["keras"] == {"importable": True, "version": "9.9"}


def test_a_marker_line_whose_library_is_not_a_name_is_not_an_answer(monkeypatch, tmp_path):
    """The default-backend process's output is read, not trusted: a marker line with a list for its library
    (unhashable) is passed over, not a TypeError."""
    probe, _ = _fake_libraries(tmp_path, monkeypatch, "import sys\nfrom common import emit\n"
                               "emit({'library': ['x']})\ndef backend():\n    return 'fake'\n")
    monkeypatch.setenv("PYTHONPATH", "%s:%s" % (tmp_path, PROBE_DIR))
    default, asked = probe.default_backend(["good"])
    assert default["backend"] == "fake" and sorted(asked) == ["good", "keras"]
