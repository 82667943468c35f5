"""Stage 1: load the matrix file, validate every value, and expand it into cells.

The matrix file (``matrix.yaml``) names version axes; the era data (``dockerfiles/eras.yaml``, which a
matrix may extend or override) says how a stack of each era is installed. Every value that will reach a
Dockerfile or a shell is validated here, with ``file:line: key: reason`` errors (exit code 2).

Era and base data live in runner/eras.py and choosing cells in runner/selection.py. What stays here is
longer than our usual module on purpose: the cell model, the axis and include/exclude expansion, the
expectations and release ranges a cell carries, and loading are one stage, and each error must name the
file, line and key it came from, which is easiest to keep right in one place.
"""

import fnmatch
import hashlib
import itertools
import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import jsonschema
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from runner import paths
from runner.eras import APT_NAME, Base, Era, parse_bases, parse_eras, requirement
from runner.errors import MatrixError
from runner.fileio import FileProblem, read_capped
from runner.records import BACKEND_SINCE_KERAS, BACKENDS, SHORT_NAMES
from runner.releases import RangeError, Resolver
from runner.statuses import ANY_OUTCOME
from runner.validate import check_single_line, check_template_inputs, parse_limits
from runner.yamlload import LineDict, LineList, load_yaml

ERAS_FILE = paths.eras_file()
SCHEMA_FILE = paths.resources_dir() / "matrix.schema.json"

# Axes of the matrix: Keras itself, then the backend libraries in the order their layers are built
# (heaviest and most shared first, Keras last, so cells that share a framework share its layer).
BACKEND_AXES = BACKENDS
AXES = ("keras",) + BACKEND_AXES
DEVICES = ("cpu", "gpu")
MEASURES = ("full", "smoke", "probe")  # probe: no training; smoke: a few batches; full: the MNIST training
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
        """The record's `expectation` (runner.records.Expectation)."""
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
    measure: str = "full"  # one of MEASURES
    scenarios: bool = True  # ask the scenario probes (how Keras chooses); False: the default backend only
    r: Optional[RSpec] = None  # R and reticulate on top (matrix key `r`), None: no R
    extras: Tuple[str, ...] = ()  # the cell's `pip:` list: extra pinned requirements, validated (pip_extras)

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


