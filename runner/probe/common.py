# -*- coding: utf-8 -*-
"""Helpers shared by probe.py and train.py. Python 2.7 and 3.x: no f-strings, no subprocess timeouts."""
from __future__ import print_function

import json
import os
import subprocess
import sys
import threading
import time
import traceback

MARKER = "@@KERAS_MATRIX_RESULT@@"
COUNTER_KEYS = ("wall", "process_cpu", "container_cpu", "throttled", "nr_throttled", "steal", "cores_busy")
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


def import_in_turn(names):
    """In a probe's child process: import each library in turn, printing one answer line each. The first
    import that fails after loading anything stops it: a half-imported module must not colour the next
    answer, so the caller asks the rest one per process. "Not installed" (nothing loaded) goes on."""
    for name in names:
        out = {"library": name}
        loaded = set(sys.modules)
        clean = True
        try:
            module = __import__(name)
            out["version"] = str(getattr(module, "__version__", ""))
            out["importable"] = True
        except BaseException as exc:
            clean = isinstance(exc, ImportError) and not set(sys.modules) - loaded
            out["importable"] = False
            out["error"] = describe_exception(exc)
        emit(out)
        if not clean:
            break


def marker_lines(stdout):
    """Every marker line's JSON object, in order (a line that is not one is skipped: output is untrusted)."""
    answers = []
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            try:
                answer = json.loads(line[len(MARKER):])
            except ValueError:
                continue
            if isinstance(answer, dict):
                answers.append(answer)
    return answers


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
    env.pop("MATRIX_PROBE_SCENARIOS", None)  # the runner's word to probe.py, not part of a user's environment
    env["HOME"] = home
    env.update(extra or {})
    return env


def _read_keyvals(path):
    try:
        with open(path) as handle:
            return dict((parts[0], int(parts[1])) for parts in (line.split() for line in handle) if len(parts) == 2)
    except (IOError, OSError, ValueError):
        return None


def _read_int(path):
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (IOError, OSError, ValueError):
        return None


def host_steal_seconds():
    """Time the hypervisor gave the host's CPUs to someone else (steal, all CPUs summed), from /proc/stat,
    which a container shares with its host."""
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()
        return int(fields[8]) / float(os.sysconf("SC_CLK_TCK"))
    except (IOError, OSError, ValueError, IndexError):
        return None


def cores_busy_seconds(cpus, text=None):
    """Busy seconds (user, nice, system, irq, softirq) of the given host CPUs, summed, from /proc/stat,
    which a container shares with its host: every process's work on those cores, not only ours. Idle,
    iowait and steal are left out (steal is the hypervisor's, reported on its own). None when unreadable."""
    if cpus is None:
        return None
    try:
        if text is None:
            with open("/proc/stat") as handle:
                text = handle.read()
        wanted = set("cpu%d" % c for c in cpus)
        busy, seen = 0, 0
        for line in text.splitlines():
            fields = line.split()
            if fields and fields[0] in wanted:
                values = [int(v) for v in fields[1:8]]
                busy += values[0] + values[1] + values[2] + values[5] + values[6]
                seen += 1
        if seen != len(wanted):
            return None
        return busy / float(os.sysconf("SC_CLK_TCK"))
    except (IOError, OSError, ValueError, IndexError):
        return None


_ALLOWED = []  # the affinity, read once per process: it does not change while we train


def _our_cpus():
    if not _ALLOWED:
        _ALLOWED.append(cpus_allowed())
    return _ALLOWED[0]


def counters():
    """Clocks and contention counters at one instant: wall time, this process's CPU time, the container's
    CPU time and CFS throttling (cgroup v1 or v2, as the container sees its own cgroup), host steal time,
    and the busy time of the host CPUs we may run on (ours plus anyone else's: `cores_busy - container_cpu`
    is the foreign work on our cores).
    A missing counter is None: the runner reports what it could not see, never a guess."""
    times = os.times()
    out = {"wall": time.time(), "process_cpu": times[0] + times[1], "container_cpu": None,
           "throttled": None, "nr_throttled": None, "steal": host_steal_seconds(),
           "cores_busy": cores_busy_seconds(_our_cpus())}
    v2 = _read_keyvals("/sys/fs/cgroup/cpu.stat")
    if v2 and "usage_usec" in v2:
        out["container_cpu"] = v2["usage_usec"] / 1e6
        out["throttled"] = v2.get("throttled_usec", 0) / 1e6
        out["nr_throttled"] = v2.get("nr_throttled")
        return out
    usage = _read_int("/sys/fs/cgroup/cpuacct/cpuacct.usage")
    if usage is None:
        usage = _read_int("/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage")
    if usage is not None:
        out["container_cpu"] = usage / 1e9
    v1 = _read_keyvals("/sys/fs/cgroup/cpu/cpu.stat") or _read_keyvals("/sys/fs/cgroup/cpu,cpuacct/cpu.stat")
    if v1:
        out["throttled"] = v1.get("throttled_time", 0) / 1e9
        out["nr_throttled"] = v1.get("nr_throttled")
    return out


def counter_delta(start, end):
    """end - start for each counter both could read (None where either could not)."""
    delta = {}
    for key in COUNTER_KEYS:
        a, b = start.get(key), end.get(key)
        delta[key] = None if a is None or b is None else round(b - a, 6)
    return delta
