"""Stage: record. The results contract (runner/resources/results.schema.json) and its reader/writer.

A run directory holds ``results.json`` (the whole run) and ``cells/<cell id>.json`` (one per finished cell).
Both are rewritten atomically (temp file + rename) the moment a cell ends, so killing a run never loses
a finished cell and never leaves a half-written file.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import jsonschema

from runner.model.records import KIND, SCHEMA_VERSION, CellRecord, RunDocument, now_iso
from runner.util.errors import ResultsError, UsageError
from runner.util.fileio import FileProblem, atomic_write_text, read_capped
from runner.util.paths import resources_dir

SCHEMA_FILE = resources_dir() / "results.schema.json"
MAX_RESULTS_BYTES = 64 * 1024 * 1024


def results_json(data: Any) -> str:
    """The text of every results file (results.json, cells/*.json, the cache): stable, diff-friendly."""
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"


def atomic_write_json(path: Path | str, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never a torn one (runner.util.fileio)."""
    try:
        atomic_write_text(path, results_json(data))
    except OSError as exc:
        raise ResultsError("cannot write results to %s: %s. Try --results-dir with a writable directory that has space."
                           % (path, exc.strerror or exc)) from exc


MAX_RUN_NAME = 100  # runner.util.validate.MAX_RUN_ID


class RunDirectory:
    """A run directory this process holds: created exclusively (a fresh run) and locked (flock on the
    directory itself) until close(), so two runs never write one directory.

    A fresh run whose id was given gets exactly that directory or UsageError; one whose id was chosen for it
    (a timestamp) gets the next free name, ID-2, ID-3 ... A resumed run (or a second process resuming the
    same run) gets UsageError while another process holds it. The lock ends with the process that holds
    it, so a crashed run can be resumed at once."""

    def __init__(self, results_dir: Path | str, run_id: str, resume: bool = False, unique: bool = False) -> None:
        results_dir = Path(results_dir)
        try:
            results_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsError("cannot write results to %s: %s. Try --results-dir with a writable directory."
                               % (results_dir, exc.strerror or exc)) from None
        try:
            self.run_id = self._create(results_dir, run_id, resume, unique)
            self.path = results_dir / self.run_id
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
                               | getattr(os, "O_CLOEXEC", 0))
        except FileExistsError:
            raise UsageError("run %r already exists in %s (another run may have just taken it); choose another "
                             "--run-id, or continue it with --resume" % (run_id, results_dir)) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP or exc.errno == errno.ENOTDIR:
                raise UsageError("%s is not a run directory (a link or a file); refusing to write into it"
                                 % (results_dir / run_id)) from None
            raise ResultsError("cannot write results to %s (the run's directory): %s. Try --results-dir with a "
                               "writable directory." % (results_dir / run_id, exc.strerror or exc)) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            raise UsageError("run %r in %s is being written by another process; wait for it, or choose another "
                             "--run-id" % (self.run_id, results_dir)) from None

    @staticmethod
    def _create(results_dir: Path, run_id: str, resume: bool, unique: bool) -> str:
        if resume:
            (results_dir / run_id).mkdir(exist_ok=True)
            return run_id
        for number in range(1, 1000):
            suffix = "" if number == 1 else "-%d" % number
            name = run_id[:MAX_RUN_NAME - len(suffix)] + suffix
            try:
                os.mkdir(results_dir / name)  # exclusive: of two runs, one creates it
                return name
            except FileExistsError:
                if not unique:
                    raise
        raise FileExistsError(errno.EEXIST, "no free run name", str(results_dir / run_id))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1

    def __enter__(self) -> "RunDirectory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ResultsWriter:
    """Owns one run directory: writes each cell as it ends and keeps results.json current."""

    def __init__(self, run_dir: Path | str, run_doc: RunDocument, keep_cells: Iterable[CellRecord] = ()) -> None:
        self.run_dir = Path(run_dir)
        self.doc = run_doc
        self.doc.setdefault("cells", [])
        # Cells measured side by side end in any order; the document keeps the matrix's.
        selected = (self.doc.get("matrix") or {}).get("cells_selected") or []
        self._order: Dict[str, int] = {cell_id: i for i, cell_id in enumerate(selected)}
        for record in keep_cells:
            self._put(record)
        self.flush()

    def _put(self, record: CellRecord) -> None:
        cells = [c for c in self.doc["cells"] if c["cell_id"] != record["cell_id"]]
        cells.append(record)
        self.doc["cells"] = sorted(cells, key=lambda c: self._order.get(c["cell_id"], len(self._order)))

    def write_cell(self, record: CellRecord) -> None:
        record.setdefault("schema_version", SCHEMA_VERSION)
        atomic_write_json(self.run_dir / "cells" / ("%s.json" % record["cell_id"]), record)
        self._put(record)
        self.flush()

    def flush(self) -> None:
        atomic_write_json(self.run_dir / "results.json", self.doc)

    def finish(self, complete: bool) -> None:
        self.doc["finished_at"] = now_iso()
        self.doc["complete"] = bool(complete)
        self.flush()


def validate_results(doc: object, source: str = "results") -> Dict[str, Any]:
    """Raise ResultsError unless doc is a results document of a version we read."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise ResultsError("%s is not a keras-matrix results file (no \"kind\": \"%s\")" % (source, KIND))
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError("%s has schema_version %r; this runner reads version %d"
                           % (source, doc.get("schema_version"), SCHEMA_VERSION))
    schema = json.loads(SCHEMA_FILE.read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise ResultsError("%s is malformed at %s: %s" % (source, where, error.message[:300]))
    return doc


class _Refused(ValueError):
    """JSON that json.loads accepts but a results file must not hold."""


def _no_constant(name: str) -> Any:
    raise _Refused("%s is not a number JSON allows" % name)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 30:
        raise _Refused("an integer of %d digits" % len(text.lstrip("-")))
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to infinity: as refused as the Infinity token
        raise _Refused("the number %s overflows a float" % text[:40])
    return value


def _unique_keys(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused("duplicate key %r" % key[:80])
        out[key] = value
    return out


def parse_strict_json(text: str) -> Any:
    """json.loads with the results files' rules: no NaN/Infinity (nor literals overflowing to it), no
    integers of more than 30 digits, no duplicate keys; ValueError (nesting too deep too) otherwise."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int, parse_float=_finite_float,
                          object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("nested too deeply") from None


_CELL_VALIDATOR: List[Any] = []


def cell_record_problem(record: object) -> Optional[str]:
    """Why a single cell record does not satisfy the results schema's cell definition, or None."""
    if not _CELL_VALIDATOR:
        schema = json.loads(SCHEMA_FILE.read_text())
        _CELL_VALIDATOR.append(jsonschema.Draft202012Validator(
            {"$schema": schema.get("$schema"), "$defs": schema["$defs"], "$ref": "#/$defs/cell"}))
    try:
        error = jsonschema.exceptions.best_match(_CELL_VALIDATOR[0].iter_errors(record))
    except RecursionError:
        return "nested too deeply"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(top)"
    return "at %s: %s" % (where, error.message[:200])


def load_results(path: Union[str, Path]) -> Dict[str, Any]:
    """Read and validate a results file (results.json of a run, or a merged/published one).

    Only a regular file of at most MAX_RESULTS_BYTES is read (a FIFO or device fails at once); NaN,
    Infinity, numbers that overflow to infinity (1e999), integers of more than 30 digits and duplicate keys
    are refused, not guessed at."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        raw = read_capped(path, MAX_RESULTS_BYTES, "results file")
        doc = parse_strict_json(raw.decode("utf-8"))
    except FileNotFoundError:
        raise ResultsError("%s: no such results file" % path) from None
    except FileProblem as exc:
        raise ResultsError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError("cannot read %s: %s" % (path, exc)) from exc
    except (ValueError, RecursionError) as exc:  # _Refused is a ValueError too
        raise ResultsError("%s is not valid JSON: %s" % (path, str(exc)[:200])) from None
    return validate_results(doc, str(path))
