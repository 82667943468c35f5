"""scenarios.py on the host's Python: which scenarios a cell gets, and each record's shape, with a fake
Keras that chooses like Keras 2.x (KERAS_BACKEND over keras.json over its default; keras.json written to
~/.keras, or /tmp/.keras when HOME is not writable, or KERAS_HOME)."""

import json
import os
import textwrap

import pytest

from tests.conftest import probe_scripts

FAKE_KERAS = textwrap.dedent('''
    import json, os
    __version__ = "2.3.1"
    _base = os.path.expanduser("~")
    if not os.access(_base, os.W_OK):
        _base = "/tmp"
    _dir = os.environ.get("KERAS_HOME") or os.path.join(_base, ".keras")
    _path = os.path.join(_dir, "keras.json")
    _config = json.load(open(_path)) if os.path.exists(_path) else {}
    _backend = os.environ.get("KERAS_BACKEND") or _config.get("backend", "tensorflow")
    if _backend not in ("tensorflow", "theano"):
        raise ValueError("Unable to import backend : " + _backend)
    if not os.path.exists(_path):
        if not os.path.isdir(_dir):
            os.makedirs(_dir)
        json.dump({"backend": "tensorflow", "floatx": "float32"}, open(_path, "w"))
''')
FAKE_BACKEND = "from keras import _backend\n\ndef backend():\n    return _backend\n"
RECORD_KEYS = {"id", "description", "env", "keras_json_before", "backend", "error", "keras_json_after",
               "keras_json_path"}


@pytest.fixture
def scenarios(monkeypatch):
    return probe_scripts(monkeypatch, "scenarios")


@pytest.fixture
def fake_keras(tmp_path, monkeypatch):
    lib = tmp_path / "lib"
    (lib / "keras").mkdir(parents=True)
    (lib / "keras" / "__init__.py").write_text(FAKE_KERAS, encoding="utf-8")
    (lib / "keras" / "backend.py").write_text(FAKE_BACKEND, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(lib))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    return lib


def ids(plan):
    return [s["id"] for s in plan]


def test_keras3_gets_numpy_a_missing_backend_and_the_runtime_switch(scenarios):
    plan = scenarios.plan({"keras": "3.15.1", "numpy": "2.4.6"}, {"tensorflow": True, "jax": True, "torch": False})
    assert ids(plan) == ["env-tensorflow", "env-jax", "env-numpy", "env-missing-torch", "stale-json",
                         "readonly-home", "json-tensorflow", "json-jax", "json-numpy", "env-vs-json", "keras-home",
                         "runtime-switch"]
    both = plan[ids(plan).index("env-vs-json")]
    assert both["env"]["KERAS_BACKEND"] != both["keras_json"]["backend"]  # which wins is only a question then
    only_tf = scenarios.plan({"keras": "3.15.1"}, {"tensorflow": True}, default="tensorflow")
    assert [s.get("switch_to") for s in only_tf if s["id"] == "runtime-switch"] == ["numpy"]  # away from the default


def test_a_backend_that_fails_through_keras_backend_is_not_asked_through_keras_json(scenarios):
    # Keras 3.15's numpy backend without scipy: KERAS_BACKEND=numpy raised, so keras.json naming numpy would
    # fail for the same reason and read as "keras.json ignored"; the second round asks only working ones.
    keras3, backends, missing = scenarios.candidates({"keras": "3.15.1"}, {"tensorflow": True})
    assert (keras3, backends, missing) == (True, ["tensorflow", "numpy"], "jax")
    records = [{"id": "env-tensorflow", "backend": "tensorflow"},
               {"id": "env-numpy", "backend": None, "error": {"message": "No module named 'scipy'"}}]
    working = scenarios.working_backends(backends, records)
    assert working == ["tensorflow"]
    second = {s["id"]: s for s in scenarios.second_round(working, missing, keras3, "tensorflow", backends)}
    assert sorted(second) == ["env-vs-json", "json-tensorflow", "keras-home", "runtime-switch"]
    assert second["runtime-switch"]["switch_to"] == "numpy"  # nothing else works: which switch, and its error
    assert (second["env-vs-json"]["env"]["KERAS_BACKEND"], second["env-vs-json"]["keras_json"]["backend"]) == \
        ("tensorflow", "jax")


def test_measure_plans_the_second_round_from_the_first_rounds_answers(scenarios, fake_keras):
    # the fake Keras answers any KERAS_BACKEND but cntk (not installed): theano and tensorflow both work
    records, _ = scenarios.measure({"keras": "2.3.1"}, {"tensorflow": {"importable": True, "version": "1.15"},
                                                        "theano": {"importable": True}, "cntk": {"importable": False}},
                                   {"backend": "tensorflow"})
    found = {r["id"]: r for r in records}
    assert [r["id"] for r in records] == ["default", "env-tensorflow", "env-theano", "env-missing-cntk", "stale-json",
                                          "readonly-home", "json-tensorflow", "json-theano", "env-vs-json",
                                          "keras-home"]
    assert found["json-theano"]["backend"] == "theano" and found["env-vs-json"]["backend"] == "theano"


def test_openvino_only_when_installed(scenarios):
    plan = scenarios.plan({"keras": "3.8.0", "openvino": "2025.0"}, {"tensorflow": True})
    assert "env-openvino" in ids(plan) and "json-openvino" in ids(plan)


