"""Stage: report. What changed between two runs: cells broken, fixed, with another default backend, slower,
faster, added, removed. A pure function of two results documents (compare runs of the same host: timings
from different machines say little, and the diff says so when the hosts differ)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from runner.model.records import FAILURE_STATUSES, OK_STATUSES, Status, TrainingStatus, backend_sort_key
from runner.report import timing
from runner.report.fields import Cell, Doc, Training, default_of, error_type, known_status
from runner.report.table import md_text, term_text

Diff = Dict[str, Any]
SECTIONS = ("broken", "fixed", "default_changed", "slower", "faster", "status_changed", "added", "removed",
            "not_selected")


def _default_label(cell: Cell) -> Optional[str]:
    """'tensorflow', 'error: ImportError', or None when the cell never reached the probe."""
    backend, error = default_of(cell)
    if backend is not None:
        return str(backend)
    if error is not None:
        return "error: %s" % error_type(error)
    return None


def _trained(cell: Cell) -> List[str]:
    trainings = cell.get("trainings") or {}
    return sorted((n for n, t in trainings.items() if t.get("status") == TrainingStatus.OK), key=backend_sort_key)


def _host(doc: Doc) -> Optional[str]:
    host = (doc.get("provenance") or {}).get("host")
    if not isinstance(host, dict):
        return None
    return "%s, %s CPUs" % (host.get("cpu_model"), host.get("cpus"))


def _timing_change(old: Training, new: Training, threshold: float) -> Optional[Dict[str, Any]]:
    """{'section': 'slower'|'faster', ...} when the training's time changed, else None.

    With samples on both sides: only when stats.compare(new, old) says so (Mann-Whitney p < 0.01) and the
    median moved by more than `threshold` (the minimum effect size). Without samples (older records): the
    old threshold rule on the steady medians, marked untested ('no samples: not tested for noise')."""
    was, now = timing.seconds(old), timing.seconds(new)
    if was is None or now is None or was <= 0:
        return None
    change = now / was - 1.0
    entry: Dict[str, Any] = {"old_seconds": was, "new_seconds": now, "change": round(change, 4)}
    if timing.has_samples(old) and timing.has_samples(new):
        result = timing.compare_trainings(new, old, min_effect=max(threshold, 1e-9))
        entry.update(tested=True, p=result["p"], samples=[result["n_b"], result["n_a"]])
        if result["verdict"] == "slower" and change > threshold:
            return dict(entry, section="slower")
        if result["verdict"] == "faster" and change < -threshold:
            return dict(entry, section="faster")
        return None
    entry["tested"] = False
    if change > threshold:
        return dict(entry, section="slower")
    if change < -threshold:
        return dict(entry, section="faster")
    return None


def diff_results(old_doc: Doc, new_doc: Doc, slower_threshold: float = 0.25,
                 compare_timings: Optional[bool] = None) -> Diff:
    """Compare two runs cell by cell (by cell id).

    broken: a cell that worked (ok/partial) now fails, or a backend that trained no longer does.
    fixed: the reverse. default_changed: both runs probed the default backend and the answers differ.
    slower/faster: a backend's steady epoch time changed by more than slower_threshold (0.25 = 25%) AND,
    where both records carry samples, stats.compare on them says so (an unstable or contended training is
    never called slower); finished trainings only.
    status_changed: every other change of status (e.g. build_failed -> timeout).
    compare_timings: None compares timings when the hosts agree; False never (the history compares outcomes
    with the previous run and timings only with the previous run of the same machine class)."""
    if slower_threshold < 0:
        raise ValueError("slower_threshold must be >= 0, not %r" % slower_threshold)
    old_cells = {c["cell_id"]: c for c in old_doc.get("cells") or []}
    new_cells = {c["cell_id"]: c for c in new_doc.get("cells") or []}
    result: Diff = {section: [] for section in SECTIONS}
    result.update(old_run=old_doc.get("run_id"), new_run=new_doc.get("run_id"), threshold=slower_threshold,
                  unchanged=0, compared=0)
    old_host, new_host = _host(old_doc), _host(new_doc)
    result["hosts_differ"] = bool(old_host and new_host and old_host != new_host)
    result["hosts"] = {"old": old_host, "new": new_host}
    # Timings are compared only on the same kind of machine: another CPU says nothing about this stack.
    compare_timings = not result["hosts_differ"] if compare_timings is None else compare_timings
    result["timings_compared"] = compare_timings
    selected = _selection(new_doc)

    for cell_id, new in new_cells.items():
        old = old_cells.get(cell_id)
        if old is None:
            result["added"].append({"cell_id": cell_id, "status": new.get("status")})
            continue
        result["compared"] += 1
        before, after = old.get("status"), new.get("status")
        was_ok, now_ok = known_status(before) in OK_STATUSES, known_status(after) in OK_STATUSES
        was_failing, now_failing = before in FAILURE_STATUSES, after in FAILURE_STATUSES
        changed = False
        lost = [n for n in _trained(old) if n not in _trained(new)]
        gained = [n for n in _trained(new) if n not in _trained(old)]
        entry = {"cell_id": cell_id, "old_status": before, "new_status": after, "reason": new.get("reason")}
        if (was_ok and now_failing) or (lost and after != Status.SKIPPED):
            result["broken"].append(dict(entry, backends=lost))
            changed = True
        if (was_failing and now_ok) or (gained and before != Status.SKIPPED):
            result["fixed"].append(dict(entry, reason=None, old_reason=old.get("reason"), backends=gained))
            changed = True
        if before != after and not changed:
            result["status_changed"].append(dict(entry, old_reason=old.get("reason")))
            changed = True
        old_default, new_default = _default_label(old), _default_label(new)
        if old_default is not None and new_default is not None and old_default != new_default:
            result["default_changed"].append({"cell_id": cell_id, "old": old_default, "new": new_default})
            changed = True
        old_trainings, new_trainings = old.get("trainings") or {}, new.get("trainings") or {}
        for name in sorted(set(old_trainings) & set(new_trainings), key=backend_sort_key) if compare_timings else ():
            timing = _timing_change(old_trainings[name], new_trainings[name], slower_threshold)
            if timing is not None:
                result[timing.pop("section")].append(dict(timing, cell_id=cell_id, backend=name))
                changed = True
        if not changed:
            result["unchanged"] += 1
    for cell_id, old in old_cells.items():
        if cell_id not in new_cells:
            # A cell the new run did not select (another --filter, a cell dropped from the matrix) was not
            # measured on purpose; one it selected and has no record of vanished: nobody measured it.
            section = "removed" if selected is None or cell_id in selected else "not_selected"
            result[section].append({"cell_id": cell_id, "status": old.get("status")})
    return result


def _selection(doc: Doc) -> Optional[set[str]]:
    """The cells a run selected (its matrix.cells_selected), or None when the document does not say."""
    matrix = doc.get("matrix")
    selected = matrix.get("cells_selected") if isinstance(matrix, dict) else None
    return {str(c) for c in selected} if isinstance(selected, list) else None


def has_regressions(diff: Diff, allow_removed: bool = False) -> bool:
    """Something broke, got slower, Keras picks another default backend, or a selected cell vanished."""
    return bool(diff.get("broken") or diff.get("slower") or diff.get("default_changed")
                or (diff.get("removed") and not allow_removed))


def section_lines(diff: Diff, text: Callable[..., str]) -> List[List[str]]:
    """Per section: its heading and its lines, with `text` escaping every value from the documents."""
    def pct(change: float) -> str:
        return "%+.0f%%" % (100 * change)

    def noise(entry: Dict[str, Any]) -> str:
        if not entry.get("tested"):
            return "; no samples: not tested for noise"
        samples = entry.get("samples") or [0, 0]
        return "; p=%s, %d vs %d samples" % (entry.get("p"), samples[0], samples[1])

    Render = Callable[[Dict[str, Any]], str]
    kinds: List[Tuple[str, str, Render]] = [
        ("broken", "Broken", lambda e: "%s: %s -> %s%s%s" % (
            text(e["cell_id"]), text(e["old_status"]), text(e["new_status"]),
            (" (no longer trains: %s)" % text(", ".join(e["backends"]))) if e.get("backends") else "",
            (": " + text(e["reason"], 200)) if e.get("reason") else "")),
        ("fixed", "Fixed", lambda e: "%s: %s -> %s%s" % (
            text(e["cell_id"]), text(e["old_status"]), text(e["new_status"]),
            (" (trains again: %s)" % text(", ".join(e["backends"]))) if e.get("backends") else "")),
        ("default_changed", "Default backend changed", lambda e: "%s: %s -> %s" % (
            text(e["cell_id"]), text(e["old"]), text(e["new"]))),
        ("slower", "Slower than the last run (steady epoch, more than %d%%)" % round(100 * diff["threshold"]),
         lambda e: "%s %s: %.2fs -> %.2fs (%s%s)" % (text(e["cell_id"]), text(e["backend"]), e["old_seconds"],
                                                      e["new_seconds"], pct(e["change"]), noise(e))),
        ("faster", "Faster than the last run (steady epoch, more than %d%%)" % round(100 * diff["threshold"]),
         lambda e: "%s %s: %.2fs -> %.2fs (%s%s)" % (text(e["cell_id"]), text(e["backend"]), e["old_seconds"],
                                                      e["new_seconds"], pct(e["change"]), noise(e))),
        ("status_changed", "Other status changes", lambda e: "%s: %s -> %s" % (
            text(e["cell_id"]), text(e["old_status"]), text(e["new_status"]))),
        ("added", "Added", lambda e: "%s (%s)" % (text(e["cell_id"]), text(e["status"]))),
        ("removed", "Removed: selected by the new run, but no result", lambda e: "%s (was %s)" % (
            text(e["cell_id"]), text(e["status"]))),
        ("not_selected", "Not in the new run's selection (not compared)", lambda e: "%s (was %s)" % (
            text(e["cell_id"]), text(e["status"]))),
    ]
    sections = []
    for name, heading, render in kinds:
        if diff.get(name):
            sections.append(["%s (%d)" % (heading, len(diff[name]))] + [render(e) for e in diff[name]])
    return sections


def format_diff(diff: Diff, fmt: str = "terminal", allow_removed: bool = False) -> str:
    """The diff as text for a terminal, or as Markdown for a pull request or job summary. Its verdict is the
    one `diff --fail-on-regression` exits with (has_regressions with the same allow_removed)."""
    if fmt not in ("terminal", "markdown"):
        raise ValueError("format must be terminal or markdown, not %r" % fmt)
    regressed = has_regressions(diff, allow_removed)
    verdict = "REGRESSIONS" if regressed else "no regressions"
    if fmt == "terminal":
        text = term_text
        out = ["keras-matrix diff %s -> %s: %s (%d cells compared, %d unchanged)" % (
            text(diff.get("old_run")), text(diff.get("new_run")), verdict, diff["compared"], diff["unchanged"])]
        if diff.get("hosts_differ"):
            out.append("note: the runs come from different hosts (%s / %s); timings not compared"
                       % (text(diff["hosts"]["old"], 120), text(diff["hosts"]["new"], 120)))
        for section in section_lines(diff, text):
            out.append("")
            out.append(section[0])
            out.extend("  " + line for line in section[1:])
        return "\n".join(out) + "\n"
    text = md_text
    mark = "\u274c" if regressed else "\u2705"
    out = ["### keras-matrix diff %s \u2192 %s: %s %s" % (text(diff.get("old_run")), text(diff.get("new_run")),
                                                          mark, verdict),
           "", "%d cells compared, %d unchanged." % (diff["compared"], diff["unchanged"])]
    if diff.get("hosts_differ"):
        out += ["", "> The runs come from different hosts (%s / %s): timings not compared."
                % (text(diff["hosts"]["old"], 120), text(diff["hosts"]["new"], 120))]
    for section in section_lines(diff, text):
        out += ["", "**%s**" % section[0], ""] + ["- %s" % line for line in section[1:]]
    return "\n".join(out) + "\n"
