"""Stage: cache. A cell whose inputs are unchanged is neither rebuilt nor measured again: its last result
is reused and marked `cached`.

The key is the content of everything a measurement depends on: the rendered Dockerfile, the base image's
id, the in-container probe and training scripts, the MNIST file, the cell's training settings and limits,
and the timing protocol (warm-up, processes, thresholds: runner/run/timing.py). Change any of them and the key
changes. Only outcomes that the same inputs would reproduce are
kept (a network hiccup during a build, a timeout or an engine error are measured again next time). A build
that ran out of time while pip was backtracking is the resolver's answer: it is kept for that time limit only
(a longer one may let pip finish).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, cast

from runner.model.records import REPRODUCIBLE_STATUSES, CellRecord
from runner.results.store import cell_record_problem, parse_strict_json, results_json
from runner.run.build import is_backtracking_timeout
from runner.run.timing import TimingProtocol, measure_mode, protocol_for
from runner.util import paths
from runner.util.fileio import atomic_write_text, read_capped
from runner.util.text import one_line

if TYPE_CHECKING:
    from runner.matrix.cells import Cell

KEY_VERSION = 3  # 2: the timing protocol is part of the key; 3: entries are bound to their key and hash
MAX_ENTRY_BYTES = 16 * 1024 * 1024  # one cell's record; anything larger is not ours


class BadEntry(ValueError):
    """A cache entry that is present but not reused; the message says why."""


def _reproducible(record: Any) -> bool:
    return isinstance(record, dict) and record.get("status") in REPRODUCIBLE_STATUSES


def _for_limit(key: str, timeout_minutes: int) -> str:
    """The entry of a backtracking timeout: the cell's key and the limit it ran out of."""
    return hashlib.sha256(("%s:timeout_minutes=%d" % (key, timeout_minutes)).encode()).hexdigest()


def _scripts_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(paths.probe_dir().glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class ResultCache:
    """One JSON file per key under DIR (default .cache/results): {cache_entry, key, record_sha256, record}.
    A bad entry is a miss (measured again), never fatal; `warn` hears of the first one."""

    def __init__(self, directory: Path | str, warn: Optional[Callable[[str], None]] = None) -> None:
        self.directory = Path(directory)
        self.scripts_sha256 = _scripts_digest()  # once per run: the scripts are the same for every cell
        self.warn = warn
        self.bad_entries = 0

    def key(self, cell: Cell, dockerfile_text: str, base_image_id: Optional[str], data_sha256: str,
            protocol: Optional[TimingProtocol] = None) -> str:
        """sha256 over the cell's measurement inputs (the protocol: the cell's own unless given)."""
        inputs = {
            "key_version": KEY_VERSION,
            "cell": cell.id,
            "dockerfile_sha256": hashlib.sha256(dockerfile_text.encode()).hexdigest(),
            "base_image_id": base_image_id,
            "scripts_sha256": self.scripts_sha256,
            "data_sha256": data_sha256,
            "epochs": cell.epochs,
            "backends": list(cell.backend_names),
            "limits": [str(cell.limits.cpus), str(cell.limits.memory), str(cell.limits.pids)],
            "device": cell.device,
            "measure": measure_mode(cell),
            "scenarios": getattr(cell, "scenarios", True),
            "protocol": (protocol or protocol_for(cell)).key(),
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / ("%s.json" % key)

    def get(self, key: str, cell_id: str, timeout_minutes: Optional[int] = None) -> Optional[CellRecord]:
        """The kept record for the key, else (given the cell's time limit) a backtracking timeout under it.

        An entry is reused only when it is a regular file (not a link) owned by this user and writable by
        no one else, in a directory no one else may write, bound to this very key with the sha256 of its
        record, and the record satisfies the results schema, is of this cell and has a status the cache
        keeps. Anything else is a miss (measured again), said once per run through `warn`."""
        record = self._entry(key, cell_id)
        if record is not None and _reproducible(record):
            return record
        if record is not None:
            self._bad(key, "status %r is not one the cache keeps" % record.get("status"))
        if timeout_minutes:
            limit_key = _for_limit(key, timeout_minutes)
            record = self._entry(limit_key, cell_id)
            if record is not None and is_backtracking_timeout(record):
                return record
            if record is not None:
                self._bad(limit_key, "not a build that timed out while pip was backtracking")
        return None

    def _entry(self, key: str, cell_id: str) -> Optional[CellRecord]:
        try:
            return self._read(key, cell_id)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as exc:  # BadEntry, a link, FileProblem, not UTF-8, not JSON
            self._bad(key, one_line(exc, 200))
            return None

    def _read(self, key: str, cell_id: str) -> CellRecord:
        path = self._path(key)
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise BadEntry("not a regular file")
        self._check_owner(st, "the entry", stat.S_IWGRP | stat.S_IWOTH)  # written 0644 by put()
        self._check_owner(os.stat(self.directory), "the cache directory %s" % self.directory, stat.S_IWOTH)
        entry = parse_strict_json(read_capped(path, MAX_ENTRY_BYTES, "cache entry", follow=False).decode("utf-8"))
        if not isinstance(entry, dict) or entry.get("cache_entry") != KEY_VERSION or entry.get("key") != key:
            raise BadEntry("not an entry of this key (key version %d)" % KEY_VERSION)
        record = entry.get("record")
        if entry.get("record_sha256") != _record_digest(record):
            raise BadEntry("its record does not match its sha256")
        problem = cell_record_problem(record)
        if problem:
            raise BadEntry("its record does not satisfy the results schema (%s)" % problem)
        assert isinstance(record, dict)
        if record.get("cell_id") != cell_id:
            raise BadEntry("its record is of another cell")
        return cast(CellRecord, record)

    @staticmethod
    def _check_owner(st: os.stat_result, what: str, others_writing: int) -> None:
        if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            raise BadEntry("%s belongs to another user (uid %d)" % (what, st.st_uid))
        if st.st_mode & others_writing:
            raise BadEntry("%s is writable by other users" % what)

    def _bad(self, key: str, why: str) -> None:
        self.bad_entries += 1
        if self.bad_entries == 1 and self.warn is not None:
            self.warn("cache entry %s ignored (measured again): %s; further bad entries are not reported"
                      % (self._path(key), why))

    def put(self, key: Optional[str], record: CellRecord, timeout_minutes: Optional[int] = None) -> bool:
        if key is None:
            return False
        if not _reproducible(record):
            if not (timeout_minutes and is_backtracking_timeout(record)):
                return False
            key = _for_limit(key, timeout_minutes)
        if cell_record_problem(record):
            return False  # never kept: it would be refused when read
        entry = {"cache_entry": KEY_VERSION, "key": key, "record_sha256": _record_digest(record), "record": record}
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self._path(key), results_json(entry))
        except OSError:
            return False  # a cache that cannot be written only costs time next run
        return True


def _record_digest(record: Any) -> str:
    return hashlib.sha256(results_json(record).encode("utf-8")).hexdigest()
