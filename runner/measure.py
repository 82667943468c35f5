"""Stages: probe and train, each in its own container from the cell's image: no network, read-only root
and data, a fresh HOME on tmpfs, dropped capabilities, an unprivileged user, CPU/memory/pid limits.

Everything reported about backends comes from the container: the runner parses the JSON line the
in-container scripts print and assumes nothing."""

import json
from pathlib import Path

from runner.engine import Mount, RunSpec
from runner.probe import MARKER
from runner.results import now_iso, summarize_epochs
from runner.text import clip

PROBE_DIR = Path(__file__).resolve().parent / "probe"
IN_CONTAINER_PROBE = "/opt/keras-matrix"
IN_CONTAINER_DATA = "/data"
MAX_FIELD = 20000


def parse_marker(output):
    """The last marker line's JSON, or None. Output is untrusted: bounded and type-checked."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            try:
                value = json.loads(line[len(MARKER):])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _env(cell, extra=None):
    threads = str(max(1, int(float(cell.limits.cpus))))
    env = {
        "HOME": "/tmp/home",
        "TMPDIR": "/tmp",
        "PYTHONUNBUFFERED": "1",
        "PYTHONHASHSEED": "0",
        # Fixed thread counts, recorded with every training: timings are comparable across cells.
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
        "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    if cell.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(extra or {})
    return env


def _spec(cell, image, command, timeout, data_dir=None, extra_env=None, cpuset=None, gpu=False):
    mounts = [Mount(str(PROBE_DIR), IN_CONTAINER_PROBE, read_only=True)]
    if data_dir:
        mounts.append(Mount(str(data_dir), IN_CONTAINER_DATA, read_only=True))
    return RunSpec(image=image, command=command, env=_env(cell, extra_env), mounts=mounts,
                   memory=cell.limits.memory, cpus=cell.limits.cpus, pids=cell.limits.pids,
                   cpuset=cpuset, gpu=gpu, timeout=timeout)


def probe_cell(cell, engine, image, timeout, cpuset=None, gpu=False):
    """-> (probe dict or None, RunOutcome)."""
    outcome = engine.run(_spec(cell, image, ["matrix-python", IN_CONTAINER_PROBE + "/probe.py"], timeout,
                               cpuset=cpuset, gpu=gpu))
    return parse_marker(outcome.output), outcome


def train_backend(cell, engine, image, backend, data_dir, timeout, cpuset=None, gpu=False):
    """Train the reference model with KERAS_BACKEND=backend. -> training record for the results."""
    command = ["matrix-python", IN_CONTAINER_PROBE + "/train.py", IN_CONTAINER_DATA + "/mnist.npz", str(cell.epochs)]
    started_at = now_iso()
    outcome = engine.run(_spec(cell, image, command, timeout, data_dir=data_dir,
                               extra_env={"KERAS_BACKEND": backend}, cpuset=cpuset, gpu=gpu))
    parsed = parse_marker(outcome.output) or {}
    epochs = [float(x) for x in parsed.get("epoch_seconds") or [] if isinstance(x, (int, float))]
    record = {
        "status": "ok" if parsed.get("status") == "ok" and outcome.exit_code == 0 else "failed",
        "stage": parsed.get("stage") or "container",
        "backend_used": parsed.get("backend_used"),
        "keras_version": parsed.get("keras_version"),
        "device": parsed.get("device") if isinstance(parsed.get("device"), dict) else None,
        "epoch_seconds": [round(x, 4) for x in epochs],
        "test_accuracy": parsed.get("test_accuracy"),
        "test_loss": parsed.get("test_loss"),
        "threads": parsed.get("threads"),
        "cpuset": cpuset,
        "cpus_allowed": parsed.get("cpus_allowed") if isinstance(parsed.get("cpus_allowed"), list) else None,
        "error": parsed.get("error"),
        "exit_code": outcome.exit_code,
        "oom_killed": outcome.oom_killed,
        "seconds": round(outcome.seconds, 2),
        "started_at": started_at,
        "finished_at": now_iso(),
        "log_tail": None,
    }
    record.update(summarize_epochs(epochs))
    if outcome.timed_out:
        record.update(status="timeout", error={"type": "timeout", "message": "training ran past %ds" % timeout})
    elif outcome.oom_killed:
        record["error"] = {"type": "oom", "message": "the container was killed by its memory limit (%s)" % cell.limits.memory}
    elif not parsed:
        record["error"] = {"type": "crash", "message": "the training process died without a result (exit code %s)"
                           % outcome.exit_code}
    if record["status"] != "ok":
        record["log_tail"] = clip(outcome.output, 6000, keep="tail")
    if record["status"] == "ok" and gpu and not (record["device"] or {}).get("gpu"):
        # A GPU image that silently trained on the CPU is a failure to report, not a pass.
        record.update(status="failed", stage="device",
                      error={"type": "no_gpu", "message": "a GPU was requested but %s saw none (devices: %s)"
                             % (backend, (record["device"] or {}).get("devices"))})
    return record
