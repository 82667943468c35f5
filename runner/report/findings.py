"""Stage: report. Findings: what a run shows, computed only from its results.

Nothing here knows which backend Keras picks, which versions exist or what failed before: every statement
is read from the records (``default_backend.backend``, ``installed``, ``trainings``...) and cites the
cells it comes from. The record accessors it reads with live in fields.py.

A finding is ``{"id", "title", "text", "cells"}`` plus ``level`` (info | warning | error) and ``items``
(the lines of ``text``, each with the cells it cites) so a report can link every line to its cells.
"""

from __future__ import annotations

import statistics
from collections import Counter, OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from runner.records import STATUS_MEANINGS, Status, TrainingStatus, backend_sort_key
from runner.report.fields import (
    Cell,
    Doc,
    cell_label,
    count,
    default_of,
    error_text,
    error_type,
    keras_line,
    keras_version,
    ok_steady,
    training_device,
    version_key,
)
from runner.text import one_line

Finding = Dict[str, Any]


def _finding(fid: str, title: str, items: List[Tuple[str, List[str]]], level: str = "info",
             text: Optional[str] = None) -> Finding:
    cells = list(OrderedDict.fromkeys(c for _, item_cells in items for c in item_cells))
    return {"id": fid, "title": title, "text": text if text is not None else "\n".join(t for t, _ in items),
            "cells": cells, "level": level, "items": [{"text": t, "cells": list(c)} for t, c in items]}


# ---- the findings ------------------------------------------------------------------------------------

def _default_backend(cells: Sequence[Cell]) -> List[Finding]:
    """Which default each Keras version reported, and where in the version order it changes."""
    groups: "OrderedDict[str, Dict[str, Any]]" = OrderedDict()
    for cell in cells:
        backend, error = default_of(cell)
        if backend is None and error is None:
            continue  # never probed (build failed, skipped...): it says nothing about the default
        version = keras_version(cell) or "unknown"
        group = groups.setdefault(version, {"backends": Counter(), "errors": Counter(), "cells": [],
                                            "backend_cells": []})
        group["cells"].append(cell["cell_id"])
        if backend is not None:
            group["backends"][str(backend)] += 1
            group["backend_cells"].append(cell["cell_id"])
        else:
            group["errors"][error_type(error)] += 1
    if not groups:
        return []
    ordered = sorted(groups.items(), key=lambda kv: version_key(kv[0]))
    # Consecutive versions with the same answers read as one range: 'Keras 2.4.3 to 2.15.0 (12 versions)'.
    runs: List[List[Tuple[str, Dict[str, Any]]]] = []
    for version, group in ordered:
        key = (sorted(group["backends"]), sorted(group["errors"]))
        if runs and (sorted(runs[-1][0][1]["backends"]), sorted(runs[-1][0][1]["errors"])) == key:
            runs[-1].append((version, group))
        else:
            runs.append([(version, group)])
    items = []
    for run in runs:
        backends: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        cited: List[str] = []
        for _, group in run:
            backends.update(group["backends"])
            errors.update(group["errors"])
            cited += group["cells"]
        said = ["%s (%s)" % (b, count(n, "cell")) for b, n in sorted(backends.items())]
        said += ["raised %s (%s)" % (e, count(n, "cell")) for e, n in sorted(errors.items())]
        versions = run[0][0] if len(run) == 1 else "%s to %s (%d versions)" % (run[0][0], run[-1][0], len(run))
        items.append(("Keras %s: %s" % (versions, "; ".join(said)), cited))
    reported = sorted({b for _, g in ordered for b in g["backends"]})
    if reported:
        title = "Default backend reported by Keras (fresh HOME, no KERAS_BACKEND): %s" % ", ".join(reported)
    else:
        title = "No Keras version reported a default backend: every probe raised"
    findings = [_finding("default-backend", title, items)]

    # Boundaries: consecutive versions (in version order) whose reported defaults differ.
    answered = [(v, g) for v, g in ordered if g["backends"]]
    for (old_v, old_g), (new_v, new_g) in zip(answered, answered[1:]):
        old_set, new_set = sorted(old_g["backends"]), sorted(new_g["backends"])
        if old_set != new_set:
            text = ("The default backend changes between Keras %s (%s) and Keras %s (%s)."
                    % (old_v, " / ".join(old_set), new_v, " / ".join(new_set)))
            findings.append(_finding("default-backend-change-%s-%s" % (old_v, new_v),
                                     "Default backend changes from %s to %s at Keras %s"
                                     % (" / ".join(old_set), " / ".join(new_set), new_v),
                                     [(text, old_g["backend_cells"] + new_g["backend_cells"])]))
    for version, group in answered:
        if len(group["backends"]) > 1:
            findings.append(_finding("default-backend-disagrees-%s" % version,
                                     "Cells with Keras %s disagree on the default backend" % version,
                                     [("Keras %s reported %s in different cells (the installed libraries differ)."
                                       % (version, " and ".join(sorted(group["backends"]))),
                                       group["backend_cells"])], level="warning"))
    return findings


