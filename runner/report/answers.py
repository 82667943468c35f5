"""Answers from published results: "does Keras X work with framework Y?", read from the records.

A question is a list of pins (``keras==2.8 tensorflow==2.10``), each validated with packaging before use.
A pin ``==2.8`` means what a user means, the 2.8 line (``==2.8.*``); ``==2.8.0`` means that release only.
A record answers a question when every pinned library was asked for by the cell (its ``versions``) and
the version it installed (its ``installed`` set, else the one asked for) is admitted by the pin. Several
results documents are read together (the matrix, every release, the cross products, the bisects); each
answer names the document, the cell and the report page that holds the cell's evidence.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from runner.model.records import BACKENDS, Status, TrainingStatus, backend_sort_key
from runner.report.fields import Cell, default_of, error_text, ok_steady, spec_version, version_key
from runner.util.errors import UsageError
from runner.util.text import one_line

AXES = ("keras",) + BACKENDS
# What a user may type for an axis: its pip distributions and common short names.
ALIASES: Dict[str, str] = {"tf": "tensorflow", "tensorflow-cpu": "tensorflow", "tensorflow-gpu": "tensorflow",
                           "tf-nightly": "tensorflow", "cntk-gpu": "cntk", "pytorch": "torch"}
# The distributions that install an axis's library, as pip names them in the installed set.
DISTRIBUTIONS: Dict[str, Tuple[str, ...]] = {
    "keras": ("keras",), "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"),
    "theano": ("theano",), "cntk": ("cntk", "cntk-gpu"), "jax": ("jax",), "torch": ("torch",),
    "numpy": ("numpy",), "openvino": ("openvino",)}
# The published results, in the order answers cite them when two agree (deepest measure first anyway).
PUBLISHED = ("reports/results.json", "reports/cross-products/results.json", "reports/every-release/results.json",
             "reports/bisect-keras-1.0.0-1.2.2/results.json")
# Release-day records (as_of) answer another question, "did it work the day it came out?": `ask` reads them and
# answers them apart from today's installs; the site's tables and rules read today's installs only.
PUBLISHED_RELEASE_DAY = ("reports/as-released/results.json",)
MEASURE_DEPTH = {"full": 0, "smoke": 1, "probe": 2}


def _dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One library of the question and the versions it admits."""

    axis: str
    given: str  # as typed
    specifier: SpecifierSet

    def admits(self, version: Optional[str]) -> bool:
        if version is None:
            return False
        try:
            return self.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            return False

    @property
    def text(self) -> str:
        return "%s%s" % (self.axis, self.specifier)


def _as_line(item: Specifier) -> Specifier:
    """'==2.8' -> '==2.8.*' (a release line as a user means it); a full release or any other operator stays."""
    if item.operator not in ("==", "!=") or item.version.endswith(".*"):
        return item
    version = Version(item.version)
    if len(version.release) >= 3 or version.pre or version.post or version.dev or version.local:
        return item
    return Specifier("%s%s.*" % (item.operator, ".".join(str(p) for p in version.release)))


def parse_pin(text: str) -> Pin:
    """'keras==2.8' -> Pin; UsageError (one line, exit 2) for anything else."""
    stripped = text.strip()
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*=[^=<>!~].*", stripped):
        raise UsageError("pin %r: write %s (two '=')" % (text, stripped.replace("=", "==", 1)))
    try:
        requirement = Requirement(stripped)
    except InvalidRequirement as exc:
        raise UsageError("pin %r is not a requirement like keras==2.8 or 'tensorflow>=2.10,<2.12': %s"
                         % (text, one_line(str(exc), 160))) from None
    name = _dist(requirement.name)
    axis = ALIASES.get(name, name)
    if axis not in AXES:
        raise UsageError("pin %r: %r is not a library the matrix measures (one of: %s)"
                         % (text, requirement.name, ", ".join(AXES)))
    if requirement.extras or requirement.marker or requirement.url:
        raise UsageError("pin %r: give a name and versions only (no extras, markers or URLs)" % text)
    if not str(requirement.specifier):
        raise UsageError("pin %r names no version; write e.g. %s==2.8" % (text, axis))
    return Pin(axis, text, SpecifierSet(",".join(str(_as_line(s)) for s in requirement.specifier)))


