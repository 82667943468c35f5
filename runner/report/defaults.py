"""The default Keras backend by release, in a few rows: what `keras.backend.backend()` answered in a fresh
container (clean HOME, no KERAS_BACKEND, no keras.json), releases with the same answers grouped, and the
releases where the answer changes marked. Computed from the records only (`report --format defaults`);
README's answer table is this output, kept equal to it by a test."""

from __future__ import annotations

from typing import Dict, List, Set, Tuple

from tabulate import tabulate

from runner.report.fields import Cell, Doc, combo_label, default_of, error_text, keras_version, version_key
from runner.report.precedence import constant_backend, scenarios_of
from runner.report.table import md_text

ERROR_LIMIT = 70


def _answer(cell: Cell) -> Tuple[str, Set[str]]:
    """What the default probe said, in words, and the backend it named (none when Keras raised or the
    cell never got that far, e.g. a stack that did not install)."""
    backend, error = default_of(cell)
    if backend:
        text = str(backend)
        if constant_backend(scenarios_of(cell)):
            text += " (no choice: KERAS_BACKEND ignored)"
        return text, {str(backend)}
    if error:
        return "raised %s" % error_text(error, ERROR_LIMIT), set()
    return "no answer: %s" % cell.get("status"), set()


def answers_by_release(doc: Doc) -> List[Tuple[str, str, Set[str], List[str]]]:
    """(release, its answers joined, backends named, the cells behind them), releases in version order. A
    release measured with several stacks (Keras 0.x with two Theanos) lists each distinct answer."""
    found: Dict[str, Tuple[Dict[str, Set[str]], Set[str], List[str]]] = {}
    for cell in doc.get("cells") or []:
        release = keras_version(cell)
        if not release:
            continue
        answer, backends = _answer(cell)
        answers, named, cells = found.setdefault(release, ({}, set(), []))
        answers.setdefault(answer, set()).add(combo_label(cell))
        named.update(backends)
        cells.append(str(cell.get("cell_id")))
    out = []
    for release in sorted(found, key=version_key):
        answers, named, cells = found[release]
        if len(answers) == 1:
            text = next(iter(answers))
        else:  # which stack gave which answer
            text = "; ".join("%s (with %s)" % (answer, ", ".join(sorted(combos)))
                             for answer, combos in sorted(answers.items()))
        out.append((release, text, named, cells))
    return out


DefaultRow = Tuple[str, str, str, Set[str], int]  # first release, last release, answer, backends, cells


def default_rows(doc: Doc) -> List[DefaultRow]:
    """One row for each run of consecutive releases that gave the same answers."""
    rows: List[DefaultRow] = []
    for release, answer, backends, cells in answers_by_release(doc):
        if rows and rows[-1][2] == answer:
            first, _, _, named, count = rows[-1]
            rows[-1] = (first, release, answer, named, count + len(cells))
        else:
            rows.append((release, release, answer, set(backends), len(cells)))
    return rows


def defaults_markdown(doc: Doc) -> str:
    """The rows as a Markdown table. A release where a default backend first appears (after the first
    one measured) is in bold: where the answer to "which backend by default" changed."""
    rows = default_rows(doc)
    if not rows:
        return "No cell of these results recorded a default backend.\n"
    seen: Set[str] = set()
    table = []
    for first, last, answer, backends, count in rows:
        new = bool(seen) and bool(backends - seen)
        seen |= backends
        releases = first if first == last else "%s - %s" % (first, last)
        table.append([("**%s**" % releases) if new else releases, md_text(answer, 200), str(count)])
    return tabulate(table, headers=["Keras", "default backend (Linux, fresh HOME)", "cells"], tablefmt="github",
                    disable_numparse=True) + "\n"
