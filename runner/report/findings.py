"""Stage: report. Findings: what a run shows, computed only from its results.

Nothing here knows which backend Keras picks, which versions exist or what failed before: every statement
is read from the records (``default_backend.backend``, ``installed``, ``trainings``...) and cites the
cells it comes from. The record accessors it reads with live in fields.py.

A finding is ``{"id", "title", "text", "cells"}`` plus ``level`` (info | warning | error), ``items``
(the lines of ``text``, each with the cells it cites) so a report can link every line to its cells, and
``fields`` (the record fields it was computed from, as fields.field_values reads them) so that every
statement is traceable: ``report --explain ID`` prints each line's cells with those fields' values.
Longer than our usual module on purpose: each finding is a short function, and one file lists every
statement a report can make.
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from runner.model import stats
from runner.model.records import STATUS_MEANINGS, ExpectationVerdict, Status, TrainingStatus, backend_sort_key
from runner.model.vocabulary import Device, FindingLevel, MeasureMode
from runner.report import timing
from runner.report.conflicts import conflict_sentence, conflicts
from runner.report.fields import (
    Cell,
    Doc,
    cell_backends,
    cell_label,
    count,
    default_of,
    error_text,
    error_type,
    expectation_reason,
    expected_outcome,
    keras_version,
    version_key,
)
from runner.report.precedence import Scenario, constant_backend, names_backend, release_runs, scenarios_of
from runner.util.text import one_line

Finding = Dict[str, Any]


def _finding(fid: str, title: str, items: List[Tuple[str, List[str]]], level: str = FindingLevel.INFO.value,
             text: Optional[str] = None, fields: Sequence[str] = ()) -> Finding:
    """A finding as data: its statement (title, text and items, each item with the cells it cites) and the
    record fields it was computed from (paths as field_values reads them), so `report --explain ID` can
    print the values behind every line."""
    cells = list(OrderedDict.fromkeys(c for _, item_cells in items for c in item_cells))
    return {"id": fid, "title": title, "text": text if text is not None else "\n".join(t for t, _ in items),
            "cells": cells, "level": level, "items": [{"text": t, "cells": list(c)} for t, c in items],
            "fields": list(fields)}


# ---- the findings ------------------------------------------------------------------------------------

# The record fields each finding reads (paths as fields.field_values resolves them).
DEFAULT_FIELDS = ["installed.keras", "default_backend.backend", "default_backend.error", "scenarios[env-*].backend",
                  "scenarios[env-*].error"]
TIMING_FIELDS = ["measure", "trainings.*.status", "trainings.*.steady_epoch_seconds", "trainings.*.timing.seconds",
                 "trainings.*.timing.verdict", "trainings.*.timing.causes", "trainings.*.timing.interval"]
GPU_FIELDS = ["device", "trainings.*.device", "trainings.*.status"]


def _default_backend(cells: Sequence[Cell], releases: Sequence[str] = ()) -> List[Finding]:
    """Which default each Keras version reported, and where in the version order it changes."""
    groups: "OrderedDict[str, Dict[str, Any]]" = OrderedDict()
    for cell in cells:
        backend, error = default_of(cell)
        if backend is None and error is None:
            continue  # never probed (build failed, skipped...): it says nothing about the default
        version = keras_version(cell) or "unknown"
        group = groups.setdefault(version, {"backends": Counter(), "errors": Counter(), "cells": [],
                                            "backend_cells": [], "no_choice": Counter()})
        group["cells"].append(cell["cell_id"])
        if backend is not None:
            group["backends"][str(backend)] += 1
            group["backend_cells"].append(cell["cell_id"])
            # A release whose backend() ignored every KERAS_BACKEND has a constant, not a chosen default.
            if constant_backend(scenarios_of(cell)) is not None:
                group["no_choice"][str(backend)] += 1
        else:
            group["errors"][error_type(error)] += 1
    if not groups:
        return []
    ordered = sorted(groups.items(), key=lambda kv: version_key(kv[0]))
    items = _version_run_items([(v, _labelled(g)) for v, g in ordered])
    reported = sorted({b for _, g in ordered for b in g["backends"]})
    if reported:
        title = "Default backend reported by Keras (fresh HOME, no KERAS_BACKEND): %s" % ", ".join(reported)
    else:
        title = "No Keras version reported a default backend: every probe raised"
    findings = [_finding("default-backend", title, items, fields=DEFAULT_FIELDS)]

    # Boundaries: consecutive versions (in version order) whose reported defaults differ.
    answered = [(v, g) for v, g in ordered if g["backends"]]
    for (old_v, old_g), (new_v, new_g) in zip(answered, answered[1:]):
        old_set, new_set = sorted(old_g["backends"]), sorted(new_g["backends"])
        if old_set != new_set:
            text = ("The default backend changes between Keras %s (%s) and Keras %s (%s)."
                    % (old_v, " / ".join(old_set), new_v, " / ".join(new_set)))
            findings.append(_finding("default-backend-change-%s-%s" % (old_v, new_v),
                                     "Default backend changes from %s to %s %s"
                                     % (" / ".join(old_set), " / ".join(new_set), _where(old_v, new_v, releases)),
                                     [(text, old_g["backend_cells"] + new_g["backend_cells"])],
                                     fields=DEFAULT_FIELDS[:3]))
    for version, group in answered:
        if len(group["backends"]) > 1:
            findings.append(_finding("default-backend-disagrees-%s" % version,
                                     "Cells with Keras %s disagree on the default backend" % version,
                                     [("Keras %s reported %s in different cells (the installed libraries differ)."
                                       % (version, " and ".join(sorted(group["backends"]))),
                                       group["backend_cells"])], level=FindingLevel.WARNING.value,
                                      fields=DEFAULT_FIELDS[:3]))
    return findings


def keras_releases(doc: Doc) -> List[str]:
    """Every Keras release a run's range expansions listed (matrix.expansions), in version order: what
    tells whether two measured releases are neighbours. Empty when the run named its releases itself."""
    expansions = (doc.get("matrix") or {}).get("expansions") or []
    found = {str(v) for e in expansions if isinstance(e, dict) and e.get("axis") == "keras"
             for v in e.get("versions") or []}
    return sorted(found, key=version_key)


def _where(old: str, new: str, releases: Sequence[str]) -> str:
    """'at Keras 1.1.0 (the release after 1.0.8)' when the expansion shows nothing between them; otherwise
    'between Keras 1.0.8 and 1.1.2' and how many releases between them were not measured, where known."""
    if old in releases and new in releases:
        between = releases.index(new) - releases.index(old) - 1
        if between == 0:
            return "at Keras %s (the release after %s)" % (new, old)
        return "between Keras %s and %s (%s between them not measured)" % (old, new, count(between, "release"))
    return "between Keras %s and %s (the releases between them, if any, not measured)" % (old, new)


def _labelled(group: Dict[str, Any]) -> Dict[str, Any]:
    """The group with each backend that every one of its cells reported without a choice labelled so."""
    backends: Counter[str] = Counter()
    for backend, n in group["backends"].items():
        constant = group["no_choice"][backend] == n
        backends[backend + " (KERAS_BACKEND ignored)" if constant else backend] += n
    return dict(group, backends=backends)


def _version_run_items(ordered: Sequence[Tuple[str, Dict[str, Any]]]) -> List[Tuple[str, List[str]]]:
    """Per-version answers ({"backends": Counter, "errors": Counter, "cells": [...]}, in version order) as
    lines; consecutive versions with the same answers read as one range: 'Keras 2.4.3 to 2.15.0 (12 versions)'."""
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
    return items


def _env_target(key: str, scenario: Scenario) -> str:
    """The backend an env-* scenario named: its KERAS_BACKEND, else the id's ('env-missing-jax' -> 'jax')."""
    named = (scenario.get("env") or {}).get("KERAS_BACKEND")
    return str(named) if named else key[len("env-"):].replace("missing-", "", 1)


