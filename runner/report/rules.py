"""Rules derived from records: "for all measured pairs where P, Q held", with the cells and the counterexamples.

A candidate rule is a scope P and a claim Q over one record's facts (the Keras, TensorFlow and JAX it
installed, pip check's verdict, each backend's training). Evaluated on a set of records it gives the cells
where P held (the evidence), those among them where Q did not (the counterexamples), and those that cannot
tell (P held but the record has no pip check or no training of that backend). A candidate is stated as a
rule only when some record supports it and none contradicts it; otherwise it is shown as "not a rule"
with its counterexamples, never as a rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from packaging.version import InvalidVersion, Version

from runner.model.records import TrainingStatus
from runner.report.answers import axis_version
from runner.report.fields import Cell
from runner.util.text import one_line


@dataclass(frozen=True)
class Facts:
    """What a rule may read of one record."""

    cell_id: str
    keras: Optional[Version]
    tensorflow: Optional[Version]
    jax: Optional[Version]
    pip_clean: Optional[bool]  # None: pip check did not run (the stack did not install)
    conflict: str
    trained: Dict[str, Optional[bool]]  # backend -> True ok, False failed, None not run (skipped, timeout)

    @property
    def same_minor(self) -> bool:
        return self.keras is not None and self.tensorflow is not None and \
            self.keras.release[:2] == self.tensorflow.release[:2]


def _version(cell: Cell, axis: str) -> Optional[Version]:
    text = axis_version(cell, axis)
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def facts_of(cell: Cell) -> Facts:
    check = cell.get("pip_check") or {}
    code = check.get("exit_code") if isinstance(check, dict) else None
    trained: Dict[str, Optional[bool]] = {}
    for name, training in (cell.get("trainings") or {}).items():
        status = training.get("status")
        trained[name] = True if status == TrainingStatus.OK else (False if status == TrainingStatus.FAILED else None)
    return Facts(cell_id=one_line(cell.get("cell_id"), 128), keras=_version(cell, "keras"),
                 tensorflow=_version(cell, "tensorflow"), jax=_version(cell, "jax"),
                 pip_clean=None if code is None else (code == 0 and not cell.get("conflict")),
                 conflict=one_line(cell.get("conflict"), 200), trained=trained)


def _between(version: Optional[Version], low: str, below: str) -> bool:
    return version is not None and Version(low) <= version < Version(below)


def _at_least(version: Optional[Version], low: str) -> bool:
    return version is not None and version >= Version(low)


# A claim answers True (held), False (a counterexample, with why), or None (this record cannot tell).
Claim = Callable[[Facts], Tuple[Optional[bool], str]]


def _clean_means_same_minor(f: Facts) -> Tuple[Optional[bool], str]:
    return f.same_minor, "pip check clean with Keras %s and TensorFlow %s" % (f.keras, f.tensorflow)


def _same_minor_is_clean(f: Facts) -> Tuple[Optional[bool], str]:
    return f.pip_clean, "pip check: %s" % (f.conflict or "not run")


def _backend_failed(backend: str) -> Claim:
    def claim(f: Facts) -> Tuple[Optional[bool], str]:
        trained = f.trained.get(backend)
        return (None if trained is None else not trained), "%s trained with Keras %s and JAX %s" % (
            backend, f.keras, f.jax)
    return claim


def _backend_trained(backend: str) -> Claim:
    def claim(f: Facts) -> Tuple[Optional[bool], str]:
        trained = f.trained.get(backend)
        return trained, "%s failed with Keras %s and JAX %s" % (backend, f.keras, f.jax)
    return claim


def _conflict_means_failure(f: Facts) -> Tuple[Optional[bool], str]:
    if not f.trained or any(v is None for v in f.trained.values()):
        return None, ""
    return not all(f.trained.values()), "trained despite %s" % (f.conflict or "a pip check conflict")


@dataclass(frozen=True)
class Candidate:
    id: str
    statement: str  # the rule in one sentence, as a README would say it
    where: str      # P, in words
    held: str       # Q, in words
    scope: Callable[[Facts], bool]
    claim: Claim
    shows: str = "tensorflow"  # the library whose measured versions the rule lists (where its bound lies)


CANDIDATES: Tuple[Candidate, ...] = (
    Candidate("keras2-clean-only-same-minor",
              "Keras 2.6-2.15 install cleanly only with the TensorFlow of the same minor",
              "Keras 2.6-2.15 was installed with TensorFlow and pip check was clean",
              "TensorFlow had the same minor as Keras",
              lambda f: _between(f.keras, "2.6", "2.16") and f.tensorflow is not None and f.pip_clean is True,
              _clean_means_same_minor),
    Candidate("keras2-same-minor-clean",
              "Keras 2.6-2.15 install cleanly with the TensorFlow of the same minor",
              "Keras 2.6-2.15 was installed with the TensorFlow of its minor",
              "pip check was clean",
              lambda f: _between(f.keras, "2.6", "2.16") and f.same_minor, _same_minor_is_clean),
    Candidate("jax-0.6.1-breaks-keras-3.0-3.9",
              "JAX >= 0.6.1 breaks Keras 3.0-3.9",
              "Keras 3.0-3.9 was measured with JAX >= 0.6.1",
              "the JAX backend failed to train",
              lambda f: _between(f.keras, "3.0", "3.10") and _at_least(f.jax, "0.6.1"), _backend_failed("jax"), "jax"),
    Candidate("keras-3.0-3.9-train-on-older-jax",
              "Keras 3.0-3.9 train on JAX < 0.6.1",
              "Keras 3.0-3.9 was measured with a JAX older than 0.6.1",
              "the JAX backend trained",
              lambda f: _between(f.keras, "3.0", "3.10") and f.jax is not None and f.jax < Version("0.6.1"),
              _backend_trained("jax"), "jax"),
    Candidate("keras-3.12-needs-jax-0.4.30",
              "Keras 3.12+ needs JAX >= 0.4.30",
              "Keras 3.12 or later was measured with a JAX older than 0.4.30",
              "the JAX backend failed to train",
              lambda f: _at_least(f.keras, "3.12") and f.jax is not None and f.jax < Version("0.4.30"),
              _backend_failed("jax"), "jax"),
    Candidate("keras-3.12-trains-on-jax-0.4.30",
              "Keras 3.12+ train on every JAX >= 0.4.30 measured",
              "Keras 3.12 or later was measured with JAX >= 0.4.30",
              "the JAX backend trained",
              lambda f: _at_least(f.keras, "3.12") and _at_least(f.jax, "0.4.30"), _backend_trained("jax"),
              "jax"),
    Candidate("conflict-means-failure",
              "a pip check conflict means the stack does not train",
              "pip check found a conflict and every backend's training ran",
              "some backend failed to train",
              lambda f: f.pip_clean is False and bool(f.trained), _conflict_means_failure),
)


NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "keras": "Keras"}


@dataclass
class RuleResult:
    candidate: Candidate
    cells: List[str] = field(default_factory=list)  # P and Q held
    counterexamples: List[Tuple[str, str]] = field(default_factory=list)  # P held, Q did not: (cell, why)
    undecided: List[str] = field(default_factory=list)  # P held, the record cannot tell Q
    versions: List[str] = field(default_factory=list)  # the shown library's versions among the decided cells

    @property
    def stated(self) -> bool:
        """A rule only with support and without a single counterexample."""
        return bool(self.cells) and not self.counterexamples

    @property
    def sentence(self) -> str:
        return "For all %d measured pairs where %s, %s." % (len(self.cells) + len(self.counterexamples),
                                                          self.candidate.where, self.candidate.held)

    def to_dict(self) -> Dict[str, object]:
        return {"id": self.candidate.id, "statement": self.candidate.statement, "where": self.candidate.where,
                "held": self.candidate.held, "stated": self.stated, "cells": self.cells,
                "counterexamples": [{"cell_id": c, "why": why} for c, why in self.counterexamples],
                "undecided": self.undecided, "versions": {self.candidate.shows: self.versions}}


def evaluate(cells: Iterable[Cell], candidates: Sequence[Candidate] = CANDIDATES) -> List[RuleResult]:
    """Each candidate over the records (one record per cell id: the first seen)."""
    facts: Dict[str, Facts] = {}
    for cell in cells:
        f = facts_of(cell)
        facts.setdefault(f.cell_id, f)
    results = []
    for candidate in candidates:
        result = RuleResult(candidate)
        shown = set()
        for f in facts.values():
            if not candidate.scope(f):
                continue
            held, why = candidate.claim(f)
            if held is None:
                result.undecided.append(f.cell_id)
                continue
            (result.cells.append(f.cell_id) if held else result.counterexamples.append((f.cell_id, why)))
            version = getattr(f, candidate.shows, None)
            if version is not None:
                shown.add(version)
        result.versions = [str(v) for v in sorted(shown)]
        results.append(result)
    return results


def render_markdown(results: Sequence[RuleResult]) -> str:
    """The rules for the docs: the stated ones with their cells, then the candidates the data refutes."""
    lines = ["## Rules the measured records support", ""]
    for result in (r for r in results if r.stated):
        lines += ["### %s" % result.candidate.statement, "", result.sentence + " Counterexamples: none.", "",
                  "%s measured: %s." % (NAMES.get(result.candidate.shows, result.candidate.shows),
                                        ", ".join(result.versions)), "",
                  "Cells (%d): %s" % (len(result.cells), ", ".join("`%s`" % c for c in result.cells)), ""]
        if result.undecided:
            lines += ["Could not tell (%d): %s" % (len(result.undecided),
                                                   ", ".join("`%s`" % c for c in result.undecided)), ""]
    refuted = [r for r in results if not r.stated]
    if refuted:
        lines += ["## Not rules (the records contradict them, or none supports them)", ""]
    for result in refuted:
        lines += ["### Not a rule: %s" % result.candidate.statement, "",
                  "Where %s, %s in %d of %d measured pairs." % (result.candidate.where, result.candidate.held,
                                                                len(result.cells),
                                                                len(result.cells) + len(result.counterexamples)), ""]
        if result.counterexamples:
            lines.append("Counterexamples (%d):" % len(result.counterexamples))
            lines += ["- `%s`: %s" % (cell, why) for cell, why in result.counterexamples]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
