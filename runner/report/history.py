"""What changed across the runs of a history store (runner/results/history.py keeps them), newest first.

"Since last run": the newest run against the one before it: releases that appeared on the index (a range
axis resolves again each run; the runs record what each range became), cells broken or fixed and default
backends changed (diff.py's rules), and trainings significantly slower (diff.py's rule: stats.compare on the
samples and the minimum effect) against the previous run *of the same machine class* only. Then, per cell,
how its outcome and default backend moved over time, and per machine class the timing trend.

The headline, the detail, the Markdown summary and the exit status all come from one Since value: they
cannot contradict each other. A pure function of the stored documents, like every report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from runner.model.records import backend_sort_key
from runner.report import timing
from runner.report.diff import Diff, diff_results, has_regressions, section_lines
from runner.report.fields import default_of, error_type
from runner.report.table import md_text, term_text
from runner.util.text import one_line

Doc = Dict[str, Any]
MIXED = "mixed"  # runner.results.history.MIXED: a merge of shards from different machines


def machine_class(doc: Doc) -> str:
    return one_line((doc.get("machine") or {}).get("class") or MIXED, 80)


def machine_label(doc: Doc) -> str:
    return one_line((doc.get("machine") or {}).get("label") or machine_class(doc), 160)


def run_label(doc: Doc) -> str:
    """'run2 (2026-12-03 07:17, 6c73bbb5ec08)'."""
    started = one_line(doc.get("started_at"), 40)[:16].replace("T", " ")
    revision = one_line(doc.get("git_sha") or "no git revision", 20)
    return "%s (%s, %s)" % (one_line(doc.get("run_id"), 60), started, revision)


def _expansions(doc: Doc) -> Dict[Tuple[str, str, str], List[str]]:
    found = {}
    for expansion in (doc.get("matrix") or {}).get("expansions") or []:
        if isinstance(expansion, dict):
            key = (str(expansion.get("axis")), str(expansion.get("range")), str(expansion.get("where") or ""))
            found[key] = [str(v) for v in expansion.get("versions") or []]
    return found


def release_changes(old: Doc, new: Doc) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """(appeared, gone): per range both runs resolved, the releases the newer run found and the older did
    not, and the reverse (a yanked release). A range new to the matrix is not an index change."""
    before, after = _expansions(old), _expansions(new)
    appeared, gone = [], []
    for key in sorted(after):
        if key not in before:
            continue
        axis, spec, where = key
        added = [v for v in after[key] if v not in before[key]]
        removed = [v for v in before[key] if v not in after[key]]
        if added:
            appeared.append({"axis": axis, "range": spec, "where": where, "versions": added})
        if removed:
            gone.append({"axis": axis, "range": spec, "where": where, "versions": removed})
    return appeared, gone


@dataclass
class Since:
    """The newest run against the previous one (outcomes) and the previous one of its class (timings)."""

    newest: Doc
    previous: Optional[Doc] = None
    timing_base: Optional[Doc] = None
    appeared: List[Dict[str, Any]] = field(default_factory=list)
    gone: List[Dict[str, Any]] = field(default_factory=list)
    diff: Diff = field(default_factory=dict)
    regressed: bool = False
    reasons: List[str] = field(default_factory=list)
    runs: int = 0


def _ids(entries: List[Dict[str, Any]], key: str = "cell_id", limit: int = 3) -> str:
    names = [one_line(e.get(key), 80) for e in entries]
    return ", ".join(names[:limit]) + (" and %d more" % (len(names) - limit) if len(names) > limit else "")


def since_last_run(runs: List[Doc], threshold: float = 0.25, allow_removed: bool = False) -> Optional[Since]:
    """None for an empty history. `runs` oldest first (as load_store returns them)."""
    if not runs:
        return None
    newest = runs[-1]
    since = Since(newest=newest, runs=len(runs))
    if len(runs) == 1:
        return since
    previous = runs[-2]
    same = [r for r in runs[:-1] if machine_class(r) == machine_class(newest) and machine_class(r) != MIXED]
    since.previous, since.timing_base = previous, (same[-1] if same else None)
    since.appeared, since.gone = release_changes(previous, newest)
    diff = diff_results(previous, newest, slower_threshold=threshold, compare_timings=False)
    diff["slower"], diff["faster"] = [], []
    if since.timing_base is not None:
        timed = diff_results(since.timing_base, newest, slower_threshold=threshold, compare_timings=True)
        diff["slower"], diff["faster"] = timed["slower"], timed["faster"]
    diff["timings_compared"] = since.timing_base is not None
    since.diff = diff
    since.regressed = has_regressions(diff, allow_removed)
    reasons = []
    if diff["broken"]:
        reasons.append("%d cell%s broke (%s)" % (len(diff["broken"]), _s(diff["broken"]), _ids(diff["broken"])))
    if diff["default_changed"]:
        changed = diff["default_changed"]
        reasons.append("%d default backend%s changed (%s)" % (len(changed), _s(changed), _ids(changed)))
    if diff["slower"]:
        reasons.append("%d training%s significantly slower on the same machine class (%s)"
                       % (len(diff["slower"]), _s(diff["slower"]),
                          ", ".join("%s %s" % (one_line(e["cell_id"], 80), one_line(e["backend"], 20))
                                    for e in diff["slower"][:3])))
    if diff["removed"] and not allow_removed:
        reasons.append("%d selected cell%s without a result (%s)" % (len(diff["removed"]), _s(diff["removed"]),
                                                                   _ids(diff["removed"])))
    since.reasons = reasons
    return since


def _s(items: List[Any]) -> str:
    return "" if len(items) == 1 else "s"


def _releases(entries: List[Dict[str, Any]]) -> str:
    return "; ".join("%s %s" % (one_line(e["axis"], 20), ", ".join(one_line(v, 30) for v in e["versions"]))
                     for e in entries)


def headline(since: Optional[Since]) -> str:
    """One sentence: the verdict first, then why, then what else changed."""
    if since is None:
        return "The history is empty: nothing to compare."
    if since.previous is None:
        return "The history holds one run, %s: nothing to compare yet." % run_label(since.newest)
    diff = since.diff
    parts = list(since.reasons)
    if since.appeared:
        parts.append("new on the index: %s" % _releases(since.appeared))
    elif _expansions(since.newest):
        parts.append("no new release on the index")
    if since.gone:
        parts.append("gone from the index: %s" % _releases(since.gone))
    if diff["fixed"]:
        parts.append("%d cell%s fixed (%s)" % (len(diff["fixed"]), _s(diff["fixed"]), _ids(diff["fixed"])))
    if diff["added"]:
        parts.append("%d cell%s added" % (len(diff["added"]), _s(diff["added"])))
    if not (diff["broken"] or diff["fixed"] or diff["default_changed"]):
        parts.append("no cell broke, got fixed or changed its default backend")
    if since.timing_base is None:
        parts.append("timings not compared (no earlier run on this machine class)")
    elif not diff["slower"]:
        parts.append("no significant slowdown on this machine class")
    verdict = "REGRESSION" if since.regressed else "No regression"
    return "%s in %s since the last run, %s: %s." % (verdict, run_label(since.newest), run_label(since.previous),
                                                     "; ".join(parts))


def detail_sections(since: Optional[Since], text: Callable[..., str]) -> List[List[str]]:
    """[heading, line, ...] per section: the releases, then diff.py's sections."""
    if since is None or since.previous is None:
        return []
    sections = []
    if since.appeared:
        sections.append(["New on the index (range axes resolved again)"] +
                        ["%s %s: %s" % (text(e["axis"]), text(e["range"]), text(", ".join(e["versions"])))
                         for e in since.appeared])
    if since.gone:
        sections.append(["Gone from the index (yanked?)"] +
                        ["%s %s: %s" % (text(e["axis"]), text(e["range"]), text(", ".join(e["versions"])))
                         for e in since.gone])
    base = since.timing_base
    sections.append(["Timings"] + ["compared with %s on machine class %s" % (text(run_label(base)),
                                                                            text(machine_label(base)))
                                   if base is not None else
                                   "not compared: no earlier run on machine class %s"
                                   % text(machine_label(since.newest))])
    return sections + section_lines(since.diff, text)


