"""How a cell's status and its one-line reason follow from what was measured: the default-backend probe,
each backend's training, and what the installed set says about itself (a conflict); and how that outcome
compares with what the matrix expected (the verdict). Pure functions of records; the run loop only applies them."""

from __future__ import annotations

from collections import Counter
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from runner.model.records import (
    REASON_LIMIT,
    CellRecord,
    DefaultBackend,
    ErrorInfo,
    Expectation,
    ExpectationVerdict,
    PipCheck,
    Status,
    TrainingRecord,
    TrainingStatus,
)
from runner.util.text import one_line


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


# --------------------------------------------------------------------------------------------------
# Expectations (pytest's xfail): what the matrix declared a cell should do, against what it did.

DEFAULT_EXPECTATION: Expectation = {"status": Status.OK.value, "trainings": None, "reason": None}


ANY_OUTCOME = "any"  # expect: {status: any}


def expects_failure(expectation: Optional[Expectation]) -> bool:
    """True when the expectation declares anything but ok (a cell status or a backend's training)."""
    wanted = expectation or DEFAULT_EXPECTATION
    if wanted.get("status") == ANY_OUTCOME:
        return False
    return (wanted.get("status") or Status.OK) != Status.OK or any(
        outcome != TrainingStatus.OK for outcome in (wanted.get("trainings") or {}).values())


def _as_expected(expectation: Expectation, status: str, trainings: Mapping[str, TrainingRecord]) -> bool:
    wanted_status = expectation.get("status")
    if wanted_status and status != wanted_status:
        return False
    wanted_trainings = expectation.get("trainings") or {}
    if wanted_trainings:
        # A backend the expectation does not name is expected to train; one it names, to end as it says.
        for backend, training in trainings.items():
            if training.get("status") != wanted_trainings.get(backend, TrainingStatus.OK):
                return False
        if set(wanted_trainings) - set(trainings):
            return False  # a declared training never ran (the cell failed before it): not the declared outcome
    return True


def expectation_verdict(expectation: Optional[Expectation], status: str,
                        trainings: Mapping[str, TrainingRecord]) -> Optional[ExpectationVerdict]:
    """met / expected_failure / unexpected_failure / unexpected_pass; None for a cell that was not measured
    (skipped: no GPU runtime). The default expectation is status ok."""
    if status == Status.SKIPPED:
        return None
    wanted = expectation or DEFAULT_EXPECTATION
    if wanted.get("status") == ANY_OUTCOME:
        return ExpectationVerdict.OBSERVED
    declared_failure = expects_failure(wanted)
    if _as_expected(wanted, status, trainings):
        return ExpectationVerdict.EXPECTED_FAILURE if declared_failure else ExpectationVerdict.MET
    if declared_failure and status == Status.OK:
        return ExpectationVerdict.UNEXPECTED_PASS  # strict, like xfail(strict=True): a fix must be declared
    return ExpectationVerdict.UNEXPECTED_FAILURE


def verdict_of(record: CellRecord) -> Optional[ExpectationVerdict]:
    """A record's verdict as written; recomputed (default expectation: ok) for records written before the
    runner kept verdicts."""
    written = record.get("expectation_verdict")
    if written:
        return ExpectationVerdict(written)
    return expectation_verdict(record.get("expectation"), record["status"], record.get("trainings") or {})


def describe_expectation(expectation: Optional[Expectation]) -> str:
    """'import_failed', 'theano failed', 'partial, theano failed' or 'ok'."""
    wanted = expectation or DEFAULT_EXPECTATION
    if wanted.get("status") == ANY_OUTCOME:
        return "any outcome"
    parts = [str(wanted["status"])] if wanted.get("status") else []
    parts += ["%s %s" % item for item in sorted((wanted.get("trainings") or {}).items())]
    return ", ".join(parts) or Status.OK.value


def _plural(count: int, word: str, plural: str) -> str:
    return "%d %s" % (count, word if count == 1 else plural)


def expectation_summary(cells: Sequence[CellRecord]) -> Tuple[List[str], bool]:
    """pytest's short summary: the counts, then one line per unexpected outcome (passes, then failures,
    last). -> (lines, True when every measured cell met its expectation)."""
    verdicts = [(record, verdict_of(record)) for record in cells]
    count = Counter(verdict for _, verdict in verdicts)
    tally = [_plural(count[ExpectationVerdict.MET], "met", "met"),
             _plural(count[ExpectationVerdict.EXPECTED_FAILURE], "expected failure", "expected failures"),
             _plural(count[ExpectationVerdict.UNEXPECTED_FAILURE], "unexpected failure", "unexpected failures"),
             _plural(count[ExpectationVerdict.UNEXPECTED_PASS], "unexpected pass", "unexpected passes"),
             _plural(count[None], "skipped", "skipped")]
    if count[ExpectationVerdict.OBSERVED]:  # sweeps: outcomes recorded, none declared
        tally.append("%d observed" % count[ExpectationVerdict.OBSERVED])
    lines = ["== %s ==" % ", ".join(tally)]
    for record, verdict in verdicts:
        if verdict == ExpectationVerdict.UNEXPECTED_PASS:
            lines.append("UNEXPECTED PASS %s: ok, but the matrix expects %s (%s); update its expect entry" % (
                one_line(record["cell_id"]), describe_expectation(record.get("expectation")),
                one_line((record.get("expectation") or {}).get("reason"), REASON_LIMIT)))
    for record, verdict in verdicts:
        if verdict == ExpectationVerdict.UNEXPECTED_FAILURE:
            lines.append("UNEXPECTED FAILURE %s: %s (expected %s)%s" % (
                one_line(record["cell_id"]), one_line(record["status"]),
                describe_expectation(record.get("expectation")),
                (": %s" % one_line(record["reason"], REASON_LIMIT)) if record.get("reason") else ""))
    met = not (count[ExpectationVerdict.UNEXPECTED_FAILURE] or count[ExpectationVerdict.UNEXPECTED_PASS])
    return lines, met
