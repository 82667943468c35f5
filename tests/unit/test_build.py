"""How a failed build is classified (runner/run/build.py): the reason a user reads names what pip did."""

import dataclasses
import json

from runner.matrix.load import load_matrix
from runner.model.records import Status
from runner.run.build import backtracking, classify_build_failure
from runner.run.cache import ResultCache
from tests.conftest import ROOT

FULL_RECORD = json.loads((ROOT / "tests" / "fixtures" / "results-run.json").read_text())["cells"][0]

# Shaped like the Keras 2.4.0 + tensorflow-cpu 2.5.3 build of the every-release sweep: Keras 2.4.0 requires
# `tensorflow`, and pip fetched one tensorflow release after another until the build's time ran out.
BACKTRACKING_LOG = "\n".join(
    ["#9 355.4 Collecting tensorflow>=2.2.0"]
    + ["#9 %d.1   Downloading tensorflow-%s-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl (489.9 MB)"
       % (360 + i, v) for i, v in enumerate(["2.14.0", "2.13.1", "2.13.0", "2.12.1"])]
    + ["#9 439.5   Downloading tensorflow_estimator-2.12.0-py2.py3-none-any.whl (440 kB)",
       "#9 440.0   Downloading tensorflow-2.13.1-cp39-cp39-manylinux_2_17_x86_64.whl (479.7 MB)"])


def test_a_timed_out_build_names_the_distribution_pip_was_backtracking_through():
    assert backtracking(BACKTRACKING_LOG) == "tensorflow (4 releases downloaded: 2.14.0 ... 2.12.1)"
    status, reason = classify_build_failure(BACKTRACKING_LOG, timed_out=True)
    assert status == Status.TIMEOUT
    assert reason == ("the build ran past its time limit while pip was backtracking through tensorflow "
                      "(4 releases downloaded: 2.14.0 ... 2.12.1)")


def test_a_timeout_without_backtracking_says_only_that():
    log = "#9 12.0   Downloading keras-2.4.3-py2.py3-none-any.whl (36 kB)\n#9 13.0 Installing collected packages"
    assert backtracking(log) is None
    assert classify_build_failure(log, timed_out=True) == (Status.TIMEOUT, "the build ran past its time limit")


def test_a_missing_release_is_unsatisfiable_with_the_versions_shortened():
    log = ("#9 3.2 ERROR: Could not find a version that satisfies the requirement keras==9.9 (from versions: "
           "0.2.0, 0.3.0, 0.3.1, 1.0.0, 3.15.1)\n#9 3.2 ERROR: No matching distribution found for keras==9.9")
    status, reason = classify_build_failure(log, timed_out=False)
    assert status == Status.UNSATISFIABLE
    assert reason.endswith("(pip saw 5 versions: 0.2.0 ... 3.15.1)")


def test_a_backtracking_timeout_is_kept_by_the_cache_and_a_plain_one_is_not(tmp_path):
    """pip's search over the same pins is the resolver's answer (a warm rerun need not spend the limit again);
    a timeout without that evidence may be the network, and the limit is part of the key."""
    matrix_path = tmp_path / "m.yaml"
    matrix_path.write_text('version: 1\ncells:\n  - {name: a, era: py39, keras: "2.4.0", tensorflow: "2.5.3"}\n')
    cell = load_matrix(matrix_path).cells[0]
    cache = ResultCache(tmp_path / "cache")
    key = cache.key(cell, "FROM x", "sha256:b", "d")
    log = "".join("#9 Downloading tensorflow-%s-cp39-cp39-manylinux.whl (500 MB)\n" % v
                  for v in ("2.19.1", "2.18.0", "2.17.1", "2.16.2"))
    status, reason = classify_build_failure(log, timed_out=True)
    record = dict(FULL_RECORD, cell_id=cell.id, status=status.value, reason=reason)  # the cache keeps whole records
    assert cache.put(key, record, cell.timeout_minutes)
    assert cache.get(key, cell.id, cell.timeout_minutes)["reason"].startswith("the build ran past")
    assert cache.get(key, cell.id, cell.timeout_minutes + 10) is None  # a longer limit may let pip finish
    plain_status, plain_reason = classify_build_failure("#9 Downloading tensorflow-2.19.1-cp39.whl\n", timed_out=True)
    plain = dict(FULL_RECORD, cell_id=cell.id, status=plain_status.value, reason=plain_reason)
    assert not cache.put(key, plain, cell.timeout_minutes)
    no_scenarios = dataclasses.replace(cell, scenarios=False)
    assert cache.key(no_scenarios, "FROM x", "sha256:b", "d") != key
