"""The one place a cell's record (runner.model.records.CellRecord) is laid out: every cell, whether skipped,
cached, failed or measured, starts from new_cell_record, so all records have the same keys. `finish` also
judges the outcome against the cell's expectation (runner.model.outcomes.expectation_verdict)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional, cast

from runner.model.outcomes import DEFAULT_EXPECTATION, conflict_text, expectation_verdict
from runner.model.records import (
    SCHEMA_VERSION,
    AsOfRecord,
    CellRecord,
    DefaultBackend,
    Expectation,
    PipCheck,
    RRecord,
    RScenario,
    Scenario,
    Status,
    canonical_installed,
    empty_default_backend,
    new_build_record,
    now_iso,
)

if TYPE_CHECKING:
    from runner.matrix.cells import Cell

# What the probe reports about the default backend; every record carries each key, None when not said.
DEFAULT_BACKEND_KEYS = ("backend", "error", "keras_version", "keras_json", "keras_json_written", "stderr_tail")


def new_cell_record(cell: Cell, base_image: Optional[Dict[str, Any]] = None) -> CellRecord:
    """A cell's record before anything is known: status `error` until the run says otherwise."""
    return CellRecord(
        schema_version=SCHEMA_VERSION, cell_id=cell.id, group=cell.group, name=cell.name, era=cell.era.name,
        description=cell.description, versions=cell.versions(),
        requirements=[req for _, req in cell.requirements], python=cell.python, device=cell.device,
        device_used=None, base_image=base_image if base_image is not None else {"name": cell.base.name},
        status=Status.ERROR.value, reason=None, cached=False, started_at=now_iso(), finished_at=None,
        seconds=None, build=new_build_record(), probe=None, installed={},
        default_backend=empty_default_backend(), trainings={},
        expectation=expectation_of(cell), expectation_verdict=None, measure=cell.measure,
        **({"as_of": AsOfRecord(cutoff=cell.as_of.cutoff, rule=cell.as_of.rule, source=cell.as_of.source)}
           if cell.as_of else {}),
    )


def expectation_of(cell: Cell) -> Expectation:
    """What the matrix declares the cell does (default: status ok), in the record's shape."""
    if cell.expect is None:
        return cast(Expectation, dict(DEFAULT_EXPECTATION))  # a copy: records are changed in place
    return cast(Expectation, cell.expect.to_record())


def apply_expectation(record: CellRecord, cell: Cell) -> CellRecord:
    """The current matrix's expectation and the verdict it gives: a cached or resumed record was judged
    against the matrix of its own run (the expectation is not part of the cache key)."""
    record["expectation"] = expectation_of(cell)
    return judge(record)


def judge(record: CellRecord) -> CellRecord:
    verdict = expectation_verdict(record.get("expectation"), record["status"], record.get("trainings") or {})
    record["expectation_verdict"] = verdict.value if verdict else None
    return record


def finish(record: CellRecord, status: Status, reason: Optional[str] = None,
           seconds: Optional[float] = None) -> CellRecord:
    """Set the cell's outcome and end time."""
    record["status"], record["reason"] = status.value, reason
    record["finished_at"], record["seconds"] = now_iso(), seconds
    return judge(record)


# What the probe reports that has a place of its own in the record (and so is not repeated under "probe").
PROBE_FIELDS = ("installed", "default_backend", "scenarios", "tf_keras", "pip_check", "shared_packages", "r")


def record_probe(record: CellRecord, probe: Mapping[str, Any]) -> None:
    """What the probe container reported, in the record's shape."""
    record["probe"] = {k: v for k, v in probe.items() if k not in PROBE_FIELDS}
    record["installed"] = canonical_installed(probe.get("installed"))  # PEP 503 names, whatever the probe wrote
    reported = probe.get("default_backend")
    default: Dict[str, Any] = reported if isinstance(reported, dict) else {}
    for key in DEFAULT_BACKEND_KEYS:
        default.setdefault(key, None)  # one shape for every record, whatever the probe omitted
    record["default_backend"] = cast(DefaultBackend, default)
    record_install_checks(record, probe)
    record_r(record, probe)


def record_r(record: CellRecord, probe: Mapping[str, Any]) -> None:
    """What R saw through reticulate, where the image has R (the probe reports `r` only then)."""
    r = probe.get("r")
    if not isinstance(r, dict):
        return
    scenarios = r.get("scenarios")
    record["r"] = RRecord(
        rscript=_text(r.get("rscript")), r_version=_text(r.get("r_version")),
        reticulate_version=_text(r.get("reticulate_version")), python=_text(r.get("python")),
        r_packages={str(k): _text(v) for k, v in r["r_packages"].items()} if isinstance(r.get("r_packages"), dict)
        else None,
        scenarios=[cast(RScenario, s) for s in scenarios if isinstance(s, dict)] if isinstance(scenarios, list) else [],
        cran=None, error=_text(r.get("error")))


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def record_install_checks(record: CellRecord, probe: Mapping[str, Any]) -> None:
    """The scenarios, tf.keras, pip check and shared packages, where the probe reported them (older probes
    did not: then the keys stay absent), and the conflict they name."""
    scenarios = probe.get("scenarios")
    if isinstance(scenarios, list):
        record["scenarios"] = [cast(Scenario, s) for s in scenarios if isinstance(s, dict)]
    if "tf_keras" in probe:
        tf_keras = probe.get("tf_keras")
        record["tf_keras"] = tf_keras if isinstance(tf_keras, dict) else None
    check = probe.get("pip_check")
    if isinstance(check, dict):
        problems = check.get("problems")
        code = check.get("exit_code")
        record["pip_check"] = PipCheck(
            exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
            problems=[str(p) for p in problems] if isinstance(problems, list) else [])
    shared = probe.get("shared_packages")
    if isinstance(shared, dict):
        record["shared_packages"] = {str(k): [str(d) for d in v] for k, v in shared.items() if isinstance(v, list)}
    if "pip_check" in record or "shared_packages" in record:
        record["conflict"] = conflict_text(record.get("pip_check"), record.get("shared_packages") or {})
