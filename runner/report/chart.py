"""Stage: report. The HTML page's two overviews: the pivot matrix (Keras versions by library combination)
and the timing chart (inline SVG, steady epoch seconds per cell and backend).

The chart is drawn here rather than by a charting library so the page needs no script or font from
anywhere; every value from a record is escaped as it is written into the SVG.
"""

from __future__ import annotations

import html
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

from markupsafe import Markup

from runner.model.records import backend_sort_key, short_name
from runner.report import timing
from runner.report.fields import Doc, fmt_accuracy, fmt_seconds, training_device, version_key

# Bars and legend: one colour per backend library (status colours are separate, in the template's CSS).
BACKEND_COLOURS = {"tensorflow": "#e8710a", "theano": "#3b6fd4", "cntk": "#8e44ad", "jax": "#0f9d8a",
                   "torch": "#c2185b", "numpy": "#4d77cf", "openvino": "#6a1b9a"}
OTHER_COLOURS = ("#6d4c41", "#546e7a", "#9e9d24", "#00838f")


def backend_colour(name: str, order: List[str]) -> str:
    if name in BACKEND_COLOURS:
        return BACKEND_COLOURS[name]
    others = [n for n in order if n not in BACKEND_COLOURS]
    return OTHER_COLOURS[others.index(name) % len(OTHER_COLOURS)] if name in others else OTHER_COLOURS[0]


def seconds_text(value: Any) -> str:
    """fmt_seconds for a value read from a record: '-' for anything that is not a number."""
    return fmt_seconds(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


# ---- the pivot matrix ------------------------------------------------------------------------------------

BAND_COLUMNS = 8  # columns one band of the pivot shows: 8 library sets (13 CPU/GPU columns) fit 1400 px

def pivot(views: List[Dict[str, Any]], key: str, band_columns: int = BAND_COLUMNS) -> Dict[str, Any]:
    """Rows: Keras versions (version order). Columns: backend-library combinations, each split by the devices
    its cells use (CPU and GPU side by side; a combination with no GPU cell gets no empty GPU column)."""
    first_keras: Dict[str, Tuple[int, Any]] = {}
    devices: Dict[str, Set[str]] = {}
    slots: Dict[Tuple[Any, Any, Any], List[Dict[str, Any]]] = {}
    rows: Dict[str, Tuple[int, Any]] = {}
    for view in views:
        column, keras = view[key], view["keras"]
        order = version_key(None if keras == "-" else keras)
        rows[keras] = order
        first_keras[column] = min(first_keras.get(column, order), order)
        devices.setdefault(column, set()).add(view["device"])
        slots.setdefault((keras, column, view["device"]), []).append(view)
    columns = [{"label": c, "devices": sorted(devices[c])}
               for c in sorted(first_keras, key=lambda c: (first_keras[c], c))]
    keras_rows = sorted(rows, key=lambda r: rows[r])
    bands = []
    # Wrapped, not scrolled: more columns than a 1400 px screen holds become stacked bands of at most
    # band_columns columns, each with only the Keras rows that have a cell in it (columns are in order of
    # their first Keras release, so a band covers a stretch of releases and stays short).
    for start in range(0, len(columns), band_columns):
        band = columns[start:start + band_columns]
        band_rows = [{"keras": keras, "slots": [slots.get((keras, col["label"], device), []) for col in band
                                                for device in col["devices"]]}
                     for keras in keras_rows]
        bands.append({"columns": band, "rows": [r for r in band_rows if any(r["slots"])]})
    return {"columns": columns, "bands": bands}


# ---- the timing chart (inline SVG) ----------------------------------------------------------------------

def _nice_step(maximum: float, ticks: int = 6) -> float:
    raw = maximum / max(1, ticks)
    magnitude: float = 10 ** int(f"{raw:e}".split("e")[1])
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _whisker(training: Mapping[str, Any]) -> Tuple[Optional[List[float]], str]:
    """The error bar: the 95% interval where recorded, else the min-max of the steady epochs (older records)."""
    bounds = timing.interval(training)
    if bounds is not None:
        return bounds, "95% interval"
    spread = training.get("steady_epoch_spread")
    if isinstance(spread, list) and len(spread) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in spread):
        return [float(spread[0]), float(spread[1])], "range of the steady epochs"
    return None, ""


