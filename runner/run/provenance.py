"""Where a run came from: the runner's version and git commit, the host, the engine, the matrix and data.
Builds the header of the run document (results.json) before any cell runs."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

from runner import __version__
from runner.model.records import KIND, SCHEMA_VERSION, RunDocument, now_iso
from runner.util import paths


def git_sha() -> Optional[str]:
    """The source checkout's commit ('-dirty' when tracked files changed), or None: a pip-installed copy
    has no checkout, and then nothing is asked of git."""
    root = paths.SOURCE_ROOT
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (out.stdout.strip() + ("-dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def host_facts() -> Dict[str, Any]:
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as handle:
            cpu_model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), None)
    except OSError:
        pass
    return {"cpu_model": cpu_model, "cpus": os.cpu_count(), "os": platform.platform(), "hostname": platform.node()}


def run_document(run_id: str, matrix_path: Path, cells_total: int, cells_selected: List[str],
                 settings: Dict[str, Any], engine_facts: Dict[str, Any], gpu_runtime: bool,
                 data_source: str, data_sha256: str, disk_at_start: Optional[int],
                 expansions: Optional[List[Dict[str, Any]]] = None) -> RunDocument:
    """The run document before any cell ran: incomplete, no cells, the settings and provenance (with the
    release ranges the matrix named and the releases they became, when it named any)."""
    doc = RunDocument(
        schema_version=SCHEMA_VERSION, kind=KIND, run_id=run_id, started_at=now_iso(), finished_at=None,
        complete=False,
        matrix={"path": str(matrix_path), "sha256": hashlib.sha256(Path(matrix_path).read_bytes()).hexdigest(),
                "cells_total": cells_total, "cells_selected": cells_selected},
        settings=settings,
        provenance={"runner_version": __version__, "git_sha": git_sha(),
                    "docker_version": engine_facts["docker_version"], "docker": engine_facts,
                    "host": host_facts(), "gpu_runtime": gpu_runtime,
                    "data": {"source": data_source, "sha256": data_sha256}},
        disk={"layers_bytes_start": disk_at_start, "layers_bytes_peak": None, "layers_bytes_end": None},
        cells=[],
    )
    if expansions:
        doc["matrix"]["expansions"] = expansions
    return doc
