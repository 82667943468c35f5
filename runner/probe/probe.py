# -*- coding: utf-8 -*-
"""Probe a cell's container: Python, installed packages, which backend libraries import, and which
backend Keras selects by default (fresh HOME, no KERAS_BACKEND) or the exact error it raises; then how it
chooses (scenarios.py: KERAS_BACKEND, keras.json, KERAS_HOME, ...), which Keras tf.keras is, and what the
installed set says about itself (installed.py: pip check, distributions sharing a package).

Nothing here knows which backend is the default: it only asks Keras and reports what it said.
Runs on Python 2.7 and 3.x. Prints one JSON line after the marker.
"""
from __future__ import print_function

import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import installed
import scenarios
from common import clean_env, clip, cpus_allowed, describe_exception, emit, marker_lines, parse_marker, run

# Libraries whose import we report. Reporting is all: the backends trained are the cell's declared ones.
LIBRARIES = ["keras", "tensorflow", "theano", "cntk", "jax", "torch", "numpy", "openvino"]

# Keras first, in a clean process: nothing imported before it colours its choice. Once it imported and answered,
# its backend is loaded, so the other libraries are asked in the same process (`then`): a cell's dearest import
# (TensorFlow's, seconds) is paid once for both questions. Their stderr goes after a split line, so the
# default's stderr_tail stays Keras' own.
_DEFAULT_BACKEND_CODE = r"""
from __future__ import print_function
import sys
sys.path.insert(0, %(here)r)
from common import describe_exception, emit, import_in_turn
out = {}
try:
    import keras
    out["keras_version"] = getattr(keras, "__version__", None)
    from keras import backend as K
    if hasattr(K, "backend"):
        out["backend"] = K.backend()
        out["backend_function"] = "keras.backend.backend"
    else:  # Keras < 1.0.7 has no backend(): the module-level name it chose at import is the answer
        out["backend"] = K._BACKEND
        out["backend_function"] = "keras.backend._BACKEND"
except BaseException as exc:  # SystemExit and friends are answers too
    out["error"] = describe_exception(exc)
emit(out)
if "error" not in out and %(then)r:
    emit({"library": "keras", "importable": True, "version": str(getattr(keras, "__version__", ""))})
    sys.stdout.flush()
    sys.stderr.write(%(split)r + "\n")
    sys.stderr.flush()
    import_in_turn(%(then)r)
"""
STDERR_SPLIT = "@@KERAS_MATRIX_LIBRARIES@@"

# Imports the named libraries in turn, one answer line each (common.import_in_turn). library_imports gives it
# all of them, Keras last (it imports its backend, so that import is paid once), where the default-backend
# process could not ask them.
_IMPORTS_CODE = r"""
import sys
sys.path.insert(0, %(here)r)
from common import import_in_turn
import_in_turn(%(names)r)
"""

HERE = os.path.dirname(os.path.abspath(__file__))
R_SCRIPT = os.path.join(HERE, "r_probe.R")
R_TIMEOUT = 180  # one Rscript: R, reticulate and a Keras import with its backend
R_BACKENDS = ["tensorflow", "theano", "cntk", "jax", "torch"]  # the cell's backend libraries, in layer order


def fresh_home():
    return tempfile.mkdtemp(prefix="home-", dir=os.environ.get("TMPDIR", "/tmp"))


def default_backend(then=()):
    """-> (the default-backend answer, {library: answer} asked after it in the same process). `then`: the
    libraries to ask there once Keras imported and answered; none when it did not."""
    home = fresh_home()
    code, out, err, timed_out = run([sys.executable, "-c", _DEFAULT_BACKEND_CODE % {
        "here": HERE, "then": list(then), "split": STDERR_SPLIT}], env=clean_env(home), timeout=600)
    lines = marker_lines(out)
    result = next((line for line in lines if "library" not in line), None) or {}
    asked = list(then) + ["keras"]  # a list: a "library" value that is not hashable is simply not one of them
    libraries = dict((line.pop("library"), line) for line in lines if line.get("library") in asked)
    if not result:
        result["error"] = {"type": "timeout" if timed_out else "crash",
                           "message": "the Keras import %s (exit code %s)" % (
                               "timed out" if timed_out else "died without an answer", code)}
    result["stderr_tail"] = clip(err.split(STDERR_SPLIT)[0], 2000)
    keras_json = os.path.join(home, ".keras", "keras.json")
    result["keras_json_written"] = os.path.exists(keras_json)
    if result["keras_json_written"]:
        with open(keras_json) as handle:
            text = handle.read()
        try:
            result["keras_json"] = json.loads(text)
        except ValueError:
            result["keras_json"] = clip(text, 2000)
    else:
        result["keras_json"] = None
    return result, libraries


def library_imports(width=2, answered=None):
    """library -> {importable, version | error}, each answer what a fresh process importing it would see.
    answered: what the default-backend process already said (Keras' own answer among them when it imported)."""
    order = [name for name in LIBRARIES if name != "keras"] + ["keras"]
    answers = dict(answered or {})
    if "keras" not in answers:  # Keras did not import there: one shared process of its own, Keras last
        answers = _imports(order)[0]
    # Where a shared process stopped (a failed import, a crash, a timeout): one fresh process each.
    rest = [name for name in order if name not in answers]
    answers.update(zip(rest, scenarios.parallel([lambda name=name: _import(name) for name in rest], width)))
    return dict((name, answers[name]) for name in LIBRARIES)