def _default_errors(cells: Sequence[Cell]) -> List[Finding]:
    """Cells where asking Keras for its default raised, and whether other backends still trained."""
    items = []
    for cell in cells:
        backend, error = default_of(cell)
        if error is None or backend is not None:
            continue
        trainings = cell.get("trainings") or {}
        trained = sorted((n for n, t in trainings.items() if t.get("status") == TrainingStatus.OK),
                         key=backend_sort_key)
        failed = sorted((n for n, t in trainings.items() if t.get("status") != TrainingStatus.OK),
                        key=backend_sort_key)
        keras_json = (cell.get("default_backend") or {}).get("keras_json")
        named = keras_json.get("backend") if isinstance(keras_json, dict) else None
        text = "%s: importing Keras with no KERAS_BACKEND raised %s" % (cell_label(cell), error_text(error))
        if named:
            text += "; the keras.json it wrote names %s" % one_line(named, 40)
        text += ". Keras raised instead of falling back to another backend"
        if trained:
            text += "; with KERAS_BACKEND set, %s still trained" % ", ".join(trained)
            if failed:
                text += " (%s did not)" % ", ".join(failed)
        elif failed:
            text += "; with KERAS_BACKEND set, no backend trained either (%s failed)" % ", ".join(failed)
        else:
            text += "; the cell has no backend library to try"
        items.append((text + ".", [cell["cell_id"]]))
    if not items:
        return []
    return [_finding("default-backend-errors", "Keras raised instead of choosing a default backend in %s"
                     % count(len(items), "cell"), items, level="warning")]


def _fallbacks(cells: Sequence[Cell]) -> List[Finding]:
    """Keras reported a backend other than the one its own keras.json names: it fell back."""
    items = []
    for cell in cells:
        backend, _ = default_of(cell)
        keras_json = (cell.get("default_backend") or {}).get("keras_json")
        named = keras_json.get("backend") if isinstance(keras_json, dict) else None
        if backend is not None and named is not None and str(named) != str(backend):
            items.append(("%s: keras.json names %s but Keras reported %s: it fell back."
                          % (cell_label(cell), one_line(named, 40), one_line(backend, 40)), [cell["cell_id"]]))
    if not items:
        return []
    return [_finding("default-backend-fallback", "Keras fell back to another backend in %s"
                     % count(len(items), "cell"), items, level="warning")]


def _failures(cells: Sequence[Cell]) -> List[Finding]:
    """Every status but ok, with the reasons grouped: which stacks fail and why."""
    findings = []
    for status in Status:
        if status == Status.OK:
            continue
        members = [c for c in cells if c.get("status") == status]
        if not members:
            continue
        by_reason: "OrderedDict[str, List[str]]" = OrderedDict()
        for cell in members:
            by_reason.setdefault(one_line(cell.get("reason")) or "(no reason recorded)", []).append(cell["cell_id"])
        items = [(reason if len(ids) == 1 else "%s (%d cells)" % (reason, len(ids)), ids)
                 for reason, ids in by_reason.items()]
        level = "info" if status == Status.SKIPPED else ("warning" if status == Status.PARTIAL else "error")
        findings.append(_finding("status-%s" % status, "%s %s: %s" % (
            count(len(members), "cell"), status, STATUS_MEANINGS[status]), items, level=level))
    return findings


