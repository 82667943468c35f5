"""How a cell's status and its one-line reason follow from what was measured: the default-backend probe
and each backend's training. Pure functions of records; the run loop only applies them."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

from runner.records import DefaultBackend, ErrorInfo, Status, TrainingRecord, TrainingStatus

REASON_LIMIT = 300


def error_reason(error: Optional[ErrorInfo]) -> Optional[str]:
    """'Type: first line of the message', clipped; None when there is no error."""
    if not error:
        return None
    lines = (error.get("message") or "").strip().splitlines()
    # An empty message reads as "[]" after the type: kept as earlier runs recorded it.
    first: Any = lines[0:1] and lines[0]
    return ("%s: %s" % (error.get("type"), first))[:REASON_LIMIT]


def cell_status(trainings: Mapping[str, TrainingRecord],
                default_backend: DefaultBackend) -> Tuple[Status, Optional[str]]:
    """Status and one-line reason from what was measured."""
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