def normalize_version(value: Any, path: object, line: Optional[int], key: Optional[str]) -> Optional[str]:
    """A version axis value -> a normalized specifier string ('==2.3.1', '<2.4,>=2.3'), or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise MatrixError("expected a version string or null, got %s" % type(value).__name__, path, line, key)
    text = str(value)
    if text == "" or text != text.strip():
        raise MatrixError("empty or padded version %r; write e.g. '2.3.1' or '>=2.3,<2.4'" % text, path, line, key)
    try:
        return "==" + str(Version(text))
    except InvalidVersion:
        pass
    try:
        spec = SpecifierSet(text)
    except InvalidSpecifier:
        spec = None
    if not spec or not str(spec):
        raise MatrixError(
            "%r is not a PEP 440 version or specifier; write e.g. '2.3.1' or '>=2.3,<2.4'" % text, path, line, key
        )
    return str(spec)


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
            r: bool = False) -> str:
    """'keras3.15.1-tf2.21.0-py311-cpu'; an R cell ends in '-r'."""
    parts = []
    for axis, spec in (("keras", keras),) + tuple(backends):
        if spec:
            parts.append(_SHORT[axis] + version_slug(spec))
    if not keras:
        parts.insert(0, "nokeras")
    parts.append("py" + python.replace(".", ""))
    parts.append(device)
    suffix = "-r" if r else ""
    return "-".join(parts)[:128 - len(suffix)] + suffix


# --------------------------------------------------------------------------------------------------
# Schema


def _schema() -> Any:
    return json.loads(SCHEMA_FILE.read_text())


def _line_at(doc: Any, path_parts: List[Any]) -> Optional[int]:
    node, line = doc, getattr(doc, "line", None)
    for part in path_parts:
        if isinstance(node, (LineDict, LineList)) and (
            (isinstance(node, LineDict) and part in node) or (isinstance(node, LineList) and isinstance(part, int))
        ):
            line = node.line_of(part)
            node = node[part]
        else:
            break
    return line


def _key_name(path_parts: List[Any]) -> Optional[str]:
    out = ""
    for part in path_parts:
        out += "[%d]" % part if isinstance(part, int) else ("." if out else "") + str(part)
    return out or None


def validate_schema(doc: Any, path: object) -> None:
    """Structural validation against the JSON Schema, reported as one clear line."""
    if not isinstance(doc, dict):
        raise MatrixError("the file must be a YAML mapping with at least 'version: 1'", path,
                          getattr(doc, "line", None))
    validator = jsonschema.Draft202012Validator(_schema())
    errors = list(validator.iter_errors(doc))
    if not errors:
        return
    error = min(errors, key=lambda e: (len(list(e.absolute_path)), str(e.message)))
    error = jsonschema.exceptions.best_match([error])
    parts = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        if unknown:
            parts.append(unknown[0])
            raise MatrixError(
                "unknown key %r; valid keys here: %s" % (unknown[0], ", ".join(allowed)),
                path, _line_at(doc, parts), _key_name(parts),
            )
    if error.validator == "oneOf":
        message = "invalid value %r (%s)" % (error.instance, error.schema.get("description", "see the schema")) \
            if not isinstance(error.instance, (dict, list)) else "invalid value: %s" % error.message
        if "description" not in error.schema and parts and parts[-1] in AXES:
            message = "invalid value %r: expected a version string, null, a list of them, or {releases: RANGE}" \
                % (error.instance,)
    else:
        message = error.message
    raise MatrixError(message, path, _line_at(doc, parts), _key_name(parts))


# --------------------------------------------------------------------------------------------------
# Bases and eras


# --------------------------------------------------------------------------------------------------
# Expansion


def _as_list(value: Any) -> List[Any]:
    return list(value) if isinstance(value, list) else [value]


def _normalize_combo(combo: Any, path: object, line: Optional[int], key: str) -> Dict[str, Any]:
    out = {}
    for k, v in combo.items():
        out[k] = normalize_version(v, path, line, "%s.%s" % (key, k)) if k in AXES else v
    return out


MAX_CELLS = 100000


def expand_group(group: Any, path: object, budget: int = MAX_CELLS,
                 resolver: Optional[Resolver] = None) -> List[Tuple[Dict[str, Any], Optional[int]]]:
    """GitHub Actions semantics: product of the axes, minus exclude, plus include."""
    matrix = group["matrix"]
    key = "groups[%s].matrix" % group["name"]
    axes = []
    for axis, values in matrix.items():
        if axis in ("include", "exclude"):
            continue
        values = _expand_releases(axis, values, resolver, path, matrix.line_of(axis), key, group["name"])
        values_list = values if isinstance(values, LineList) else LineList([values])
        normalized = []
        for index, value in enumerate(_as_list(values)):
            line = values_list.line_of(index) if isinstance(values, LineList) else matrix.line_of(axis)
            normalized.append(normalize_version(value, path, line, "%s.%s" % (key, axis)) if axis in AXES else value)
        axes.append((axis, normalized, matrix.line_of(axis)))
    excludes = matrix.get("exclude") or LineList()
    includes = matrix.get("include") or LineList()
    size = math.prod(len(a[1]) for a in axes) if axes else 0
    if size + len(includes) > budget or size * (len(excludes) + len(includes)) > 50 * budget:
        raise MatrixError("this group expands to %d cells (with %d include and %d exclude entries); the limit is "
                          "%d cells in a matrix: split it or narrow the axes" % (size, len(includes), len(excludes),
                                                                                 budget), path, matrix.line, key)
    combos = []
    if axes:
        for values in itertools.product(*[a[1] for a in axes]):
            combos.append((dict(zip([a[0] for a in axes], values)), matrix.line))
    original_keys = {a[0] for a in axes}

    for index, entry in enumerate(excludes):
        entry = _normalize_combo(entry, path, excludes.line_of(index), "%s.exclude[%d]" % (key, index))
        unknown = set(entry) - original_keys
        if unknown:
            raise MatrixError("exclude names %s, which is not an axis of this matrix" % ", ".join(sorted(unknown)),
                              path, excludes.line_of(index), "%s.exclude[%d]" % (key, index))
        combos = [(c, ln) for c, ln in combos if not all(c.get(k) == v for k, v in entry.items())]

    for index, entry in enumerate(includes):
        line = includes.line_of(index)
        entry = _normalize_combo(entry, path, line, "%s.include[%d]" % (key, index))
        matched = False
        for combo, _ in combos:
            if all(combo[k] == v for k, v in entry.items() if k in original_keys and k in combo):
                # Original values are never overwritten; added keys may be.
                combo.update({k: v for k, v in entry.items() if k not in original_keys})
                matched = True
        if not matched:
            combos.append((dict(entry), line))
    return combos


def _make_cell(combo: Dict[str, Any], group: str, name: str, description: Optional[str], path: object,
               line: Optional[int], eras: Dict[str, Any], bases: Dict[str, Base], defaults: Dict[str, Any]) -> Cell:
    key = "cell %s" % name if name else "groups[%s]" % group
    device = combo.get("device", "cpu")
    era_name = combo.get("era")
    if not era_name:
        raise MatrixError("no era for this cell; set 'era' (one of: %s)" % ", ".join(sorted(eras)), path, line, key)
    if era_name not in eras:
        raise MatrixError("unknown era %r; known eras: %s" % (era_name, ", ".join(sorted(eras))), path, line,
                          key + ".era")
    era, era_path, era_line = eras[era_name][device]
    if era.base not in bases:
        raise MatrixError("era %r names unknown base %r; known bases: %s"
                          % (era_name, era.base, ", ".join(sorted(bases))), era_path, era_line,
                          "eras.%s.base" % era_name)
    packages = dict(era.packages)
    keras = combo.get("keras")
    backends = []
    for axis in AXES:
        spec = combo.get(axis)
        if spec is None:
            continue
        if axis not in packages:
            raise MatrixError("era %r has no package for %r (it has: %s)"
                              % (era_name, axis, ", ".join(sorted(packages))), path, line, key + "." + axis)
        if axis != "keras":
            backends.append((axis, spec))
    check_backend_keras(keras, backends, path, line, key)
    extras = pip_extras(combo.get("pip"), packages, path, line, key + ".pip")
    requirements = layer_requirements(packages, tuple(backends), keras, extras)
    limits = defaults["limits"]
    r = parse_r(combo.get("r"), era, path, line, key + ".r")
    return Cell(
        id=cell_id(keras, tuple(backends), era.python, device, r is not None),
        group=group,
        name=name or "",
        description=description or "",
        era=era,
        device=device,
        base=bases[era.base],
        keras=keras,
        backends=tuple(backends),
        requirements=tuple(requirements),
        epochs=combo.get("epochs", defaults["epochs"]),
        measure=combo.get("measure", defaults["measure"]),
        scenarios=combo.get("scenarios", defaults["scenarios"]),
        timeout_minutes=combo.get("timeout_minutes", defaults["timeout_minutes"]),
        limits=limits,
        r=r,
        extras=extras,
    )


def layer_requirements(packages: Dict[str, str], backends: Tuple[Tuple[str, str], ...], keras: Optional[str],
                       extras: Tuple[str, ...]) -> Tuple[Tuple[str, str], ...]:
    """(axis, pip requirement) in layer order: backends (heaviest, most shared) first, then the cell's extra
    requirements (`pip:`, as axis "pip"), Keras last, so cells that differ only in Keras share every other layer."""
    return tuple((axis, packages[axis] + spec) for axis, spec in backends) + tuple(("pip", req) for req in extras) \
        + ((("keras", packages["keras"] + keras),) if keras else ())


def _lowest_admitted(spec: str) -> Optional[Version]:
    """The lower bound a Keras specifier states ('==3.15.1' -> 3.15.1, '>=3.8,<4' -> 3.8, '==3.*' -> 3), or
    None when it states none ('<4', '!=2.3.1'): a bound that cannot be read is never taken as a yes."""
    bounds = []
    for item in SpecifierSet(spec):
        if item.operator in ("==", "===", ">=", ">", "~="):
            try:
                bounds.append(Version(item.version.replace(".*", "")))
            except InvalidVersion:
                continue
    return max(bounds) if bounds else None


def check_backend_keras(keras: Optional[str], backends: Any, path: object, line: Optional[int], key: str) -> None:
    """A backend only some Keras releases have (numpy: Keras 3; openvino: Keras 3.8) is refused on a cell
    whose Keras is older, absent, or a specifier whose lower bound is older: KERAS_BACKEND would name a
    backend that Keras does not have, and the cell would measure nothing but that."""
    for axis, _ in backends:
        since = BACKEND_SINCE_KERAS.get(axis)
        if since is None:
            continue
        lowest = _lowest_admitted(keras) if keras else None
        if lowest is None or lowest < Version(since):
            raise MatrixError("the %s backend exists in Keras %s and later only, but this cell has %s; remove %s "
                              "or use keras >= %s" % (axis, since, "keras %s" % keras if keras else "no keras", axis,
                                                      since), path, line, "%s.%s" % (key, axis))


MAX_EXTRAS = 20
MAX_EXTRA_LENGTH = 200


def pip_extras(raw: Any, packages: Dict[str, str], path: object, line: Optional[int], key: str) -> Tuple[str, ...]:
    """A cell's `pip:` list (extra requirements the stack needs but none of its packages declares, such as SciPy
    for Keras 3's numpy backend) -> normalized requirements. Each is a PEP 508 requirement pinned with a single
    '==' (no URL, marker or wildcard), at most once, and never a package an axis installs (the axis pins it)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_EXTRAS:
        raise MatrixError("expected a list of up to %d pinned requirements such as 'scipy==1.17.1'" % MAX_EXTRAS,
                          path, line, key)
    axis_names = {canonicalize_name(name) for name in packages.values()} | {canonicalize_name(a) for a in AXES}
    seen = set()
    out = []
    for index, text in enumerate(raw):
        where = "%s[%d]" % (key, index)
        item_line = raw.line_of(index) if isinstance(raw, LineList) else line
        if isinstance(text, str) and len(text) > MAX_EXTRA_LENGTH:
            raise MatrixError("requirement longer than %d characters" % MAX_EXTRA_LENGTH, path, item_line, where)
        normalized = requirement(text, path, item_line, where)
        req = Requirement(normalized)
        pins = list(req.specifier)
        if len(pins) != 1 or pins[0].operator != "==" or "*" in pins[0].version:
            raise MatrixError("%r: pin one release with '==', e.g. '%s==1.2.3' (the image must be reproducible)"
                              % (text, req.name), path, item_line, where)
        name = canonicalize_name(req.name)
        if name in axis_names:
            raise MatrixError("%r: %s is installed by an axis of this matrix; set its version there" % (text, req.name),
                              path, item_line, where)
        if name in seen:
            raise MatrixError("%r: %s is named twice" % (text, req.name), path, item_line, where)
        seen.add(name)
        out.append(normalized)
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# Expectations (expect: on a cell, a group, or an include entry; the include entry's wins)

