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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, cast

from runner.model.records import REPRODUCIBLE_STATUSES, CellRecord
from runner.results.store import results_json
from runner.run.build import is_backtracking_timeout
from runner.run.timing import TimingProtocol, measure_mode, protocol_for
from runner.util import paths
from runner.util.fileio import atomic_write_text, read_capped

if TYPE_CHECKING:
    from runner.matrix.cells import Cell

KEY_VERSION = 2  # 2: the timing protocol is part of the key
MAX_ENTRY_BYTES = 16 * 1024 * 1024  # one cell's record; anything larger is not ours


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
    """One JSON file per key under DIR (default .cache/results). Corrupt entries are ignored, not fatal."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        self.scripts_sha256 = _scripts_digest()  # once per run: the scripts are the same for every cell

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
        """The kept record for the key, else (given the cell's time limit) a backtracking timeout under it."""
        record = self._read(key)
        if _reproducible(record) and record.get("cell_id") == cell_id:
            return cast(CellRecord, record)
        record = self._read(_for_limit(key, timeout_minutes)) if timeout_minutes else None
        if isinstance(record, dict) and is_backtracking_timeout(record) and record.get("cell_id") == cell_id:
            return cast(CellRecord, record)
        return None

    def _read(self, key: str) -> Any:
        try:
            return json.loads(read_capped(self._path(key), MAX_ENTRY_BYTES, "cache entry").decode("utf-8"))
        except (OSError, ValueError):
            return None  # absent or corrupt: measured again

    def put(self, key: Optional[str], record: CellRecord, timeout_minutes: Optional[int] = None) -> bool:
        if key is None:
            return False
        if not _reproducible(record):
            if not (timeout_minutes and is_backtracking_timeout(record)):
                return False
            key = _for_limit(key, timeout_minutes)
        try:
            atomic_write_text(self._path(key), results_json(record))
        except OSError:
            return False  # a cache that cannot be written only costs time next run
        return True
