"""Stage 1: load the matrix file, validate it against its schema, and expand it into cells.

The matrix file (``matrix.yaml``) names version axes; the era data (``dockerfiles/eras.yaml``, which a
matrix may extend or override) says how a stack of each era is installed. Every value that will reach a
Dockerfile or a shell is validated before it can, with ``file:line: key: reason`` errors (exit code 2).
The cell model is runner/matrix/cells.py, the expansion runner/matrix/expand.py, era and base data
runner/matrix/eras.py, value checks runner/matrix/checks.py, and choosing cells runner/matrix/selection.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import jsonschema

from runner.matrix.as_of import with_as_of
from runner.matrix.cells import AXES, Cell, Limits, Matrix, cells_matching
from runner.matrix.checks import check_single_line, check_template_inputs, parse_limits
from runner.matrix.eras import parse_bases, parse_eras
from runner.matrix.expand import MAX_CELLS, expand_group, make_cell, normalize_combo, with_expectation
from runner.matrix.releases import Resolver
from runner.matrix.yamlload import LineDict, LineList, load_yaml
from runner.model.vocabulary import MeasureMode
from runner.util import paths
from runner.util.errors import MatrixError
from runner.util.fileio import FileProblem, read_capped

ERAS_FILE = paths.eras_file()
SCHEMA_FILE = paths.resources_dir() / "matrix.schema.json"
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
        raise MatrixError("cannot read: %s" % exc.strerror, path) from exc
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
        "measure": raw_defaults.get("measure", MeasureMode.FULL.value),
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
            cell = make_cell(combo, name, "", group.get("description"), path, line, eras, bases, defaults)
            cell = with_as_of(cell, combo.get("as_of", raw_defaults.get("as_of")), resolver, path, line,
                              "groups[%s].as_of" % name)
            expect = combo.get("expect", group.get("expect", raw_defaults.get("expect")))
            add(with_expectation(cell, expect, path, line), "group %s" % name, line)
    named = doc.get("cells") or LineList()
    for index, raw in enumerate(named):
        line = named.line_of(index)
        combo = normalize_combo({k: v for k, v in raw.items() if k not in ("name", "description")},
                                 path, line, "cells[%d]" % index)
        if raw["name"] in group_names:
            raise MatrixError("cell name %r is also a group name" % raw["name"], path, line, "cells[%d].name" % index)
        cell = make_cell(combo, raw["name"], raw["name"], raw.get("description"), path, line, eras, bases, defaults)
        cell = with_as_of(cell, combo.get("as_of", raw_defaults.get("as_of")), resolver, path, line,
                          "cells[%d].as_of" % index)
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