def reads_keras_backend(found: Mapping[str, Scenario]) -> Optional[bool]:
    """Whether a cell's records show that Keras reads KERAS_BACKEND: True when some env-* scenario gave the
    backend it named while the default differs, or raised naming it (an error other than the default's);
    False when one gave another backend without error (ignored); None when nothing tells (an answer equal to
    the default cannot show the variable was read)."""
    default = found.get("default")
    default_backend = default.get("backend") if default is not None and not default.get("error") else None
    ignored = False
    for key, scenario in found.items():
        if not key.startswith("env-") or key == "env-vs-json":
            continue
        target = _env_target(key, scenario)
        if not scenario.get("error") and scenario.get("backend") is not None:
            if str(scenario.get("backend")) != target:
                ignored = True
            elif target != default_backend:
                return True
        elif names_backend(scenario, target, default):
            return True
    return False if ignored else None


SAME_AS_DEFAULT = " (the default too: cannot tell)"
IGNORED = " (KERAS_BACKEND ignored)"


def _backend_acceptance(cells: Sequence[Cell], releases: Sequence[str] = ()) -> List[Finding]:
    """Per backend Keras was asked for (each env-<backend> scenario: the probe asks for every backend
    installed in the cell, requested or not), did KERAS_BACKEND=<it> give that backend, per Keras version,
    and the first version that did after one that did not. An answer counts only where the cell's records
    show the variable is read (reads_keras_backend): KERAS_BACKEND=theano answered 'theano' by a Keras
    whose default is theano shows nothing."""
    per_backend: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for cell in cells:
        if cell.get("conflict"):
            continue  # a broken installed set says nothing about what Keras accepts (_conflicts reports it)
        found = scenarios_of(cell)
        reads = reads_keras_backend(found)
        for key in sorted(found):
            if not key.startswith("env-") or key.startswith("env-missing-") or key == "env-vs-json":
                continue
            scenario, backend = found[key], key[len("env-"):]
            version = keras_version(cell) or "unknown"
            group = per_backend.setdefault(backend, {}).setdefault(
                version, {"backends": Counter(), "errors": Counter(), "cells": []})
            group["cells"].append(cell["cell_id"])
            if scenario.get("error"):
                group["errors"][error_type(scenario.get("error"))] += 1
            elif str(scenario.get("backend")) == backend and not reads:
                group["backends"][backend + (IGNORED if reads is False else SAME_AS_DEFAULT)] += 1
            else:
                group["backends"][str(scenario.get("backend"))] += 1
    findings = []
    for backend, groups in sorted(per_backend.items(), key=lambda kv: backend_sort_key(kv[0])):
        ordered = sorted(groups.items(), key=lambda kv: version_key(kv[0]))
        # A release accepts the backend when some measured stack of it gave that backend: a cell that raised
        # may be its stack's fault (Theano 1.0 under Keras 0.3.0), and its line says so. None: cannot tell.
        accepted: List[Optional[bool]] = [
            True if group["backends"][backend] > 0 else
            (None if group["backends"][backend + SAME_AS_DEFAULT] > 0 else False) for _, group in ordered]
        findings.append(_finding("backend-accepted-%s" % backend, _acceptance_title(backend, ordered, accepted,
                                                                                    releases),
                                 _version_run_items(ordered), fields=ACCEPTANCE_FIELDS))
    return findings


