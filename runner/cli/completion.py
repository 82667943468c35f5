"""`completion`: print a shell completion script for bash or zsh (shtab reads the whole parser)."""

from __future__ import annotations

import argparse

import shtab

from runner.cli.common import AddCommand


def register(add_command: AddCommand, root: argparse.ArgumentParser) -> None:
    """`root` is the whole parser the script completes (handed in by main.py, which builds it)."""
    parser = add_command("completion", "print a shell completion script: "
                                       "eval \"$(keras-matrix completion bash)\" (or zsh)")
    parser.add_argument("shell", choices=["bash", "zsh"])
    parser.set_defaults(func=lambda args: command(args, root))


def command(args: argparse.Namespace, root: argparse.ArgumentParser) -> int:
    print(shtab.complete(root, shell=args.shell))
    return 0
