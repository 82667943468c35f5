"""`render`: write one Dockerfile per selected cell (or print them), without building anything."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from runner.cli.common import AddCommand, Selection, add_matrix, add_selection, load_selection, options_from
from runner.util.text import say


@dataclass(frozen=True)
class RenderOptions:
    out: str
    stdout: bool


def register(add_command: AddCommand) -> None:
    parser = add_command("render", "write one Dockerfile per cell")
    add_matrix(parser)
    parser.add_argument("--out", default="dockerfiles/generated", help="directory (default: dockerfiles/generated)")
    parser.add_argument("--stdout", action="store_true", help="print the Dockerfiles instead of writing them")
    add_selection(parser)
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from runner.render import render_cell, write_cell

    options = options_from(RenderOptions, args)
    _, cells = load_selection(options_from(Selection, args), "render")
    for cell in cells:
        if options.stdout:
            sys.stdout.write("# ---- %s\n%s" % (cell.id, render_cell(cell)))
        else:
            say(write_cell(cell, options.out))
    return 0
