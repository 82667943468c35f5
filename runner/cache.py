"""Stage: cache. A cell whose inputs are unchanged is neither rebuilt nor measured again: its last result
is reused and marked `cached`.

The key is the content of everything a measurement depends on: the rendered Dockerfile, the base image's
id, the in-container probe and training scripts, the MNIST file, and the cell's training settings and
limits. Change any of them and the key changes. Only outcomes that the same inputs would reproduce are
kept (a network hiccup during a build, a timeout or an engine error are measured again next time).
"""

import hashlib
import json
from pathlib import Path

from runner.errors import ResultsError
from runner.measure import PROBE_DIR
from runner.results import atomic_write_json

# Statuses that are a property of the stack, not of the moment: worth reusing.
CACHEABLE = frozenset({"ok", "partial", "train_failed", "import_failed", "unsatisfiable"})
KEY_VERSION = 1


def _scripts_digest():
    digest = hashlib.sha256()
    for path in sorted(PROBE_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class ResultCache:
    """One JSON file per key under DIR (default .cache/results). Corrupt entries are ignored, not fatal."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.scripts_sha256 = _scripts_digest()  # once per run: the scripts are the same for every cell

    def key(self, cell, dockerfile_text, base_image_id, data_sha256):
        """sha256 over the cell's measurement inputs."""
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
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()

    def _path(self, key):
        return self.directory / ("%s.json" % key)

    def get(self, key, cell_id):
        try:
            record = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("cell_id") != cell_id or record.get("status") not in CACHEABLE:
            return None
        return record

    def put(self, key, record):
        if record.get("status") not in CACHEABLE:
            return False
        try:
            atomic_write_json(self._path(key), record)
        except ResultsError:
            return False  # a cache that cannot be written only costs time next run
        return True
