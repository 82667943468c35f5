"""The command line: one module per command, each with its parser and its typed options; main.py assembles
them and turns errors into exit codes. `keras-matrix --help` (or `python -m runner`)."""

from runner.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
