"""How a failed build is classified (runner/run/build.py): the reason a user reads names what pip did."""

import dataclasses
import json

import jsonschema

from runner.engine.protocol import BuildOutcome
from runner.matrix.load import load_matrix
from runner.model.records import REASON_LIMIT, Status
from runner.run.build import backtracking, build_cell, classify_build_failure, resolver_explanation
from runner.run.cache import ResultCache
from runner.util.paths import resources_dir
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


# uv 0.13.9's answers, captured: a BuildKit log of the e2e matrix's py311 + TensorFlow 1.15 cell built with uv,
# and `uv pip compile` of two pins that exclude each other (its explanation runs over two lines).
UV_NO_WHEEL_LOG = """\
#8 [stage-0 5/7] RUN --mount=type=secret,id=ca_bundle     --mount=type=cache,id=keras-matrix-uv-py3.11,target=/root/.cache/uv     uv pip install --python /opt/venv/bin/python tensorflow-cpu==1.15.0
#8 0.451 Using Python 3.11.2 environment at: /opt/venv
#8 0.632 error: No solution found when resolving dependencies
#8 0.633   cause: Because tensorflow-cpu==1.15.0 has no wheels with a matching Python ABI tag (e.g., `cp311`) and you require tensorflow-cpu==1.15.0, we can conclude that your requirements are unsatisfiable.
#8 0.635 {blank}
#8 0.635 hint: You require CPython 3.11 (`cp311`), but we only found wheels for `tensorflow-cpu` (v1.15.0) with the following Python ABI tags: `cp27m`, `cp27mu`, `cp35m`, `cp36m`, `cp37m`
#8 ERROR: executor failed running [/bin/sh -c uv pip install --python /opt/venv/bin/python tensorflow-cpu==1.15.0]: exit code: 1
------
 > [stage-0 5/7] RUN --mount=type=secret,id=ca_bundle     uv pip install --python /opt/venv/bin/python tensorflow-cpu==1.15.0:
------
executor failed running [/bin/sh -c uv pip install --python /opt/venv/bin/python tensorflow-cpu==1.15.0]: exit code: 1
""".format(blank="")  # noqa: E501 (BuildKit writes a prefix with a trailing space for uv's blank line)
UV_CONFLICT_LOG = """\
#9 1.20 error: No solution found when resolving dependencies
#9 1.20   cause: Because tensorflow-cpu==2.16.1 depends on keras>=3.0.0 and you require keras==2.15.0, we can conclude that your requirements and tensorflow-cpu==2.16.1 are incompatible.
#9 1.20          And because you require tensorflow-cpu==2.16.1, we can conclude that your requirements are unsatisfiable.
#9 ERROR: executor failed running [/bin/sh -c uv pip install keras==2.15.0 tensorflow-cpu==2.16.1]: exit code: 1
"""  # noqa: E501


def test_uv_s_no_solution_is_unsatisfiable_with_its_own_explanation_and_hint():
    explanation = resolver_explanation(UV_NO_WHEEL_LOG)
    assert explanation == (
        "Because tensorflow-cpu==1.15.0 has no wheels with a matching Python ABI tag (e.g., `cp311`) and you "
        "require tensorflow-cpu==1.15.0, we can conclude that your requirements are unsatisfiable. (hint: You "
        "require CPython 3.11 (`cp311`), but we only found wheels for `tensorflow-cpu` (v1.15.0) with the following "
        "Python ABI tags: `cp27m`, `cp27mu`, `cp35m`, `cp36m`, `cp37m`)")
    status, reason = classify_build_failure(UV_NO_WHEEL_LOG, timed_out=False)
    assert status == Status.UNSATISFIABLE
    assert reason == explanation.split(" (hint: ")[0]  # the derivation; the hint is in the build record


def test_uv_s_explanation_over_several_lines_is_one_sentence_chain():
    status, reason = classify_build_failure(UV_CONFLICT_LOG, timed_out=False)
    assert status == Status.UNSATISFIABLE
    assert reason == (
        "Because tensorflow-cpu==2.16.1 depends on keras>=3.0.0 and you require keras==2.15.0, we can conclude that "
        "your requirements and tensorflow-cpu==2.16.1 are incompatible. And because you require "
        "tensorflow-cpu==2.16.1, we can conclude that your requirements are unsatisfiable.")[:REASON_LIMIT]


def test_the_older_uv_drawing_of_the_same_answer_is_read_too():
    log = ("#9 1.2   × No solution found when resolving dependencies:\n"
           "#9 1.2   ╰─▶ Because you require numpy==1.26.4 and numpy<1.24, we can conclude that your\n"
           "#9 1.2       requirements are unsatisfiable.\n")
    assert resolver_explanation(log) == ("Because you require numpy==1.26.4 and numpy<1.24, we can conclude that "
                                         "your requirements are unsatisfiable.")


