"""A non-editable install works from any directory, and it declares everything the tests import.

Builds a fresh virtualenv, `pip install <copy of the repo>[test]` (not editable), then
- from `/`, runs the installed `keras-matrix plan <repo>/matrix.yaml` and `keras-matrix --help`;
- runs the unit tests against the installed package, from a copy of the repo without runner/, so an
  undeclared dependency or a data file missing from the wheel fails here.

Needs no Docker engine, but needs PyPI (or the pip cache: $PIP_CACHE_DIR, else pip's own). About two
minutes with a warm pip cache.
"""

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT

pytestmark = [pytest.mark.network, pytest.mark.slow]

# What a fresh clone does not have: caches, build output, a run's results and generated Dockerfiles. Anywhere:
_NOT_COPIED_ANYWHERE = shutil.ignore_patterns(".git", ".cache", "*.egg-info", "__pycache__", ".pytest_cache",
                                              ".hypothesis", "test-artifacts", ".venv")
# Only where a run or a build puts them (runner/results/ is the package's results stage, not a run's output):
_NOT_COPIED_AT = {ROOT: {"results", "build"}, ROOT / "dockerfiles": {"generated"}}


def _NOT_COPIED(directory, names):
    return set(_NOT_COPIED_ANYWHERE(directory, names)) | (_NOT_COPIED_AT.get(Path(directory), set()) & set(names))


def _run(argv, timeout, **kwargs):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, "%s exited %s:\n%s\n%s" % (argv, proc.returncode, proc.stdout[-4000:],
                                                             proc.stderr[-4000:])
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(virtualenv, copy of the repo without runner/, environment that sees only the venv)."""
    base = tmp_path_factory.mktemp("install")
    tree = base / "repo"
    shutil.copytree(str(ROOT), str(tree), ignore=_NOT_COPIED)
    env_dir = base / "venv"
    venv.create(str(env_dir), with_pip=True)
    bin_dir = env_dir / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PATH="%s%s%s" % (bin_dir, os.pathsep, env.get("PATH", "")), PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([bin_dir / "python", "-m", "pip", "install", "-q", "%s[test]" % tree], timeout=600, env=env)
    # The unit tests must import the installed runner, never the copy's source.
    shutil.rmtree(str(tree / "runner"))
    return env_dir, tree, env


def test_the_installed_console_script_plans_from_anywhere(installed):
    env_dir, _, env = installed
    script = env_dir / "bin" / "keras-matrix"
    proc = _run([script, "plan", ROOT / "matrix.yaml", "--format", "ids"], timeout=120, cwd="/", env=env)
    ids = proc.stdout.split()
    assert len(ids) > 10 and "keras2.9.0-tf2.9.3-py39-cpu" in ids
    table = _run([script, "plan", ROOT / "matrix.yaml"], timeout=120, cwd="/", env=env).stdout
    assert "keras2.9.0-tf2.9.3-py39-cpu" in table and "cells (" in table
    assert _run([script, "--help"], timeout=60, cwd="/", env=env).stdout.startswith("usage: keras-matrix ")
    # The installed package reads its templates from the wheel, not from a checkout.
    where = _run([env_dir / "bin" / "python", "-c", "from runner.util import paths; print(paths.templates_dir())"],
                 timeout=60, cwd="/", env=env).stdout.strip()
    assert Path(where).parts[-2:] == ("runner", "dockerfiles") and "site-packages" in where


def test_the_unit_tests_pass_against_the_installed_package(installed):
    env_dir, tree, env = installed
    imported = _run([env_dir / "bin" / "python", "-c", "import runner; print(runner.__file__)"], timeout=60,
                    cwd=str(tree), env=env).stdout
    assert "site-packages" in imported, imported
    proc = subprocess.run([str(env_dir / "bin" / "python"), "-m", "pytest", "tests/unit", "-x", "-q",
                           "-p", "no:cacheprovider"], capture_output=True, text=True, timeout=600, cwd=str(tree),
                          env=env)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
