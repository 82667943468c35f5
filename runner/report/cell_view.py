"""Stage: report. What the HTML page shows of one cell: its row, its matrix entry and its details.

Every value comes from a record and is untrusted: one line (runner.util.text.one_line) where it is a label,
clipped text (optional_text) where it goes into a <pre>; Jinja2 autoescapes both when the page renders.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from runner.model.records import BuildStatus, Status, TrainingStatus, backend_sort_key, short_name
from runner.model.vocabulary import Device
from runner.report import timing
from runner.report.answers import DISTRIBUTIONS
from runner.report.chart import seconds_text
from runner.report.fields import (
    Cell,
    cell_backends,
    combo_label,
    default_of,
    default_summary,
    device_summary,
    error_text,
    error_type,
    expectation_mark,
    expectation_reason,
    expected_outcome,
    fmt_accuracy,
    fmt_seconds,
    installed_of,
    keras_version,
    known_status,
    python_summary,
    version_key,
)
from runner.report.timing import training_summary
from runner.util.text import one_line, optional_text

TEXT_LIMIT = 8000      # characters of one message or log tail shown in the page
SHORT_LIMIT = 300
TRAINING_CSS = frozenset(s.value for s in (TrainingStatus.OK, TrainingStatus.FAILED, TrainingStatus.TIMEOUT,
                                           TrainingStatus.SKIPPED))
INSTALLED_OF_INTEREST = ("keras", "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "theano", "cntk", "cntk-gpu",
                         "jax", "jaxlib", "torch", "numpy", "openvino", "h5py", "scipy", "protobuf")

def status_class(status: Any) -> str:
    """CSS class for a status; unknown values (from an unvalidated file) never become class names."""
    known = known_status(status)
    return "st-%s" % known.value if known is not None else "st-unknown"


def bytes_text(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024
    return "-"


def when_text(value: Any) -> str:
    return str(value).replace("T", " ").replace("+00:00", " UTC") if value else "-"


def _num(value: Any, fmt: str = "%.4g") -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return fmt % value


def _error_view(error: Any) -> Optional[Dict[str, Any]]:
    if not isinstance(error, dict):
        return None
    return {"type": one_line(error.get("type") or "error", 200),
            "message": optional_text(error.get("message"), TEXT_LIMIT) or "",
            "traceback": optional_text(error.get("traceback_tail"), TEXT_LIMIT)}


# ---- one cell --------------------------------------------------------------------------------------------

def _training_view(name: str, training: Dict[str, Any], cell: Cell) -> Dict[str, Any]:
    smoke = timing.is_smoke(cell)
    device = training.get("device") if isinstance(training.get("device"), dict) else None
    if device is None:
        device_text = "-"
    else:
        devices = ", ".join(one_line(d, 60) for d in device.get("devices") or []) or "none"
        device_text = "%s (%s)" % (devices, "GPU" if device.get("gpu") else "no GPU")
    spread = training.get("steady_epoch_spread")
    spread_text = "-"
    if isinstance(spread, list) and len(spread) == 2 and all(isinstance(x, (int, float)) for x in spread):
        spread_text = "%s \u2013 %s" % (fmt_seconds(spread[0]), fmt_seconds(spread[1]))
    epochs = [x for x in training.get("epoch_seconds") or [] if isinstance(x, (int, float))]
    silent_cpu = cell.get("device") == Device.GPU and device is not None and device.get("gpu") is False
    status = one_line(training.get("status"), 20)
    return {
        "name": name, "status": status,
        "css": "tr-%s" % status if status in TRAINING_CSS else "tr-failed",
        "stage": one_line(training.get("stage"), 40) or "-",
        "backend_used": one_line(training.get("backend_used"), 40) or "-",
        "keras_version": one_line(training.get("keras_version"), 40) or "-",
        # A smoke training's epoch times are no measurement: counted, never quoted.
        "epochs": ("%d (smoke: not timed)" % len(epochs) if smoke else ", ".join(fmt_seconds(x) for x in epochs))
                  if epochs else "-", "epoch_count": len(epochs),
        "first": "-" if smoke else seconds_text(training.get("first_epoch_seconds")),
        "steady": timing.headline(training, smoke) if training.get("status") == TrainingStatus.OK else "-",
        "timing_detail": timing.detail(training, smoke), "shaky": timing.is_shaky(training) and not smoke,
        "spread": "-" if smoke else spread_text, "accuracy": fmt_accuracy(training.get("test_accuracy")),
        "loss": _num(training.get("test_loss")), "device": device_text, "silent_cpu": silent_cpu,
        "threads": one_line(training.get("threads"), 20) or "-", "cores": one_line(training.get("cpuset"), 40) or "-",
        "seconds": seconds_text(training.get("seconds")),
        "exit_code": "-" if training.get("exit_code") is None else one_line(training.get("exit_code"), 20),
        "oom": bool(training.get("oom_killed")), "error": _error_view(training.get("error")),
        "log_tail": optional_text(training.get("log_tail"), TEXT_LIMIT), "summary": training_summary(training, smoke),
    }


def _compact_summary(training: Optional[Dict[str, Any]], smoke: bool = False) -> str:
    """'2.25 s ±2% · 97.5%', '2.25 s ±9% [unstable: wider than ±3%] · 97.5%' or '\u2717 RuntimeError': a table
    cell, the full story is in the details."""
    if training is None:
        return "-"
    if training.get("status") == TrainingStatus.OK:
        return "%s \u00b7 %s" % (timing.headline(training, smoke), fmt_accuracy(training.get("test_accuracy")))
    error = training.get("error")
    return "\u2717 %s" % (error_type(error) if error else one_line(training.get("status"), 20))


def _comparisons(trainings: Dict[str, Any]) -> List[str]:
    """The cell's finished trainings compared pairwise, fastest figure first (timing.comparison_text)."""
    finished = sorted(((n, t) for n, t in trainings.items() if timing.seconds(t) is not None),
                      key=lambda nt: (timing.seconds(nt[1]) or 0.0, backend_sort_key(nt[0])))
    return [timing.comparison_text(name_a, a, name_b, b)
            for i, (name_a, a) in enumerate(finished) for name_b, b in finished[i + 1:]]


