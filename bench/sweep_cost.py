"""What a sweep cost: wall time, builds, probe and training containers, per probe phase, from its results.

Reads the results.json of real runs (nothing is run here) and writes one summary per run: the wall time
between the run's start and end, how many cells were measured and how many came from the result cache, the
statuses, the build seconds and the container seconds (probe phases summed over cells), and the run's
settings (lanes, jobs). A resumed run has no single wall time (its parts ran apart): it is left out (null),
and its cells' own seconds still count.

  python bench/sweep_cost.py LABEL=RESULTS.json [LABEL=RESULTS.json ...] [--out bench/sweep-cost.json]
  python bench/sweep_cost.py --table bench/sweep-cost.json bench/sweep-cost-uv.json   # the docs' table
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the runner of this checkout, as bench.py

from tabulate import tabulate

from runner.results.store import load_results
from runner.util.errors import ResultsError


def _time(text: Optional[str]) -> Optional[datetime.datetime]:
    return datetime.datetime.fromisoformat(text) if text else None


def _installer(cell: Dict[str, Any]) -> str:
    """uv or pip, from the cell's build steps (the engine clips their text, so by the installer's cache mount or
    command, whichever shows); '?' when none says."""
    steps = [str(step.get("step") or "") for step in (cell.get("build") or {}).get("steps") or []]
    if any("keras-matrix-uv-" in step or "uv pip install" in step for step in steps):
        return "uv"
    return "pip" if any("keras-matrix-pip-" in step or "pip install" in step for step in steps) else "?"


def summarize(doc: Dict[str, Any]) -> Dict[str, Any]:
    """One run's cost from its results document."""
    cells: List[Dict[str, Any]] = doc.get("cells") or []
    measured = [c for c in cells if not c.get("cached") and c.get("status") != "skipped"]
    phases: Dict[str, float] = {}
    for cell in measured:
        for name, seconds in ((cell.get("probe") or {}).get("phase_seconds") or {}).items():
            phases[name] = phases.get(name, 0.0) + float(seconds or 0)
    trainings = sum(float(t.get("seconds") or 0) for c in measured for t in (c.get("trainings") or {}).values())
    started, finished = _time(doc.get("started_at")), _time(doc.get("finished_at"))
    disk: Dict[str, Any] = doc.get("disk") or {}
    return {
        "run_id": doc.get("run_id"),
        "matrix": (doc.get("matrix") or {}).get("path"),
        "started_at": doc.get("started_at"),
        "wall_seconds": round((finished - started).total_seconds(), 1)
        if started and finished and not doc.get("resumed_from") else None,
        "complete": doc.get("complete"),
        "resumed": bool(doc.get("resumed_from")),
        "cells": len(cells),
        "measured": len(measured),
        "cached": sum(1 for c in cells if c.get("cached")),
        "statuses": dict(sorted(Counter(c.get("status") for c in cells).items())),
        "build_seconds": round(sum(float((c.get("build") or {}).get("seconds") or 0) for c in measured), 1),
        "container_seconds": round(sum(float(c.get("measure_seconds") or 0) for c in measured), 1),
        "probe_phase_seconds": {name: round(value, 1) for name, value in sorted(phases.items())},
        "training_seconds": round(trainings, 1),
        "settings": {k: (doc.get("settings") or {}).get(k) for k in ("lanes", "jobs", "prune", "rerun")},
        # 0: a cold run (no build cache at its start); None: a run from before the runner recorded it
        "build_cache_bytes_start": disk.get("build_cache_bytes_start"),
        "layers_bytes_peak": disk.get("layers_bytes_peak"),
        "build_cache_emptied": disk.get("build_cache_emptied") or 0,  # --prune's low-disk rule
        "installers": dict(sorted(Counter(_installer(c) for c in measured).items())),
    }


def _minutes(seconds: Optional[float]) -> str:
    return "-" if seconds is None else "%.1f" % (seconds / 60)


def _cache_state(summary: Dict[str, Any]) -> str:
    start = summary.get("build_cache_bytes_start")
    return "not recorded" if start is None else "cold (empty)" if start == 0 else "%.1f GB" % (start / 1e9)


def table(summaries: Dict[str, Dict[str, Any]]) -> str:
    """The docs' table (docs/sweeps.md "What a sweep costs"): one row per run, minutes from its records."""
    rows = []
    for label, s in summaries.items():
        phases = s.get("probe_phase_seconds") or {}
        scenarios = phases.get("scenarios", 0.0)
        rows.append([label, (s.get("started_at") or "")[:10], "+".join(s.get("installers") or {}) or "-",
                     "%d (%d cached)" % (s["cells"], s["cached"]), _cache_state(s), _minutes(s["wall_seconds"]),
                     _minutes(s["build_seconds"]), _minutes(s["container_seconds"] - scenarios - s["training_seconds"]),
                     _minutes(scenarios), _minutes(s["training_seconds"])])
    return tabulate(rows, tablefmt="github", disable_numparse=True, headers=[
        "run", "date", "installer", "cells", "build cache at start", "wall min", "builds min",
        "probes min", "scenario probes min", "trainings min"])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", metavar="LABEL=RESULTS.json")
    parser.add_argument("--out", default=str(Path(__file__).with_name("sweep-cost.json")))
    parser.add_argument("--table", nargs="+", metavar="SWEEP-COST.json",
                        help="print the docs' Markdown table from these summaries instead (no run is read)")
    args = parser.parse_args(argv)
    if args.table:
        merged: Dict[str, Any] = {}
        for path in args.table:
            if not Path(path).is_file():  # a FIFO or a directory would hang or fail later
                parser.error("not a regular file: %s" % path)
            merged.update(json.loads(Path(path).read_text(encoding="utf-8")))
        print(table(merged))
        return 0
    if not args.runs:
        parser.error("give LABEL=RESULTS.json, or --table")
    summaries: Dict[str, Any] = {}
    for item in args.runs:
        label, sep, path = item.partition("=")
        if not sep or not label:
            parser.error("expected LABEL=RESULTS.json, got %r" % item)
        try:  # the runner's own reader: a regular file of bounded size, valid JSON, the results schema
            summaries[label] = summarize(load_results(path))
        except ResultsError as exc:
            print("sweep_cost: %s" % exc, file=sys.stderr)
            return 2
    Path(args.out).write_text(json.dumps(summaries, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    rows = [[label, s["cells"], s["measured"], s["cached"], s["settings"]["lanes"], _minutes(s["wall_seconds"]),
             _minutes(s["build_seconds"]), _minutes(s["container_seconds"])] for label, s in summaries.items()]
    print(tabulate(rows, headers=["run", "cells", "measured", "cached", "lanes", "wall min", "build min",
                                  "container min"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
