"""bisect: the first release of an axis whose observable differs from the lower bound's.

    python -m runner bisect matrix.yaml --cell 'keras1.0.8-*-cpu' --axis keras --between 1.0.8 1.2.2 \\
        --on default_backend --measure probe

The template is the one selected cell that has the axis; each step pins the axis to one release with
matrix.with_version (so ids, requirements and Dockerfiles are those the matrix would give) and measures it
as an ordinary run (runner.run.loop.run_matrix: the result cache, logs and a run document per step, under one
bisect directory), merged at the end into one results.json beside a bisect.json summary.

The search measures the lower bound, then midpoints; the upper bound is measured only when no midpoint
differed. That is at most ceil(log2(n)) + 2 cells for n releases. It assumes the observable changes once
between the bounds: when it changes back and forth, the release printed is *a* change, and the two
neighbouring records it prints are the evidence."""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

from runner.model.records import BuildStatus
from runner.util.errors import UsageError

if TYPE_CHECKING:
    from runner.engine.protocol import Engine
    from runner.matrix.cells import Cell, Matrix
    from runner.matrix.releases import Expansion
    from runner.model.records import CellRecord
    from runner.run.context import RunOptions
    from runner.run.mnist import MnistData

# `--on default_backend` reads the backend Keras chose, else the type of the error it raised instead.
SHORTHANDS = ("default_backend",)
# A dotted path of record keys, checked before anything is built: a typo fails at once, not after the builds.
OBSERVABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}(?:\.[A-Za-z0-9_-]{1,64}){0,7}")


def observe(record: CellRecord | Dict[str, Any], on: str) -> Any:
    """The observable of a cell record: a dotted path into it, or a shorthand (SHORTHANDS)."""
    node: Any = record
    if on == "default_backend":
        default = record.get("default_backend") or {}
        error = default.get("error") or {}
        return default.get("backend") or error.get("type") or "no answer (status %s)" % record.get("status")
    for part in on.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def evidence(record: CellRecord | Dict[str, Any]) -> str:
    """What a reader checks a step by: the default backend or the error, keras.json, the status."""
    default = record.get("default_backend") or {}
    error = default.get("error") or {}
    parts = ["default backend %s" % default["backend"]] if default.get("backend") else []
    if error:
        lines = (error.get("message") or "").strip().splitlines()
        parts.append("error %s: %s" % (error.get("type"), lines[0] if lines else ""))
    keras_json = default.get("keras_json")
    if isinstance(keras_json, dict):
        parts.append("keras.json backend %s" % keras_json.get("backend"))
    parts.append("status %s%s" % (record.get("status"), " (%s)" % record["reason"] if record.get("reason") else ""))
    return "; ".join(parts)


@dataclass
class Step:
    release: str
    record: Dict[str, Any]
    observed: Any


@dataclass
class Search:
    """The outcome: the first differing release (None when none differed) and every step measured."""

    releases: Sequence[str]
    steps: List[Step] = field(default_factory=list)
    first: Optional[Step] = None  # the first release whose observable differs from the lower bound's
    before: Optional[Step] = None  # the release just before it (same observable as the lower bound)

    @property
    def limit(self) -> int:
        return math.ceil(math.log2(len(self.releases))) + 2


def search(releases: Sequence[str], measure: Callable[[str], Dict[str, Any]], on: str) -> Search:
    """Binary search over releases (ascending, both bounds included) for the first observable that differs
    from releases[0]'s. measure(release) -> the cell record of that release."""
    result = Search(releases)
    measured: Dict[int, Step] = {}

    def step(index: int) -> Step:
        if index not in measured:
            record = measure(releases[index])
            measured[index] = Step(releases[index], record, observe(record, on))
            result.steps.append(measured[index])
        return measured[index]

    low, high = 0, len(releases) - 1
    reference = step(low).observed
    while high - low > 1:  # invariant: low has the reference; high differs, or is the unmeasured upper bound
        middle = (low + high) // 2
        if step(middle).observed == reference:
            low = middle
        else:
            high = middle
    if step(high).observed != reference:
        result.first, result.before = measured[high], measured[low]
    return result


def template_of(cells: Sequence[Cell], axis: str) -> Cell:
    """The one selected cell that has the axis; UsageError (exit 2) otherwise."""
    having = [c for c in cells if c.versions().get(axis)]
    if len(having) != 1:
        listed = ", ".join(c.id for c in having[:4]) + (" and %d more" % (len(having) - 4) if len(having) > 4 else "")
        raise UsageError("bisect needs exactly one template cell with a %s version; the selection has %d%s. "
                         "Try: narrow it with --cell, --filter or --profile" % (axis, len(having),
                                                                               (": " + listed) if listed else ""))
    return having[0]


