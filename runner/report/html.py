"""Stage: report. One self-contained HTML page (index.html) from a results document.

No CDN, no fonts, no requests: inline CSS, inline JS, and the timing chart as inline SVG (chart.py), so the
page opens from file:// and from a CI artifact alike. Everything shown comes from the results; values from
containers are untrusted: Jinja2 autoescapes every one, the SVG is built with explicit escaping, and the
one JSON blob the script reads is encoded so that it cannot close its <script> element. What the page
shows of each cell is built in cell_view.py; the matrix and the chart in chart.py.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jinja2
from markupsafe import Markup

from runner.model.records import STATUS_MEANINGS, Status, backend_sort_key
from runner.model.vocabulary import Device, FindingLevel, words
from runner.report import timing
from runner.report.cell_view import bytes_text, cell_view, status_class, when_text
from runner.report.chart import backend_colour, pivot, timing_chart
from runner.report.fields import (
    EXPECTATION_MARKS,
    Doc,
    cell_backends,
    count,
    known_status,
    status_counts,
    yes_no,
)
from runner.report.findings import Finding, compute_findings
from runner.report.heatmap import OUTCOMES, heatmaps
from runner.report.precedence import precedence_rows
from runner.util.paths import resources_dir
from runner.util.text import one_line

TEMPLATE = "report.html.j2"
# With more exact combinations than this, the matrix starts grouped by library set (readable); both views exist.
MAX_EXACT_COLUMNS = 6


def safe_json(value: Any) -> Markup:
    """JSON that is safe inside <script>: no '</script>', no '<!--', no line terminators JS rejects."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    for raw, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("'", "\\u0027"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return Markup(text)


_WORD_START = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=\.)(?=\w)")


def soft_breaks(value: Any) -> Markup:
    """Escaped text with a <wbr> where a long name may wrap: 'Attribute<wbr>Error', 'module.<wbr>Name'.
    A narrow column then wraps at a word boundary instead of cutting the name or breaking it anywhere."""
    return Markup("<wbr>").join(_WORD_START.split(str(value)))


def _when(value: Any) -> Optional[datetime.datetime]:
    try:
        when = datetime.datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.timezone.utc)