# ---- over time ------------------------------------------------------------------------------------------

def state(cell: Dict[str, Any]) -> str:
    """'ok, default tensorflow' / 'import_failed, default raised ImportError' / 'build_failed'."""
    backend, error = default_of(cell)
    status = one_line(cell.get("status"), 30) or "?"
    if backend:
        return "%s, default %s" % (status, one_line(backend, 30))
    if error:
        return "%s, default raised %s" % (status, error_type(error))
    return status


def timelines(runs: List[Doc]) -> List[Dict[str, Any]]:
    """Per cell (sorted): its states over the runs that measured it, consecutive equal states folded."""
    cells: Dict[str, List[Dict[str, Any]]] = {}
    for index, run in enumerate(runs):
        for cell in run.get("cells") or []:
            cell_id = one_line(cell.get("cell_id"), 128)
            segments = cells.setdefault(cell_id, [])
            now = state(cell)
            if segments and segments[-1]["state"] == now:
                segments[-1].update(last=run_label(run), last_index=index, count=segments[-1]["count"] + 1)
            else:
                segments.append({"state": now, "first": run_label(run), "last": run_label(run),
                                 "first_index": index, "last_index": index, "count": 1})
    return [{"cell_id": k, "segments": v, "changed": len(v) > 1} for k, v in sorted(cells.items())]


