"""Merge results documents (CI shards, or reruns) into one run. A report of the merge is the same as a
report of one run holding the same cells."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from runner.model.records import KIND, SCHEMA_VERSION, now_iso
from runner.util.errors import ResultsError

Doc = Dict[str, Any]


def _matrix_hash(doc: Doc) -> Optional[str]:
    matrix = doc.get("matrix")
    value = matrix.get("sha256") if isinstance(matrix, dict) else None
    return value if isinstance(value, str) else None


def _selected(docs: Sequence[Doc]) -> List[str]:
    """Every cell the merged runs selected, once each, in the order the runs list them."""
    seen: Dict[str, None] = {}
    for doc in docs:
        matrix = doc.get("matrix")
        for cell_id in (matrix.get("cells_selected") if isinstance(matrix, dict) else None) or \
                [record["cell_id"] for record in doc["cells"]]:
            seen.setdefault(str(cell_id), None)
    return list(seen)


def merge_results(docs: Sequence[Doc], expected_cells: Optional[Sequence[str]] = None,
                  allow_duplicates: bool = False, allow_mixed_matrices: bool = False) -> Doc:
    """One document with every cell of `docs`, in order. Duplicate cell ids are an error (a shard ran
    twice, or two shards overlap) unless allow_duplicates, when the last one wins. Shards of different
    matrix files (their recorded sha256 differ) are an error unless allow_mixed_matrices. With
    expected_cells (e.g. the plan of the matrix), a missing cell is an error naming it."""
    if not docs:
        raise ResultsError("nothing to merge")
    hashes: Dict[Optional[str], str] = {}
    for doc in docs:
        hashes.setdefault(_matrix_hash(doc), doc["run_id"])
    if len(hashes) > 1 and not allow_mixed_matrices:
        raise ResultsError("the results come from different matrix files (%s); merge shards of one matrix, or "
                           "pass --allow-mixed-matrices" % "; ".join(
                               "run %s: sha256 %s" % (run, (digest or "none")[:12]) for digest, run in hashes.items()))
    cells: Dict[str, Any] = {}
    origin: Dict[str, str] = {}
    duplicates: List[str] = []
    for doc in docs:
        for record in doc["cells"]:
            cell_id = record["cell_id"]
            if cell_id in cells:
                duplicates.append("%s (runs %s and %s)" % (cell_id, origin[cell_id], doc["run_id"]))
            cells[cell_id] = record
            origin[cell_id] = doc["run_id"]
    if duplicates and not allow_duplicates:
        raise ResultsError("the same cell is in more than one results file: %s" % "; ".join(duplicates[:5]))
    if expected_cells is not None:
        missing = [c for c in expected_cells if c not in cells]
        if missing:
            raise ResultsError("%d expected cells have no result: %s%s" % (
                len(missing), ", ".join(missing[:5]), " ..." if len(missing) > 5 else ""))
    ordered = list(cells.values())
    if expected_cells is not None:  # matrix order, so a merged report reads like an unsharded one
        rank = {cell_id: index for index, cell_id in enumerate(expected_cells)}
        ordered.sort(key=lambda record: rank.get(record["cell_id"], len(rank)))
    first = docs[0]
    merged = {
        "schema_version": SCHEMA_VERSION, "kind": KIND,
        "run_id": "+".join(sorted({d["run_id"] for d in docs})) if len(docs) > 1 else first["run_id"],
        "started_at": min((d.get("started_at") or "") for d in docs) or None,
        "finished_at": max((d.get("finished_at") or "") for d in docs) or now_iso(),
        "complete": all(d.get("complete") for d in docs),
        # the selection of the whole run: what the caller expected, else every shard's selection in turn
        "matrix": dict(first.get("matrix") or {}, cells_selected=list(expected_cells) if expected_cells is not None
                       else _selected(docs)),
        "settings": first.get("settings", {}),
        "provenance": dict(first["provenance"], merged_from=[
            {"run_id": d["run_id"], "git_sha": d["provenance"].get("git_sha"),
             "host": d["provenance"].get("host"), "cells": len(d["cells"])} for d in docs]),
        "cells": ordered,
    }
    return merged
