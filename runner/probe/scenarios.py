# -*- coding: utf-8 -*-
"""How Keras chooses its backend, asked in fresh processes: KERAS_BACKEND set to each backend (and to one
that is not installed), ~/.keras/keras.json naming each, both at once, a keras.json left by Keras 1.0,
KERAS_HOME, an unwritable HOME, Keras 3's runtime switch; and which Keras tf.keras is.

Each scenario runs in its own process with a clean HOME (unless the scenario sets one) and records what
backend() returned or the exact exception, the keras.json before and after, and where Keras wrote it.
Nothing here knows what the answer should be. Runs on Python 2.7 and 3.x: no f-strings, no annotations.
Longer than our usual module on purpose: it is mounted into containers as a script, and each scenario
file beside it would be one more thing a container must find on its path.
"""
from __future__ import print_function

import json
import os
import shutil
import stat
import sys
import tempfile
import threading
import time

from common import clean_env, clip, describe_exception, emit, parse_marker, run

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO_TIMEOUT = 120   # one Keras import; TensorFlow takes seconds, Theano's first compile longer
TOTAL_BUDGET = 150       # all scenarios of a cell together; the rest are recorded as not run
TMP_KERAS_DIR = "/tmp/.keras"  # where Keras 2.x and 3.x put keras.json when HOME is not writable

# What a Keras 1.0 left in ~/.keras: read by later Keras lines, does it still decide anything?
STALE_KERAS_JSON = {"backend": "theano", "image_dim_ordering": "th", "floatx": "float32", "epsilon": 1e-07}
# The names a runtime switch has had; the probe records which of them this Keras has.
SWITCH_FUNCTIONS = ("keras.config.set_backend", "keras.utils.set_backend", "keras.backend.set_backend")
KERAS3_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")
OLDER_BACKENDS = ("tensorflow", "theano", "cntk")

_CHILD_CODE = r"""
import sys
sys.path.insert(0, %(here)r)
import scenarios
scenarios.child(%(spec)r)
"""


# ---- in the child process ----------------------------------------------------------------------------------

def _lookup(dotted):
    """'keras.config.set_backend' -> the function, or None where this Keras has no such name."""
    parts = dotted.split(".")
    try:
        value = __import__(parts[0])
        for index, part in enumerate(parts[1:], 2):
            if not hasattr(value, part):
                __import__(".".join(parts[:index]))  # a submodule not imported by its package
            value = getattr(value, part)
        return value
    except (ImportError, AttributeError):
        return None


def current_backend():
    """-> (backend name, the function that said it). keras.backend.backend() as the default probe asks,
    keras.config.backend() where that is all there is."""
    try:
        from keras import backend as K
        if not hasattr(K, "backend") and hasattr(K, "_BACKEND"):
            return K._BACKEND, "keras.backend._BACKEND"  # Keras < 1.0.7 has no backend()
        return K.backend(), "keras.backend.backend"
    except (ImportError, AttributeError):
        config = _lookup("keras.config.backend")
        if config is None:
            raise
        return config(), "keras.config.backend"


def child(spec_text):
    spec = json.loads(spec_text)
    out = {}
    try:
        import keras
        out["keras_version"] = str(getattr(keras, "__version__", None))
        out["backend"], out["backend_function"] = current_backend()
        if spec.get("switch_to"):
            out["backend_before_switch"] = out.pop("backend")
            name = next((n for n in SWITCH_FUNCTIONS if _lookup(n) is not None), None)
            out["switch_function"] = name
            if name is None:
                out["error"] = {"type": "none", "message": "this Keras has none of %s" % ", ".join(SWITCH_FUNCTIONS)}
            else:
                _lookup(name)(spec["switch_to"])
                for module in [m for m in sys.modules if m == "keras" or m.startswith("keras.")]:
                    del sys.modules[module]  # the switch reloads Keras: ask the reloaded one
                out["backend"], out["backend_function"] = current_backend()
    except BaseException as exc:  # SystemExit and friends are answers too
        out["error"] = describe_exception(exc)
    emit(out)


def tf_keras_child(spec_text):
    """Which Keras tf.keras is: its module, version and the package its Model class lives in."""
    out = {}
    try:
        import tensorflow as tf
        out["tensorflow_version"] = str(getattr(tf, "__version__", None))
        keras = tf.keras
        model = keras.Model  # tf.keras is a lazy loader on 2.16+: touching it loads the real one
        module = sys.modules.get(model.__module__)
        out["module"] = getattr(keras, "__name__", None)
        out["version"] = getattr(keras, "__version__", None)
        out["model_module"] = model.__module__
        out["package"] = model.__module__.split(".")[0]
        out["file"] = getattr(module, "__file__", None)
    except BaseException as exc:
        out["error"] = describe_exception(exc)
    emit(out)


