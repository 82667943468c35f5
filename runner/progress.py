"""What a person (or a CI log) sees while the run goes: which cell, which stage, elapsed.

Modes: `human` (one aligned line per event), `json` (one JSON object per line, for machines), `quiet`."""

from __future__ import annotations

import json
import sys
import time
from typing import Optional, TextIO


class Progress:
    def __init__(self, mode: str, total: int, stream: Optional[TextIO] = None) -> None:
        self.mode, self.total = mode, total
        self.stream = stream or sys.stderr
        self.started = time.monotonic()

    def event(self, index: int, cell_id: Optional[str], stage: str, message: str = "") -> None:
        elapsed = time.monotonic() - self.started
        if self.mode == "json":
            print(json.dumps({"t": round(elapsed, 1), "cell": cell_id, "index": index, "total": self.total,
                              "stage": stage, "message": message}), file=self.stream, flush=True)
        elif self.mode == "human":
            where = "[%d/%d] %s" % (index, self.total, cell_id) if cell_id else "[run]"
            print("%6.0fs %s: %s%s" % (elapsed, where, stage, (" - " + message) if message else ""),
                  file=self.stream, flush=True)