ACCEPTANCE_FIELDS = ["installed.keras", "conflict", "scenarios[default].backend", "scenarios[default].error",
                     "scenarios[env-*].env", "scenarios[env-*].backend", "scenarios[env-*].error"]


def _acceptance_title(backend: str, ordered: Sequence[Tuple[str, Dict[str, Any]]],
                      accepted: Sequence[Optional[bool]], releases: Sequence[str]) -> str:
    """'first gives X at Keras 0.3.1 (...)', 'gives X in every Keras version measured', '..., but not in
    Keras 3.0.5': a first release only after a release that definitely did not (never after 'cannot tell')."""
    versions = [v for v, _ in ordered]
    start = "KERAS_BACKEND=%s (installed)" % backend
    if True not in accepted:
        if None in accepted:
            return "%s never shown to give %s (it raised, gave another backend, or %s is the default)" % (
                start, backend, backend)
        return "%s never gives %s in the Keras versions measured" % (start, backend)
    first = accepted.index(True)
    before = [i for i in range(first) if accepted[i] is False]
    later_not = [versions[i] for i in range(first, len(versions)) if accepted[i] is False]
    unknown = [versions[i] for i, a in enumerate(accepted) if a is None]
    if before:
        title = "%s first gives %s %s" % (start, backend, _where(versions[before[-1]], versions[first], releases))
    else:
        title = "%s gives %s from the first Keras version measured (%s)" % (start, backend, versions[0])
    if later_not:
        title += ", but not in Keras %s" % release_runs(later_not, versions)
    elif not before and not unknown:
        title = "%s gives %s in every Keras version measured" % (start, backend)
        if any(g["errors"] or len(g["backends"]) > 1 for _, g in ordered):
            title += " (not in every cell)"
    if unknown:
        title += " (cannot tell in Keras %s: %s is the default there)" % (", ".join(unknown), backend)
    return title