def _span(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return ("%dh %02dm" % (hours, rest // 60)) if hours else ("%dm %02ds" % divmod(rest, 60))


def _duration(start: Any, end: Any) -> str:
    first, last = _when(start), _when(end)
    if first is None or last is None or last < first:
        return ""
    return _span((last - first).total_seconds())


def run_times(doc: Doc) -> List[Tuple[str, str]]:
    """When the run happened and how long it took, told apart: the wall-clock span from the first cell's start
    to the last one's end (a resumed run or merged shards started long before the document's own started_at:
    a run resumed once said '51m 28s' for its last session alone), the document's own session when that
    differs, and the work summed over the cells' own times (cells built side by side overlap, so the sum is
    no wall clock). Cells reused from the cache were measured by another run and count in neither."""
    started, finished = _when(doc.get("started_at")), _when(doc.get("finished_at"))
    cells = [c for c in doc.get("cells") or [] if isinstance(c, dict)]
    measured = [c for c in cells if not c.get("cached") and c.get("status") != Status.SKIPPED.value]
    starts = [w for w in (_when(c.get("started_at")) for c in measured) if w is not None]
    ends = [w for w in (_when(c.get("finished_at")) for c in measured) if w is not None]
    first = min(starts + ([started] if started else []), default=None)
    last = max(ends + ([finished] if finished else []), default=None)
    merged = (doc.get("provenance") or {}).get("merged_from")
    resumed = isinstance(doc.get("resumed_from"), dict)
    pieces = ("%d merged shards" % len(merged)) if isinstance(merged, list) and len(merged) > 1 else \
        ("a resumed run" if resumed else "")
    took = _span((last - first).total_seconds()) if first and last and last >= first else ""
    rows = [("Date", "%s \u2192 %s%s" % (
        when_text(first.isoformat() if first else None), when_text(last.isoformat() if last else None),
        (" (%s wall clock%s)" % (took, ", first cell's start to last cell's end, " + pieces if pieces else ""))
        if took else ""))]
    if started and finished and (started, finished) != (first, last):
        own = _duration(started, finished)
        rows.append(("Recorded", "%s \u2192 %s%s: the document's own start and end (%s)" % (
            when_text(doc.get("started_at")), when_text(doc.get("finished_at")), (" (%s)" % own) if own else "",
            "a resumed run records its last session" if resumed and not pieces.endswith("shards") else
            "merged shards record their own; a resumed shard its last session")))
    seconds = [float(c["seconds"]) for c in measured
               if isinstance(c.get("seconds"), (int, float)) and not isinstance(c.get("seconds"), bool)]
    if seconds:
        cached = sum(1 for c in cells if c.get("cached"))
        rows.append(("Work", "%s summed over the own times of %s (build, probe, trainings; cells built "
                             "side by side overlap, so this is no wall clock)%s"
                     % (_span(sum(seconds)), count(len(seconds), "measured cell"),
                        ("; %d cell%s reused from the cache not counted" % (cached, "" if cached == 1 else "s"))
                        if cached else "")))
    return rows


def _meaning(status: str) -> str:
    known = known_status(status)
    return known.meaning if known is not None else "unknown status"


# ---- the page ----------------------------------------------------------------------------------------------

def _provenance(doc: Doc) -> List[Tuple[str, str]]:
    prov = doc.get("provenance") or {}
    host: Dict[str, Any] = prov["host"] if isinstance(prov.get("host"), dict) else {}
    data: Dict[str, Any] = prov["data"] if isinstance(prov.get("data"), dict) else {}
    matrix: Dict[str, Any] = doc["matrix"] if isinstance(doc.get("matrix"), dict) else {}
    rows = [
        ("Run", "%s%s" % (one_line(doc.get("run_id"), 120),
                          "" if doc.get("complete", True) else " (incomplete: interrupted or under way)")),
        *run_times(doc),
        ("Runner", "keras-matrix %s, git %s" % (one_line(prov.get("runner_version") or "?", 40),
                                                 one_line(prov.get("git_sha") or "unknown", 60))),
        ("Docker", one_line(prov.get("docker_version") or "unknown", 80)),
        ("Host", ", ".join(p for p in (
            one_line(host.get("cpu_model"), 120), ("%s CPUs" % host["cpus"]) if host.get("cpus") else "",
            ("%s memory" % bytes_text(host["memory_bytes"])) if host.get("memory_bytes") else "",
            one_line(host.get("os"), 120), one_line(host.get("hostname"), 80)) if p) or "unknown"),
        ("GPU runtime", yes_no(prov.get("gpu_runtime"))),
        ("Data", "%s, sha256 %s" % (one_line(data.get("source") or "unknown", 80),
                                    one_line(data.get("sha256") or "-", 80)) if data else "unknown"),
        ("Matrix", "%s%s" % (one_line(matrix.get("path") or "-", 200),
                             (", sha256 %s" % one_line(matrix["sha256"], 80)) if matrix.get("sha256") else "")),
    ]
    settings: Dict[str, Any] = doc["settings"] if isinstance(doc.get("settings"), dict) else {}
    if isinstance(settings.get("lanes"), int):
        # Whether timings were taken side by side is part of reading them.
        rows.append(("Measured", "%d cell%s at once, each on cores of its own; %s builds at once"
                     % (settings["lanes"], "" if settings["lanes"] == 1 else "s", one_line(settings.get("jobs"), 10))))
    merged = prov.get("merged_from")
    if isinstance(merged, list) and merged:
        rows.append(("Merged from", "; ".join("%s (%s cells, git %s)" % (
            one_line(m.get("run_id"), 60), m.get("cells", "?"), one_line(m.get("git_sha") or "?", 40))
            for m in merged if isinstance(m, dict))))
    return rows


def _searchable(grids: List[Dict[str, Any]], filters: Dict[str, Dict[str, str]]) -> List[Dict[str, Any]]:
    """Each heatmap mark carries its cell's search text, as every other filtered element does: the search box
    keeps the marks of matching cells and hides the rest (without it, any search emptied every heatmap)."""
    for grid in grids:
        for row in grid["rows"]:
            for square in row["squares"]:
                for mark in square:
                    mark["search"] = filters.get(mark["id"], {}).get("search", "")
    return grids


_ENV: Optional[jinja2.Environment] = None


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resources_dir())), autoescape=True,
                                  undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        _ENV.filters["safe_json"] = safe_json
        _ENV.filters["soft_breaks"] = soft_breaks
    return _ENV


def render_html(doc: Doc, findings: Optional[List[Finding]] = None, links: Sequence[Tuple[str, str]] = ()) -> str:
    """The report page. A pure function of the document (its findings, and the links to the other reports:
    (label, relative href), '' for this page)."""
    findings = compute_findings(doc) if findings is None else findings
    cells = [c for c in doc.get("cells") or [] if isinstance(c, dict)]
    backends = sorted({n for c in cells for n in cell_backends(c)}, key=backend_sort_key)
    views = [cell_view(c, backends) for c in cells]
    known = {v["id"] for v in views}
    exact = pivot(views, "combo", MAX_EXACT_COLUMNS)  # exact labels are wider: fewer per band
    libsets = pivot(views, "libset")
    filters = {v["id"]: {"status": v["status"], "device": v["device"], "search": v["search"]} for v in views}
    charts = [(d, timing_chart(doc, d, backends, filters)) for d in words(Device)]
    finding_views = [{
        "id": one_line(f.get("id"), 120), "title": f.get("title") or "",
        "level": f.get("level") or FindingLevel.INFO.value,
        "items": [{"text": i.get("text") or "", "cells": [c for c in i.get("cells") or [] if c in known]}
                  for i in (f.get("items") or [{"text": f.get("text") or "", "cells": f.get("cells") or []}])],
    } for f in findings]
    expectations = [(mark, sum(1 for v in views if v["expectation"] == mark))
                    for mark in EXPECTATION_MARKS.values()]
    context = {
        "run_id": one_line(doc.get("run_id"), 120) or "?",
        "links": [(one_line(label, 60), href) for label, href in links],
        "complete": doc.get("complete", True) is not False,
        "provenance": _provenance(doc),
        "counts": [(s, n, status_class(s), _meaning(s)) for s, n in status_counts(doc)],
        "total": len(views),
        "statuses": [(s.value, status_class(s), d) for s, d in STATUS_MEANINGS.items()],
        "backends": [(n, backend_colour(n, backends)) for n in backends],
        "cells": views,
        "findings": finding_views,
        "precedence": [{"line": r["line"], "aspect": r["aspect"], "observed": r["observed"],
                        "cells": [c for c in r["cells"] if c in known]} for r in precedence_rows(doc)],
        "pivots": [("exact", "exact versions", exact), ("libset", "library sets", libsets)],
        "pivot_default": "exact" if len(exact["columns"]) <= MAX_EXACT_COLUMNS else "libset",
        "charts": [(d, svg) for d, svg in charts if svg is not None],
        "smoke_only": bool(cells) and all(timing.is_smoke(c) for c in cells),
        "heatmaps": _searchable(heatmaps(doc), filters),
        "outcomes": OUTCOMES,
        "expectations": [(mark, n) for mark, n in expectations if n],
        "data": {"statuses": [s.value for s in Status], "cells": len(views)},
    }
    return environment().get_template(TEMPLATE).render(**context)
