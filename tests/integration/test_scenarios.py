"""The probe's backend-choice scenarios in real cell images, run exactly as the runner runs the probe (no
network, read-only root, /tmp on tmpfs, user 65534, the probe directory mounted read-only), and the
records they give: valid cell records, and the precedence rows the report builds from them.

The images are the e2e matrix's: when one is missing, the e2e run (shared with the other integration
tests) builds it."""

import json
import time

import pytest

from runner.engine.protocol import Mount, RunSpec
from runner.report.precedence import precedence_rows, rows_without_evidence
from runner.results.store import validate_results
from runner.run.cell_record import record_probe
from runner.run.measure import IN_CONTAINER_PROBE, PROBE_DIR, parse_marker
from tests.integration.conftest import ROOT

LEGACY = "keras-matrix/cell:keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu"
MODERN = "keras-matrix/cell:keras3.15.1-tf2.21.0-py311-cpu"
PROBE_LIMIT = 300  # seconds: the probe's target is under 90 s on 2 quiet CPUs; a shared engine is slower
ENV = {"HOME": "/tmp/home", "TMPDIR": "/tmp", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
       "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "2"}


def probe(engine, image):
    spec = RunSpec(image=image, command=["matrix-python", IN_CONTAINER_PROBE + "/probe.py"], env=dict(ENV),
                   mounts=[Mount(str(PROBE_DIR), IN_CONTAINER_PROBE, read_only=True)], cpus="2", memory="6g",
                   timeout=PROBE_LIMIT)
    started = time.monotonic()
    outcome = engine.run(spec)
    result = parse_marker(outcome.output)
    assert result is not None and not outcome.timed_out, outcome.output[-3000:]
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def measured(engine, request):
    """image -> (probe result, seconds), each image probed once for the module, when a test asks for it."""
    found = {}

    def get(image):
        if image not in found:
            if engine.image(image) is None:
                request.getfixturevalue("e2e_run")  # builds the e2e matrix's images
            found[image] = probe(engine, image)
        return found[image]
    return get


def by_id(result):
    return {s["id"]: s for s in result["scenarios"]}


def cell_doc(result, image):
    fixtures = json.loads((ROOT / "tests" / "fixtures" / "results-run.json").read_text(encoding="utf-8"))
    cell = dict(fixtures["cells"][0], cell_id=image.split(":", 1)[1])
    record_probe(cell, result)
    return dict(fixtures, cells=[cell])


def test_legacy_keras_2_3_honours_env_over_keras_json_and_a_stale_keras_json(measured):
    result, seconds = measured(LEGACY)
    found = by_id(result)
    assert found["default"]["backend"] == "tensorflow"
    assert [found["env-" + b]["backend"] for b in ("tensorflow", "theano", "cntk")] == ["tensorflow", "theano", "cntk"]
    assert found["env-missing-jax"]["error"]["message"] == "Unable to import backend : jax"
    both = found["env-vs-json"]
    assert both["backend"] == both["env"]["KERAS_BACKEND"] != both["keras_json_before"]["backend"]
    assert found["stale-json"]["backend"] == "theano" and found["stale-json"]["keras_json_written"] is False
    assert (found["keras-home"]["keras_json_path"], found["keras-home"]["backend"]) == \
        ("$KERAS_HOME/keras.json", found["keras-home"]["keras_json_before"]["backend"])
    readonly = found["readonly-home"]
    assert (readonly["home_writable"], readonly["backend"], readonly["keras_json_path"]) == \
        (False, "tensorflow", "/tmp/.keras/keras.json")
    assert "runtime-switch" not in found and result["tf_keras"] is None
    assert result["pip_check"]["exit_code"] == 0 and result["shared_packages"] == {}
    assert seconds < PROBE_LIMIT


def test_modern_keras_3_raises_on_a_stale_keras_json_and_tf_keras_is_keras_3(measured):
    result, _ = measured(MODERN)
    found = by_id(result)
    assert found["default"]["backend"] == "tensorflow"
    # Keras 3's numpy backend imports scipy, which neither keras nor tensorflow depends on: in this image
    # (no scipy) KERAS_BACKEND=numpy raises, so keras.json is asked only about TensorFlow.
    assert "scipy" not in result["installed"]
    assert (found["env-numpy"]["backend"], found["env-numpy"]["error"]["message"]) == \
        (None, "No module named 'scipy'")
    assert "json-numpy" not in found and found["json-tensorflow"]["backend"] == "tensorflow"
    assert found["stale-json"]["error"]["message"] == "Unable to import backend : theano"
    switch = found["runtime-switch"]  # to numpy, the only other backend: the switch exists and raises
    assert (switch["switch_function"], switch["backend_before_switch"], switch["switch_to"]) == \
        ("keras.config.set_backend", "tensorflow", "numpy")
    assert switch["error"]["message"] == "No module named 'scipy'"
    assert result["tf_keras"]["default"]["package"] == "keras"
    assert result["tf_keras"]["default"]["version"] == result["installed"]["keras"]
    assert "Keras cannot be imported" in result["tf_keras"]["legacy"]["error"]["message"]  # no tf-keras here


@pytest.mark.parametrize("image, order", [
    (LEGACY, "KERAS_BACKEND > keras.json > built-in default (tensorflow)"),
    # one working backend: "KERAS_BACKEND wins" and "keras.json is ignored" look alike, so no order is claimed
    (MODERN, "KERAS_BACKEND=tensorflow with keras.json naming jax (not installed): tensorflow; "
             "built-in default (tensorflow)")], ids=["legacy", "modern"])
def test_the_records_validate_and_every_precedence_row_has_its_cell(measured, image, order):
    doc = validate_results(cell_doc(measured(image)[0], image))
    rows = precedence_rows(doc)
    assert rows and rows_without_evidence(rows, doc) == []
    assert [r["observed"] for r in rows if r["aspect"] == "precedence"] == [order]
