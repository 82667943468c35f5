"""Cold run vs its floor: how close a matrix run came to the least time its work allows. Nothing is run here;
the figures come from real runs' records.

  floor = C + M / lanes
  C  the critical path of the builds: the longest chain of distinct layers one cell needs, each layer counted
     once (no cell can be measured before its own chain is built; the other cells' builds can overlap it).
     From per-step build times (`build.steps`, recorded since they exist) when every cell has them: a layer is
     a cell's chain of steps up to it, timed at the build that built it (cached elsewhere). Else approximated by
     the longest single cell build (`build.seconds`), which counts a chain's layers only if that cell built
     them (true of the first cell of a cold run; a later cell's build shows only what it added).
  M  the measuring work: the cells' container seconds (`measure_seconds`: probes and trainings);
  lanes  the cells measured at once (`settings.lanes`).
  gated floor  M / lanes + B / jobs, for a matrix run: its builds may not overlap a timed training (the
     TrainingGate), and on a machine whose lanes leave no core free every build also holds up the
     measuring; B is the builds' total time, jobs the builds run at once (`settings.jobs`).
  wall  the run's own duration: from its first cell's start to its last cell's end; a run that was stopped
     and resumed counts its stretches only (gaps over GAP_SECONDS between one cell's end and the next
     cell's start are left out).

Inputs: a bench/bench.py result (its cold run: `runs.cold_seconds`, `runs.measurement_seconds`,
`runs.cold_build_seconds_per_cell`) or a results.json (a matrix run). Writes bench/cold-floor.json.

  python bench/cold_floor.py [--bench bench/results.json ...] [--results reports/results.json --run-id full]
                             [--cold] [--out bench/cold-floor.json]

--cold: the operator started the run with an empty build cache (`docker builder prune -af`, no cell image):
the records cannot tell (a cold run's cells that only reuse other cells' layers build in seconds).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
GAP_SECONDS = 300.0  # a pause this long between cells is a stopped run resumed later, not the run's own work
TARGET = 1.15  # issue #24: a cold run within 1.15x its floor


def _time(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def critical_path_from_steps(cells: Sequence[Dict[str, Any]]) -> Optional[float]:
    """The longest chain of distinct layers, each timed at the build that built it; None unless every cell's
    build has steps."""
    chains: List[List[Tuple[str, ...]]] = []
    seconds: Dict[Tuple[str, ...], float] = {}
    for cell in cells:
        steps = (cell.get("build") or {}).get("steps")
        if not steps:
            return None
        prefix: Tuple[str, ...] = ()
        chain = []
        for step in steps:
            prefix = prefix + (str(step["step"]),)
            chain.append(prefix)
            if not step.get("cached") and isinstance(step.get("seconds"), (int, float)):
                seconds[prefix] = max(seconds.get(prefix, 0.0), float(step["seconds"]))
        chains.append(chain)
    return max((sum(seconds.get(layer, 0.0) for layer in chain) for chain in chains), default=0.0)


def stretches(cells: Sequence[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """(start, end) of each stretch the run worked, cells in start order; a gap over GAP_SECONDS splits."""
    timed = sorted((c for c in cells if c.get("started_at") and c.get("finished_at")), key=lambda c: c["started_at"])
    out: List[List[str]] = []
    for cell in timed:
        if out and (_time(cell["started_at"]) - _time(out[-1][1])).total_seconds() <= GAP_SECONDS:
            out[-1][1] = max(out[-1][1], cell["finished_at"], key=_time)
        else:
            out.append([cell["started_at"], cell["finished_at"]])
    return [(a, b) for a, b in out]


def from_results(doc: Dict[str, Any], run_id: Optional[str]) -> Dict[str, Any]:
    cells = [c for c in doc.get("cells") or [] if c.get("measure_seconds") and not c.get("cached")
             and (run_id is None or c.get("measured_in_run") == run_id)]
    lanes = int((doc.get("settings") or {}).get("lanes") or 1)
    from_steps = critical_path_from_steps(cells)
    builds = [float((c.get("build") or {}).get("seconds") or 0.0) for c in cells]
    critical = from_steps if from_steps is not None else max(builds, default=0.0)
    measuring = sum(float(c["measure_seconds"]) for c in cells)
    parts = stretches(cells)
    wall = sum((_time(b) - _time(a)).total_seconds() for a, b in parts)
    fresh = sum(1 for b in builds if b > 5.0)
    # inside a cell's start..end but outside its containers: waiting (for builds: a training never overlaps one)
    waiting = sum((_time(c["finished_at"]) - _time(c["started_at"])).total_seconds() - float(c["measure_seconds"])
                  for c in cells if c.get("started_at") and c.get("finished_at"))
    jobs = int((doc.get("settings") or {}).get("jobs") or 1)
    cache_at_start = (doc.get("disk") or {}).get("build_cache_bytes_start")
    gated = measuring / lanes + sum(builds) / jobs
    return _figure(wall, critical, measuring, lanes, {
        "jobs": jobs, "gated_floor_seconds": round(gated, 1),
        "over_gated_floor": round(wall / gated, 3) if gated else None,
        "source": "results", "run_id": run_id, "cells": len(cells), "stretches": [list(p) for p in parts],
        "builds_from": "steps" if from_steps is not None else "the longest cell build (no per-step times recorded)",
        "build_seconds_total": round(sum(builds), 1),
        "cells_built_over_5s": fresh, "cells_waiting_seconds": round(waiting, 1),
        # recorded since 2026-12-03: the build cache's bytes at the start; before, a guess from the builds
        "cold": (cache_at_start == 0) if cache_at_start is not None else (False if fresh < len(cells) else None)})


def from_bench(doc: Dict[str, Any]) -> Dict[str, Any]:
    runs = doc["runs"]
    builds = [float(v) for v in (runs.get("cold_build_seconds_per_cell") or {}).values()]
    return _figure(float(runs["cold_seconds"]), max(builds, default=0.0), float(runs["measurement_seconds"]),
                   int(runs.get("lanes") or 1), {
                       "source": "bench", "date": doc.get("date"), "cells": len(builds),
                       "builds_from": "the longest cell build (no per-step times recorded)",
                       "build_seconds_total": round(sum(builds), 1), "cold": True})


def _figure(wall: float, critical: float, measuring: float, lanes: int, facts: Dict[str, Any]) -> Dict[str, Any]:
    floor = critical + measuring / lanes
    return dict(facts, wall_seconds=round(wall, 1), critical_build_seconds=round(critical, 1),
                measure_seconds=round(measuring, 1), lanes=lanes, floor_seconds=round(floor, 1),
                over_floor=round(wall / floor, 3) if floor else None)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="append", metavar="RESULTS.json",
                        help="a bench/bench.py result (default: bench/results.json and bench/results-1cpu.json)")
    parser.add_argument("--results", default=str(ROOT / "reports" / "results.json"), help="a matrix run's results")
    parser.add_argument("--run-id", default="full", help="the cells measured in this run only")
    parser.add_argument("--cold", action="store_true",
                        help="the run started with an empty build cache (the records cannot tell)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "cold-floor.json"))
    args = parser.parse_args(argv)
    bench_files = args.bench or [str(ROOT / "bench" / "results.json"), str(ROOT / "bench" / "results-1cpu.json")]
    out: Dict[str, Any] = {"kind": "keras-matrix-cold-floor", "target": TARGET, "runs": {}}
    try:
        for path in bench_files:
            out["runs"][Path(path).name] = from_bench(json.loads(Path(path).read_text()))
        run = from_results(json.loads(Path(args.results).read_text()), args.run_id)
        if args.cold:
            run["cold"] = True
        out["runs"]["%s (%s)" % (Path(args.results).name, args.run_id)] = run
    except (OSError, ValueError, KeyError, TypeError) as exc:
        parser.error("cannot read a run's records: %s" % exc)
    Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    for name, run in out["runs"].items():
        print("%-32s wall %7.1f s, floor %7.1f s (builds %.1f + measuring %.1f / %d lanes): %.3fx"
              % (name, run["wall_seconds"], run["floor_seconds"], run["critical_build_seconds"],
                 run["measure_seconds"], run["lanes"], run["over_floor"]))
        if run.get("gated_floor_seconds"):
            print("%-32s gated floor %7.1f s (measuring / lanes + builds %.1f / %d jobs): %.3fx"
                  % ("", run["gated_floor_seconds"], run["build_seconds_total"], run["jobs"], run["over_gated_floor"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