# ---- in the probe ------------------------------------------------------------------------------------------

def _read_json(path):
    """(exists, content): parsed JSON, or the clipped text when it is not JSON."""
    try:
        with open(path) as handle:
            text = handle.read()
    except (IOError, OSError):
        return os.path.exists(path), None
    try:
        return True, json.loads(text)
    except ValueError:
        return True, clip(text, 2000)


def candidates(installed, importable):
    """-> (keras3, the backends worth asking for, one backend that is not installed). installed: pip freeze
    (name -> version); importable: backend library -> bool. Keras 3's numpy backend needs no library of its
    own (it may still need scipy: the env-numpy scenario says), openvino only where pip installed it."""
    keras_version = installed.get("keras") or installed.get("keras-nightly") or ""
    keras3 = keras_version.split(".")[0] == "3"
    line = KERAS3_BACKENDS if keras3 else OLDER_BACKENDS
    backends = [b for b in line if importable.get(b)]
    if keras3:
        backends += [b for b in ("numpy", "openvino") if b not in backends and (b == "numpy" or b in installed)]
    missing = next(b for b in list(line) + ["jax", "torch", "theano", "cntk", "mxnet"]
                   if b not in backends and not importable.get(b))
    return keras3, backends, missing


def first_round(backends, missing):
    """What needs no earlier answer: KERAS_BACKEND naming each backend and a missing one, the stale
    keras.json, the unwritable HOME."""
    scenarios = []
    for name in backends + [missing]:
        installed_here = name in backends
        scenarios.append(dict(id=("env-" if installed_here else "env-missing-") + name, env={"KERAS_BACKEND": name},
                              description="KERAS_BACKEND=%s%s" % (name, "" if installed_here else " (not installed)")))
    scenarios.append(dict(id="stale-json", keras_json=STALE_KERAS_JSON,
                          description="a keras.json written by Keras 1.0 (theano, image_dim_ordering th)"))
    scenarios.append(dict(id="readonly-home", home="readonly",
                          description="HOME not writable: does import work, where does keras.json go"))
    return _with_env(scenarios)


def second_round(working, missing, keras3, default=None, candidates_=()):
    """The questions that need a backend that works: keras.json naming each, KERAS_BACKEND against
    keras.json, KERAS_HOME, the runtime switch. working: the backends whose KERAS_BACKEND scenario answered
    with that backend. A backend that cannot be imported (Keras 3's numpy without scipy) would make
    keras.json look ignored when it was read and failed, so it is asked only through KERAS_BACKEND.
    candidates_: every backend asked in the first round."""
    scenarios = []
    for name in working:
        scenarios.append(dict(id="json-" + name, keras_json={"backend": name},
                              description="~/.keras/keras.json names %s" % name))
    # The lightest backends last in each line's order: the env-vs-json question costs no TensorFlow import.
    env_choice = working[-1] if working else missing
    json_choice = next((b for b in reversed(working) if b != env_choice), missing)
    scenarios.append(dict(id="env-vs-json", env={"KERAS_BACKEND": env_choice}, keras_json={"backend": json_choice},
                          description="KERAS_BACKEND=%s and keras.json naming %s: which wins"
                          % (env_choice, json_choice)))
    # KERAS_HOME's keras.json names a working backend other than the default where there is one: naming
    # the default would answer the same whether KERAS_HOME was read or not.
    home_choice = next((b for b in reversed(working) if b != default), None) or (
        json_choice if json_choice in working else env_choice)
    scenarios.append(dict(id="keras-home", env={"KERAS_HOME": "$KERAS_HOME"}, keras_json={"backend": home_choice},
                          description="KERAS_HOME elsewhere, its keras.json naming %s (HOME's empty)" % home_choice))
    # The switch goes to another backend that works; where none does, to one that does not, so that which
    # switch this Keras has and what it does is still asked (its record then carries the import error).
    switch_to = next((b for b in list(reversed(working)) + list(candidates_) if b != default), None)
    if keras3 and switch_to:
        scenarios.append(dict(id="runtime-switch", switch_to=switch_to,
                              description="the runtime switch to %s after import with the default" % switch_to))
    return _with_env(scenarios)