def _provider(name: str, installed: Dict[str, str]) -> Optional[str]:
    """The installed distribution that provides the library asked for: 'tensorflow' is provided by
    tensorflow-cpu 2.10.1 where that is what the Dockerfile installed (DISTRIBUTIONS)."""
    for dist in DISTRIBUTIONS.get(name, (name,)):
        if installed.get(dist):
            return dist
    return None


def _versions_view(cell: Cell) -> List[Dict[str, Any]]:
    """Requested vs installed, one row per library the cell asked for or that matters for the stack."""
    versions = cell.get("versions") or {}
    installed = installed_of(cell)
    names = list(versions)
    providers = {n: _provider(n, installed) for n in names}
    names += [n for n in INSTALLED_OF_INTEREST if n in installed and n not in names and n not in providers.values()]
    rows = []
    for name in names:
        requested = versions.get(name)
        dist = providers.get(name) or (name if installed.get(name) else None)
        got = installed.get(dist) if dist else None
        shown = one_line(got, 100) if got else ("not installed" if requested and installed else "-")
        if got and dist != name:
            shown += " (%s)" % one_line(dist, 60)
        rows.append({"name": one_line(name, 60), "requested": one_line(requested, 100) if requested else "",
                     "installed": shown,
                     "mismatch": bool(requested and got and not _satisfies(str(got), str(requested))),
                     "missing": bool(requested and installed and not got)})
    return rows


def _without_post(version: Version) -> Tuple[Any, ...]:
    return (version.epoch, version.release, version.pre, version.dev)


def _satisfies(version: str, spec: str) -> bool:
    """Whether pip installed what was asked; unparsable values are not called a mismatch. A post release
    is the release it follows: the cntk 2.7.post2 wheel reports 2.7, and 2.7.post1 is what ==2.7 asked for."""
    try:
        wanted = SpecifierSet(spec)
        got = Version(version)
        if wanted.contains(got, prereleases=True):
            return True
        exact = [s for s in wanted if s.operator in ("==", "===") and "*" not in s.version]
        return len(exact) == 1 == len(list(wanted)) and _without_post(Version(exact[0].version)) == _without_post(got)
    except ValueError:  # InvalidSpecifier, InvalidVersion, or a number past int()'s 4300 digits
        return True


