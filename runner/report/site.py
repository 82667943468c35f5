"""The site: one landing page over several results documents (the matrix, every release, the cross products,
the bisects), and a details page with their provenance.

The landing page's first screen answers three questions from the records: the default backend by Keras
release (consecutive releases with the same answer folded into one row; the rows where the default changed
and the releases from which KERAS_BACKEND names each backend marked), "does Keras X work with framework Y"
(a selector over every published pair, its verdict and the cell's evidence one click away), and how fast
the backends of a stack train (the full MNIST measure's steady epochs). Below it: the derived rules, and
links to every report. Self-contained like index.html (html.py): no network, autoescaped, the one JSON blob
encoded so that it cannot close its script element.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from packaging.version import InvalidVersion, Version

from runner.model.records import backend_sort_key, short_name
from runner.model.vocabulary import Device, MeasureMode
from runner.report import timing
from runner.report.answers import MEASURE_DEPTH, Answer, Pin, Source, Verdict, axis_version, verdict_of
from runner.report.fields import Cell, counts_line, default_of, error_type, ok_steady
from runner.report.findings import reads_keras_backend
from runner.report.html import environment, safe_json
from runner.report.precedence import scenarios_of
from runner.report.rules import evaluate
from runner.util.text import one_line

TEMPLATE = "site.html.j2"
DETAILS_TEMPLATE = "site-details.html.j2"


def _version(text: Optional[str]) -> Optional[Version]:
    try:
        return Version(text) if text else None
    except InvalidVersion:
        return None


def _link(answer_link: Optional[str], out_dir: Path) -> Optional[str]:
    """A report page's path as seen from the site's folder (a relative link opens from file:// too)."""
    if answer_link is None:
        return None
    page, _, anchor = answer_link.partition("#")
    return os.path.relpath(page, out_dir).replace(os.sep, "/") + ("#" + anchor if anchor else "")


# ---- (1) the default backend by Keras release -------------------------------------------------------------

def _default_label(cell: Cell) -> Tuple[str, bool]:
    """('tensorflow', True) or ('ImportError', False) or ('timeout', False)."""
    backend, error = default_of(cell)
    if backend:
        return str(backend), True
    if error:
        return error_type(error), False
    return one_line(cell.get("status"), 20) or "?", False


def default_rows(sources: Sequence[Source]) -> Tuple[List[Dict[str, Any]], List[Dict[str, str]]]:
    """Rows of (releases, default) with consecutive releases folded, and the KERAS_BACKEND milestones."""
    best: Dict[Version, Cell] = {}
    for source in sources:
        for cell in source.doc.get("cells") or []:
            version = _version(axis_version(cell, "keras"))
            if version is None or cell.get("device") == Device.GPU or not cell.get("default_backend"):
                continue
            known = best.get(version)
            # a record where Keras answered beats one where it raised; more backends beat fewer
            if known is None or (_default_label(cell)[1], len(cell.get("versions") or {})) > \
                    (_default_label(known)[1], len(known.get("versions") or {})):
                best[version] = cell
    rows: List[Dict[str, Any]] = []
    last_working: Optional[str] = None
    for version in sorted(best):
        label, works = _default_label(best[version])
        if rows and rows[-1]["default"] == label:
            rows[-1]["last"] = str(version)
            continue
        changed = works and last_working is not None and label != last_working
        rows.append({"first": str(version), "last": str(version), "default": label, "works": works,
                     "changed": changed, "from": last_working if changed else None})
        if works:
            last_working = label
    milestones = []
    everything = [c for source in sources for c in source.doc.get("cells") or []]
    for backend in ("tensorflow", "theano", "cntk", "jax", "torch", "numpy", "openvino"):
        # counted only where the cell's records show Keras reads the variable (an answer equal to the default
        # shows nothing: Keras 0.3.0 says theano whatever KERAS_BACKEND names), as the findings count it
        honoured = [_version(axis_version(c, "keras")) for c in everything
                    if not c.get("conflict") and reads_keras_backend(scenarios_of(c)) is True
                    and any(s.get("id") == "env-" + backend and s.get("backend") == backend
                            for s in c.get("scenarios") or [])]
        first = min((v for v in honoured if v is not None), default=None)
        if first is not None:
            milestones.append({"backend": backend, "since": str(first)})
    for row in rows:
        row["milestones"] = [m for m in milestones if _in_row(m["since"], row)]
    return rows, milestones


def _in_row(version: str, row: Dict[str, Any]) -> bool:
    return Version(row["first"]) <= Version(version) <= Version(row["last"])


# ---- (2) every published pair -------------------------------------------------------------------------------

def pairs(sources: Sequence[Source], out_dir: Path) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """keras version -> 'tensorflow 2.10.1' -> the best record's verdict and evidence (deepest measure)."""
    out: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for source in sources:
        for cell in source.doc.get("cells") or []:
            keras = axis_version(cell, "keras")
            if not keras or cell.get("device") == Device.GPU:
                continue
            names = sorted(cell.get("versions") or {}, key=lambda n: (n != "keras", backend_sort_key(n)))
            trainings = cell.get("trainings") or {}
            timings = {n: ok_steady(trainings[n]) for n in sorted(trainings, key=backend_sort_key)}
            versions = {n: axis_version(cell, n) for n in names}
            for backend in names[1:]:
                pins = [Pin("keras", keras, _exact(keras)), Pin(backend, "", _exact(versions[backend] or ""))]
                entry = _entry(Answer(source, cell, verdict_of(cell, pins), versions, timings), backend, out_dir)
                slot = out.setdefault(keras, {})
                key = "%s %s" % (backend, versions[backend])
                if key not in slot or _better(entry, slot[key]):
                    slot[key] = entry
    return out


def _exact(version: str) -> Any:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet("==" + version) if _version(version) else SpecifierSet()


def _better(new: Dict[str, Any], old: Dict[str, Any]) -> bool:
    return (new["verdict"] == str(Verdict.UNKNOWN), new["depth"]) < (old["verdict"] == str(Verdict.UNKNOWN),
                                                                    old["depth"])


def _entry(answer: Answer, backend: str, out_dir: Path) -> Dict[str, Any]:
    cell = answer.cell
    stack = " + ".join("%s %s" % (short_name(n), v) for n, v in answer.versions.items())
    seconds = answer.timings.get(backend)
    return {"verdict": str(answer.verdict), "cell": answer.cell_id, "source": answer.source.name,
            "link": _link(answer.link, out_dir), "status": one_line(cell.get("status"), 30),
            "measure": one_line(cell.get("measure"), 10), "stack": stack,
            "default": _default_label(cell)[0], "conflict": one_line(cell.get("conflict"), 240),
            "reason": one_line(cell.get("reason"), 120),
            "seconds": seconds, "depth": MEASURE_DEPTH.get(str(cell.get("measure")), 3)}


# ---- (3) how fast the backends of a stack train -------------------------------------------------------------

def speed_rows(sources: Sequence[Source], out_dir: Path) -> List[Dict[str, Any]]:
    """Full-measure CPU cells where two or more backends trained: steady epoch seconds, fastest first."""
    rows = []
    for source in sources:
        for cell in source.doc.get("cells") or []:
            if cell.get("measure", MeasureMode.FULL.value) != MeasureMode.FULL or cell.get("device") != Device.CPU or \
                    str(cell.get("cell_id", "")).endswith("-r"):
                continue
            trainings = cell.get("trainings") or {}
            times = {name: ok_steady(t) for name, t in trainings.items()}
            timed = sorted(((s, n) for n, s in times.items() if s is not None))
            if len(timed) < 2 or len(cell.get("versions") or {}) > 4:
                continue
            slowest = timed[-1][0]
            link = "%s#cell-%s" % (source.page, cell.get("cell_id")) if source.page else None
            fastest = trainings[timed[0][1]]
            # the fastest figure is marked faster only where the comparison with the next one is claimed
            # (significant, and neither training flagged): the one rule every report follows (docs/timing.md)
            claim = timing.comparison(fastest, trainings[timed[1][1]])
            rows.append({"keras": axis_version(cell, "keras"), "cell": one_line(cell.get("cell_id"), 128),
                         "link": _link(link, out_dir), "python": one_line(cell.get("python"), 10),
                         "compared": timing.comparison_text(timed[0][1], fastest, timed[1][1],
                                                            trainings[timed[1][1]]),
                         "bars": [{"backend": short_name(n), "seconds": s, "width": round(100.0 * s / slowest, 1),
                                   "text": timing.headline(trainings[n]), "flagged": timing.is_shaky(trainings[n]),
                                   "fast": i == 0 and bool(claim["claimed"])}
                                  for i, (s, n) in enumerate(timed)]})
    return sorted(rows, key=lambda r: _version(r["keras"]) or Version("0"), reverse=True)


# ---- the pages ----------------------------------------------------------------------------------------------

def _newest_first(names: Sequence[str]) -> List[str]:
    """'tensorflow 2.21.0' before 'tensorflow 2.16.2', TensorFlow before JAX (BACKENDS order)."""
    ordered = sorted(names, key=lambda f: _version(f.split(" ", 1)[-1]) or Version("0"), reverse=True)
    return sorted(ordered, key=lambda f: backend_sort_key(f.split(" ")[0]))


def _first_screen(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The newest stack of each Keras major (rows come newest first); the others wait behind 'all stacks'."""
    seen = set()
    for row in rows:
        major = (_version(row["keras"]) or Version("0")).major
        row["first_screen"] = major not in seen
        seen.add(major)
    return rows


def site_context(sources: Sequence[Source], out_dir: Path) -> Dict[str, Any]:
    rows, milestones = default_rows(sources)
    published = pairs(sources, out_dir)
    kerases = sorted(published, key=lambda v: _version(v) or Version("0"), reverse=True)
    frameworks = {k: _newest_first(list(published[k])) for k in kerases}
    cells = [c for s in sources for c in s.doc.get("cells") or []]
    reports = [{"name": s.name, "link": _link(str(s.page), out_dir) if s.page else None,
                "results": os.path.relpath(s.path, out_dir).replace(os.sep, "/"), "counts": counts_line(s.doc)}
               for s in sources]
    return {"rows": rows, "milestones": milestones, "kerases": kerases,
            "pair_count": sum(map(len, published.values())),
            "data": safe_json({"pairs": published, "frameworks": frameworks, "kerases": kerases}),
            "speed": _first_screen(speed_rows(sources, out_dir)), "rules": evaluate(cells), "reports": reports}


def details_context(sources: Sequence[Source], out_dir: Path) -> Dict[str, Any]:
    docs = []
    for s in sources:
        doc = s.doc
        docs.append({"name": s.name, "results": os.path.relpath(s.path, out_dir).replace(os.sep, "/"),
                     "link": _link(str(s.page), out_dir) if s.page else None, "run_id": doc.get("run_id"),
                     "started": doc.get("started_at"), "finished": doc.get("finished_at"),
                     "complete": doc.get("complete"), "matrix": (doc.get("matrix") or {}).get("path"),
                     "counts": counts_line(doc), "provenance": _flat(doc.get("provenance") or {}),
                     "settings": _flat(doc.get("settings") or {})})
    published = pairs(sources, out_dir)
    kerases = sorted(published, key=lambda v: _version(v) or Version("0"), reverse=True)
    return {"docs": docs, "pairs": [(k, sorted(published[k].items())) for k in kerases]}


def _flat(value: Any, prefix: str = "") -> List[Tuple[str, str]]:
    """{'docker': {'cpus': 2}} -> [('docker.cpus', '2')] (one line each, clipped)."""
    if isinstance(value, dict):
        out: List[Tuple[str, str]] = []
        for key in sorted(value):
            out += _flat(value[key], "%s.%s" % (prefix, key) if prefix else str(key))
        return out
    return [(prefix, one_line(value if not isinstance(value, list) else ", ".join(map(str, value)), 300))]


def write_site(sources: Sequence[Source], out_dir: Path, since: Optional[Dict[str, Any]] = None,
               also: Sequence[Tuple[str, Path]] = ()) -> List[Path]:
    """index.html and details.html into out_dir; `since` (history_page.banner) opens the landing page; `also`:
    (label, folder) of published reports the site links without reading them (every release as released:
    its records answer another question than the site's tables)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    written = []
    landing = site_context(sources, out_dir)
    landing["reports"] = landing["reports"] + [
        {"name": label, "link": _link(str(folder / "index.html"), out_dir),
         "results": os.path.relpath(folder / "results.json", out_dir).replace(os.sep, "/"),
         "counts": "linked, not read by this page"} for label, folder in also]
    for name, template, context in (("index.html", TEMPLATE, dict(landing, since=since)),
                                    ("details.html", DETAILS_TEMPLATE, details_context(sources, out_dir))):
        path = out_dir / name
        path.write_text(env.get_template(template).render(**context), encoding="utf-8")
        written.append(path)
    return written