def test_a_uv_failure_that_is_not_resolution_is_a_build_failure_with_its_causes():
    log = ("#8 3.1 error: Failed to fetch: `https://pypi.org/simple/six/`\n"
           "#8 3.1   cause: Request failed after 3 retries\n"
           "#8 3.1   cause: invalid peer certificate: UnknownIssuer\n"
           "#8 ERROR: executor failed running [/bin/sh -c uv pip install six]: exit code: 2\n")
    assert resolver_explanation(log) is None
    status, reason = classify_build_failure(log, timed_out=False)
    assert status == Status.BUILD_FAILED
    assert reason.startswith("error: Failed to fetch") and "UnknownIssuer" in reason


def test_a_failed_uv_build_keeps_the_explanation_whole_in_the_record(tmp_path):
    class UvSaysNo:
        def build(self, spec):
            return BuildOutcome(ok=False, seconds=1.5, log_tail=UV_NO_WHEEL_LOG)

    matrix = load_matrix(ROOT / "tests" / "data" / "e2e-matrix.yaml")
    (cell,) = [c for c in matrix.cells if c.name == "unsatisfiable"]
    engine = UvSaysNo()
    status, reason, record = build_cell(cell, engine, "base", tmp_path / "df", tmp_path / "log", None, 60)
    assert status == Status.UNSATISFIABLE and reason is not None
    assert record["resolver"] == resolver_explanation(UV_NO_WHEEL_LOG)
    assert len(record["resolver"] or "") > REASON_LIMIT and record["resolver"].startswith(reason)


BUILDKIT_LOG = """#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#4 [stage-0 1/4] FROM docker.io/keras-matrix/base:bookworm-minbase
#4 DONE 0.0s
#6 [stage-0 3/4] RUN python3.11 -m venv /opt/venv
#6 CACHED
#5 [stage-0 2/4] RUN apt-get update
#5 CACHED
#9 [stage-0 4/4] RUN /opt/venv/bin/python -m pip install keras==3.15.0
#9 1.2 Collecting keras==3.15.0
#9 DONE 4.5s
#11 exporting to image
#11 DONE 0.2s
"""


def test_build_steps_are_read_from_buildkits_plain_progress():
    from runner.run.build import build_steps

    steps = build_steps(BUILDKIT_LOG)
    assert [s["step"][:14] for s in steps] == ["[stage-0 1/4] ", "[stage-0 3/4] ", "[stage-0 2/4] ", "[stage-0 4/4] "]
    assert steps[0] == {"step": "[stage-0 1/4] FROM docker.io/keras-matrix/base:bookworm-minbase", "seconds": 0.0,
                        "cached": False}
    assert steps[1]["cached"] and steps[1]["seconds"] is None
    assert steps[3] == {"step": "[stage-0 4/4] RUN /opt/venv/bin/python -m pip install keras==3.15.0",
                        "seconds": 4.5, "cached": False}
    unfinished = build_steps("#7 [2/3] RUN pip install x\n#7 0.5 ERROR: boom\n")
    assert unfinished == [{"step": "[2/3] RUN pip install x", "seconds": None, "cached": False}]
    assert build_steps("Step 1/3 : FROM x\n") == []  # the classic builder's log: no steps, no guess
    assert len(build_steps("#2 [1/1] RUN " + "x" * 500 + "\n")[0]["step"]) == 200


def test_a_build_record_keeps_the_steps_of_its_log_and_validates(tmp_path):
    from runner.engine.protocol import BuildOutcome
    from runner.model.records import new_build_record
    from runner.run.build import build_cell

    matrix_path = tmp_path / "m.yaml"
    matrix_path.write_text('version: 1\ncells:\n  - {name: a, era: py311, keras: "3.15.0", jax: "0.10.2"}\n')
    cell = load_matrix(matrix_path).cells[0]
    log_path = tmp_path / "logs" / "cell.build.log"

    class Engine:
        def build(self, spec):
            spec.log_path.write_text(BUILDKIT_LOG)
            return BuildOutcome(ok=True, seconds=5.1, image_id="sha256:i", image_size=1)

    status, _, record = build_cell(cell, Engine(), "base", tmp_path / "df", log_path, None, 60)
    assert status is None and [s["seconds"] for s in record["steps"]] == [0.0, None, None, 4.5]
    schema = json.loads((resources_dir() / "results.schema.json").read_text())  # the installed package's too
    jsonschema.validate(record, schema["$defs"]["cell"]["properties"]["build"])
    assert "steps" not in new_build_record()  # and records from before steps have none