def _base_view(cell: Cell) -> Dict[str, str]:
    """The base image by name ('keras-matrix/base:bullseye-minbase (debian-bullseye, bootstrap-cached)'), and
    what the engine said while getting it (a failed pull before a fallback) apart, as an error."""
    base = cell.get("base_image")
    base = base if isinstance(base, dict) else {}
    ref, name, source = (one_line(base.get(k), 120) for k in ("ref", "name", "source"))
    shown = ref or name
    about = ", ".join(p for p in (name if name != shown else "", source) if p)
    return {"name": (shown + (" (%s)" % about if about and shown else about)) or "-",
            "message": optional_text(base.get("message"), SHORT_LIMIT * 4) or ""}


def _libraries_view(cell: Cell) -> List[Dict[str, Any]]:
    libraries = (cell.get("probe") or {}).get("libraries") or {}
    rows = []
    for name, info in libraries.items():
        info = info if isinstance(info, dict) else {}
        rows.append({"name": one_line(name, 60), "importable": bool(info.get("importable")),
                     "version": one_line(info.get("version"), 60) or "-",
                     "error": one_line(((info.get("error") or {}).get("type") or "") + ": " +
                                       str((info.get("error") or {}).get("message") or ""), SHORT_LIMIT)
                     if isinstance(info.get("error"), dict) else ""})
    return rows


def _as_of_text(cell: Cell) -> str:
    """'2018-06-06T23:18:41Z (the day Keras 2.2.0 was published; index 2026-12-03)', or '' for a cell resolved
    as the index is now."""
    as_of = cell.get("as_of")
    if not isinstance(as_of, dict) or not as_of.get("cutoff"):
        return ""
    why = "the day Keras %s was published" % (keras_version(cell) or "?") if as_of.get("rule") == "release" \
        else "a date the matrix gives"
    return "%s (%s; %s)" % (one_line(as_of.get("cutoff"), 40), why, one_line(as_of.get("source"), 60))