def parse_pins(texts: Sequence[str]) -> List[Pin]:
    pins = [parse_pin(text) for text in texts]
    seen = [p.axis for p in pins]
    twice = sorted({a for a in seen if seen.count(a) > 1})
    if twice:
        raise UsageError("%s pinned twice; give each library once (a range is one pin: 'keras>=2.8,<2.10')"
                         % ", ".join(twice))
    if not pins:
        raise UsageError("give at least one pin, e.g. keras==2.8 tensorflow==2.10")
    return pins


# ---- the records --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One results document: its path, its name in answers, and the report page beside it (when there)."""

    path: Path
    name: str
    doc: Mapping[str, Any]

    @property
    def page(self) -> Optional[Path]:
        page = self.path.parent / "index.html"
        return page if page.is_file() else None


def axis_version(cell: Cell, axis: str) -> Optional[str]:
    """The version of an axis's library the cell installed, else the one it asked for; None when not asked."""
    requested = (cell.get("versions") or {}).get(axis)
    if requested is None:
        return None
    installed = {_dist(str(k)): v for k, v in (cell.get("installed") or {}).items()}
    for dist in DISTRIBUTIONS.get(axis, (axis,)):
        if installed.get(dist):
            return str(installed[dist])
    return spec_version(str(requested))


def matches(cell: Cell, pins: Sequence[Pin]) -> bool:
    return all(pin.admits(axis_version(cell, pin.axis)) for pin in pins)


class Verdict(str, enum.Enum):
    WORKS = "works"
    PARTLY = "works partly"
    IMPORTS = "imports (not trained)"
    FAILS = "does not work"
    UNKNOWN = "not measured to the end"

    def __str__(self) -> str:
        return str(self.value)


FAILED = {Status.IMPORT_FAILED, Status.TRAIN_FAILED, Status.UNSATISFIABLE, Status.BUILD_FAILED}


@dataclass
class Answer:
    """One record's answer to the question."""

    source: Source
    cell: Cell
    verdict: Verdict
    versions: Dict[str, Optional[str]]
    timings: Dict[str, Optional[float]] = field(default_factory=dict)

    @property
    def cell_id(self) -> str:
        return str(self.cell.get("cell_id"))

    @property
    def as_of(self) -> Optional[str]:
        """The release-day cutoff's date ('2018-07-01') when the record resolved its stack as of a day."""
        as_of = self.cell.get("as_of")
        cutoff = as_of.get("cutoff") if isinstance(as_of, dict) else None
        return str(cutoff)[:10] if cutoff else None

    @property
    def link(self) -> Optional[str]:
        page = self.source.page
        return "%s#cell-%s" % (page, self.cell_id) if page is not None else None

    def to_dict(self) -> Dict[str, Any]:
        backend, error = default_of(self.cell)
        return {"verdict": self.verdict.value, "cell_id": self.cell_id, "source": self.source.name,
                "results": str(self.source.path), "link": self.link, "status": self.cell.get("status"),
                "reason": self.cell.get("reason"), "measure": self.cell.get("measure"),
                "python": self.cell.get("python"), "device": self.cell.get("device"), "versions": self.versions,
                "default_backend": backend, "default_error": error_text(error) or None,
                "conflict": self.cell.get("conflict"), "timings": self.timings, "as_of": self.as_of}


def load_sources(paths: Sequence[Path]) -> List[Source]:
    """Read each results document (ResultsError, exit 5, for one that is not); a run directory is its
    results.json. Named by their folder ('cross-products'), or the file name for a loose file."""
    from runner.results.store import load_results

    sources = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            path = path / "results.json"
        doc = load_results(path)
        name = path.parent.name if path.name == "results.json" and path.parent.name else path.name
        if name == "reports":  # the published matrix run sits at the top of reports/: name it by its matrix
            name = Path(str((doc.get("matrix") or {}).get("path") or "matrix")).stem
        sources.append(Source(path, one_line(name, 60) or str(path), doc))
    return sources


