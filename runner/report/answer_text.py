"""The answer to `keras-matrix ask` in words (the terminal) and as JSON (scripts).

The headline comes first: the question, the verdict, and which releases the pins matched; then one block
per record (its cell id, the document and the report page that hold its evidence, status, default backend,
pip's conflict, timings). Every value that came from a container passes through one_line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import quote

from runner.model.records import STATUS_MEANINGS, Status, short_name
from runner.model.vocabulary import MeasureMode
from runner.report.answers import Answer, Pin, Source, Verdict, as_released, neighbours, overall, today
from runner.report.fields import default_summary, error_text, fmt_seconds
from runner.util.text import one_line

SMOKE_NOTE = "smoke: a few batches, a sanity figure, not a benchmark"
PROBE_NOTE = "probe only: import, default backend and pip check, no training"


def question(pins: Sequence[Pin]) -> str:
    return " ".join(pin.text for pin in pins)


def _releases(pins: Sequence[Pin], found: Sequence[Answer]) -> str:
    """'keras==2.8.* matched 2.8.0; tensorflow==2.10.* matched 2.10.1'."""
    parts = []
    for pin in pins:
        versions = sorted({a.versions.get(pin.axis) or "?" for a in found})
        parts.append("%s matched %s" % (pin.text, ", ".join(versions)))
    return "; ".join(parts)


def _timings(answer: Answer) -> str:
    trainings = answer.cell.get("trainings") or {}
    if not trainings:
        return "-" if answer.cell.get("measure") != MeasureMode.PROBE else "none (%s)" % PROBE_NOTE
    parts = []
    for name, seconds in answer.timings.items():
        label = short_name(name)
        training = trainings[name]
        if seconds is not None:
            parts.append("%s %s/epoch" % (label, fmt_seconds(seconds)))
            continue
        stage = one_line(training.get("stage"), 20)
        stage = "model build" if stage == "build" else stage  # not the image build
        error = error_text(training.get("error") if isinstance(training.get("error"), dict) else None, 160)
        parts.append("%s %s%s%s" % (label, one_line(training.get("status"), 20), " at " + stage if stage else "",
                                    " (%s)" % error if error else ""))
    note = " (%s)" % SMOKE_NOTE if answer.cell.get("measure") == MeasureMode.SMOKE else ""
    return ", ".join(parts) + note


def _status(cell: Any) -> str:
    status = one_line(cell.get("status"), 30)
    try:
        meaning = STATUS_MEANINGS[Status(status)]
    except ValueError:
        meaning = "unknown status"
    if status == Status.OK and not cell.get("trainings"):
        meaning = "Keras and its backends imported; nothing was trained"
    reason = one_line(cell.get("reason"), 200)
    if cell.get("conflict") and reason == "conflict: " + one_line(cell.get("conflict"), 200):
        reason = ""  # the conflict line below says it
    return "%s (%s)%s" % (status, meaning, ": " + reason if reason else "")


def answer_block(answer: Answer) -> List[str]:
    cell = answer.cell
    stack = " + ".join("%s %s" % (name, version or "?") for name, version in answer.versions.items())
    where = "%s, %s, Python %s, %s" % (answer.source.name, one_line(cell.get("measure"), 10) or "full",
                                      one_line(cell.get("python"), 10) or "?", one_line(cell.get("device"), 10) or "?")
    if answer.as_of:
        where += ", resolved as of %s" % one_line(answer.as_of, 10)
    rows = [("verdict", "%s: %s" % (answer.verdict, stack)),
            ("cell", "%s (%s)" % (one_line(answer.cell_id, 128), where)),
            ("status", _status(cell)),
            ("default", default_summary(cell)),
            ("conflict", one_line(cell.get("conflict"), 300) if cell.get("conflict") else
             ("none (pip check clean)" if (cell.get("pip_check") or {}).get("exit_code") == 0 else "not checked")),
            ("timings", _timings(answer)),
            ("evidence", _shorter(answer.link) or "%s (cell %s)" % (answer.source.path, answer.cell_id))]
    return ["  %-9s %s" % row for row in rows]


def _shorter(path: Optional[str]) -> Optional[str]:
    """A path under the working directory as a relative one (shorter, and what a user can paste)."""
    if path is None:
        return None
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else path
    except ValueError:
        return path


def site_link(site: Optional[Path], answer: Answer) -> Optional[str]:
    """The landing page's selector set to this record's pair (keras-matrix site), when there is one."""
    backends = [n for n in answer.versions if n != "keras"]
    if site is None or not backends or not answer.versions.get("keras"):
        return None
    pair = "%s %s" % (backends[0], answer.versions[backends[0]])
    return "%s#keras=%s&with=%s" % (_shorter(str(site)), quote(str(answer.versions["keras"])), quote(pair))


def render_text(pins: Sequence[Pin], found: Sequence[Answer], sources: Sequence[Source],
                limit: Optional[int] = None, site: Optional[Path] = None) -> str:
    asked = question(pins)
    names = ", ".join(s.name for s in sources)
    if not found:
        lines = ["%s: not measured (no record in %s)" % (asked, names)]
        for axis, versions in neighbours(sources, pins).items():
            others = " ".join(p.text for p in pins if p.axis != axis)
            lines.append("  measured %s with %s: %s" % (axis, others, ", ".join(versions) if versions else "none"))
        lines.append("  measure it: keras-matrix ask %s --measure" % " ".join(p.given for p in pins))
        return "\n".join(lines)
    lines = [headline(asked, found),
             "  %s; %d matching record%s (read: %s)" % (_releases(pins, found), len(found),
                                                         "" if len(found) == 1 else "s", names)]
    released = as_released(found)
    if released and today(found):
        lines.append("  on its release day: %s (%s)" % (overall(released), _days(released)))
    shown = found if limit is None else found[:limit]
    for answer in shown:
        lines.append("")
        lines += answer_block(answer)
    link = site_link(site, found[0])
    if link:
        lines += ["", "  site      %s" % link]
    if len(shown) < len(found):
        lines += ["", "  ... %d more record%s (--all shows every one)"
                  % (len(found) - len(shown), "" if len(found) - len(shown) == 1 else "s")]
    return "\n".join(lines)


def _days(released: Sequence[Answer]) -> str:
    days = sorted({a.as_of for a in released if a.as_of})
    return "resolved as of %s" % (days[0] if len(days) == 1 else "%s to %s" % (days[0], days[-1]))


def headline(asked: str, found: Sequence[Answer]) -> str:
    """Today's installs answer the question; release-day records answer it only when nothing else does,
    and then say so."""
    if today(found) or not found:
        return "%s: %s" % (asked, overall(today(found)))
    return "%s: %s on its release day (%s; not measured with today's releases)" % (asked, overall(found),
                                                                               _days(found))


def render_json(pins: Sequence[Pin], found: Sequence[Answer], sources: Sequence[Source]) -> Dict[str, Any]:
    released = as_released(found)
    return {"question": question(pins), "pins": {p.axis: str(p.specifier) for p in pins},
            "measured": bool(found), "verdict": overall(today(found) or found),
            "verdict_as_released": overall(released) if released else None,
            "sources": [{"name": s.name, "results": str(s.path)} for s in sources],
            "answers": [a.to_dict() for a in found],
            "neighbours": neighbours(sources, pins) if not found else {}}


__all__ = ["PROBE_NOTE", "SMOKE_NOTE", "Verdict", "answer_block", "question", "render_json", "render_text"]
