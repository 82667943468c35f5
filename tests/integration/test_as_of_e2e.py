"""Release-day resolution on the real engine: a Python 2.7 cell resolved as of the day Keras 2.2.0 was published
(the day from the kept list, --offline), built through the runner's as-of index on the engine's bridge, probed.

What the cell installs is read from its record and checked against the cutoff through the index itself
(every distribution's installed release was on the index by then), not against versions written here."""

import json
from pathlib import Path

import pytest

from runner.matrix.pypi_json import fetch_index
from runner.matrix.releases import read_upload_times
from runner.results.store import validate_results
from tests.integration.conftest import run_cli

MATRIX = """version: 1
defaults: {measure: probe, scenarios: false, timeout_minutes: 25}
cells:
  - {name: release-day, era: py27, keras: "2.2.0", tensorflow: ">=1.0,<2", as_of: release,
     expect: {status: any, reason: "what the release day gave is the question"}}
"""


@pytest.fixture(scope="module")
def as_of_run(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("as-of")
    matrix = root / "m.yaml"
    matrix.write_text(MATRIX)
    proc = run_cli("run", matrix, "--offline", "--results-dir", root, "--run-id", "day", "--rerun", "--prune")
    doc = validate_results(json.loads((root / "day" / "results.json").read_text()))
    return proc, doc


def _uploaded_by(name, version, cutoff):
    """Whether PyPI had a file of name==version by the cutoff (its JSON API, which the as-of index's pages agree
    with: both carry each file's upload time)."""
    files = fetch_index(name, 60.0)["releases"][version]
    return any(f["upload_time_iso_8601"][:19] + "Z" <= cutoff for f in files)


def test_the_cell_is_resolved_as_of_the_keras_release_day(as_of_run):
    proc, doc = as_of_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    (cell,) = doc["cells"]
    day = read_upload_times("keras")["2.2.0"]
    assert cell["cell_id"] == "keras2.2.0-tfge1.0-lt2-py27-cpu-asof%s" % day[:10].replace("-", "")
    assert cell["as_of"]["cutoff"] == day and cell["as_of"]["rule"] == "release"
    assert cell["as_of"]["source"].startswith("list ")
    assert "as-of index for the builds at http://" in proc.stderr
    dockerfile = Path(cell["build"]["dockerfile"]).read_text()
    assert "KERAS_MATRIX_AS_OF_INDEX" in dockerfile and "PIP_CONSTRAINT" not in dockerfile


def test_what_it_installed_was_on_the_index_that_day(as_of_run):
    _, doc = as_of_run
    (cell,) = doc["cells"]
    assert cell["build"]["status"] == "built", cell["reason"]
    installed = cell["installed"]
    assert installed["keras"] == "2.2.0" and installed["tensorflow"].startswith("1.")
    for name in ("tensorflow", "numpy", "keras-applications", "keras-preprocessing"):
        assert _uploaded_by(name, installed[name], cell["as_of"]["cutoff"]), (name, installed[name])
    # And the probe ran in that stack: a default backend, or the exception Keras raised.
    assert cell["default_backend"]["backend"] or cell["default_backend"]["error"]