def cell_view(cell: Cell, backends: List[str]) -> Dict[str, Any]:
    cell_id = str(cell.get("cell_id"))
    status = str(cell.get("status"))
    known = known_status(status)
    trainings = cell.get("trainings") or {}
    requested = cell_backends(cell)
    backend, error = default_of(cell)
    default = cell.get("default_backend") or {}
    keras_json = default.get("keras_json")
    build = cell.get("build") or {}
    probe = cell.get("probe") or {}
    version = keras_version(cell)
    # A cell that did not run has no time to show: a skipped cell's 0 seconds is not a measurement.
    ran = known != Status.SKIPPED and isinstance(cell.get("seconds"), (int, float)) and \
        not isinstance(cell.get("seconds"), bool)
    smoke = timing.is_smoke(cell)  # a few batches: whether it trains, not how fast
    per_backend = OrderedDict()  # one column per backend of the whole run, in the cells table
    for name in backends:
        training = trainings.get(name)
        if name not in requested:
            per_backend[name] = {"text": "", "sort": "", "css": "", "title": ""}
        elif training is None:
            per_backend[name] = {"text": "-", "sort": "", "css": "tr-none", "title": "not run"}
        else:
            steady = timing.seconds(training)
            outcome = training.get("status")
            per_backend[name] = {
                "text": _compact_summary(training, smoke), "sort": "" if steady is None or smoke else "%.6f" % steady,
                "css": ("tr-%s" % outcome if outcome in TRAINING_CSS else "tr-failed") +
                       (" tr-shaky" if timing.is_shaky(training) and not smoke else ""),
                "title": error_text(training.get("error"), SHORT_LIMIT) or (
                    timing.detail(training, smoke) if steady is not None else one_line(outcome, 20))}
    # Short per-backend lines for the matrix: 'tf 2.25s', 'cntk failed'.
    short = []
    for name in sorted(trainings, key=backend_sort_key):
        training = trainings[name]
        steady = timing.seconds(training)
        label = short_name(name)
        value, flag = (one_line(training.get("status"), 20), "") if steady is None else \
            timing.figure_parts(training, smoke)
        short.append({"label": label, "value": value, "mark": flag, "ok": steady is not None,
                      "is_default": backend is not None and name == backend,
                      "title": timing.detail(training, smoke) if steady is not None
                      else one_line(training.get("status"), 20)})
    search = " ".join([cell_id, status, str(cell.get("reason") or ""), default_summary(cell), combo_label(cell),
                       str(cell.get("group") or ""), str(cell.get("name") or ""), str(cell.get("python") or ""),
                       "keras %s" % version if version else ""]).lower()
    return {
        "id": cell_id, "anchor": "cell-%s" % cell_id, "status": status, "css": status_class(status),
        "status_rank": list(Status).index(known) if known is not None else len(Status),
        "status_text": known.meaning if known is not None else "unknown status",
        "reason": one_line(cell.get("reason"), SHORT_LIMIT) if cell.get("reason") else "",
        "reason_full": optional_text(cell.get("reason"), TEXT_LIMIT),
        "group": one_line(cell.get("group"), 80), "name": one_line(cell.get("name"), 80),
        "era": one_line(cell.get("era"), 40), "description": one_line(cell.get("description"), SHORT_LIMIT),
        "device": one_line(cell.get("device"), 10) or "-", "device_text": device_summary(cell),
        "silent_cpu": cell.get("device") == Device.GPU and cell.get("device_used") in (Device.CPU, "mixed"),
        "python": one_line(cell.get("python"), 20) or "-", "python_seen": python_summary(cell),
        "keras": version or "-", "keras_sort": str(version_key(version)), "combo": combo_label(cell),
        "libset": combo_label(cell, with_versions=False),
        "combo_parts": combo_label(cell).split(" + ") if set(cell.get("versions") or {}) - {"keras"} else [],
        "default_label": default_summary(cell), "default_backend": one_line(backend, 60) if backend else None,
        "default_error": _error_view(error),
        "default_error_short": error_type(error) if error else None,
        "keras_json": (json.dumps(keras_json, indent=2, sort_keys=True) if isinstance(keras_json, dict)
                       else optional_text(keras_json, TEXT_LIMIT)),
        "keras_json_written": default.get("keras_json_written"),
        "default_keras_version": one_line(default.get("keras_version"), 40) or "-",
        "stderr_tail": optional_text(default.get("stderr_tail"), TEXT_LIMIT),
        "probed": backend is not None or error is not None,
        "versions": _versions_view(cell),
        "as_of": _as_of_text(cell),
        "installed_all": [(one_line(k, 100), one_line(v, 100))
                          for k, v in sorted(installed_of(cell).items())],
        "requirements": [one_line(r, 200) for r in cell.get("requirements") or []],
        "libraries": _libraries_view(cell),
        "probe_python": one_line(probe.get("python"), 40) or "-",
        "probe_platform": one_line(probe.get("platform"), 200) or "-",
        "probe_cpus": one_line(probe.get("cpus_allowed") or probe.get("cpu_count"), 20) or "-",
        "trainings": [_training_view(n, trainings[n], cell) for n in sorted(trainings, key=backend_sort_key)],
        "untrained": [n for n in requested if n not in trainings],
        "per_backend": per_backend, "short": short, "comparisons": [] if smoke else _comparisons(trainings),
        "build": {"status": one_line(build.get("status"), 20) or "-",
                  "seconds": seconds_text(build.get("seconds")) if build.get("status") not in (
                      BuildStatus.NOT_RUN, None) else "-", "image": one_line(build.get("image"), 200) or "-",
                  "image_id": one_line(build.get("image_id"), 100) or "-",
                  "size": bytes_text(build.get("image_size")),
                  "dockerfile": one_line(build.get("dockerfile"), 300) or "-",
                  "dockerfile_sha256": one_line(build.get("dockerfile_sha256"), 80) or "-",
                  "log": one_line(build.get("log"), 300) or "-",
                  "log_tail": optional_text(build.get("log_tail"), TEXT_LIMIT),
                  "resolver": optional_text(build.get("resolver"), TEXT_LIMIT)},
        "base_image": _base_view(cell),
        "cached": bool(cell.get("cached")),
        "measured_in_run": one_line(cell.get("measured_in_run"), 80) or "-",
        "started": when_text(cell.get("started_at")), "finished": when_text(cell.get("finished_at")),
        "seconds": fmt_seconds(cell["seconds"]) if ran else "-",
        "seconds_sort": "%.3f" % cell["seconds"] if ran else "",
        "expectation": expectation_mark(cell), "expectation_verdict": one_line(cell.get("expectation_verdict"), 40),
        "expectation_reason": expectation_reason(cell), "expected": expected_outcome(cell),
        "search": search,
    }
