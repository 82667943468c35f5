"""Checks on hostile command-line values before any work starts: run ids, numeric options, files named.
(The matrix values that can reach a Dockerfile, a shell or a container's limits: runner/matrix/checks.py.)

Each argparse `type` function raises ArgumentTypeError (argparse prints it and exits 2); the other checks
raise UsageError or MatrixError (exit 2). None of them touches the file system except to look.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import stat
from pathlib import Path
from typing import Callable, Optional

from runner.util.errors import UsageError

MAX_RUN_ID = 100
_RUN_ID = re.compile(r"[A-Za-z0-9._-]{1,%d}" % MAX_RUN_ID)


def run_id(text: str) -> str:
    """A run id names one directory inside --results-dir: one plain path component, nothing else."""
    if not _RUN_ID.fullmatch(text) or text in (".", ".."):
        raise UsageError("--run-id %r is not a plain name: use up to %d letters, digits, '.', '_' or '-' "
                         "(not '.' or '..'), e.g. 2024-06-01-nightly" % (text, MAX_RUN_ID))
    return text


def check_run_dir(results_dir: Path, run: str, resume: bool) -> None:
    """A run id already used holds recorded cells: only --resume may continue it, never a fresh run."""
    run_dir = results_dir / run
    if os.path.lexists(run_dir) and not resume:
        raise UsageError("run %r already exists in %s; continue it with --resume, or choose another --run-id"
                         % (run, results_dir))
    if resume and os.path.lexists(run_dir) and (os.path.islink(run_dir) or not run_dir.is_dir()):
        raise UsageError("%s is not a run directory (a link or a file); refusing to resume into it" % run_dir)


MAX_VERSION_TEXT = 200  # a version or specifier; PyPI's longest is well under 50
MAX_VERSION_DIGITS = 30  # one number inside it; beyond this int() is slow, and past 4300 digits it raises
_LONG_NUMBER = re.compile(r"[0-9]{%d,}" % (MAX_VERSION_DIGITS + 1))


def version_text_problem(text: str) -> Optional[str]:
    """Why a version, specifier or range text is refused before any parser sees it, or None: too long, a
    number of more than MAX_VERSION_DIGITS digits, or arbitrary equality ('==='), whose operand is any
    string at all (it would flow into cell ids, paths and Dockerfiles unchecked)."""
    if len(text) > MAX_VERSION_TEXT:
        return "a version of %d characters (at most %d)" % (len(text), MAX_VERSION_TEXT)
    if _LONG_NUMBER.search(text):
        return "a number of more than %d digits" % MAX_VERSION_DIGITS
    if "===" in text:
        return "'===' (arbitrary equality) is not supported; pin a release with '=='"
    return None


def existing_file(text: str, option: str) -> str:
    """A file the user named must exist and be a regular file (not silently ignored when missing)."""
    try:
        mode = os.stat(text).st_mode
    except OSError as exc:
        raise UsageError("%s %s: %s" % (option, text, exc.strerror or exc)) from None
    if not stat.S_ISREG(mode):
        raise UsageError("%s %s is not a regular file" % (option, text))
    return text


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """argparse type: plain decimal digits from low to high (no '1_0', ' 5', '1e3')."""
    def parse(text: str) -> int:
        if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError("expected a whole number from %d to %d, got %r" % (low, high, text))
        return int(text)
    parse.__name__ = "whole number"
    return parse


def fraction(low: float, high: float) -> Callable[[str], float]:
    """argparse type: a finite decimal number from low to high (no nan, inf or negatives)."""
    def parse(text: str) -> float:
        value: Optional[float] = None
        if re.fullmatch(r"[0-9]{1,9}(\.[0-9]{1,9})?|\.[0-9]{1,9}", text):
            value = float(text)
        if value is None or not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError("expected a number from %g to %g, got %r" % (low, high, text))
        return value
    parse.__name__ = "number"
    return parse