def _imports(names, timeout=600):
    """Runs _IMPORTS_CODE on `names` in a fresh process -> ({library: answer}, exit code, stderr, timed out)."""
    code, out, err, timed_out = run([sys.executable, "-c", _IMPORTS_CODE % {"here": HERE, "names": list(names)}],
                                    env=clean_env(fresh_home()), timeout=timeout)
    answers = {}
    for answer in marker_lines(out):
        name = answer.pop("library", None)
        if name in names:
            answers[name] = answer
    return answers, code, err, timed_out


def _import(name):
    answers, code, err, timed_out = _imports([name], timeout=300)
    if name in answers:
        return answers[name]
    return {"importable": False, "error": {
        "type": "timeout" if timed_out else "crash",
        "message": "import %s %s (exit code %s): %s" % (
            name, "timed out" if timed_out else "crashed", code, clip(err, 500))}}


def pip_freeze():
    """-> (name -> version, error text or None)."""
    code, out, err, _ = run([sys.executable, "-m", "pip", "freeze", "--all"], timeout=120)
    if code != 0:
        return {}, clip("pip freeze failed (exit code %s): %s" % (code, err), 1000)
    packages = {}
    for line in out.splitlines():
        if "==" in line:
            name, _, version = line.partition("==")
            packages[name.strip().lower()] = version.strip()
    return packages, None


def which(name):
    """The program's path on PATH, or None (Python 2.7 has no shutil.which)."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(directory, name)
        if directory and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def r_scenarios(libraries):
    """(id, KERAS_BACKEND to set from R or ''): the default, then each backend library of the cell that imports."""
    backends = [b for b in R_BACKENDS if (libraries.get(b) or {}).get("importable")]
    return [("r-default", "")] + [("r-env-" + b, b) for b in backends]


def r_probe(libraries, width=1, rscript=None):
    """What R sees through reticulate (r_probe.R), each scenario in a fresh Rscript with a clean HOME; None
    when the image has no Rscript (a cell without R)."""
    rscript = rscript or which("Rscript")
    if rscript is None:
        return None

    def one(scenario_id, backend):
        code, out, err, timed_out = run([rscript, "--vanilla", R_SCRIPT, scenario_id, backend, sys.executable],
                                        env=clean_env(fresh_home()), timeout=R_TIMEOUT)
        try:
            answer = parse_marker(out)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {"id": scenario_id, "error": {
                "type": "timeout" if timed_out else "crash", "stage": "Rscript",
                "message": "Rscript %s (exit code %s): %s" % (
                    "timed out after %ds" % R_TIMEOUT if timed_out else "gave no answer", code, clip(err, 1500))}}
        answer["stderr_tail"] = clip(err, 1500)
        return answer

    jobs = [lambda s=s, b=b: one(s, b) for s, b in r_scenarios(libraries)]
    answers = scenarios.parallel(jobs, width)
    result = {"rscript": rscript, "scenarios": answers}
    for key in ("r_version", "python", "r_packages"):  # what every scenario shares, from the first that said it
        result[key] = next((a.get(key) for a in answers if a.get(key) is not None), None)
    packages = result["r_packages"] or {}
    result["reticulate_version"] = packages.get("reticulate")
    return result


def main():
    result = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": multiprocessing.cpu_count(),
        "image_keras_backend": os.environ.get("KERAS_BACKEND"),
        "uid": os.getuid(),
    }
    allowed = cpus_allowed()
    if allowed is not None:
        result["cpus_allowed"] = len(allowed)
    width = min(2, len(allowed)) if allowed else 1  # the probe's own processes share the cell's cores
    phases = result["phase_seconds"] = {}

    def timed(name, call, fallback=None):
        """The new questions never cost the default-backend answer: a failure is recorded, not raised."""
        started = time.time()
        try:
            value = call()
        except Exception as exc:
            if fallback is None:
                raise
            result.setdefault("probe_errors", {})[name] = describe_exception(exc)
            value = fallback
        phases[name] = round(time.time() - started, 2)
        return value
    # The installed set from the metadata pip leaves (as importlib.metadata reads it: no pip process, a
    # second per cell); pip freeze only where that finds nothing.
    dists = timed("installed", lambda: installed.distributions(installed.site_directories()))
    result["installed"], result["pip_freeze_error"] = installed.installed_set(dists), None
    result["installed_from"] = "metadata"
    if not result["installed"]:
        result["installed"], result["pip_freeze_error"] = timed("pip_freeze", pip_freeze)
        result["installed_from"] = "pip freeze"
    # The default first, and the libraries in its process after it (default_backend: its phase is both);
    # "libraries" is only what that process could not answer.
    then = [name for name in LIBRARIES if name != "keras"]
    result["default_backend"], asked = timed("default_backend", lambda: default_backend(then))
    result["libraries"] = timed("libraries", lambda: library_imports(width, asked))
    result["pip_check"] = timed("pip_check", installed.pip_check, {"exit_code": None, "problems": []})
    result["package_owners"], result["shared_packages"] = timed(
        "ownership", lambda: installed.ownership(installed.site_directories(), dists), ({}, {}))
    if os.environ.get("MATRIX_PROBE_SCENARIOS", "1") != "0":
        result["scenarios"], result["tf_keras"] = timed("scenarios", lambda: scenarios.measure(
            result["installed"], result["libraries"], result["default_backend"], width), ([], None))
    else:  # the cell's `scenarios: false`: the records keep no scenario keys (as from a probe before them)
        result["scenarios_asked"] = False
    r = timed("r", lambda: r_probe(result["libraries"], width), {"error": "the R probe failed"})
    if r is not None:  # only an image with Rscript says anything about R
        result["r"] = r
    emit(result)


if __name__ == "__main__":
    main()
