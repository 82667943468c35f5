"""Untrusted text (container output, record fields) made fit for where it is shown: one clipping rule.

Every report and log line that shows a value it did not write itself passes it through one of these.
"""

from __future__ import annotations

import re
import sys
from typing import Any, List, Optional, Sequence, TextIO

# C0/C1 controls, line/paragraph separators, and the Unicode bidi and invisible format characters
# (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C): they can reorder or hide what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
# The same, less newline and tab: what a multi-line terminal text (a table, a summary) may keep.
_CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029]+")


def clip(value: Any, limit: int, keep: str = "head") -> str:
    """At most `limit` characters of str(value), saying how many were cut; keep="tail" keeps the end
    (log tails) and says what came before was cut."""
    text = "" if value is None else str(value)
    if len(text) <= limit:
        return text
    if keep == "tail":
        return "...[earlier output clipped]...\n" + text[-limit:]
    note = "\u2026 [%d more characters]" % (len(text) - limit)
    return text[:max(0, limit - len(note))] + note


def without_controls(value: Any, replacement: str = " ") -> str:
    return _CONTROL.sub(replacement, "" if value is None else str(value))


def one_line(value: Any, limit: int = 300) -> str:
    """First non-empty line of an untrusted value, controls removed, clipped with an ellipsis."""
    text = "" if value is None else str(value)
    line = next((part.strip() for part in _LINE_BREAKS.split(text) if part.strip()), "")
    return clip_end(without_controls(line), limit)


def optional_text(value: Optional[Any], limit: int) -> Optional[str]:
    """Clipped text for a <pre>, or None when there is nothing to show."""
    if value is None or value == "":
        return None
    return clip(str(value), limit)


def terminal_text(value: Any) -> str:
    """Text fit for a terminal: every control (ESC, OSC, CR, C1, bidi and invisible format characters) out,
    newlines and tabs kept. Every line the CLI writes passes through here (or say), whatever it holds."""
    return _CONTROL_BUT_LINES.sub(" ", "" if value is None else str(value))


def say(value: Any, stream: Optional[TextIO] = None, end: str = "\n", flush: bool = False) -> None:
    """print() for the CLI: the text neutralised by terminal_text, on stdout unless a stream is given."""
    print(terminal_text(value), file=stream if stream is not None else sys.stdout, end=end, flush=flush)


# ---- fitting the terminal ----------------------------------------------------------------------------
# Tables and summary lines for a person at a terminal fit its width, as pytest's and tox's do: columns that
# matter least are dropped first, then long values are clipped with an ellipsis (a cell id loses its middle,
# so its Keras version and its python/device tail stay). Markdown and files keep everything.

ELLIPSIS = "\u2026"
COLUMN_GAP = 2       # spaces between two columns (tabulate's "simple" layout)
MIN_COLUMN = 8       # characters a clipped column keeps
MIN_ID_COLUMN = 20   # ... and a clipped cell-id column


def terminal_columns() -> Optional[int]:
    """The width terminal output must fit, or None for no limit. $COLUMNS wins wherever the output goes (as
    pytest, tox and shutil.get_terminal_size read it); else a terminal's own width; else (a pipe, a file, a CI
    log) no limit, as `ps` and pytest under CI do: a log viewer or `grep` gets whole lines, nothing clipped."""
    import os
    import shutil

    given = os.environ.get("COLUMNS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def clip_end(text: str, limit: int) -> str:
    """At most `limit` characters, the cut marked by an ellipsis at the end."""
    return text if len(text) <= limit else text[:max(0, limit - 1)] + ELLIPSIS


def elide_middle(text: str, limit: int) -> str:
    """At most `limit` characters, the middle replaced by an ellipsis (both ends of an id stay readable)."""
    if len(text) <= limit:
        return text
    if limit < 3:
        return clip_end(text, limit)
    tail = (limit - 1) // 2
    return text[:limit - 1 - tail] + ELLIPSIS + text[len(text) - tail:]


def fit_line(line: str, width: Optional[int]) -> str:
    return line if width is None else clip_end(line.rstrip(), width)


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> List[int]:
    """Each column's natural width: its widest value or header."""
    return [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]


def simple_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """tabulate's "simple" layout, left-aligned text, no trailing blanks: widths are exactly computable."""
    widths = column_widths(headers, rows)
    gap = " " * COLUMN_GAP

    def line(values: Sequence[str]) -> str:
        return gap.join(v.ljust(w) for v, w in zip(values, widths)).rstrip()

    return "\n".join([line(headers), gap.join("-" * w for w in widths)] + [line(r) for r in rows])


def table_width(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    widths = column_widths(headers, rows)
    return sum(widths) + COLUMN_GAP * max(0, len(widths) - 1)


def fit_table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: Optional[int],
              id_columns: Sequence[int] = (0,)) -> str:
    """A simple table within `width` columns (None: as it is). The widest column is clipped first (an id
    column only once every other is down to MIN_COLUMN, and never under MIN_ID_COLUMN); a table that still
    does not fit has its lines clipped."""
    if width is None or table_width(headers, rows) <= width:
        return simple_table(headers, rows)
    natural = column_widths(headers, rows)
    floors = [min(n, MIN_ID_COLUMN if i in id_columns else MIN_COLUMN) for i, n in enumerate(natural)]
    limits = list(natural)
    while sum(limits) + COLUMN_GAP * (len(limits) - 1) > width:
        excess = sum(limits) + COLUMN_GAP * (len(limits) - 1) - width
        others = [i for i in range(len(limits)) if i not in id_columns and limits[i] > floors[i]]
        candidates = others or [i for i in id_columns if limits[i] > floors[i]]
        if not candidates:
            break
        # The widest first, down to the next widest (levelling), so no one column takes the whole cut.
        slack = sorted((limits[i] - floors[i] for i in candidates), reverse=True) + [0]
        k = max(candidates, key=lambda i: (limits[i] - floors[i], -i))
        limits[k] -= min(excess, max(1, slack[0] - slack[1]))

    def cut(i: int, value: str) -> str:
        return elide_middle(value, limits[i]) if i in id_columns else clip_end(value, limits[i])

    table = simple_table([cut(i, h) for i, h in enumerate(headers)],
                         [[cut(i, v) for i, v in enumerate(r)] for r in rows])
    return "\n".join(fit_line(line, width) for line in table.splitlines())
