"""Stage: record. The history store: runs kept across scheduled jobs, as asv keeps its results.

A store is a folder with one subfolder per machine class and one compact JSON file per run in it:

    STORE/<machine class>/<started, UTC>-<git revision>-<run id>.json

Each file is the run reduced to what the history shows (cells' status, reason, default backend, versions,
trainings with their timing and steady samples; the matrix's selection and release expansions; the host);
no logs, no scenarios, no installed sets beyond the matrix's own axes. A run is keyed by its start date, its
git revision and its machine class; adding the same run again replaces it.

The machine class is what the recorded provenance says about the machine: CPU model, core count, memory
(the engine's, in whole GiB), operating system and architecture. Timings are compared only within one
class. A merged document whose shards ran on different hosts gets the class ``mixed``: its timings are
never compared with anything.

Bounded: per machine class the newest `keep` runs stay, and beyond them the newest run of each ISO week for
`weeks` weeks; every other file of that class is removed when a run is added (docs/history.md).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from runner.util.errors import ResultsError
from runner.util.fileio import FileProblem, atomic_write_text, read_capped
from runner.util.text import one_line

HISTORY_KIND = "keras-matrix-history-run"
HISTORY_VERSION = 1
DEFAULT_KEEP = 30  # newest runs kept per machine class
DEFAULT_WEEKS = 52  # beyond those: the newest run of each of this many ISO weeks
MAX_RUN_BYTES = 8 * 1024 * 1024
MIXED = "mixed"
ARCHES = ("x86_64", "aarch64", "arm64", "ppc64le", "s390x", "i686")
_UNSAFE = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class StoredRun:
    """One run of the store: its file and its compact document."""

    path: Path
    doc: Dict[str, Any]

    @property
    def started(self) -> str:
        return str(self.doc.get("started_at") or "")

    @property
    def machine_class(self) -> str:
        return str((self.doc.get("machine") or {}).get("class") or MIXED)

    @property
    def run_id(self) -> str:
        return str(self.doc.get("run_id") or "")

    @property
    def revision(self) -> str:
        return str(self.doc.get("git_sha") or "unknown")

    def label(self) -> str:
        """'run2 (2026-12-03, 6c73bbb5ec08)' for headlines."""
        return "%s (%s, %s)" % (one_line(self.run_id, 60), self.started[:10], one_line(self.revision, 20))


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _arch(platform_text: str) -> Optional[str]:
    return next((a for a in ARCHES if a in platform_text), None)


def machine_facts(doc: Dict[str, Any]) -> Dict[str, Any]:
    """{cpu_model, cpus, memory_gib, os, arch} from a results document's provenance (None where unrecorded)."""
    provenance = _dict(doc.get("provenance"))
    host, docker = _dict(provenance.get("host")), _dict(provenance.get("docker"))
    memory = docker.get("memory_bytes", host.get("memory_bytes"))
    platform_text = one_line(host.get("os") or "", 200)
    return {"cpu_model": one_line(host.get("cpu_model"), 120) if host.get("cpu_model") else None,
            "cpus": host.get("cpus") if isinstance(host.get("cpus"), int) else None,
            "memory_gib": round(memory / 2 ** 30) if isinstance(memory, int) and not isinstance(memory, bool)
            else None,
            "os": one_line(docker.get("os"), 80) if docker.get("os") else (platform_text.split("-")[0] or None),
            "arch": _arch(platform_text)}


def _mixed(doc: Dict[str, Any]) -> bool:
    """A merged document whose shards ran on machines of different CPU model or count."""
    merged = _dict(doc.get("provenance")).get("merged_from")
    if not isinstance(merged, list):
        return False
    hosts = {(str(_dict(_dict(m).get("host")).get("cpu_model")), str(_dict(_dict(m).get("host")).get("cpus")))
             for m in merged}
    return len(hosts) > 1