def _with_env(scenarios):
    for scenario in scenarios:
        scenario.setdefault("env", {})
    return scenarios


def working_backends(backends, records):
    """The backends whose KERAS_BACKEND scenario answered with that backend, in the line's order."""
    answered = dict((r["id"], r.get("backend")) for r in records)
    return [b for b in backends if answered.get("env-" + b) == b]


def plan(installed, importable, default=None, working=None):
    """Every scenario for this cell, in record order: [{'id', 'description', 'env', 'keras_json', 'home',
    'switch_to'}]. default: the backend Keras chose by itself (the runtime switch goes to another one);
    working: as working_backends found (every candidate when not yet known)."""
    keras3, backends, missing = candidates(installed, importable)
    return first_round(backends, missing) + second_round(backends if working is None else working, missing,
                                                         keras3, default, backends)


def _labels(home, keras_home, readonly):
    """Where keras.json can land -> the name the record shows (no random temporary paths in records).
    /tmp/.keras only where HOME is not writable: scenarios run side by side, and only that one goes there."""
    places = [(os.path.join(home, ".keras", "keras.json"), "~/.keras/keras.json")]
    if readonly:
        places.append((os.path.join(TMP_KERAS_DIR, "keras.json"), TMP_KERAS_DIR + "/keras.json"))
    if keras_home:
        places.insert(0, (os.path.join(keras_home, "keras.json"), "$KERAS_HOME/keras.json"))
    return places


