"""Checks on the matrix values that can reach a Dockerfile, a shell, an image tag or a container's limits:
one line of plain text everywhere, and limits within sane bounds. Raise MatrixError (exit 2) with file:line."""

from __future__ import annotations

import re
from typing import Any, Iterator, Optional, Tuple

from runner.matrix.yamlload import LineDict, LineList
from runner.util.errors import MatrixError

# Line breaks (including U+2028/2029 and NEL) and other controls: never inside a value that reaches a template.
UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_single_line(node: Any, path: object, key: str = "") -> None:
    """No key or value except a description may hold a line break or control character: every value can
    reach a Dockerfile, a shell, an image tag or a cell id, and `$` in a pattern lets a trailing newline by."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, value in items:
        where = ("%s[%d]" % (key, k)) if isinstance(node, list) else ("%s.%s" % (key, k) if key else str(k))
        line = node.line_of(k) if isinstance(node, (LineDict, LineList)) else None
        if isinstance(k, str) and UNSAFE_TEXT.search(k):
            raise MatrixError("the key %r holds a line break or control character" % k, path, line, key or None)
        if isinstance(value, str) and UNSAFE_TEXT.search(value) and k != "description":
            raise MatrixError("%r holds a line break or control character; values must be one line" % value,
                              path, line, where)
        check_single_line(value, path, where)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _strings(item)


def check_template_inputs(cell: Any, path: object, line: Optional[int]) -> None:
    """The last word before rendering: every value a template or a tag can see is one line of plain text,
    whatever validation let through before (a description is the one multi-line field; no template uses it)."""
    era, base, limits = cell.era, cell.base, cell.limits
    values = (cell.id, cell.group, cell.name, cell.device, cell.keras, cell.backends, cell.requirements, cell.extras,
              era.name, era.python, era.template, era.base, era.apt, era.pip_bootstrap, era.installer, era.uv_version,
              era.preinstall,
              era.constraints, era.packages, era.symlinks, base.name, base.image, base.suite, base.mirror,
              base.variant, limits.memory, limits.cpus,
              (cell.r.apt, cell.r.cran) if getattr(cell, "r", None) else ())
    for text in _strings(values):
        if UNSAFE_TEXT.search(text):
            raise MatrixError("cell %s: %r holds a line break or control character" % (str(cell.id).strip(), text),
                              path, line)


_MEMORY = re.compile(r"([0-9]{1,13})([kmg])")
_CPUS = re.compile(r"[0-9]{1,4}(\.[0-9]{1,3})?")
MIN_MEMORY, MAX_MEMORY = 64 << 20, 4 << 40
MIN_CPUS, MAX_CPUS = 0.1, 1024.0
MIN_PIDS, MAX_PIDS = 16, 100000


def parse_limits(raw: Any, path: object, default: Any) -> Tuple[str, str, int]:
    """(memory, cpus, pids) of defaults.limits within sane bounds: 0 means "no limit" to the engine, so it
    is refused, never passed on. `default` supplies what the matrix leaves out."""
    key = "defaults.limits"

    def line(name: str) -> Optional[int]:
        return raw.line_of(name) if isinstance(raw, LineDict) else None

    memory = raw.get("memory", default.memory)
    match = _MEMORY.fullmatch(memory) if isinstance(memory, str) else None
    size = int(match.group(1)) << {"k": 10, "m": 20, "g": 30}[match.group(2)] if match else 0
    if not MIN_MEMORY <= size <= MAX_MEMORY:
        raise MatrixError("memory %r: give a size from 64m to 4096g, e.g. '6g'" % (memory,), path, line("memory"),
                          key + ".memory")
    cpus = raw.get("cpus", default.cpus)
    text = str(cpus) if isinstance(cpus, (str, int)) and not isinstance(cpus, bool) else ""
    if not (_CPUS.fullmatch(text) and MIN_CPUS <= float(text) <= MAX_CPUS):
        raise MatrixError("cpus %r: give a number of CPUs from %s to %d, e.g. '2'" % (cpus, MIN_CPUS, MAX_CPUS),
                          path, line("cpus"), key + ".cpus")
    pids = raw.get("pids", default.pids)
    if isinstance(pids, bool) or not isinstance(pids, int) or not MIN_PIDS <= pids <= MAX_PIDS:
        raise MatrixError("pids %r: give a whole number from %d to %d" % (pids, MIN_PIDS, MAX_PIDS), path,
                          line("pids"), key + ".pids")
    return memory, text, pids
