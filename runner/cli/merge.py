"""`merge`: combine results files (CI shards, reruns) into one, checking that the selection is complete."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Sequence

from runner.cli.common import AddCommand, Selection, add_selection, load_selection, options_from
from runner.util.errors import ResultsError, UsageError
from runner.util.text import say


@dataclass(frozen=True)
class MergeOptions:
    results: Sequence[str]
    output: str
    allow_duplicates: bool
    allow_mixed_matrices: bool


def register(add_command: AddCommand) -> None:
    parser = add_command("merge", "combine results files (CI shards) into one")
    parser.add_argument("results", nargs="+", help="results.json files or run directories")
    parser.add_argument("-o", "--output", required=True, help="the merged results file to write")
    parser.add_argument("--matrix", help="check that every cell of this matrix (or of the selection) has a result")
    add_selection(parser)
    parser.add_argument("--allow-duplicates", action="store_true", help="a cell in several files: the last wins")
    parser.add_argument("--allow-mixed-matrices", action="store_true",
                        help="merge results of different matrix files (by default their sha256 must agree)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from runner.results.merge import merge_results
    from runner.results.store import load_results
    from runner.util.fileio import atomic_write_text

    options, selection = options_from(MergeOptions, args), options_from(Selection, args)
    expected = None
    if selection.matrix:  # the cells the run selected (--filter etc.), not every cell of the matrix
        expected = [c.id for c in load_selection(selection, "merge")[1]]
    elif selection.narrows:
        raise UsageError("merge: --cell, --filter, --profile and --shard select cells of --matrix; give --matrix")
    doc = merge_results([load_results(p) for p in options.results], expected_cells=expected,
                        allow_duplicates=options.allow_duplicates, allow_mixed_matrices=options.allow_mixed_matrices)
    # fileio refuses a FIFO, device or directory at the output name instead of replacing it
    atomic_write_text(options.output, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n",
                      error=ResultsError, hint="Give -o a regular file in a writable directory.")
    say("merged %d cells from %d files into %s" % (len(doc["cells"]), len(options.results), options.output),
        sys.stderr)
    return 0