def test_keras2_with_one_backend_names_a_missing_one_in_both_and_has_no_switch(scenarios):
    plan = scenarios.plan({"keras": "2.11.0"}, {"tensorflow": True, "theano": False, "keras": True})
    assert ids(plan) == ["env-tensorflow", "env-missing-theano", "stale-json", "readonly-home", "json-tensorflow",
                         "env-vs-json", "keras-home"]
    both = plan[ids(plan).index("env-vs-json")]
    assert (both["env"]["KERAS_BACKEND"], both["keras_json"]["backend"]) == ("tensorflow", "theano")


def test_records_say_what_keras_chose_and_where_keras_json_went(scenarios, fake_keras, tmp_path):
    plan = {s["id"]: s for s in scenarios.plan({"keras": "2.3.1"}, {"tensorflow": True, "theano": True})}
    scratch = str(tmp_path / "scratch")
    os.mkdir(scratch)
    env = scenarios.run_scenario(plan["env-theano"], scratch)
    assert set(env) >= RECORD_KEYS
    assert (env["backend"], env["error"], env["keras_json_path"]) == ("theano", None, "~/.keras/keras.json")
    assert env["keras_json_before"] is None and env["keras_json_after"]["backend"] == "tensorflow"
    assert env["keras_json_written"] is True

    both = scenarios.run_scenario(plan["env-vs-json"], scratch)
    assert both["backend"] == both["env"]["KERAS_BACKEND"]
    assert both["keras_json_before"] == both["keras_json_after"] and both["keras_json_written"] is False

    missing = scenarios.run_scenario(plan["env-missing-cntk"], scratch)
    assert missing["backend"] is None
    assert missing["error"]["message"] == "Unable to import backend : cntk"
    assert missing["error"]["type"].endswith("ValueError")

    home = scenarios.run_scenario(plan["keras-home"], scratch)
    assert home["keras_json_path"] == "$KERAS_HOME/keras.json" and home["env"] == {"KERAS_HOME": "$KERAS_HOME"}
    assert home["backend"] == home["keras_json_before"]["backend"]


def test_a_stale_keras_json_is_planted_as_keras_1_wrote_it(scenarios, fake_keras, tmp_path):
    stale = next(s for s in scenarios.plan({"keras": "2.3.1"}, {"tensorflow": True}) if s["id"] == "stale-json")
    record = scenarios.run_scenario(stale, str(tmp_path))
    assert record["keras_json_before"] == scenarios.STALE_KERAS_JSON
    assert (record["backend"], record["keras_json_written"]) == ("theano", False)  # this fake honours it
    assert record["keras_json_after"] == scenarios.STALE_KERAS_JSON


def test_unwritable_home_says_whether_it_was_and_where_keras_json_went(scenarios, fake_keras, tmp_path):
    readonly = next(s for s in scenarios.plan({"keras": "2.3.1"}, {"tensorflow": True}) if s["id"] == "readonly-home")
    if os.geteuid() != 0 and os.path.exists("/tmp/.keras"):
        pytest.skip("/tmp/.keras exists on this host: the fake Keras would read it")
    record = scenarios.run_scenario(readonly, str(tmp_path))
    assert record["backend"] == "tensorflow"
    if os.geteuid() == 0:  # root may write anywhere: the record must say the HOME stayed writable
        assert (record["home_writable"], record["keras_json_path"]) == (True, "~/.keras/keras.json")
    else:
        assert (record["home_writable"], record["keras_json_path"]) == (False, "/tmp/.keras/keras.json")
        os.remove("/tmp/.keras/keras.json")
        os.rmdir("/tmp/.keras")


def test_a_scenario_that_dies_is_a_crash_record_not_a_missing_one(scenarios, fake_keras, tmp_path):
    (fake_keras / "keras" / "__init__.py").write_text("import os\nos._exit(3)\n", encoding="utf-8")
    record = scenarios.run_scenario({"id": "default", "description": "d", "env": {}}, str(tmp_path))
    assert record["backend"] is None and record["error"]["type"] == "crash"
    assert "exit code 3" in record["error"]["message"]


def test_spent_budget_records_not_run(scenarios, fake_keras, monkeypatch):
    monkeypatch.setattr(scenarios, "TOTAL_BUDGET", -1)
    records, tf_keras = scenarios.measure({"keras": "2.3.1"}, {"tensorflow": {"importable": True, "version": "1.15"}},
                                          {"backend": "tensorflow", "keras_json_written": True,
                                           "keras_json": {"backend": "tensorflow"}})
    assert records[0]["id"] == "default" and records[0]["backend"] == "tensorflow"
    assert {r["error"]["type"] for r in records[1:]} == {"not_run"}
    assert tf_keras is None  # TensorFlow 1.x has no tf.keras question
    json.dumps(records)  # what the runner parses: plain JSON


def test_parallel_keeps_the_order(scenarios):
    assert scenarios.parallel([lambda i=i: i * i for i in range(7)], 3) == [i * i for i in range(7)]


def test_keras_home_names_a_working_backend_other_than_the_default(scenarios):
    # Keras 2.0.4 with TensorFlow, Theano and CNTK installed: cntk raised, the default is tensorflow. Planting
    # tensorflow in KERAS_HOME would answer tensorflow whether or not KERAS_HOME was read.
    second = {s["id"]: s for s in scenarios.second_round(["tensorflow", "theano"], "jax", False, "tensorflow",
                                                         ["tensorflow", "theano", "cntk"])}
    assert second["keras-home"]["keras_json"] == {"backend": "theano"}
    # With one working backend there is no other to name: it is asked anyway, and the report says "not shown".
    alone = {s["id"]: s for s in scenarios.second_round(["tensorflow"], "jax", False, "tensorflow", ["tensorflow"])}
    assert alone["keras-home"]["keras_json"] == {"backend": "tensorflow"}
