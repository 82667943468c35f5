"""What the reports read from a record: small accessors every output format shares.

The bottom of the report package: it imports nothing from it. Records are CellRecords as written by the
runner, but a report also renders older files, merged shards and hand-made documents, so every read here
is defensive and typed as a plain mapping; values from containers are untrusted and pass through
runner.util.text before they reach a sentence.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from runner.model.records import (
    ExpectationVerdict,
    Status,
    TrainingStatus,
    backend_sort_key,
    canonical_installed,
    short_name,
)
from runner.model.vocabulary import Device
from runner.util.text import one_line

MAX_MESSAGE = 300  # characters of one error message in a sentence

Doc = Mapping[str, Any]   # a results document (RunDocument as read back)
Cell = Mapping[str, Any]  # one cell record (CellRecord as read back)
Training = Mapping[str, Any]
Error = Mapping[str, Any]


def known_status(value: Any) -> Optional[Status]:
    """The Status a record names, or None for a value no version of the tool writes."""
    try:
        return Status(value)
    except ValueError:
        return None


# ---- versions ---------------------------------------------------------------------------------------------

def spec_version(spec: Optional[str]) -> Optional[str]:
    """'==2.3.1' -> '2.3.1'; any other specifier stays as written ('>=2.3,<2.4')."""
    if spec is None:
        return None
    try:
        specs = list(SpecifierSet(spec))
    except InvalidSpecifier:
        return spec
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return spec


def version_key(version: Optional[str]) -> Tuple[int, Any]:
    """Sort key: real versions in version order, then anything else by its text, then None."""
    if version is None:
        return (2, "")
    try:
        return (0, Version(version))
    except ValueError:  # InvalidVersion, or a number past int()'s 4300 digits (a recorded value: untrusted)
        return (1, version)


def keras_version(cell: Cell) -> Optional[str]:
    """The Keras actually installed (the record's installed set) when known, else the one requested."""
    installed = installed_of(cell)
    if installed.get("keras"):
        return str(installed["keras"])
    return spec_version((cell.get("versions") or {}).get("keras"))


def installed_of(cell: Cell) -> Dict[str, str]:
    """The cell's installed set, names in PEP 503 form ('tensorflow_cpu' in older records reads 'tensorflow-cpu')."""
    return canonical_installed(cell.get("installed"))


def keras_line(version: Optional[str]) -> Optional[str]:
    """'2.3.1' -> '2.3' (a Keras major.minor line); specifiers stay whole."""
    if version is None:
        return None
    try:
        release = Version(version).release
    except ValueError:  # InvalidVersion, or a number past int()'s 4300 digits
        return version
    return "%d.%d" % (release[0], release[1] if len(release) > 1 else 0)


# ---- the stack of a cell ------------------------------------------------------------------------------------

def cell_backends(cell: Cell) -> List[str]:
    """Backend libraries the cell requested, plus any it trained, in report order."""
    names = {k for k in (cell.get("versions") or {}) if k != "keras"} | set(cell.get("trainings") or {})
    return sorted(names, key=backend_sort_key)


def doc_backends(doc: Doc) -> List[str]:
    names: set[str] = set()
    for cell in doc.get("cells") or []:
        names.update(cell_backends(cell))
    return sorted(names, key=backend_sort_key)


def combo_label(cell: Cell, with_versions: bool = True) -> str:
    """The backend-library combination from the requested versions: 'tf 1.15.0 + theano 1.0.5'."""
    versions = cell.get("versions") or {}
    parts = []
    for name in sorted((k for k in versions if k != "keras"), key=backend_sort_key):
        short = short_name(name)
        parts.append("%s %s" % (short, spec_version(versions[name])) if with_versions else short)
    return " + ".join(parts) or "no backend library"


def cell_label(cell: Cell) -> str:
    """'Keras 2.3.1 + theano 1.0.5 (cpu)': the stack in words, for sentences that cite the cell id apart."""
    return "Keras %s + %s (%s)" % (keras_version(cell) or "?", combo_label(cell),
                                   one_line(cell.get("device"), 10) or "?")


# ---- what Keras and the backends said -----------------------------------------------------------------------

def default_of(cell: Cell) -> Tuple[Optional[str], Optional[Error]]:
    """(backend Keras reported, error it raised); both None when the cell never got to the probe."""
    default = cell.get("default_backend") or {}
    error = default.get("error")
    return default.get("backend"), (error if isinstance(error, dict) else None)


def error_type(error: Optional[Error]) -> str:
    """'builtins.ImportError' / 'exceptions.ImportError' (Python 2) -> 'ImportError'; others stay qualified."""
    kind = one_line((error or {}).get("type") or "error", 80)
    module, _, name = kind.rpartition(".")
    return name if module in ("builtins", "exceptions") else kind


def error_text(error: Optional[Error], limit: int = MAX_MESSAGE) -> str:
    """'ImportError: No module named tensorflow' (one line, clipped)."""
    if not error:
        return ""
    message = one_line(error.get("message"), limit)
    return error_type(error) + (": " + message if message else "")


def training_device(training: Training, cell: Cell) -> str:
    """The device a training actually ran on, as the backend library reported it."""
    device = training.get("device")
    if isinstance(device, dict) and device.get("gpu") is not None:
        return str((Device.GPU if device.get("gpu") else Device.CPU).value)
    return str(cell.get("device") or Device.CPU.value)


def ok_steady(training: Training) -> Optional[float]:
    """Steady epoch seconds of a training that finished, else None (failed runs have no timing to trust)."""
    value = training.get("steady_epoch_seconds")
    if training.get("status") == TrainingStatus.OK and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


# ---- short texts shared by the table, JUnit and the page ------------------------------------------------------

def fmt_seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return "%.2fs" % value if value < 10 else ("%.1fs" % value if value < 100 else "%.0fs" % value)


def fmt_accuracy(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) else "%.1f%%" % (100.0 * value)


def default_summary(cell: Cell) -> str:
    """The default backend Keras reported, or 'error: <type>' when importing it raised, or '-'."""
    backend, error = default_of(cell)
    if backend is not None:
        return str(backend)
    if error is not None:
        return "error: %s" % error_type(error)
    return "-"


def device_summary(cell: Cell) -> str:
    """Requested device, and the device used when the backends saw another one (a silent fallback)."""
    device, used = cell.get("device") or "-", cell.get("device_used")
    return "%s (used %s)" % (device, used) if used and used != device else str(device)


def python_summary(cell: Cell) -> str:
    probe = cell.get("probe") or {}
    return str(probe.get("python") or cell.get("python") or "-")


# ---- declared expectations (pytest's xfail) ---------------------------------------------------------------

# The short mark a table puts after a status: what the cell's outcome was against its declared expectation.
EXPECTATION_MARKS = {ExpectationVerdict.EXPECTED_FAILURE.value: "xfail",
                     ExpectationVerdict.UNEXPECTED_FAILURE.value: "unexpected",
                     ExpectationVerdict.UNEXPECTED_PASS.value: "XPASS"}


def expectation_of(cell: Cell) -> Mapping[str, Any]:
    expectation = cell.get("expectation")
    return expectation if isinstance(expectation, dict) else {}


def expectation_reason(cell: Cell) -> str:
    return one_line(expectation_of(cell).get("reason"), MAX_MESSAGE)


def expected_outcome(cell: Cell) -> str:
    """'ok' (the default), 'import_failed', or 'cntk: failed' (per-backend training outcomes)."""
    expectation = expectation_of(cell)
    parts = []
    if expectation.get("status"):
        parts.append(one_line(expectation["status"], 40))
    trainings = expectation.get("trainings")
    if isinstance(trainings, dict):
        parts += ["%s: %s" % (one_line(k, 40), one_line(v, 20)) for k, v in sorted(trainings.items())]
    return ", ".join(parts) or "ok"


def expectation_mark(cell: Cell) -> str:
    """'xfail' | 'unexpected' | 'XPASS' | '' (met, or a record from before expectations)."""
    return EXPECTATION_MARKS.get(str(cell.get("expectation_verdict")), "")


def yes_no(value: Any) -> str:
    return "yes" if value is True else ("no" if value is False else "unknown")


def status_counts(doc: Doc) -> List[Tuple[str, int]]:
    """(status, cells) in Status order, then statuses no version of the tool writes, sorted."""
    counts = Counter(str(c.get("status")) for c in doc.get("cells") or [])
    known = [(s.value, counts[s.value]) for s in Status if counts.get(s.value)]
    return known + sorted((s, n) for s, n in counts.items() if known_status(s) is None)


def counts_line(doc: Doc) -> str:
    cells = doc.get("cells") or []
    parts = ", ".join("%d %s" % (n, s) for s, n in status_counts(doc))
    return "%d cell%s: %s" % (len(cells), "" if len(cells) == 1 else "s", parts or "none")


def count(n: int, word: str) -> str:
    """'1 cell', '3 cells'."""
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


# ---- the fields a finding read: `report --explain` ----------------------------------------------------------

def field_values(cell: Cell, path: str) -> List[Tuple[str, Any]]:
    """(concrete path, value) for a field path of a record: dots between keys, '*' any key of a mapping
    ('trainings.*.status'), 'name[glob]' the items of a list whose id matches ('scenarios[env-*].backend').
    'installed.<name>' reads the installed set in PEP 503 form. A path that reaches nothing gives
    [(path, None)], so an explanation shows the field was read and was absent."""
    found: List[Tuple[str, Any]] = [("", dict(cell, installed=installed_of(cell)))]
    for part in path.split("."):
        key, _, selector = part.partition("[")
        step: List[Tuple[str, Any]] = []
        for where, value in found:
            prefix = where + "." if where else ""
            if not isinstance(value, dict):
                continue
            if key == "*":
                step += [(prefix + str(k), v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
                continue
            value = value.get(key)
            if selector:
                pattern = selector.rstrip("]")
                step += [("%s%s[%s]" % (prefix, key, item["id"]), item) for item in value or []
                         if isinstance(item, dict) and isinstance(item.get("id"), str)
                         and fnmatch.fnmatchcase(item["id"], pattern)] if isinstance(value, list) else []
            elif value is not None:
                step.append((prefix + key, value))
        found = step
    return found or [(path, None)]


__all__ = ["Cell", "Doc", "Error", "MAX_MESSAGE", "Training", "cell_backends", "cell_label", "combo_label", "count",
           "counts_line", "default_of", "default_summary", "device_summary", "doc_backends", "error_text",
           "error_type", "EXPECTATION_MARKS",
           "field_values", "installed_of", "expectation_mark", "expectation_of", "expectation_reason",
           "expected_outcome", "fmt_accuracy", "fmt_seconds", "keras_line", "keras_version", "known_status",
           "ok_steady", "python_summary", "spec_version", "status_counts", "training_device", "version_key",
           "yes_no"]
