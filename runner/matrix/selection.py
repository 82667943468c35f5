"""Choosing cells: --cell globs, --filter KEY=GLOB and --profile, in matrix order (the CLI's selection
options; shards are applied after, in runner/matrix/shard.py)."""

import fnmatch
from typing import List, Optional, Sequence

from runner.matrix.cells import AXES, Cell, Matrix, cells_matching, version_slug
from runner.model.records import SHORT_NAMES
from runner.util.errors import UsageError

_FILTER_KEYS = ("id", "group", "era", "device", "python") + AXES
# The short names cell ids use (keras2.9.0-tf2.9.3-...) are accepted as the axes they stand for: --filter tf=2.9*
_SHORT_KEYS = {short: axis for axis, short in SHORT_NAMES.items() if short != axis and short not in _FILTER_KEYS}
_GLOB = set("*?[")


def _filter_value(cell: Cell, key: str) -> str:
    if key in AXES:
        spec = cell.versions().get(key)
        return version_slug(spec) if spec else "none"
    if key == "era":
        return cell.era.name
    return str(getattr(cell, key))


def select(matrix: Matrix, cells: Sequence[str] = (), filters: Sequence[str] = (),
           profile: Optional[str] = None) -> List[Cell]:
    """Cells chosen by --cell globs (any), --filter key=glob (all) and --profile, in matrix order."""
    chosen = list(matrix.cells)
    if profile:
        if profile not in matrix.profiles:
            known = ", ".join(sorted(matrix.profiles)) or "none defined"
            raise UsageError("unknown profile %r; profiles in %s: %s" % (profile, matrix.path, known))
        wanted = {c.id for p in matrix.profiles[profile] for c in cells_matching(matrix.cells, p)}
        chosen = [c for c in chosen if c.id in wanted]
    if cells:
        wanted = set()
        for pattern in cells:
            found = cells_matching(matrix.cells, pattern)
            if not found:
                raise UsageError("no cell matches --cell %r; `python -m runner plan %s` lists the ids"
                                 % (pattern, matrix.path))
            wanted.update(c.id for c in found)
        chosen = [c for c in chosen if c.id in wanted]
    for expr in filters:
        key, sep, pattern = expr.partition("=")
        key = _SHORT_KEYS.get(key, key)
        if not sep or key not in _FILTER_KEYS:
            raise UsageError("--filter takes KEY=GLOB with KEY one of %s (or %s); got %r"
                             % (", ".join(_FILTER_KEYS), ", ".join(sorted(_SHORT_KEYS)), expr))
        kept = [c for c in chosen if fnmatch.fnmatchcase(_filter_value(c, key), pattern)]
        if not kept and chosen and key in AXES and not _GLOB & set(pattern):
            # `keras=2.8` is matched whole against 2.8.0: say what would match instead of "no cell"
            wider = sorted({_filter_value(c, key) for c in chosen if fnmatch.fnmatchcase(_filter_value(c, key),
                                                                                         pattern + ".*")})
            if wider:
                raise UsageError("--filter %s matches no cell: versions are matched whole; %s=%s.* matches %s"
                                 % (expr, key, pattern, ", ".join(wider[:5]) + (" ..." if len(wider) > 5 else "")))
        chosen = kept
    return chosen