def _default_errors(cells: Sequence[Cell]) -> List[Finding]:
    """Cells where asking Keras for its default raised, and whether other backends still trained."""
    items = []
    for cell in cells:
        backend, error = default_of(cell)
        if error is None or backend is not None or cell.get("conflict"):
            continue  # a broken installed set is its own finding (_conflicts), not Keras choosing
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
        elif cell.get("measure") == MeasureMode.PROBE and cell_backends(cell):
            text += "; probe only: no backend was trained"
        else:
            text += "; the cell has no backend library to try"
        items.append((text + ".", [cell["cell_id"]]))
    if not items:
        return []
    return [_finding("default-backend-errors", "Keras raised instead of choosing a default backend in %s"
                     % count(len(items), "cell"), items, level=FindingLevel.WARNING.value,
                     fields=["default_backend.backend", "default_backend.error", "default_backend.keras_json.backend",
                             "conflict", "trainings.*.status", "measure"])]


_PATH_IN_MESSAGE = re.compile(r"\s*\(/[^)]*\)?$")


def import_error_key(error: Optional[Mapping[str, Any]]) -> str:
    """'ImportError: cannot import name 'dtensor' from 'tensorflow.compat.v2.experimental'': the exception
    and its message without the trailing '(/opt/venv/...)' path, so one error on two Pythons is one group."""
    message = _PATH_IN_MESSAGE.sub("", one_line((error or {}).get("message"), 1000))
    return error_type(error) + (": " + one_line(message, 160) if message else "")


def _import_error(cell: Cell) -> Optional[Mapping[str, Any]]:
    """What made the cell's `import keras` fail: the default probe's error, unless the backend Keras defaults
    to (its keras.json) is not one the cell installs - a Keras 3 cell with torch alone raises "No module named
    'tensorflow'" by design - and a backend of the cell failed at import: then that backend's error."""
    _, error = default_of(cell)
    default = ((cell.get("default_backend") or {}).get("keras_json") or {}).get("backend")
    if default and default not in cell_backends(cell):
        for name in cell_backends(cell):
            training = (cell.get("trainings") or {}).get(name) or {}
            failed = training.get("error")
            if training.get("stage") == "import" and isinstance(failed, dict):
                return dict(failed)
    return error


def _import_errors(cells: Sequence[Cell]) -> List[Finding]:
    """The cells whose `import keras` raised (status import_failed), grouped by the exception and message it
    raised (_import_error), most cells first: what a conflict's reason line (pip check) does not say."""
    groups: Dict[str, List[str]] = {}
    for cell in cells:
        error = _import_error(cell)
        if cell.get("status") == Status.IMPORT_FAILED and error is not None:
            groups.setdefault(import_error_key(error), []).append(cell["cell_id"])
    if not groups:
        return []
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    items = [("%s: %s" % (count(len(ids), "cell"), key), ids) for key, ids in ordered]
    total = sum(len(ids) for ids in groups.values())
    return [_finding("import-errors", "What importing Keras raised in the %s that did not import (%s)"
                     % (count(total, "cell"), count(len(groups), "distinct error")), items,
                     level=FindingLevel.WARNING.value,
                     fields=["status", "default_backend.error.type", "default_backend.error.message",
                             "default_backend.keras_json.backend", "trainings.*.stage", "trainings.*.error"])]


