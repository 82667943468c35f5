"""Untrusted text (container output, record fields) made fit for where it is shown: one clipping rule.

Every report and log line that shows a value it did not write itself passes it through one of these.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Optional, TextIO

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
    line = without_controls(line)
    return line if len(line) <= limit else line[:limit - 1] + "\u2026"


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
