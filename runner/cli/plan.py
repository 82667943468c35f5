"""`plan`: list the cells a matrix expands to (a table, Markdown, JSON, ids, or a GitHub Actions matrix)."""

from __future__ import annotations

import argparse
import json
import textwrap
from dataclasses import dataclass
from typing import List, Optional

from runner.cli.common import AddCommand, Selection, add_matrix, add_selection, load_selection, options_from
from runner.util.errors import UsageError
from runner.util.text import fit_line, fit_table, say, simple_table, table_width, terminal_columns
from runner.util.validate import whole_number

FORMATS = ("table", "markdown", "json", "ids", "github-matrix")
DROP_ORDER = ("keras", "python", "device", "backends", "base")  # all but base are spelled out in the cell id
MIN_WIDTH = 40


@dataclass(frozen=True)
class PlanOptions:
    format: str
    shards: Optional[int]


def register(add_command: AddCommand) -> None:
    parser = add_command("plan", "list the cells a matrix expands to")
    add_matrix(parser)
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="markdown: a GitHub-flavoured table (job summaries); "
                             "github-matrix: JSON for a GitHub Actions strategy.matrix (use with fromJSON)")
    parser.add_argument("--shards", type=whole_number(1, 1000), metavar="N",
                        help="with --format github-matrix: one entry per shard")
    add_selection(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from runner.matrix.cells import BACKEND_AXES, version_slug

    options = options_from(PlanOptions, args)
    if options.shards is not None and options.format != "github-matrix":
        raise UsageError("--shards splits the github-matrix output; use it with --format github-matrix")
    matrix, cells = load_selection(options_from(Selection, args), "plan")
    if options.format == "json":  # not our vocabulary: an output format
        print(json.dumps([c.to_dict() for c in cells], indent=2, default=str))
        return 0
    if options.format == "github-matrix":
        from runner.matrix.shard import github_matrix

        print(json.dumps(github_matrix(cells, options.shards), separators=(",", ":")))
        return 0
    if options.format == "ids":
        say("\n".join(c.id for c in cells))
        return 0
    rows = []
    for cell in cells:
        backends = ", ".join("%s %s" % (axis, version_slug(spec)) for axis, spec in cell.backends) or "-"
        rows.append([cell.id, cell.group, version_slug(cell.keras) if cell.keras else "-", backends,
                     cell.python, cell.base.name, cell.device])
    headers = ["cell", "group", "keras", "backends", "python", "base", "device"]
    counts = "%d cells (%d in the matrix); backends: %s" % (len(cells), len(matrix.cells), ", ".join(BACKEND_AXES))
    if options.format == "markdown":  # a GitHub job summary: a heading, the counts, then a real table
        # disable_numparse: a python of 3.10 stays "3.10" (tabulate would print the number 3.1).
        say("### keras-matrix plan\n\n%s\n\n%s" % (counts, tabulate(rows, headers=headers, tablefmt="github",
                                                                     disable_numparse=True)))
        return 0
    width = terminal_columns()
    say(terminal_plan(headers, rows, width))
    say("\n" + (counts if width is None else textwrap.fill(counts, max(MIN_WIDTH, width))))
    return 0


def terminal_plan(headers: List[str], rows: List[List[str]], width: Optional[int]) -> str:
    """The plan within `width` columns (None: as it is), as pytest and tox abbreviate: the columns the cell id
    already spells (keras, python, device, backends) drop first, then base; then long values are clipped with
    an ellipsis (a cell id loses its middle, never its python/device tail)."""
    if width is None:
        return simple_table(headers, rows)
    width = max(MIN_WIDTH, width)
    dropped: List[str] = []
    for name in DROP_ORDER:
        if table_width(headers, rows) <= width:
            break
        k = headers.index(name)
        dropped.append(name)
        headers, rows = headers[:k] + headers[k + 1:], [r[:k] + r[k + 1:] for r in rows]
    note = "\n" + fit_line("(not shown: %s; the cell id names the versions)" % ", ".join(dropped), width) \
        if dropped else ""
    return fit_table(headers, rows, width) + note