_OK = "ok"


def with_expectation(cell: Cell, raw: Any, path: object, line: Optional[int]) -> Cell:
    """The cell with the expectation `raw` (already schema-checked) applied; checks what the schema cannot:
    a reason for any non-ok expectation, backends the cell installs, no ok status with failing trainings."""
    if raw is None:
        return cell
    line = getattr(raw, "line", None) or line
    key = "cell %s: expect" % cell.id
    trainings = tuple(sorted((str(backend), str(outcome)) for backend, outcome in (raw.get("trainings") or {}).items()))
    expected = CellExpectation(status=raw.get("status"), trainings=trainings, reason=raw.get("reason"))
    failing = [backend for backend, outcome in trainings if outcome != _OK]
    if (expected.status not in (None, _OK) or failing) and not expected.reason:
        raise MatrixError("expects %s but gives no reason; add reason: what fails, and the evidence"
                          % (expected.status or "failed trainings"), path, line, key)
    if expected.status == ANY_OUTCOME and trainings:
        raise MatrixError("expects any outcome and also names trainings; any leaves every outcome open, so drop "
                          "trainings", path, line, key)
    if expected.status == _OK and failing:
        raise MatrixError("expects status ok but %s to fail: a failed training makes the cell partial or worse"
                          % ", ".join(failing), path, line, key)
    unknown = sorted(set(dict(trainings)) - set(cell.backend_names))
    if unknown:
        raise MatrixError("expect.trainings names %s, which this cell does not install (it has: %s)"
                          % (", ".join(unknown), ", ".join(cell.backend_names) or "no backend"), path, line, key)
    return replace(cell, expect=expected)


