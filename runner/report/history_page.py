"""The site's history page (history.html) and the landing page's "since the last run" lines, from a history
store's runs (runner/report/history.py says what changed; this module only lays it out). Self-contained and
autoescaped like every page of the site."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

from runner.report.history import (
    Since,
    detail_sections,
    headline,
    machine_class,
    machine_label,
    run_label,
    state,
    timelines,
    trends,
)
from runner.report.html import environment
from runner.util.fileio import atomic_write_text
from runner.util.text import one_line

TEMPLATE = "history.html.j2"
PAGE = "history.html"
SPARK_WIDTH, SPARK_HEIGHT = 160, 28


def _plain(value: Any, limit: int = 300) -> str:
    return one_line(value, limit)  # autoescaping does the HTML; this keeps each value to one line


def banner(since: Optional[Since], runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The landing page's first lines: the headline, the first details, a link to the history page naming
    the matrix of the newest run (the history is of that matrix, not of every report on the site)."""
    sections = detail_sections(since, _plain)
    lines = ["%s: %s" % (s[0], "; ".join(s[1:4]) + (" ..." if len(s) > 4 else "")) for s in sections
             if s[0] != "Timings"]
    matrix = (runs[-1].get("matrix") or {}).get("path") if runs else None
    return {"headline": headline(since), "regressed": bool(since and since.regressed), "lines": lines[:5],
            "link": PAGE, "runs": len(runs), "matrix": _plain(matrix, 200) if matrix else None}


def _spark(points: List[Dict[str, Any]]) -> str:
    """The polyline of a series, oldest left; one point draws a dot-sized line."""
    values = [p["seconds"] for p in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    coords = ["%.1f,%.1f" % (i * step, SPARK_HEIGHT - 2 - (v - low) / span * (SPARK_HEIGHT - 4) if high > low
                             else SPARK_HEIGHT / 2) for i, v in enumerate(values)]
    if len(coords) == 1:
        coords.append("%.1f,%s" % (2.0, coords[0].split(",")[1]))
    return " ".join(coords)


def history_context(runs: List[Dict[str, Any]], since: Optional[Since]) -> Dict[str, Any]:
    """Runs (oldest first), the cells over time as a grid, and the trends per machine class."""
    columns = [{"label": run_label(r), "run_id": _plain(r.get("run_id"), 60), "class": machine_class(r),
                "machine": machine_label(r), "cells": len(r.get("cells") or [])} for r in runs]
    grid = []
    by_run = [{str(c.get("cell_id")): c for c in r.get("cells") or []} for r in runs]
    for line in timelines(runs):
        row, last = [], None
        for cells in by_run:
            cell = cells.get(line["cell_id"])
            now = state(cell) if cell is not None else None
            reason = _plain(cell.get("reason"), 200) if cell is not None and cell.get("reason") else ""
            row.append({"state": now, "reason": reason,
                        "changed": now is not None and last is not None and now != last})
            last = now if now is not None else last
        grid.append({"cell_id": line["cell_id"], "row": row, "changed": line["changed"]})
    groups = []
    for group in trends(runs):
        series = [dict(s, spark=_spark(s["points"]), low=min(p["seconds"] for p in s["points"]),
                       high=max(p["seconds"] for p in s["points"])) for s in group["series"]]
        groups.append(dict(group, series=series))
    return {"banner": banner(since, runs), "sections": detail_sections(since, _plain), "columns": columns,
            "grid": grid, "trends": groups, "spark_width": SPARK_WIDTH, "spark_height": SPARK_HEIGHT}


def write_history_page(runs: List[Dict[str, Any]], since: Optional[Since], out_dir: Path) -> Path:
    path = out_dir / PAGE
    atomic_write_text(path, environment().get_template(TEMPLATE).render(**history_context(runs, since)))
    return path
