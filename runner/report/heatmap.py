"""Stage: report. The compatibility heatmaps: Keras releases (rows) by one framework's releases (columns), one
mark per cell that ran with that pair, coloured by what happened to it (works, conflict, build or install
fails, import fails, training fails), each linking to the cell's details. Cells that did not run are left out: an empty
square means "not measured", never "works"."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Set, Tuple

from runner.model.records import BuildStatus, Status, TrainingStatus, backend_sort_key
from runner.report.conflicts import pip_problems, shared_packages
from runner.report.fields import Doc, keras_version, spec_version, version_key
from runner.util.text import one_line

# (key, label, mark): the mark is a letter so the outcome does not rest on colour alone.
OUTCOMES: Tuple[Tuple[str, str, str], ...] = (
    ("works", "works", "\u2713"),
    ("works_conflict", "works, but pip check or a shared package reports a conflict", "!"),
    ("conflict", "fails, with a conflict (pip check or two distributions in one package)", "C"),
    ("install", "build or install fails", "B"),
    ("import", "import fails", "I"),
    ("training", "training fails", "T"),
)
_FAILED_INSTALL = {Status.BUILD_FAILED.value, Status.UNSATISFIABLE.value}
_NOT_RUN = {Status.SKIPPED.value}
# A build that failed or ran past its time limit: the cell never got to import, whatever its status says
# (a build timeout is recorded as the cell's `timeout`).
_BUILD_STOPPED = {BuildStatus.FAILED.value, BuildStatus.TIMEOUT.value}


def _names(text: str) -> Set[str]:
    return {t.lower().replace("_", "-") for t in re.findall(r"[A-Za-z0-9_.-]+", text)}


def _concerns(names: Set[str], axis: str) -> bool:
    """Whether distribution names belong to the framework of `axis` (tensorflow-cpu, jaxlib...)."""
    return any(n == axis or n.startswith(axis + "-") or n == axis + "lib" for n in names)


def outcome(cell: Mapping[str, Any], axis: str = "") -> str:
    """One cell's outcome key (OUTCOMES) in the heatmap of `axis`, read from its record. When Keras did not
    import (or the cell has no training on that framework) the whole cell decides, and a conflict outranks
    the failure that followed from it (Keras 2.4.3 + TF 2.5 fails to import *because* keras-nightly shadows
    it). Otherwise the framework's own training does, with the conflicts that name its distributions: a JAX
    training that fails next to a TensorFlow pin pip complains about is a JAX training failure in the JAX
    grid and a working TensorFlow, with its conflict, in the TensorFlow grid."""
    status = cell.get("status")
    build = cell.get("build")
    if status in _FAILED_INSTALL or (isinstance(build, dict) and build.get("status") in _BUILD_STOPPED):
        return "install"
    shared, problems = shared_packages(cell), pip_problems(cell)
    trainings = cell.get("trainings") or {}
    training = trainings.get(axis) if axis else None
    if isinstance(training, dict) and status != Status.IMPORT_FAILED.value:
        conflict = any(_concerns(_names(p.split(" but ")[0]), axis) for p in problems) or any(
            _concerns({package} | _names(" ".join(owners)), axis) for package, owners in shared.items())
        failed = "" if training.get("status") == TrainingStatus.OK else "training"
    else:
        conflict = bool(shared or problems)
        if status == Status.IMPORT_FAILED.value:
            failed = "import"
        elif status != Status.OK.value or any(isinstance(t, dict) and t.get("status") != TrainingStatus.OK
                                              for t in trainings.values()):
            failed = "training"
        else:
            failed = ""
    if not failed:
        return "works_conflict" if conflict else "works"
    return "conflict" if conflict else failed


def _version(cell: Mapping[str, Any], axis: str) -> str:
    """The release a cell asked for on `axis` ('2.21.0' from '==2.21.0'); Keras as installed, as the pivot."""
    spec = (cell.get("versions") or {}).get(axis)
    version = keras_version(cell) if axis == "keras" else spec_version(spec) if isinstance(spec, str) else None
    return one_line(version, 40) if version else ""


def heatmaps(doc: Doc) -> List[Dict[str, Any]]:
    """One grid per framework axis with at least two releases among the cells that ran: rows Keras releases
    (version order), columns the framework's releases, each square the cells with that pair."""
    ran = [c for c in doc.get("cells") or [] if isinstance(c, dict) and isinstance(c.get("cell_id"), str)
           and c.get("status") not in _NOT_RUN and _version(c, "keras")]
    axes: Set[str] = {a for c in ran for a in (c.get("versions") or {}) if a != "keras" and _version(c, a)}
    labels = {key: (label, mark) for key, label, mark in OUTCOMES}
    grids = []
    for axis in sorted(axes, key=backend_sort_key):
        squares: Dict[Tuple[str, str], List[Dict[str, str]]] = {}
        for cell in ran:
            framework = _version(cell, axis)
            if not framework:
                continue
            key = outcome(cell, axis)
            label, mark = labels[key]
            squares.setdefault((_version(cell, "keras"), framework), []).append({
                "id": cell["cell_id"], "anchor": "cell-%s" % cell["cell_id"], "outcome": key, "label": label,
                "mark": mark, "status": one_line(cell.get("status"), 40), "device": one_line(cell.get("device"), 10)})
        columns = sorted({f for _, f in squares}, key=version_key)
        if len(columns) < 2:
            continue
        rows = sorted({k for k, _ in squares}, key=version_key)
        grids.append({"axis": axis, "columns": columns,
                      "rows": [{"keras": k, "squares": [squares.get((k, f), []) for f in columns]} for k in rows]})
    return grids
