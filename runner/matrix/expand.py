"""Stage 1, expansion: a group's axes, include and exclude entries (as GitHub Actions' strategy.matrix), release
ranges, extra requirements and expectations become cells; every value is checked with file:line: key errors."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import Any, Dict, List, Optional, Tuple

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from runner.matrix.cells import AXES, Cell, CellExpectation, cell_id, normalize_version, parse_r
from runner.matrix.checks import check_template_inputs
from runner.matrix.eras import Base, requirement
from runner.matrix.releases import RangeError, Resolver
from runner.matrix.yamlload import LineList
from runner.model.outcomes import ANY_OUTCOME
from runner.model.records import BACKEND_SINCE_KERAS, Status
from runner.model.vocabulary import Device
from runner.util.errors import MatrixError

# --------------------------------------------------------------------------------------------------
# Expansion


def _as_list(value: Any) -> List[Any]:
    return list(value) if isinstance(value, list) else [value]


def normalize_combo(combo: Any, path: object, line: Optional[int], key: str) -> Dict[str, Any]:
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
        entry = normalize_combo(entry, path, excludes.line_of(index), "%s.exclude[%d]" % (key, index))
        unknown = set(entry) - original_keys
        if unknown:
            raise MatrixError("exclude names %s, which is not an axis of this matrix" % ", ".join(sorted(unknown)),
                              path, excludes.line_of(index), "%s.exclude[%d]" % (key, index))
        combos = [(c, ln) for c, ln in combos if not all(c.get(k) == v for k, v in entry.items())]

    for index, entry in enumerate(includes):
        line = includes.line_of(index)
        entry = normalize_combo(entry, path, line, "%s.include[%d]" % (key, index))
        matched = False
        for combo, _ in combos:
            if all(combo[k] == v for k, v in entry.items() if k in original_keys and k in combo):
                # Original values are never overwritten; added keys may be.
                combo.update({k: v for k, v in entry.items() if k not in original_keys})
                matched = True
        if not matched:
            combos.append((dict(entry), line))
    return combos


def make_cell(combo: Dict[str, Any], group: str, name: str, description: Optional[str], path: object,
               line: Optional[int], eras: Dict[str, Any], bases: Dict[str, Base], defaults: Dict[str, Any]) -> Cell:
    key = "cell %s" % name if name else "groups[%s]" % group
    device = combo.get("device", Device.CPU.value)
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

_OK = Status.OK.value


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


# --------------------------------------------------------------------------------------------------
# Release ranges and substitutions (runner/matrix/releases.py lists the releases)


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
    if cell.as_of is not None and cell.as_of.rule == "release":
        raise MatrixError("cell %s is resolved as of its Keras release's day (as_of: release): another release "
                          "has another day; bisect a cell with a fixed as_of date instead" % cell.id, None, None)
    keras = spec if axis == "keras" else cell.keras
    backends = tuple((a, spec if a == axis else s) for a, s in cell.backends)
    check_backend_keras(keras, backends, None, None, "cell %s" % cell.id)
    requirements = layer_requirements(dict(cell.era.packages), backends, keras, cell.extras)
    as_of_day = cell.as_of.day if cell.as_of else None
    changed = replace(cell, id=cell_id(keras, backends, cell.era.python, cell.device, cell.r is not None, as_of_day),
                      keras=keras,
                      backends=backends, requirements=requirements, measure=measure or cell.measure)
    check_template_inputs(changed, None, None)
    return changed