def run_scenario(scenario, scratch):
    """One scenario in a fresh process -> its record."""
    started = time.time()
    home = tempfile.mkdtemp(prefix="home-", dir=scratch)
    keras_home = os.path.join(scratch, "keras-home-" + scenario["id"]) if "KERAS_HOME" in scenario["env"] else None
    env = clean_env(home, dict((k, keras_home if v == "$KERAS_HOME" else v) for k, v in scenario["env"].items()))
    if scenario.get("keras_json") is not None:
        target = keras_home or os.path.join(home, ".keras")
        os.makedirs(target)
        with open(os.path.join(target, "keras.json"), "w") as handle:
            json.dump(scenario["keras_json"], handle, indent=4)
    places = _labels(home, keras_home, scenario.get("home") == "readonly")
    before = [_read_json(path) for path, _ in places]
    if scenario.get("home") == "readonly":
        os.chmod(home, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    spec = json.dumps({"switch_to": scenario.get("switch_to")})
    code, out, err, timed_out = run([sys.executable, "-c", _CHILD_CODE % {"here": HERE, "spec": spec}],
                                    env=env, timeout=SCENARIO_TIMEOUT)
    result = parse_marker(out) or {}
    record = {"id": scenario["id"], "description": scenario["description"], "env": scenario["env"],
              "keras_json_before": before[0][1], "backend": result.get("backend"), "error": result.get("error"),
              "keras_json_after": None, "keras_json_path": None}
    for key in ("keras_version", "backend_function", "backend_before_switch", "switch_function"):
        if key in result:
            record[key] = result[key]
    if scenario.get("switch_to"):
        record["switch_to"] = scenario["switch_to"]
    if not result:
        record["error"] = {"type": "timeout" if timed_out else "crash",
                           "message": "the Keras import %s (exit code %s)" % (
                               "ran past %d s" % SCENARIO_TIMEOUT if timed_out else "died without an answer", code)}
    if scenario.get("home") == "readonly":
        record["home_writable"] = os.access(home, os.W_OK)  # False unless the probe runs as root
    record["keras_json_written"] = False
    for (path, label), (existed, content) in zip(places, before):
        now_exists, now = _read_json(path)
        if now_exists and (not existed or now != content):
            record["keras_json_path"], record["keras_json_after"] = label, now
            record["keras_json_written"] = True
            break
    else:  # Keras wrote nothing: the file the scenario planted, as it still is
        now_exists, now = _read_json(places[0][0])
        if now_exists:
            record["keras_json_path"], record["keras_json_after"] = places[0][1], now
    if record["error"] or record["backend"] is None:
        record["stderr_tail"] = clip(err, 1500)
    record["seconds"] = round(time.time() - started, 2)
    os.chmod(home, stat.S_IRWXU)
    return record


def unanswered(scenario, kind, message):
    """The record of a scenario that got no answer from Keras."""
    return {"id": scenario["id"], "description": scenario["description"], "env": scenario["env"],
            "keras_json_before": scenario.get("keras_json"), "backend": None, "keras_json_after": None,
            "keras_json_path": None, "error": {"type": kind, "message": message}}


def _run_tf_keras(legacy, scratch):
    env = clean_env(tempfile.mkdtemp(prefix="home-", dir=scratch), {"TF_USE_LEGACY_KERAS": "1"} if legacy else None)
    code = "import sys\nsys.path.insert(0, %r)\nimport scenarios\nscenarios.tf_keras_child('{}')\n" % HERE
    rc, out, err, timed_out = run([sys.executable, "-c", code], env=env, timeout=SCENARIO_TIMEOUT)
    result = parse_marker(out)
    if result is None:
        result = {"error": {"type": "timeout" if timed_out else "crash",
                            "message": "import tensorflow %s (exit code %s): %s" % (
                                "timed out" if timed_out else "crashed", rc, clip(err, 500))}}
    return result


def _tf_minor(version):
    try:
        return tuple(int(p) for p in version.split(".")[:2])
    except ValueError:
        return None


def parallel(jobs, width):
    """Run the callables on `width` threads (each waits on its own child process) -> results in order."""
    results = [None] * len(jobs)
    lock = threading.Lock()
    queue = list(enumerate(jobs))

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                index, job = queue.pop(0)
            results[index] = job()
    threads = [threading.Thread(target=worker) for _ in range(max(1, width))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


DEFAULT_DESCRIPTION = "the built-in default: clean HOME, no KERAS_BACKEND"


def default_scenario(default_backend):
    """The probe's default_backend measurement (same process rules) as the first scenario's record."""
    written = bool(default_backend.get("keras_json_written"))
    record = {"id": "default", "description": DEFAULT_DESCRIPTION, "env": {}, "keras_json_before": None,
              "backend": default_backend.get("backend"), "error": default_backend.get("error"),
              "keras_json_after": default_backend.get("keras_json") if written else None,
              "keras_json_path": "~/.keras/keras.json" if written else None, "keras_json_written": written}
    if default_backend.get("keras_version") is not None:
        record["keras_version"] = default_backend["keras_version"]
    return record


def measure(installed, libraries, default_backend, width=2):
    """-> (scenario records, the default's first, tf_keras record or None)."""
    importable = dict((name, bool((info or {}).get("importable"))) for name, info in libraries.items())
    scratch = tempfile.mkdtemp(prefix="scenarios-", dir=os.environ.get("TMPDIR", "/tmp"))
    tmp_keras_existed = os.path.exists(TMP_KERAS_DIR)
    deadline = time.time() + TOTAL_BUDGET

    def job(scenario):
        def go():
            if time.time() > deadline:
                return unanswered(scenario, "not_run", "the probe's %d-s budget for scenarios was spent" % TOTAL_BUDGET)
            try:
                return run_scenario(scenario, scratch)
            except (IOError, OSError) as exc:  # the scratch space, not Keras: still one record per scenario
                return unanswered(scenario, "probe_error", "setting up the scenario failed: %s" % exc)
        return go

    keras3, backends, missing = candidates(installed, importable)
    first = first_round(backends, missing)
    jobs = [job(s) for s in first]
    tf_version = (libraries.get("tensorflow") or {}).get("version") or ""
    minor = _tf_minor(tf_version) if importable.get("tensorflow") else None
    if minor and minor[0] == 2:
        jobs.append(lambda: _run_tf_keras(False, scratch))
        if minor >= (2, 16):
            jobs.append(lambda: _run_tf_keras(True, scratch))
    results = parallel(jobs, width)
    working = working_backends(backends, results[:len(first)])
    second = parallel([job(s) for s in second_round(working, missing, keras3, default_backend.get("backend"),
                                                    backends)], width)
    results = results[:len(first)] + second + results[len(first):]
    if not tmp_keras_existed:
        shutil.rmtree(TMP_KERAS_DIR, ignore_errors=True)  # the unwritable-HOME scenario's, not the cell's
    shutil.rmtree(scratch, ignore_errors=True)
    tf_keras = None
    results.insert(0, default_scenario(default_backend))
    if minor and minor[0] == 2:
        tf_keras = {"tensorflow": tf_version, "default": results[len(results) - (2 if minor >= (2, 16) else 1)],
                    "legacy": results[-1] if minor >= (2, 16) else None,
                    "tf_keras_installed": installed.get("tf-keras") or installed.get("tf_keras")}
        results = results[: len(results) - (2 if minor >= (2, 16) else 1)]
    return results, tf_keras

