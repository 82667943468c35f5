"""The entry point: the parser assembled from the command modules (in the order --help lists them), and
main(), which turns every error into its exit code and a one-line message (the traceback only with --debug)."""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import List, Optional

from runner import __version__
from runner.cli import ask, bisect, completion, diff, history, merge, plan, render, report, run, site
from runner.cli.common import EPILOG
from runner.util.errors import RunnerError
from runner.util.text import say

# then completion (it completes them all) and bisect
COMMANDS = (ask, plan, render, run, report, site, merge, diff, history)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-matrix",
        description="Build Keras stacks in real Docker containers, probe the default Keras backend, train a "
                    "reference MNIST model on every backend, and report.",
        epilog=EPILOG)
    parser.add_argument("--version", action="version", version="keras-matrix " + __version__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    # --debug also after the subcommand: SUPPRESS leaves the top-level value alone when it is not repeated.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add_command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, epilog=EPILOG, parents=[common])

    for module in COMMANDS:
        module.register(add_command)
    completion.register(add_command, parser)
    bisect.register(add_command)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status: int = args.func(args)
        return status
    except RunnerError as exc:
        if args.debug:
            traceback.print_exc()
        say("error: %s" % exc, sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line; --debug shows where
        if args.debug:
            traceback.print_exc()
        say("internal error: %s: %s (run with --debug for the traceback, and please report it)"
            % (type(exc).__name__, str(exc)[:300]), sys.stderr)
        return 1
