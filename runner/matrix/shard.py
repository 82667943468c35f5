"""Split cells across CI jobs: deterministic, balanced by expected cost, and keeping cells that share
heavy layers (same era, device and first framework layer) in the same shard so each shard reuses its own
build cache instead of downloading the same framework again."""

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from runner.util.errors import UsageError

# Expected cost in rough "minutes": a build of a framework layer, then a probe and one training per backend.
LAYER_COST = 1.5
CELL_COST = 0.5
BACKEND_COST = 0.5


def layer_key(cell: Any) -> Tuple[str, str, str]:
    """Cells with the same key share their heaviest layers (era packages + first framework)."""
    first = cell.requirements[0][1] if cell.requirements else ""
    return (cell.era.name, cell.device, first)


def cell_cost(cell: Any) -> float:
    return CELL_COST + BACKEND_COST * len(cell.backends)


MAX_SHARDS = 1000


def parse_shard(text: Optional[str]) -> Tuple[int, int]:
    """'2/4' -> (2, 4): plain decimal digits only, 1 <= I <= N <= MAX_SHARDS."""
    match = re.fullmatch(r"([1-9][0-9]{0,5})/([1-9][0-9]{0,5})", text or "")
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)) <= MAX_SHARDS:
        raise UsageError("--shard takes I/N with 1 <= I <= N <= %d, e.g. 2/4; got %r" % (MAX_SHARDS, text))
    return int(match.group(1)), int(match.group(2))


def shards(cells: Sequence[Any], count: int) -> List[List[Any]]:
    """-> list of `count` cell lists; every cell in exactly one; greedy longest-processing-time first."""
    if not 1 <= count <= MAX_SHARDS:
        raise UsageError("a shard count must be from 1 to %d; got %d" % (MAX_SHARDS, count))
    groups: Dict[Tuple[str, str, str], List[Any]] = {}
    for cell in cells:
        groups.setdefault(layer_key(cell), []).append(cell)
    weighted = sorted(groups.items(), key=lambda item: (-(LAYER_COST + sum(cell_cost(c) for c in item[1])), item[0]))
    loads = [0.0] * count
    members: List[List[Any]] = [[] for _ in range(count)]
    for _, group in weighted:
        target = min(range(len(loads)), key=lambda i: (loads[i], i))
        members[target].extend(group)
        loads[target] += LAYER_COST + sum(cell_cost(c) for c in group)
    order = {cell.id: index for index, cell in enumerate(cells)}
    return [sorted(shard, key=lambda c: order[c.id]) for shard in members]


def select_shard(cells: Sequence[Any], text: str) -> List[Any]:
    index, count = parse_shard(text)
    return shards(cells, count)[index - 1]


def github_matrix(cells: Sequence[Any], count: Optional[int] = None) -> Dict[str, Any]:
    """JSON-able value for `strategy.matrix` via fromJSON: one entry per shard, or per cell."""
    if count:
        parts = shards(cells, count)
        return {"include": [{"shard": "%d/%d" % (i + 1, count), "index": i + 1, "cells": len(p),
                             "cost": round(sum(cell_cost(c) for c in p), 1)} for i, p in enumerate(parts) if p]}
    return {"include": [{"cell": c.id, "device": c.device} for c in cells]}
