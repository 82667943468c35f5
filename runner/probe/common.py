# -*- coding: utf-8 -*-
"""Helpers shared by probe.py and train.py. Python 2.7 and 3.x: no f-strings, no subprocess timeouts."""
from __future__ import print_function

import json
import os
import subprocess
import sys
import threading
import traceback

MARKER = "@@KERAS_MATRIX_RESULT@@"
MAX_TEXT = 4000  # keep error messages bounded: the runner treats everything from here as untrusted


def clip(text, limit=MAX_TEXT):
    if text is None:
        return None
    if not isinstance(text, str):
        try:
            text = text.decode("utf-8", "replace")
        except AttributeError:
            text = str(text)
    if len(text) > limit:
        return text[: limit // 2] + "\n...[clipped]...\n" + text[-limit // 2:]
    return text


def describe_exception(exc):
    """{'type': 'module.Class', 'message': ..., 'traceback_tail': ...} for the results."""
    kind = type(exc)
    return {
        "type": "%s.%s" % (kind.__module__, kind.__name__),
        "message": clip(str(exc)),
        "traceback_tail": clip("".join(traceback.format_exc().splitlines(True)[-12:]), 2000),
    }


def emit(result):
    """Print the one line the runner parses."""
    sys.stdout.flush()
    print(MARKER + json.dumps(result, sort_keys=True))
    sys.stdout.flush()


def run(argv, env=None, timeout=600):
    """Run a command with a timeout (Python 2.7 has none built in). -> (code, stdout, stderr, timed_out)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    state = {"timed_out": False}

    def kill():
        state["timed_out"] = True
        try:
            proc.kill()
        except OSError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        out, err = proc.communicate()
    finally:
        timer.cancel()
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), state["timed_out"]


def parse_marker(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    return None


def cpus_allowed():
    """The CPU ids this process may run on, as the kernel sees them (its pinning, not the runner's word)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # Python 2.7: read the kernel's list, e.g. "0-1,4"
        try:
            with open("/proc/self/status") as handle:
                text = next(line for line in handle if line.startswith("Cpus_allowed_list:")).split(":", 1)[1]
        except (IOError, OSError, StopIteration):
            return None
        cpus = []
        for part in text.strip().split(","):
            low, _, high = part.partition("-")
            cpus.extend(range(int(low), int(high or low) + 1))
        return cpus


def clean_env(home, extra=None):
    """The environment of a fresh user: a new empty HOME and no KERAS_BACKEND."""
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    env["HOME"] = home
    env.update(extra or {})
    return env