def run_bisect(matrix: Matrix, template: Cell, axis: str, expansion: Expansion, on: str, engine: Engine,
               data: MnistData, options: RunOptions, measure: Optional[str] = None,
               out: Optional[Callable[[str], None]] = None) -> Search:
    """Measure the steps as runs under options.results_dir/<bisect id>/; write results.json (every cell)
    and bisect.json there. Prints each step and the answer through out."""

    from runner.results.store import RunDirectory

    bisect_id = options.run_id or "bisect-%s-%s" % (axis, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    # Created exclusively and held until the search ends: two bisects started together get a directory each.
    with RunDirectory(options.results_dir, bisect_id, unique=options.run_id is None) as claimed:
        return _bisect_in(claimed.path, matrix, template, axis, expansion, on, engine, data, options, measure, out)


def _bisect_in(directory: Path, matrix: Matrix, template: Cell, axis: str, expansion: Expansion, on: str,
               engine: Engine, data: MnistData, options: RunOptions, measure: Optional[str],
               out: Optional[Callable[[str], None]]) -> Search:
    from runner.matrix.expand import with_version
    from runner.results.merge import merge_results
    from runner.results.store import results_json
    from runner.run.loop import run_matrix
    from runner.util.fileio import atomic_write_text
    from runner.util.text import say

    out = out or say  # every line it prints holds recorded values (a cached default_backend, an error)
    recorded = dataclasses.replace(matrix, expansions=list(matrix.expansions) + [expansion.to_dict()])
    docs: List[Dict[str, Any]] = []
    releases = expansion.versions
    out("bisect %s %s..%s on %s: %d releases (%s, %s)%s" % (
        axis, releases[0], releases[-1], on, len(releases), expansion.source, expansion.date,
        ", measure %s" % measure if measure else ""))

    def measure_release(release: str) -> Dict[str, Any]:
        cell = with_version(template, axis, release, measure)
        step_id = "step%d-%s" % (len(docs) + 1, release)
        step_options = dataclasses.replace(options, results_dir=directory, run_id=step_id)
        doc = run_matrix(recorded, [cell], engine, data, step_options)
        docs.append(dict(doc))
        record: Dict[str, Any] = dict(doc["cells"][0])
        out("  step %d: %s %-8s %s -> %s%s" % (len(docs), axis, release, cell.id, observe(record, on),
                                               " (cached)" if record.get("cached") else ""))
        return record

    found = search(releases, measure_release, on)
    merged = merge_results(docs)
    merged["matrix"]["cells_selected"] = [step.record["cell_id"] for step in found.steps]
    summary = {"axis": axis, "on": on, "between": [releases[0], releases[-1]], "template": template.id,
               "measure": measure, "releases": list(releases), "expansion": expansion.to_dict(),
               "first_differing": found.first.release if found.first else None,
               "cells_measured": len(found.steps), "limit": found.limit,
               "steps": [{"release": s.release, "cell_id": s.record["cell_id"], "observed": s.observed,
                          "status": s.record.get("status"), "cached": bool(s.record.get("cached"))}
                         for s in found.steps]}
    atomic_write_text(directory / "results.json", results_json(merged))
    atomic_write_text(directory / "bisect.json", results_json(summary))
    _print_answer(found, axis, on, out)
    cached = [s for s in found.steps if s.record.get("cached")]  # their build record is the earlier run's
    built = [s for s in found.steps
             if s not in cached and (s.record.get("build") or {}).get("status") == BuildStatus.BUILT]
    out("%d cells measured (%d built now, %d from the result cache; at most ceil(log2(%d))+2 = %d); results: %s"
        % (len(found.steps), len(built), len(cached), len(releases), found.limit, directory / "results.json"))
    return found


def _print_answer(found: Search, axis: str, on: str, out: Callable[[str], None]) -> None:
    low, high = found.releases[0], found.releases[-1]
    if found.first is None or found.before is None:
        out("no release from %s to %s differs from %s on %s (%r)" % (low, high, low, on, found.steps[0].observed))
        return
    out("first %s release whose %s differs from %s's: %s" % (axis, on, low, found.first.release))
    for step in (found.before, found.first):
        out("  %-8s %s  %s = %r" % (step.release, step.record["cell_id"], on, step.observed))
        out("           evidence: %s" % evidence(step.record))
