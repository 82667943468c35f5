"""The cell model of stage 1: what a cell is (Cell, Matrix and the values they carry), the axes, and the
cell's stable id, derived from its content and used everywhere (image tags, container names, records, reports)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from runner.matrix.eras import APT_NAME, Base, Era
from runner.model.records import BACKENDS, SHORT_NAMES
from runner.model.vocabulary import Device, MeasureMode, words
from runner.util.errors import MatrixError
from runner.util.validate import version_text_problem

# Axes of the matrix: Keras itself, then the backend libraries in the order their layers are built
# (heaviest and most shared first, Keras last, so cells that share a framework share its layer).
BACKEND_AXES = BACKENDS
AXES = ("keras",) + BACKEND_AXES
DEVICES = words(Device)
MEASURES = words(MeasureMode)
_SHORT = SHORT_NAMES
_OPS = {"===": "eq", "==": "", "!=": "ne", "~=": "compat", ">=": "ge", "<=": "le", ">": "gt", "<": "lt"}




@dataclass(frozen=True)
class Limits:
    memory: str = "6g"
    cpus: str = "2"
    pids: int = 4096


@dataclass(frozen=True)
class CellExpectation:
    """What the matrix declares a cell does, as pytest's xfail: a cell status and/or backend -> training
    outcome (backends not named: ok), and why. A cell without one is expected to be ok."""

    status: Optional[str] = None
    trainings: Tuple[Tuple[str, str], ...] = ()
    reason: Optional[str] = None

    def to_record(self) -> Dict[str, Any]:
        """The record's `expectation` (runner.model.records.Expectation)."""
        return {"status": self.status, "trainings": dict(self.trainings) or None, "reason": self.reason}


@dataclass(frozen=True)
class RSpec:
    """R on top of a Python 3 cell (matrix key `r`): Debian's R, reticulate and jsonlite, the era's libpython
    (reticulate refuses a Python without its shared library), and R packages to take from CRAN if it answers."""

    apt: Tuple[str, ...]
    cran: Tuple[str, ...] = ()


R_APT = ("r-base-core", "r-cran-reticulate", "r-cran-jsonlite")


def parse_r(raw: Any, era: Era, path: object, line: Optional[int], key: str) -> Optional[RSpec]:
    """The matrix's `r: true` or `r: {cran: [...]}` (schema-checked) for a cell of `era`, or None (absent or
    `r: false`, so an include can switch R off)."""
    if raw is None or raw is False:
        return None
    if not era.python.startswith("3."):
        raise MatrixError("R cells need a Python 3 era (reticulate binds to a Python 3 shared library); era %r "
                          "has Python %s" % (era.name, era.python), path, line, key)
    libpython = "libpython" + era.python
    if not APT_NAME.fullmatch(libpython):
        raise MatrixError("%r (from the era's Python %r) is not a Debian package name" % (libpython, era.python),
                          path, line, key)
    cran = tuple(raw.get("cran") or ()) if isinstance(raw, dict) else ()
    for name in cran:
        if not _R_PACKAGE.fullmatch(str(name)):
            raise MatrixError("%r is not an R package name" % (name,), path, line, key + ".cran")
    return RSpec(apt=R_APT + (libpython,), cran=cran)


_R_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,62}[A-Za-z0-9]$")


@dataclass(frozen=True)
class AsOf:
    """Resolve the cell's requirements as the package index served them at `cutoff` (matrix key `as_of`)."""

    cutoff: str  # UTC, '2018-06-06T23:18:41Z': files uploaded later are not seen
    rule: str  # 'release' (when the cell's Keras release was published) or 'date' (given in the matrix)
    source: str  # where the cutoff came from: 'index 2026-12-03', 'list 2026-12-03' (kept list), 'matrix'

    @property
    def day(self) -> str:
        return self.cutoff[:10]


@dataclass(frozen=True)
class Cell:
    """One stack to build and measure. ``id`` is readable, stable, and derived from the content."""

    id: str
    group: str
    era: Era
    device: str
    base: Base
    keras: Optional[str]  # normalized PEP 440 specifier, e.g. "==2.3.1"
    backends: Tuple[Tuple[str, str], ...]  # (axis, specifier) for each backend library the cell installs
    requirements: Tuple[Tuple[str, str], ...]  # (axis, pip requirement) in layer order; `pip:` extras as ("pip", req)
    epochs: int
    timeout_minutes: int
    limits: Limits
    name: str = ""
    description: str = ""
    expect: Optional[CellExpectation] = None  # None: expected ok
    measure: str = MeasureMode.FULL.value  # one of MEASURES
    scenarios: bool = True  # ask the scenario probes (how Keras chooses); False: the default backend only
    r: Optional[RSpec] = None  # R and reticulate on top (matrix key `r`), None: no R
    extras: Tuple[str, ...] = ()  # the cell's `pip:` list: extra pinned requirements, validated (pip_extras)
    as_of: Optional[AsOf] = None  # release-day resolution (matrix key `as_of`); None: the index as it is now

    @property
    def python(self) -> str:
        return self.era.python

    @property
    def backend_names(self) -> Tuple[str, ...]:
        """KERAS_BACKEND values to train with: one per backend library the cell installs."""
        return tuple(axis for axis, _ in self.backends)

    def versions(self) -> Dict[str, str]:
        """The requested versions, axis -> specifier (absent axes omitted)."""
        out = {"keras": self.keras} if self.keras else {}
        out.update(dict(self.backends))
        return out

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["python"] = self.python
        data["versions"] = self.versions()
        return data