def timing_chart(doc: Doc, device: str, backends: List[str],
                 filters: Optional[Mapping[str, Mapping[str, str]]] = None) -> Optional[Markup]:
    """Horizontal bars: the steady epoch figure per cell and backend (finished trainings on `device`), each
    with its interval as an error bar and labelled by timing.headline, the rule every format follows. A
    flagged training (contended, unstable) keeps its bar, drawn lighter with a dashed outline, and its label
    carries the flag. Smoke cells are not charted: their time is no measurement. Each cell is a <g> carrying
    the page's filter attributes (`filters`: cell id -> status, device, search) so the page's script can hide
    it and close the gap."""
    groups = []
    for cell in doc.get("cells") or []:
        if timing.is_smoke(cell):
            continue
        bars = []
        for name in sorted(cell.get("trainings") or {}, key=backend_sort_key):
            training = cell["trainings"][name]
            steady = timing.seconds(training)
            if steady is None or training_device(training, cell) != device:
                continue
            bars.append((name, steady, training))
        if bars:
            groups.append((str(cell.get("cell_id")), bars))
    if not groups:
        return None
    esc = html.escape
    longest = max(len(cell_id) for cell_id, _ in groups)
    label_w = min(460, 16 + 6.7 * longest)
    width, value_w, bar_h, gap, group_gap = 1300, 330, 13, 2, 9  # value_w: room for a label with its flag
    plot_x = label_w + 8
    plot_w = width - plot_x - value_w
    highest = [max(s, (_whisker(t)[0] or [s, s])[1]) for _, bars in groups for _, s, t in bars]
    maximum = max(highest) or 1.0
    step = _nice_step(maximum)
    top = (maximum // step + 1) * step if maximum % step else maximum
    legend_h, axis_h = 26, 20
    height = legend_h + axis_h + sum(len(b) * (bar_h + gap) + group_gap for _, b in groups) + 6
    used = [n for n in backends if any(n == b for _, bars in groups for b, _, _ in bars)]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 %d %d" width="%d" '
           'data-km-chart="%s" data-top="%d" aria-label="%s">'
           % (width, height, width, esc(device), legend_h + axis_h,
              esc("Steady-state epoch seconds per cell and backend on %s, with error bars" % device))]
    x = 8.0
    for name in used:  # legend
        out.append('<rect x="%.1f" y="6" width="12" height="12" rx="2" fill="%s"/>'
                   % (x, backend_colour(name, backends)))
        out.append('<text x="%.1f" y="16" class="lg">%s</text>' % (x + 17, esc(name)))
        x += 30 + 7.5 * len(name)
    out.append('<line x1="%.1f" y1="12" x2="%.1f" y2="12" class="eb"/><text x="%.1f" y="16" class="lg">'
               '95%% interval (older runs: range of the steady epochs)</text>' % (x + 6, x + 24, x + 30))
    if any(timing.is_shaky(t) for _, bars in groups for _, _, t in bars):
        x += 30 + 6.6 * 52
        out.append('<rect x="%.1f" y="6" width="18" height="12" rx="2" fill="#7b8794" fill-opacity="0.4" '
                   'stroke="#7b8794" stroke-dasharray="3 2" class="flagged"/><text x="%.1f" y="16" class="lg">'
                   'flagged [contended or unstable]</text>' % (x, x + 23))
    y0 = legend_h + axis_h
    value = 0.0
    while value <= top + 1e-9:  # grid and axis labels
        gx = plot_x + plot_w * value / top
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="grid"/>' % (gx, y0 - 4, gx, height - 4))
        out.append('<text x="%.1f" y="%d" class="ax" text-anchor="middle">%s</text>'
                   % (gx, y0 - 8, esc(("%g" % round(value, 6)) + "s")))
        value += step
    y = y0
    for cell_id, bars in groups:
        group_h = len(bars) * (bar_h + gap) + group_gap
        attrs = "".join(' data-%s="%s"' % (k, esc(str(v))) for k, v in sorted((filters or {}).get(cell_id, {}).items()))
        out.append('<g class="cg" data-km-cell="%s"%s data-h="%d" transform="translate(0,%d)">'
                   % (esc(cell_id), attrs, group_h, y))
        out.append('<a href="#cell-%s"><text x="%.1f" y="%.1f" class="cl" text-anchor="end">%s</text>'
                   '<title>%s</title></a>'
                   % (esc(cell_id), label_w, (group_h - group_gap) / 2 + 4, esc(cell_id),
                      esc("details of %s" % cell_id)))
        by = 0.0
        for name, steady, training in bars:
            w = max(1.0, plot_w * steady / top)
            colour = backend_colour(name, backends)
            bounds, kind = _whisker(training)
            tip = "%s \u00b7 %s: steady epoch %s%s, first epoch %s, accuracy %s" % (
                cell_id, name, timing.detail(training),
                (", %s %s \u2013 %s" % (kind, fmt_seconds(bounds[0]), fmt_seconds(bounds[1])))
                if bounds and not kind.startswith("95") else "",  # the detail already gives the 95% interval
                seconds_text(training.get("first_epoch_seconds")), fmt_accuracy(training.get("test_accuracy")))
            # A flagged training keeps its bar: lighter, with a dashed outline.
            look = ' fill-opacity="0.4" stroke="%s" stroke-dasharray="3 2" class="flagged"' % colour \
                if timing.is_shaky(training) else ""
            out.append('<rect data-km-backend="%s" x="%.1f" y="%.1f" width="%.1f" height="%d" rx="2" fill="%s"%s>'
                       '<title>%s</title></rect>' % (esc(name), plot_x, by, w, bar_h, colour, look, esc(tip)))
            label = timing.headline(training)
            right = plot_x + w
            if bounds is not None:
                lo, hi = (plot_x + plot_w * b / top for b in bounds)
                mid = by + bar_h / 2
                out.append('<g class="eb%s"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>'
                           '<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/><line x1="%.1f" y1="%.1f" x2="%.1f" '
                           'y2="%.1f"/><title>%s</title></g>'
                           % ("" if kind.startswith("95") else " range", lo, mid, hi, mid, lo, mid - 4, lo, mid + 4,
                              hi, mid - 4, hi, mid + 4, esc(tip)))
                right = max(right, hi)
            out.append('<text x="%.1f" y="%.1f" class="bv">%s %s</text>' % (
                right + 4, by + bar_h - 2.5, esc(label), esc(short_name(name))))
            by += bar_h + gap
        out.append("</g>")
        y += group_h
    out.append("</svg>")
    return Markup("".join(out))
