"""How a failed build is classified (runner/build.py): the reason a user reads names what pip did."""

from runner.build import backtracking, classify_build_failure
from runner.records import Status

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
