"""What a timing protocol costs the full CPU matrix: the cost model of docs/timing.md ("The budget"), fed with
a real run's records. Nothing is run here.

A cell's container work is its probe plus, per training, p processes of (o + w + S x e):
  o  the process's own time outside the epochs (start, imports, data, evaluation, exit):
     (the training's container seconds - the sum of its epochs' wall times) / its processes
  w  the warm-up epoch (median of the training's first epochs)
  e  a steady epoch (median of its steady epochs)
  S  the protocol's steady epochs per process (at least min_steady_epochs; the cell's epochs count too)
  p  min_processes, plus one more per round while the training's 95% interval is wider than max_rel_width,
     up to max_processes and within remeasure_share of the first rounds' container time (as
     runner/run/measure.py measure_backends decides).
Whether a training would have taken another process is decided from its recorded steady epochs, in the order
they ran: the first S x k of them stand for k processes of S steady epochs (the pooled epochs of several
recorded processes stand in for one longer process; between-process spread makes that, if anything, wider,
so the estimate errs towards more processes). Builds and probes are taken as recorded: the protocol does
not change them.

  python bench/protocol_cost.py [--results reports/results.json] [--run-id full] [--out bench/protocol-cost.json]
  python bench/protocol_cost.py --table bench/protocol-cost.json   (docs/timing.md's table; a test keeps it equal)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runner.model import stats  # noqa: E402
from runner.run.timing import BUDGETS, TimingProtocol  # noqa: E402

TARGET_MINUTES = 45.0  # issue #24: the full CPU matrix, cold, at most 45 minutes of work on this VM


def _training_terms(training: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """o, w, e and the steady epochs in the order they ran, from one recorded training; None without samples."""
    samples = training.get("samples") or []
    processes = sorted({s.get("process", 1) for s in samples})
    steady = [s["wall"] for s in sorted(samples, key=lambda s: (s.get("process", 1), s.get("epoch", 0)))
              if not s.get("warmup")]
    warm = [s["wall"] for s in samples if s.get("warmup")]
    if not processes or not steady or not warm or not training.get("seconds"):
        return None
    overhead = (float(training["seconds"]) - sum(s["wall"] for s in samples)) / len(processes)
    return {"processes": len(processes), "o": max(0.0, overhead), "w": statistics.median(warm),
            "e": statistics.median(steady), "steady": steady, "seconds": float(training["seconds"])}


def _steady_per_process(protocol: TimingProtocol, cell_epochs: int) -> int:
    return max(cell_epochs, protocol.warmup_epochs + protocol.min_steady_epochs) - protocol.warmup_epochs


def _wider(steady: List[float], protocol: TimingProtocol) -> bool:
    width = stats.summarize_samples(steady, protocol.max_rel_width)["rel_width"]
    return not isinstance(width, float) or width > protocol.max_rel_width


def cell_cost(cell: Dict[str, Any], protocol: TimingProtocol, cell_epochs: int) -> Dict[str, Any]:
    """Predicted training seconds and processes of one cell under the protocol (its probe as recorded)."""
    terms = {b: t for b, t in ((b, _training_terms(t)) for b, t in (cell.get("trainings") or {}).items()) if t}
    per_process_steady = _steady_per_process(protocol, cell_epochs)
    cost = {b: t["o"] + t["w"] + per_process_steady * t["e"] for b, t in terms.items()}
    count = {b: min(protocol.min_processes, protocol.max_processes) for b in terms}
    base = sum(cost[b] * count[b] for b in terms)
    allowed = protocol.remeasure_share * base
    for _ in range(protocol.min_processes, protocol.max_processes):
        for backend, t in sorted(terms.items()):
            seen = t["steady"][:per_process_steady * count[backend]]
            if _wider(seen, protocol) and cost[backend] <= allowed:
                count[backend] += 1
                allowed -= cost[backend]
    trainings = sum(cost[b] * count[b] for b in terms)
    recorded = sum(t["seconds"] for t in terms.values())
    probe = float(cell.get("measure_seconds") or 0.0) - recorded
    return {"trainings_seconds": trainings, "recorded_trainings_seconds": recorded, "probe_seconds": probe,
            "processes": count, "recorded_processes": {b: t["processes"] for b, t in terms.items()}}


def protocol_cost(doc: Dict[str, Any], run_id: Optional[str], protocol: TimingProtocol,
                  cell_epochs: int = 3) -> Dict[str, Any]:
    cells = [c for c in doc.get("cells") or [] if c.get("measure_seconds")
             and (run_id is None or c.get("measured_in_run") == run_id)]
    per_cell = [cell_cost(c, protocol, cell_epochs) for c in cells]
    builds = sum(float((c.get("build") or {}).get("seconds") or 0.0) for c in cells)
    trainings = sum(p["trainings_seconds"] for p in per_cell)
    probes = sum(p["probe_seconds"] for p in per_cell)
    processes = [n for p in per_cell for n in p["processes"].values()]
    total = (builds + probes + trainings) / 60
    return {"cells": len(cells), "trainings": len(processes),
            "processes": sum(processes), "processes_per_training": {str(k): processes.count(k)
                                                                    for k in sorted(set(processes))},
            "trainings_minutes": round(trainings / 60, 1), "probes_minutes": round(probes / 60, 1),
            "builds_minutes": round(builds / 60, 1), "total_minutes": round(total, 1),
            "recorded_trainings_minutes": round(sum(p["recorded_trainings_seconds"] for p in per_cell) / 60, 1),
            "recorded_processes": sum(n for p in per_cell for n in p["recorded_processes"].values())}


def cost_table(doc: Dict[str, Any]) -> str:
    """docs/timing.md's table: minutes of work per budget and variant, from a protocol-cost.json."""
    lines = ["| protocol | processes (trainings) | trainings | probes | builds | total |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    rows = [("`%s`" % name, cost) for name, cost in doc["budgets"].items()] + list(doc["variants"].items())
    for name, cost in rows:
        lines.append("| %s | %d (%d) | %.1f | %.1f | %.1f | %.1f |" % (
            name, cost["processes"], cost["trainings"], cost["trainings_minutes"], cost["probes_minutes"],
            cost["builds_minutes"], cost["total_minutes"]))
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(ROOT / "reports" / "results.json"))
    parser.add_argument("--run-id", default="full", help="only the cells measured in this run (the cold matrix run)")
    parser.add_argument("--cell-epochs", type=int, default=3, help="the cells' `epochs` (matrix.yaml's default: 3)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "protocol-cost.json"))
    parser.add_argument("--table", metavar="COST.json", help="compute nothing: print the Markdown table of a result")
    args = parser.parse_args(argv)
    if args.table:
        try:
            print(cost_table(json.loads(Path(args.table).read_text())), end="")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error("cannot read a protocol cost from %s: %s" % (args.table, exc))
        return 0
    try:
        doc = json.loads(Path(args.results).read_text())
    except (OSError, ValueError) as exc:
        parser.error("cannot read the results %s: %s" % (args.results, exc))
    runs = sorted({str(c.get("measured_in_run")) for c in doc.get("cells") or [] if c.get("measured_in_run")})
    if args.run_id is not None and args.run_id not in runs:
        # reports/results.json is a lean run since 2026-12-03; the thorough run `full` is in git (db0bfa5)
        parser.error("no cell of the run %r in %s (its runs: %s); give --run-id, or the thorough run `full`: "
                     "git show db0bfa5:reports/results.json > full.json" % (args.run_id, args.results,
                                                                              ", ".join(runs) or "none"))
    budgets = {name: protocol_cost(doc, args.run_id, protocol, args.cell_epochs)
               for name, protocol in BUDGETS.items()}
    variants = {"lean, steady epochs %d, remeasure above +-%d%%" % (steady, width * 100):
                protocol_cost(doc, args.run_id, replace(BUDGETS["lean"], min_steady_epochs=steady,
                                                        max_rel_width=width), args.cell_epochs)
                for steady in (3, 5, 8) for width in (0.03, 0.05)}
    variants["one process of 3 steady epochs, never a second"] = protocol_cost(
        doc, args.run_id, replace(BUDGETS["lean"], min_steady_epochs=3, max_processes=1), args.cell_epochs)
    results = Path(args.results).resolve()
    shown = str(results.relative_to(ROOT)) if results.is_relative_to(ROOT) else str(results)
    out = {"kind": "keras-matrix-protocol-cost", "results": shown, "run_id": args.run_id,
           "target_minutes": TARGET_MINUTES, "budgets": budgets,
           "protocols": {name: asdict(protocol) for name, protocol in BUDGETS.items()}, "variants": variants}
    Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    for name, cost in list(budgets.items()) + list(variants.items()):
        print("%-45s %5.1f min (builds %.1f + probes %.1f + trainings %.1f), %d processes for %d trainings"
              % (name, cost["total_minutes"], cost["builds_minutes"], cost["probes_minutes"],
                 cost["trainings_minutes"], cost["processes"], cost["trainings"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
