"""Cells whose installed set is broken, whatever Keras said afterwards: `pip check` named a violated
requirement, or two distributions wrote the same import package (keras and keras-nightly both writing
keras/). A conflict is reported as a conflict, apart from "Keras raised while choosing a backend".

Pure functions of a results document; every item names its cell.
"""

from __future__ import annotations

from typing import Any, Dict, List, TypedDict

from runner.model.outcomes import conflict_text
from runner.model.records import PipCheck, Status
from runner.report.fields import Cell, Doc, cell_label
from runner.util.text import one_line

PROBLEM_LIMIT = 200


class Conflict(TypedDict):
    cell_id: str
    label: str
    shared_packages: Dict[str, List[str]]  # package -> the distributions that wrote into it
    pip_problems: List[str]
    status: str  # what the cell did with that set: a conflict does not always stop a stack


def shared_packages(cell: Cell) -> Dict[str, List[str]]:
    found = cell.get("shared_packages")
    if not isinstance(found, dict):
        return {}
    return {one_line(package, 100): [one_line(d, 100) for d in owners if isinstance(d, str)]
            for package, owners in sorted(found.items()) if isinstance(owners, list) and len(owners) > 1}


def pip_problems(cell: Cell) -> List[str]:
    check: Any = cell.get("pip_check")
    problems = check.get("problems") if isinstance(check, dict) else None
    if not isinstance(problems, list):
        return []
    return [one_line(p, PROBLEM_LIMIT) for p in problems if isinstance(p, str) and p.strip()]


def conflicts(doc: Doc) -> List[Conflict]:
    """The cells with pip-check problems or shared packages, in the document's order."""
    found = []
    for cell in doc.get("cells") or []:
        shared, problems = shared_packages(cell), pip_problems(cell)
        if (shared or problems) and isinstance(cell.get("cell_id"), str):
            found.append(Conflict(cell_id=cell["cell_id"], label=cell_label(cell), shared_packages=shared,
                                  pip_problems=problems, status=one_line(cell.get("status"), 40)))
    return found


def conflict_sentence(item: Conflict) -> str:
    """'<cell>: keras 2.4.3 and keras-nightly 2.5.0 both install keras/; pip check: tensorflow 2.5.3 requires
    ...' in the runner's own words (runner.model.outcomes.conflict_text, the cell's reason when it failed)."""
    text = conflict_text(PipCheck(exit_code=None, problems=item["pip_problems"]), item["shared_packages"])
    after = " (it imported and trained all the same)" if item.get("status") == Status.OK else ""
    return "%s: %s%s" % (item["label"], text or "", after)
