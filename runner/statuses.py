"""How a cell's status and its one-line reason follow from what was measured: the default-backend probe,
each backend's training, and what the installed set says about itself (a conflict). Pure functions of
records; the run loop only applies them."""

from __future__ import annotations

from typing import Any, List, Mapping, Optional, Tuple

from runner.records import DefaultBackend, ErrorInfo, PipCheck, Status, TrainingRecord, TrainingStatus

REASON_LIMIT = 300


def error_reason(error: Optional[ErrorInfo]) -> Optional[str]:
    """'Type: first line of the message', clipped; None when there is no error."""
    if not error:
        return None
    lines = (error.get("message") or "").strip().splitlines()
    # An empty message reads as "[]" after the type: kept as earlier runs recorded it.
    first: Any = lines[0:1] and lines[0]
    return ("%s: %s" % (error.get("type"), first))[:REASON_LIMIT]


def conflict_text(pip_check: Optional[PipCheck], shared_packages: Mapping[str, List[str]]) -> Optional[str]:
    """'keras 2.4.3 and keras-nightly 2.5.0 both install keras/; pip check: tensorflow 2.5.3 requires
    numpy~=1.19.2, but you have numpy 1.23.5', or None when the installed set is consistent."""
    parts = ["%s both install %s/" % (" and ".join(owners), package)
             for package, owners in sorted(shared_packages.items()) if len(owners) > 1]
    problems = [line.strip().rstrip(".") for line in (pip_check["problems"] if pip_check else []) if line.strip()]
    if problems:
        parts.append("pip check: " + "; ".join(problems))
    return "; ".join(parts) if parts else None


def cell_status(trainings: Mapping[str, TrainingRecord], default_backend: DefaultBackend,
                conflict: Optional[str] = None) -> Tuple[Status, Optional[str]]:
    """Status and one-line reason from what was measured. A cell that failed on a broken installed set
    (a conflict) gives the conflict as its reason, not what Keras raised on top of it."""
    status, reason = _measured_status(trainings, default_backend)
    if conflict and status in (Status.IMPORT_FAILED, Status.TRAIN_FAILED):
        return status, ("conflict: " + conflict)[:REASON_LIMIT]
    return status, reason


def _measured_status(trainings: Mapping[str, TrainingRecord],
                     default_backend: DefaultBackend) -> Tuple[Status, Optional[str]]:
    if not trainings:
        if default_backend.get("error"):
            return Status.IMPORT_FAILED, error_reason(default_backend.get("error"))
        return Status.OK, None
    failed = {name: t for name, t in trainings.items() if t.get("status") != TrainingStatus.OK}
    if not failed:
        return Status.OK, None
    first_name, first = next(iter(failed.items()))
    reason = "%s: %s" % (first_name, error_reason(first.get("error")) or first.get("stage"))
    if len(failed) < len(trainings):
        return Status.PARTIAL, reason
    if any(t.get("status") == TrainingStatus.TIMEOUT for t in failed.values()):
        return Status.TIMEOUT, reason
    if all(t.get("stage") == "import" for t in failed.values()):
        return Status.IMPORT_FAILED, reason
    return Status.TRAIN_FAILED, reason


def device_used(trainings: Mapping[str, TrainingRecord]) -> Optional[str]:
    """'gpu' or 'cpu' when every training that reported its device used that one, 'mixed' otherwise,
    None when none reported."""
    seen = [bool((t.get("device") or {}).get("gpu")) for t in trainings.values() if t.get("device")]
    if not seen:
        return None
    return "gpu" if all(seen) else ("cpu" if not any(seen) else "mixed")