def machine_class(doc: Dict[str, Any]) -> Tuple[str, str, Dict[str, Any]]:
    """(class id, label, facts). The id is a folder name: the CPU in short, cores, memory, and a hash of all
    the facts, so two machines differing in any of them never share a class."""
    facts = machine_facts(doc)
    if _mixed(doc):
        return MIXED, "mixed machines (a merge of shards from different hosts)", facts
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode("utf-8")).hexdigest()[:8]
    cpu = _UNSAFE.sub("-", str(facts["cpu_model"] or "unknown-cpu").lower()).strip("-")[:32]
    class_id = "%s-%scpu-%sgib-%s" % (cpu, facts["cpus"] or "x", facts["memory_gib"] or "x", digest)
    label = "%s, %s CPUs, %s GiB, %s %s" % (facts["cpu_model"] or "unknown CPU", facts["cpus"] or "?",
                                             facts["memory_gib"] or "?", facts["os"] or "unknown OS",
                                             facts["arch"] or "")
    return class_id, label.strip(), facts


def _compact_training(training: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {k: training[k] for k in ("status", "test_accuracy", "stage") if k in training}
    timing = _dict(training.get("timing"))
    if timing:
        out["timing"] = {k: timing[k] for k in ("verdict", "seconds", "interval", "rel_width", "causes")
                         if k in timing}
    samples = training.get("samples")
    if isinstance(samples, list) and samples:
        out["samples"] = [{"wall": s.get("wall"), "warmup": bool(s.get("warmup"))} for s in samples
                          if isinstance(s, dict)]
    elif isinstance(training.get("epoch_seconds"), list):
        out["epoch_seconds"] = training["epoch_seconds"]
    error = _dict(training.get("error"))
    if error:
        out["error"] = {"type": one_line(error.get("type"), 120)}
    return out


def compact_cell(cell: Dict[str, Any]) -> Dict[str, Any]:
    """What the history shows of a cell: no logs, scenarios or full installed sets."""
    out: Dict[str, Any] = {k: cell[k] for k in ("cell_id", "status", "device", "measure", "python", "versions",
                                                "cached") if k in cell}
    if cell.get("reason"):
        out["reason"] = one_line(cell["reason"], 300)
    versions = _dict(cell.get("versions"))
    installed = _dict(cell.get("installed"))
    if installed:
        out["installed"] = {k: installed[k] for k in versions if k in installed}
    default = _dict(cell.get("default_backend"))
    if default:
        error = _dict(default.get("error"))
        out["default_backend"] = {"backend": default.get("backend"),
                                  "error": {"type": one_line(error.get("type"), 120),
                                            "message": one_line(error.get("message"), 200)} if error else None}
    trainings = _dict(cell.get("trainings"))
    if trainings:
        out["trainings"] = {name: _compact_training(_dict(t)) for name, t in trainings.items()}
    return out


def compact_run(doc: Dict[str, Any]) -> Dict[str, Any]:
    """A results document reduced to a history entry."""
    class_id, label, facts = machine_class(doc)
    provenance, matrix = _dict(doc.get("provenance")), _dict(doc.get("matrix"))
    host = _dict(provenance.get("host"))
    return {"kind": HISTORY_KIND, "history_version": HISTORY_VERSION, "run_id": doc.get("run_id"),
            "started_at": doc.get("started_at"), "finished_at": doc.get("finished_at"),
            "complete": doc.get("complete"), "git_sha": provenance.get("git_sha"),
            "machine": {"class": class_id, "label": label, "facts": facts},
            # diff.py reads the host from here: the same fields a results document has
            "provenance": {"host": {"cpu_model": host.get("cpu_model"), "cpus": host.get("cpus")},
                           "git_sha": provenance.get("git_sha")},
            "matrix": {k: matrix[k] for k in ("path", "sha256", "cells_selected", "expansions") if k in matrix},
            "cells": [compact_cell(c) for c in doc.get("cells") or [] if isinstance(c, dict)]}


def _started(doc: Dict[str, Any]) -> datetime.datetime:
    text = str(doc.get("started_at") or "")
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ResultsError("the run %s has no valid started_at (%r): the history keys runs by date"
                           % (one_line(doc.get("run_id"), 60), one_line(text, 40))) from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc)