@dataclass
class Matrix:
    path: Path
    cells: List[Cell]
    profiles: Dict[str, List[str]] = field(default_factory=dict)
    groups: List[str] = field(default_factory=list)
    expansions: List[Dict[str, Any]] = field(default_factory=list)  # release ranges and what they became


# --------------------------------------------------------------------------------------------------
# Values


# What a normalized specifier may hold: it becomes part of cell ids, image tags, paths and Dockerfile text.
_SAFE_SPEC = re.compile(r"[0-9a-z.*+!,<>=~_-]+")


def normalize_version(value: Any, path: object, line: Optional[int], key: Optional[str]) -> Optional[str]:
    """A version axis value -> a normalized specifier string ('==2.3.1', '<2.4,>=2.3'), or None.

    Every version inside is PEP 440-normalized (lowercase: '>=2.0RC1' -> '>=2.0rc1'), so the cell id is the
    same however the matrix spells it; '===' and over-long numbers are refused (runner.util.validate)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MatrixError("expected a version string or null, got %s" % type(value).__name__, path, line, key)
    text = value if isinstance(value, str) else "%d" % value if abs(value) < 10 ** 30 else "9" * 31
    if text == "" or text != text.strip():
        raise MatrixError("empty or padded version %r; write e.g. '2.3.1' or '>=2.3,<2.4'" % text, path, line, key)
    problem = version_text_problem(text)
    if problem:
        raise MatrixError("%r is refused: %s" % (text[:80], problem), path, line, key)
    try:
        return "==" + str(Version(text))
    except InvalidVersion:
        pass
    try:
        spec = SpecifierSet(text)
        parts = []
        for item in spec:
            version = item.version
            wildcard = version.endswith(".*")
            normalized = str(Version(version[:-2] if wildcard else version)) + (".*" if wildcard else "")
            parts.append(item.operator + normalized)
        normal = str(SpecifierSet(",".join(parts))) if parts else ""
    except (InvalidSpecifier, InvalidVersion):
        normal = ""
    if not normal or not _SAFE_SPEC.fullmatch(normal):
        raise MatrixError(
            "%r is not a PEP 440 version or specifier; write e.g. '2.3.1' or '>=2.3,<2.4'" % text, path, line, key
        )
    return normal


def version_slug(spec: str) -> str:
    """'==2.3.1' -> '2.3.1'; '<2.4,>=2.3' -> 'ge2.3-lt2.4' (safe in image tags and file names)."""
    parts = []
    def order(item: Any) -> Tuple[Version, str]:  # lower bounds before upper bounds: 'ge2.3-lt2.4' reads naturally
        try:
            return (Version(item.version.replace(".*", "")), item.operator)
        except InvalidVersion:
            return (Version("0"), item.operator + item.version)

    for item in sorted(SpecifierSet(spec), key=order):
        parts.append(_OPS[item.operator] + item.version.replace("*", "x").replace("+", "_").replace("!", "e"))
    return "-".join(parts)


def cell_id(keras: Optional[str], backends: Tuple[Tuple[str, str], ...], python: str, device: str,
            r: bool = False, as_of_day: Optional[str] = None) -> str:
    """'keras3.15.1-tf2.21.0-py311-cpu'; resolved as of a day: '...-cpu-asof20180606'; an R cell ends in '-r'."""
    parts = []
    for axis, spec in (("keras", keras),) + tuple(backends):
        if spec:
            parts.append(_SHORT[axis] + version_slug(spec))
    if not keras:
        parts.insert(0, "nokeras")
    parts.append("py" + python.replace(".", ""))
    parts.append(device)
    if as_of_day:
        parts.append("asof" + as_of_day.replace("-", ""))
    suffix = "-r" if r else ""
    return "-".join(parts)[:128 - len(suffix)] + suffix



def cells_matching(cells: List[Cell], pattern: str) -> List[Cell]:
    """Cells whose id matches the glob, or whose group or name is the pattern (--cell, profiles)."""
    return [c for c in cells if fnmatch.fnmatchcase(c.id, pattern) or c.group == pattern or c.name == pattern]