def trends(runs: List[Doc]) -> List[Dict[str, Any]]:
    """Per machine class (never mixed, never across classes): per cell and backend, the steady epoch seconds
    of each run that trained it, oldest first, with the shaky ones marked."""
    classes: Dict[str, Dict[str, Any]] = {}
    for run in runs:
        if machine_class(run) == MIXED:
            continue
        group = classes.setdefault(machine_class(run), {"class": machine_class(run), "label": machine_label(run),
                                                        "runs": 0, "series": {}})
        group["runs"] += 1
        for cell in run.get("cells") or []:
            for name in sorted(cell.get("trainings") or {}, key=backend_sort_key):
                training = cell["trainings"][name]
                seconds = timing.seconds(training)
                if seconds is None:
                    continue
                key = (one_line(cell.get("cell_id"), 128), one_line(name, 30))
                group["series"].setdefault(key, []).append(
                    {"run": run_label(run), "seconds": round(seconds, 4), "shaky": timing.is_shaky(training)})
    out = []
    for group in sorted(classes.values(), key=lambda g: g["class"]):
        series = [{"cell_id": k[0], "backend": k[1], "points": v} for k, v in sorted(group["series"].items())]
        out.append(dict(group, series=series))
    return out


def format_history(runs: List[Doc], since: Optional[Since], fmt: str = "terminal") -> str:
    """The headline, its detail, then the cells over time and the timing trends (terminal or Markdown)."""
    if fmt not in ("terminal", "markdown"):
        raise ValueError("format must be terminal or markdown, not %r" % fmt)
    markdown = fmt == "markdown"
    text = md_text if markdown else term_text
    first = text(headline(since), 2000)
    if markdown:
        mark = "\u274c" if since is not None and since.regressed else "\u2705"
        out = ["### %s keras-matrix since the last run" % mark, "", first]
    else:
        out = [first]
    for section in detail_sections(since, text):
        out += ["", "**%s**" % section[0], ""] if markdown else ["", section[0]]
        out += [("- %s" if markdown else "  %s") % line for line in section[1:]]
    lines = timelines(runs)
    if lines:
        moved = [t for t in lines if t["changed"]]
        heading = "Cells over %d runs: %d changed outcome or default backend" % (len(runs), len(moved))
        out += ["", "**%s**" % heading if markdown else heading] + ([""] if markdown else [])
        for line in (moved if markdown else lines):
            steps = " -> ".join("%s (%s%s)" % (text(s["state"]), text(s["first"]),
                                              " .. %s, %d runs" % (text(s["last"]), s["count"]) if s["count"] > 1
                                              else "") for s in line["segments"])
            out.append(("- %s: %s" if markdown else "  %s: %s") % (text(line["cell_id"]), steps))
    if not markdown:
        for group in trends(runs):
            out += ["", "Timings on machine class %s (%d runs; steady epoch seconds, oldest first, ~ unstable or "
                    "contended)" % (text(group["label"]), group["runs"])]
            for series in group["series"]:
                out.append("  %s %s: %s" % (text(series["cell_id"]), text(series["backend"]), ", ".join(
                    "%.3g%s" % (p["seconds"], "~" if p["shaky"] else "") for p in series["points"])))
    return "\n".join(out) + "\n"