def _conflicts(cells: Sequence[Cell]) -> List[Finding]:
    """Installed sets that are broken whatever Keras says: pip check problems, one package written twice."""
    items = [(conflict_sentence(item), [item["cell_id"]]) for item in conflicts({"cells": list(cells)})]
    if not items:
        return []
    return [_finding("installed-set-conflicts", "The installed set has a conflict (a requirement pip check finds "
                     "violated, or two distributions writing one package) in %s" % count(len(items), "cell"), items,
                     level=FindingLevel.WARNING.value, fields=["pip_check.problems", "shared_packages", "status"])]


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
                     % count(len(items), "cell"), items, level=FindingLevel.WARNING.value,
                     fields=["default_backend.backend", "default_backend.keras_json.backend"])]


def _failure_reasons(cell: Cell) -> List[str]:
    """Each failed training of a cell that trained ('numpy: NotImplementedError: ...', 'openvino: ...'): the
    record's one-line reason names only the first; otherwise that reason (import failures, build errors)."""
    trainings = cell.get("trainings") or {}
    failed = [(name, t) for name, t in sorted(trainings.items(), key=lambda kv: backend_sort_key(kv[0]))
              if isinstance(t, dict) and t.get("status") != TrainingStatus.OK]
    if failed and not cell.get("conflict"):
        return ["%s: %s" % (name, error_text(t.get("error")) or one_line(t.get("stage")) or t.get("status"))
                for name, t in failed]
    return [one_line(cell.get("reason")) or "(no reason recorded)"]


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
            for reason in _failure_reasons(cell):
                by_reason.setdefault(reason, []).append(cell["cell_id"])
        items = [(reason if len(ids) == 1 else "%s (%d cells)" % (reason, len(ids)), ids)
                 for reason, ids in by_reason.items()]
        level = (FindingLevel.INFO if status == Status.SKIPPED else
                 FindingLevel.WARNING if status == Status.PARTIAL else FindingLevel.ERROR).value
        findings.append(_finding("status-%s" % status, "%s %s: %s" % (
            count(len(members), "cell"), status, STATUS_MEANINGS[status]), items, level=level,
            fields=["status", "reason", "conflict", "trainings.*.status", "trainings.*.error", "trainings.*.stage"]))
    return findings


def _speed_item(cell: Cell) -> Optional[Tuple[str, List[str]]]:
    """One cell's backends compared with each other (same image, same run), fastest headline first."""
    trainings = cell.get("trainings") or {}
    finished = [(name, t) for name, t in trainings.items() if timing.seconds(t) is not None]
    if len(finished) < 2:
        return None
    finished.sort(key=lambda nt: (timing.seconds(nt[1]) or 0.0, backend_sort_key(nt[0])))
    said = [timing.comparison_text(name_a, a, name_b, b)
            for i, (name_a, a) in enumerate(finished) for name_b, b in finished[i + 1:]]
    figures = ", ".join("%s %s" % (n, timing.headline(t)) for n, t in finished)
    return "%s: %s; %s" % (cell_label(cell), figures, "; ".join(said)), [cell["cell_id"]]


def _timed(cells: Sequence[Cell]) -> List[Cell]:
    """The cells whose trainings were timed under the protocol: a smoke run (a few batches in one process)
    says whether a stack trains, not how fast, so it is neither compared nor called noisy."""
    return [cell for cell in cells if not timing.is_smoke(cell)]


def _backend_speed(cells: Sequence[Cell]) -> List[Finding]:
    """Backends compared inside each cell only: never pooled across cells of different stacks."""
    items = [item for item in (_speed_item(cell) for cell in _timed(cells)) if item is not None]
    if not items:
        return []
    return [_finding("backend-speed", "Backends compared inside each cell (ratio of steady epoch times with its "
                     "95%% interval; a difference is claimed at Mann-Whitney p < %s with at least a %d%% gap, an "
                     "interval excluding 1 and neither training flagged)" % (stats.ALPHA,
                                                                          round(100 * stats.MIN_EFFECT)),
                     items, fields=TIMING_FIELDS)]