# 50 times the shipped matrix; PyYAML (pure Python, for its line numbers and guards) parses ~100 KB/s, so a
# file at the cap is refused or accepted within a few seconds.
MAX_MATRIX_BYTES = 256 * 1024


def _read(path: Union[str, Path]) -> Any:
    path = Path(path)
    try:
        text = read_capped(path, MAX_MATRIX_BYTES, "matrix file").decode("utf-8")
    except FileNotFoundError:
        raise MatrixError("no such file", path) from None
    except IsADirectoryError:
        raise MatrixError("is a directory, not a matrix file", path) from None
    except UnicodeDecodeError:
        raise MatrixError("not UTF-8 text", path) from None
    except FileProblem as exc:
        raise MatrixError(str(exc)) from None  # the message names the file
    except OSError as exc:
        raise MatrixError("cannot read: %s" % exc.strerror, path) from None
    doc = load_yaml(text, path)
    check_single_line(doc, path)
    validate_schema(doc, path)
    return doc


def load_matrix(path: Union[str, Path], eras_file: Optional[Path] = ERAS_FILE, offline: bool = False,
                resolver: Optional[Resolver] = None) -> Matrix:
    """Read, validate and expand a matrix file. Raises MatrixError with file:line: key: reason.
    Release ranges are expanded from the package index, or (offline, or unreachable) the kept lists."""
    path = Path(path)
    resolver = resolver or Resolver(offline=offline)
    builtin = _read(eras_file) if eras_file else LineDict()
    doc = _read(path)
    bases = parse_bases(builtin.get("bases"), eras_file)
    bases.update(parse_bases(doc.get("bases"), path))
    eras = parse_eras(builtin.get("eras"), eras_file)
    eras.update(parse_eras(doc.get("eras"), path))

    raw_defaults = doc.get("defaults") or {}
    raw_limits = raw_defaults.get("limits") or {}
    defaults = {
        "epochs": raw_defaults.get("epochs", 3),
        "timeout_minutes": raw_defaults.get("timeout_minutes", 30),
        "measure": raw_defaults.get("measure", "full"),
        "scenarios": raw_defaults.get("scenarios", True),
        "limits": Limits(*parse_limits(raw_limits, path, Limits())),
    }

    cells: List[Cell] = []
    origin: Dict[str, str] = {}
    group_names: List[str] = []

    def add(cell: Cell, where: str, line: Optional[int]) -> None:
        check_template_inputs(cell, path, line)
        if cell.id in origin:
            raise MatrixError("duplicate cell %s (also from %s)" % (cell.id, origin[cell.id]), path, line)
        origin[cell.id] = "%s, line %s" % (where, line)
        cells.append(cell)

    groups = doc.get("groups") or LineList()
    for index, group in enumerate(groups):
        name = group["name"]
        if name in group_names:
            raise MatrixError("duplicate group name %r" % name, path, groups.line_of(index), "groups[%d].name" % index)
        group_names.append(name)
        for combo, line in expand_group(group, path, MAX_CELLS - len(cells), resolver):
            if "pip" not in combo and "pip" in group:  # an include entry's pip: wins over the group's
                combo = dict(combo, pip=group["pip"])
            cell = _make_cell(combo, name, "", group.get("description"), path, line, eras, bases, defaults)
            expect = combo.get("expect", group.get("expect", raw_defaults.get("expect")))
            add(with_expectation(cell, expect, path, line), "group %s" % name, line)
    named = doc.get("cells") or LineList()
    for index, raw in enumerate(named):
        line = named.line_of(index)
        combo = _normalize_combo({k: v for k, v in raw.items() if k not in ("name", "description")},
                                 path, line, "cells[%d]" % index)
        if raw["name"] in group_names:
            raise MatrixError("cell name %r is also a group name" % raw["name"], path, line, "cells[%d].name" % index)
        cell = _make_cell(combo, raw["name"], raw["name"], raw.get("description"), path, line, eras, bases, defaults)
        expect = combo.get("expect", raw_defaults.get("expect"))
        add(with_expectation(cell, expect, path, line), "cell %s" % raw["name"], line)
    if not cells:
        raise MatrixError("the matrix has no cells; add a group under 'groups' or a cell under 'cells'", path)

    profiles = {}
    raw_profiles = doc.get("profiles") or {}
    for name, patterns in raw_profiles.items():
        for index, pattern in enumerate(patterns):
            if not cells_matching(cells, pattern):
                raise MatrixError("pattern %r matches no cell or group" % pattern, path,
                                  patterns.line_of(index), "profiles.%s" % name)
        profiles[name] = list(patterns)
    return Matrix(path=path, cells=cells, profiles=profiles, groups=group_names,
                  expansions=[e.to_dict() for e in resolver.expansions])