def _fastest(cells: Sequence[Cell]) -> List[Finding]:
    """Per Keras major.minor line and device: backends ranked by median steady epoch seconds."""
    lines: "Dict[Tuple[str, str], Dict[str, List[Tuple[float, str]]]]" = {}
    for cell in cells:
        line = keras_line(keras_version(cell)) or "unknown"
        for name, training in (cell.get("trainings") or {}).items():
            steady = ok_steady(training)
            if steady is None:
                continue
            key = (line, training_device(training, cell))
            lines.setdefault(key, {}).setdefault(name, []).append((steady, cell["cell_id"]))
    if not lines:
        return []
    items: List[Tuple[str, List[str]]] = []
    only: Optional[Dict[str, Any]] = None  # a run of consecutive lines where a single backend trained

    def close_only() -> None:
        if only is None:
            return
        lines_text = only["lines"][0] if len(only["lines"]) == 1 else "%s to %s" % (only["lines"][0], only["lines"][-1])
        low, high = min(only["medians"]), max(only["medians"])
        times = "%.2fs" % low if len(only["medians"]) == 1 else "%.2fs to %.2fs" % (low, high)
        items.append(("Keras %s on %s: only %s trained (median steady epoch %s, %s)" % (
            lines_text, only["device"], only["name"], times, count(len(only["cells"]), "cell")), only["cells"]))

    for (line, device) in sorted(lines, key=lambda k: (k[1], version_key(k[0]))):
        per_backend = lines[(line, device)]
        ranked = sorted(((statistics.median(s for s, _ in runs), name, runs) for name, runs in per_backend.items()),
                        key=lambda r: (r[0], r[1]))
        cited = list(OrderedDict.fromkeys(cell_id for _, _, runs in ranked for _, cell_id in runs))
        if len(ranked) == 1:
            median, name = ranked[0][0], ranked[0][1]
            if only is not None and (only["name"], only["device"]) == (name, device):
                only["lines"].append(line)
                only["medians"].append(median)
                only["cells"] += cited
            else:
                close_only()
                only = {"name": name, "device": device, "lines": [line], "medians": [median], "cells": cited}
            continue
        close_only()
        only = None
        described = ["%s %.2fs (%s)" % (name, median, count(len(runs), "cell")) for median, name, runs in ranked]
        items.append(("Keras %s on %s: %s is fastest; median steady epoch %s" % (
            line, device, ranked[0][1], ", ".join(described)), cited))
    close_only()
    return [_finding("fastest-backend", "Fastest backend per Keras line (median steady-state epoch seconds, "
                     "finished trainings only)", items)]


def _gpu(cells: Sequence[Cell]) -> List[Finding]:
    """GPU cells whose backend library saw no GPU: a silent CPU fallback is a finding, never a pass."""
    silent, seen = [], []
    for cell in cells:
        if cell.get("device") != "gpu":
            continue
        for name, training in sorted((cell.get("trainings") or {}).items(), key=lambda kv: backend_sort_key(kv[0])):
            device = training.get("device")
            if not isinstance(device, dict) or device.get("gpu") is None:
                continue
            if device.get("gpu") is False:
                devices = ", ".join(one_line(d, 40) for d in (device.get("devices") or [])) or "none"
                silent.append(("%s: a GPU was requested but %s saw none (devices: %s); the training %s."
                               % (cell_label(cell), name, devices, one_line(training.get("status"), 20)),
                               [cell["cell_id"]]))
            else:
                seen.append(cell["cell_id"])
    findings = []
    if silent:
        findings.append(_finding("gpu-silent-cpu-fallback", "GPU requested but the framework saw none in %s "
                                 "(silent CPU fallback)" % count(len({c for _, ids in silent for c in ids}), "cell"),
                                 silent, level="error"))
    elif seen:
        ids = list(OrderedDict.fromkeys(seen))
        findings.append(_finding("gpu-used", "Every GPU training saw a GPU",
                                 [("All %s that reported their devices trained on a GPU."
                                   % count(len(ids), "GPU cell"), ids)]))
    return findings


def compute_findings(doc: Doc) -> List[Finding]:
    """Findings of a results document, in reading order. Each cites the cell ids it comes from."""
    cells: List[Cell] = [c for c in (doc.get("cells") or []) if isinstance(c, dict) and c.get("cell_id")]
    findings: List[Finding] = []
    for compute in (_default_backend, _default_errors, _fallbacks, _gpu, _failures, _fastest):
        findings.extend(compute(cells))
    return findings


def cited_cells(findings: Iterable[Finding]) -> List[str]:
    return list(OrderedDict.fromkeys(c for f in findings for c in f["cells"]))