def _unstable_timings(cells: Sequence[Cell]) -> List[Finding]:
    """Flagged trainings (contended, unstable): the figure as every format quotes it, with the cause."""
    items = []
    for cell in _timed(cells):
        trainings = cell.get("trainings") or {}
        for name in sorted(trainings, key=backend_sort_key):
            training = trainings[name]
            if timing.seconds(training) is not None and timing.is_shaky(training):
                items.append(("%s: %s %s (%s)" % (cell_label(cell), name, timing.headline(training),
                                                   timing.evidence_of(training)), [cell["cell_id"]]))
    if not items:
        return []
    return [_finding("timing-unstable", "%s flagged (contended or unstable): quoted with the cause, never "
                     "claimed faster or slower" % count(len(items), "training"), items,
                     level=FindingLevel.WARNING.value, fields=TIMING_FIELDS)]


def _expectations(cells: Sequence[Cell]) -> List[Finding]:
    """Declared expectations (pytest's xfail): expected failures, then the unexpected outcomes."""
    groups: "OrderedDict[str, List[Tuple[str, List[str]]]]" = OrderedDict(
        (v.value, []) for v in (ExpectationVerdict.EXPECTED_FAILURE, ExpectationVerdict.UNEXPECTED_FAILURE,
                                ExpectationVerdict.UNEXPECTED_PASS))
    for cell in cells:
        verdict = cell.get("expectation_verdict")
        if verdict not in groups:
            continue
        reason = one_line(expectation_reason(cell), 300) or "no reason given"
        if verdict == ExpectationVerdict.EXPECTED_FAILURE:
            text = "%s: %s as declared (%s)" % (cell_label(cell), one_line(cell.get("status"), 40), reason)
        elif verdict == ExpectationVerdict.UNEXPECTED_PASS:
            text = "%s: declared broken (%s), but it worked (%s)" % (cell_label(cell), reason,
                                                                      one_line(cell.get("status"), 40))
        else:
            text = "%s: %s, expected %s" % (cell_label(cell), one_line(cell.get("status"), 40),
                                            expected_outcome(cell))
        groups[str(verdict)].append((text, [cell["cell_id"]]))
    info, error = FindingLevel.INFO.value, FindingLevel.ERROR.value
    titles = {ExpectationVerdict.EXPECTED_FAILURE.value: ("expected-failures", info, "expected failure"),
              ExpectationVerdict.UNEXPECTED_FAILURE.value: ("unexpected-failures", error, "unexpected failure"),
              ExpectationVerdict.UNEXPECTED_PASS.value: ("unexpected-passes", error, "unexpected pass")}
    findings = []
    for verdict, items in groups.items():
        if items:
            fid, level, word = titles[verdict]
            why = {"expected-failures": "failed as the matrix declares",
                   "unexpected-failures": "not the outcome declared; where none is declared, ok is expected",
                   "unexpected-passes": "declared broken in the matrix, but it worked"}[fid]
            findings.append(_finding(fid, "%s (%s)" % (count(len(items), word), why), items, level=level,
                                     fields=["status", "trainings.*.status", "expectation", "expectation_verdict"]))
    return findings


def _gpu(cells: Sequence[Cell]) -> List[Finding]:
    """GPU cells whose backend library saw no GPU: a silent CPU fallback is a finding, never a pass."""
    silent, seen = [], []
    for cell in cells:
        if cell.get("device") != Device.GPU:
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
                                 silent, level="error", fields=GPU_FIELDS))
    elif seen:
        ids = list(OrderedDict.fromkeys(seen))
        findings.append(_finding("gpu-used", "Every GPU training saw a GPU",
                                 [("All %s that reported their devices trained on a GPU."
                                   % count(len(ids), "GPU cell"), ids)], fields=GPU_FIELDS))
    return findings


def compute_findings(doc: Doc) -> List[Finding]:
    """Findings of a results document, in reading order. Each cites the cell ids it comes from."""
    cells: List[Cell] = [c for c in (doc.get("cells") or []) if isinstance(c, dict) and c.get("cell_id")]
    findings: List[Finding] = []
    releases = keras_releases(doc)
    findings.extend(_default_backend(cells, releases))
    findings.extend(_backend_acceptance(cells, releases))
    for compute in (_conflicts, _default_errors, _fallbacks, _gpu, _failures, _import_errors, _backend_speed,
                    _unstable_timings, _expectations):
        findings.extend(compute(cells))
    return findings


def cited_cells(findings: Iterable[Finding]) -> List[str]:
    return list(OrderedDict.fromkeys(c for f in findings for c in f["cells"]))