def published_paths(root: Optional[Path], release_day: bool = False) -> List[Path]:
    """The published results documents under root (the source checkout, else the working directory); with
    release_day, the release-day sweep's too."""
    base = root if root is not None else Path(".")
    names = PUBLISHED + (PUBLISHED_RELEASE_DAY if release_day else ())
    return [base / p for p in names if (base / p).is_file()]


def verdict_of(cell: Cell, pins: Sequence[Pin]) -> Verdict:
    """What the record says of the pinned backends (every backend it trained when only Keras is pinned)."""
    try:
        status = Status(cell.get("status"))
    except ValueError:
        return Verdict.UNKNOWN
    if status in FAILED:
        return Verdict.FAILS
    if status not in (Status.OK, Status.PARTIAL):
        return Verdict.UNKNOWN
    trainings = cell.get("trainings") or {}
    pinned = [p.axis for p in pins if p.axis != "keras" and p.axis in trainings]
    relevant = [trainings[name] for name in (pinned or list(trainings))]
    if not relevant:
        return Verdict.IMPORTS
    ok = sum(1 for t in relevant if t.get("status") == TrainingStatus.OK)
    return Verdict.WORKS if ok == len(relevant) else (Verdict.FAILS if ok == 0 else Verdict.PARTLY)


def answers(sources: Sequence[Source], pins: Sequence[Pin]) -> List[Answer]:
    """Every record of every source that answers the question, deepest measure and newest versions first."""
    found = []
    for source in sources:
        for cell in source.doc.get("cells") or []:
            if not matches(cell, pins):
                continue
            names = sorted((k for k in cell.get("versions") or {}), key=lambda n: (n != "keras", backend_sort_key(n)))
            trainings = cell.get("trainings") or {}
            timings = {name: ok_steady(trainings[name]) for name in sorted(trainings, key=backend_sort_key)}
            found.append(Answer(source, cell, verdict_of(cell, pins), {n: axis_version(cell, n) for n in names},
                                timings))
    found.sort(key=lambda a: a.cell_id)
    found.sort(key=lambda a: tuple(version_key(v) for v in a.versions.values()), reverse=True)  # newest first
    found.sort(key=lambda a: (a.verdict is Verdict.UNKNOWN,  # conclusive records, the deepest measure, first
                              MEASURE_DEPTH.get(str(a.cell.get("measure")), len(MEASURE_DEPTH))))
    return found


def today(found: Sequence[Answer]) -> List[Answer]:
    """The records of stacks resolved against today's index (not as of a past day)."""
    return [a for a in found if a.as_of is None]


def as_released(found: Sequence[Answer]) -> List[Answer]:
    """The records of stacks resolved as of the day their Keras release was published (or a given day)."""
    return [a for a in found if a.as_of is not None]


def overall(found: Sequence[Answer]) -> str:
    """The headline: one verdict when the records agree, else how many stacks worked."""
    if not found:
        return "not measured"
    conclusive = [a for a in found if a.verdict is not Verdict.UNKNOWN]
    verdicts = {a.verdict for a in conclusive} or {Verdict.UNKNOWN}
    if verdicts == {Verdict.WORKS, Verdict.IMPORTS}:  # a probe that imported agrees with a training that worked
        verdicts = {Verdict.WORKS}
    if len(verdicts) == 1:
        return str(verdicts.pop())
    working = sum(1 for a in conclusive if a.verdict in (Verdict.WORKS, Verdict.IMPORTS))
    return "depends on the stack: works in %d of %d measured stacks" % (working, len(conclusive))


def neighbours(sources: Sequence[Source], pins: Sequence[Pin]) -> Dict[str, List[str]]:
    """For an unmeasured question: for each pin, the versions of its library measured while the other pins
    held ('tensorflow' -> ['2.6.5', ...] measured with keras==2.8)."""
    out: Dict[str, List[str]] = {}
    if len(pins) < 2:
        return out
    for pin in pins:
        others = [p for p in pins if p is not pin]
        versions = {axis_version(c, pin.axis) for s in sources for c in s.doc.get("cells") or []
                    if matches(c, others)}
        out[pin.axis] = sorted((v for v in versions if v), key=version_key)
    return out