# --------------------------------------------------------------------------------------------------
# Release ranges and substitutions (runner/releases.py lists the releases)


def _expand_releases(axis: str, values: Any, resolver: Optional[Resolver], path: object, line: Optional[int],
                     key: str, group: str) -> Any:
    """An axis written {releases: RANGE} -> the list of releases in it; any other value unchanged."""
    if axis not in AXES or not isinstance(values, dict):
        return values
    try:
        expansion = (resolver or Resolver()).expand(axis, values.get("releases"), where="group %s" % group)
    except RangeError as exc:
        raise MatrixError(str(exc), path, line, "%s.%s.releases" % (key, axis)) from None
    return list(expansion.versions)


def with_version(cell: Cell, axis: str, version: str, measure: Optional[str] = None) -> Cell:
    """The cell with one axis pinned to another release (bisect): id, requirements and Dockerfile are what
    the matrix would give a cell written with that release."""
    spec = normalize_version(version, None, None, axis)
    assert spec is not None
    keras = spec if axis == "keras" else cell.keras
    backends = tuple((a, spec if a == axis else s) for a, s in cell.backends)
    check_backend_keras(keras, backends, None, None, "cell %s" % cell.id)
    requirements = layer_requirements(dict(cell.era.packages), backends, keras, cell.extras)
    changed = replace(cell, id=cell_id(keras, backends, cell.era.python, cell.device, cell.r is not None), keras=keras,
                      backends=backends, requirements=requirements, measure=measure or cell.measure)
    check_template_inputs(changed, None, None)
    return changed


def cells_matching(cells: List[Cell], pattern: str) -> List[Cell]:
    """Cells whose id matches the glob, or whose group or name is the pattern (--cell, profiles)."""
    return [c for c in cells if fnmatch.fnmatchcase(c.id, pattern) or c.group == pattern or c.name == pattern]


def content_hash(*parts: Union[str, bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8") if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()