def file_name(entry: Dict[str, Any]) -> str:
    """'20261203T071600Z-6c73bbb5ec08-run2.json': sorts by date; date, revision and run id are the key."""
    when = _started(entry).astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    revision = re.sub(r"[^A-Za-z0-9]+", "-", str(entry.get("git_sha") or "nogit"))[:20]
    run = re.sub(r"[^A-Za-z0-9._]+", "-", str(entry.get("run_id") or "run"))[:60].strip(".") or "run"
    return "%s-%s-%s.json" % (when, revision, run)


def load_run(path: Path) -> StoredRun:
    """One stored run, checked; ResultsError naming the file otherwise."""
    try:
        doc = json.loads(read_capped(path, MAX_RUN_BYTES, "history run").decode("utf-8"))
    except FileProblem as exc:
        raise ResultsError(str(exc)) from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ResultsError("the history file %s is unreadable or not JSON: %s. Remove it or restore it from the "
                           "store's copy" % (path, one_line(exc, 200))) from None
    if not isinstance(doc, dict) or doc.get("kind") != HISTORY_KIND:
        raise ResultsError("%s is not a keras-matrix history run (kind %r); a store holds only the files "
                           "`history add` writes" % (path, one_line(_dict(doc).get("kind"), 60)))
    version = doc.get("history_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > HISTORY_VERSION:
        raise ResultsError("%s has history_version %r; this runner reads up to %d: update keras-matrix"
                           % (path, version, HISTORY_VERSION))
    if not isinstance(doc.get("cells"), list) or not isinstance(doc.get("machine"), dict):
        raise ResultsError("%s lacks its cells or machine: not a complete history run" % path)
    _started(doc)
    return StoredRun(path, doc)


def load_store(store: Path) -> List[StoredRun]:
    """Every run of the store, oldest first (by start date, then run id)."""
    if not store.is_dir():
        raise ResultsError("no history store at %s: `history add RESULTS --store %s` creates one" % (store, store))
    runs = [load_run(path) for path in sorted(store.glob("*/*.json")) if path.is_file()]
    return sorted(runs, key=lambda r: (_started(r.doc), r.run_id))


def prune(store: Path, class_id: str, keep: int = DEFAULT_KEEP, weeks: int = DEFAULT_WEEKS) -> List[Path]:
    """Remove what the bound does not keep in one machine class; the removed paths."""
    runs = sorted((load_run(p) for p in (store / class_id).glob("*.json")), key=lambda r: _started(r.doc),
                  reverse=True)
    kept_weeks: List[Tuple[int, int]] = []
    removed = []
    for index, run in enumerate(runs):
        if index < keep:
            continue
        week = tuple(_started(run.doc).isocalendar())[:2]
        if week not in kept_weeks and len(kept_weeks) < weeks and \
                all(tuple(_started(r.doc).isocalendar())[:2] != week for r in runs[:keep]):
            kept_weeks.append((int(week[0]), int(week[1])))
            continue
        run.path.unlink()
        removed.append(run.path)
    return removed


def add_run(doc: Dict[str, Any], store: Path, keep: int = DEFAULT_KEEP,
            weeks: int = DEFAULT_WEEKS) -> Tuple[Path, List[Path]]:
    """Add a results document to the store (replacing the same run), then bound its machine class.
    (the file written, the files removed)."""
    if keep < 1 or weeks < 0:
        raise ValueError("keep must be >= 1 and weeks >= 0")
    entry = compact_run(doc)
    folder = store / entry["machine"]["class"]
    path = folder / file_name(entry)
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), default=str) + "\n"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as exc:
        raise ResultsError("cannot write the history store %s: %s. Try --store with a writable directory"
                           % (store, exc.strerror or exc)) from None
    return path, prune(store, entry["machine"]["class"], keep, weeks)
