"""The words the tool's options and records are made of, each one type: how a cell is measured, the device
it asks for, how progress is shown, how much a finding matters. (Statuses, timing verdicts and expectation
verdicts are in runner/model/records.py, beside the records that carry them.) No I/O here.

Each is a str enum: a member compares equal to its word and serialises as it, so records stay plain JSON;
tests/unit/test_vocabulary.py fails when one of these words is spelled out as a bare string elsewhere."""

from __future__ import annotations

from typing import Tuple

from runner.model.records import _TextEnum


class MeasureMode(_TextEnum):
    """How much of a cell is measured (matrix key `measure`)."""

    FULL = "full"    # probe, scenarios and the timed MNIST training
    SMOKE = "smoke"  # probe and a few batches per backend: does it train at all (no timing)
    PROBE = "probe"  # no training: import, default backend, scenarios, installed set


class Device(_TextEnum):
    CPU = "cpu"
    GPU = "gpu"


class ProgressMode(_TextEnum):
    """What `run` prints while it goes (--progress)."""

    HUMAN = "human"  # a live display on a terminal, else timestamped lines
    QUIET = "quiet"
    JSON = "json"    # one JSON object per line, for tools


class FindingLevel(_TextEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def words(kind: type[_TextEnum]) -> Tuple[str, ...]:
    """The words of one vocabulary, in declaration order (argparse choices, schema enums)."""
    return tuple(member.value for member in kind)
