"""Every bench/*.py script is a documented command: it must at least import and answer --help. mypy checks
their types; this catches what it cannot (a script run as a file, its sys.path set up by itself). Nothing
here needs Docker or the network: --help returns before any engine or index is reached."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

BENCH = ROOT / "bench"
SCRIPTS = sorted(path.name for path in BENCH.glob("*.py"))  # a new script is covered without editing this file


def test_every_script_on_disk_is_checked():
    on_disk = {name for name in os.listdir(str(BENCH)) if name.endswith(".py") and (BENCH / name).is_file()}
    assert on_disk, "no bench scripts found under %s" % BENCH
    assert set(SCRIPTS) == on_disk


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_answers_help(script):
    proc = subprocess.run([sys.executable, str(BENCH / script), "--help"], cwd=str(ROOT), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("usage: %s " % script), proc.stdout[:500]
