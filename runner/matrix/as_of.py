"""Release-day resolution (matrix key `as_of`): a cell resolved as the package index served it at a moment,
the way `uv pip install --exclude-newer` and `pip install --uploaded-prior-to` resolve, so "did Keras X work
on its release day, and with what?" has an answer. `as_of: release` is the moment the cell's Keras release was
published (from the index, or the kept list's upload times); a date 'YYYY-MM-DD' includes that whole UTC day.
The cutoff joins the cell's id (two resolutions of the same pins are two stacks) and its record."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any, Optional

from runner.matrix.cells import AsOf, Cell, cell_id
from runner.matrix.releases import RangeError, Resolver
from runner.util.errors import MatrixError

RELEASE = "release"
_DATE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)?")
_PINNED = re.compile(r"==[0-9][0-9A-Za-z.+!-]*")


def cutoff_of(value: Any, path: object, line: Optional[int], key: str) -> str:
    """A date or time from the matrix -> the UTC cutoff it means ('2018-06-06' -> '2018-06-06T23:59:59Z')."""
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    try:
        if not match:
            raise ValueError(value)
        stamp = match.group(1) + (match.group(2) or "T23:59:59Z")
        datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")  # a real day and time, not 2018-02-30
    except ValueError:
        raise MatrixError("as_of is 'release' or a UTC date 'YYYY-MM-DD' / time 'YYYY-MM-DDTHH:MM:SSZ', got %r"
                          % (str(value)[:60],), path, line, key) from None
    return stamp


def with_as_of(cell: Cell, value: Any, resolver: Resolver, path: object, line: Optional[int], key: str) -> Cell:
    """The cell resolved as of `value` (None: unchanged), its id carrying the day."""
    if value is None:
        return cell
    if value == RELEASE:
        if not cell.keras or not _PINNED.fullmatch(cell.keras):
            raise MatrixError("as_of: release needs one pinned Keras release (e.g. keras: '2.2.0'), got %s"
                              % (cell.keras or "no keras"), path, line, key)
        try:
            stamp, source = resolver.uploaded("keras", cell.keras[2:])
        except RangeError as exc:
            raise MatrixError(str(exc), path, line, key) from None
        as_of = AsOf(cutoff=stamp, rule=RELEASE, source=source)
    else:
        as_of = AsOf(cutoff=cutoff_of(value, path, line, key), rule="date", source="matrix")
    new_id = cell_id(cell.keras, cell.backends, cell.python, cell.device, cell.r is not None, as_of.day)
    return dataclasses.replace(cell, as_of=as_of, id=new_id)
