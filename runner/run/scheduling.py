"""The run's concurrency tools: how many builds and measurement lanes, which cores each cell gets, and the
gate that keeps timed trainings apart from builds.

Builds run in parallel with each other; a timed training never shares the cores with a build
(TrainingGate); cells measured at the same time each get cores of their own (CorePool), and a GPU cell
takes the GPU alone.
"""

from __future__ import annotations

import math
import os
import threading
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Callable, ContextManager, Iterable, Iterator, List, Optional

if TYPE_CHECKING:
    from runner.matrix.cells import Cell


class TrainingGate:
    """Builds run in parallel with each other, but a timed training never shares the cores with a build:
    a training waits for running builds to end, and no build starts while a training runs. Trainings of
    different cells may run together: CorePool gives each its own cores."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._builds = 0
        self._trainings = 0

    def _wait(self, predicate: Callable[[], bool]) -> None:
        with self._cond:
            while not predicate():
                self._cond.wait(timeout=1.0)  # bounded waits: Ctrl-C is never stuck behind a lock

    @contextmanager
    def building(self) -> Iterator[None]:
        with self._cond:
            while self._trainings:
                self._cond.wait(timeout=1.0)
            self._builds += 1
        try:
            yield
        finally:
            with self._cond:
                self._builds -= 1
                self._cond.notify_all()

    @contextmanager
    def training(self) -> Iterator[None]:
        with self._cond:
            self._trainings += 1
        try:
            self._wait(lambda: self._builds == 0)
            yield
        finally:
            with self._cond:
                self._trainings -= 1
                self._cond.notify_all()


def cores_for(cell: Cell, host_cpus: int) -> int:
    """How many whole cores a cell's containers are pinned to: its CPU limit rounded up, at most the host's."""
    return max(1, min(host_cpus, math.ceil(float(cell.limits.cpus))))


def cpuset_text(cores: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5' (Docker's --cpuset-cpus syntax)."""
    parts: List[List[int]] = []
    run: List[int] = []
    for core in sorted(cores):
        if run and core != run[-1] + 1:
            parts.append(run)
            run = []
        run.append(core)
    if run:
        parts.append(run)
    return ",".join(str(r[0]) if len(r) == 1 else "%d-%d" % (r[0], r[-1]) for r in parts)


class CorePool:
    """The engine host's cores, lent to one cell at a time each: cells measured at the same time (lanes)
    probe and train on disjoint cores, so one cell's timing never shares a core with another's."""

    def __init__(self, count: Optional[int]) -> None:
        self.count = max(1, int(count or 1))
        self._free = list(range(self.count))
        self._cond = threading.Condition()
        self._gpu = threading.Lock()

    @contextmanager
    def cores(self, wanted: int, gpu: bool = False) -> Iterator[str]:
        """Cores for one cell; a GPU cell also takes the GPU alone (the engine exposes all its GPUs to each
        GPU container, so two at once would share them). The GPU is taken first, and nobody holding cores
        ever waits for it: no deadlock."""
        gpu_lock: ContextManager[object] = self._gpu if gpu else nullcontext()
        with gpu_lock, self._lend(wanted) as cpuset:
            yield cpuset

    @contextmanager
    def _lend(self, wanted: int) -> Iterator[str]:
        wanted = max(1, min(self.count, wanted))
        with self._cond:
            while len(self._free) < wanted:
                self._cond.wait(timeout=1.0)
            taken, self._free = self._free[:wanted], self._free[wanted:]
        try:
            yield cpuset_text(taken)
        finally:
            with self._cond:
                self._free = sorted(self._free + taken)
                self._cond.notify_all()


def lanes_for(cells: Iterable[Cell], host_cpus: int, host_memory_bytes: Optional[int],
              requested: Optional[int] = None) -> int:
    """Cells measured at once: never more than the host's cores hold side by side (each cell on cores of
    its own); by default also no more than its memory holds at the cells' memory limits, and at most
    `requested` when given."""
    cells = list(cells)
    if not cells:
        return 1
    # Never more lanes than cells: the recorded number is how many were measured at once.
    by_cores = max(1, min(len(cells), host_cpus // max(cores_for(c, host_cpus) for c in cells)))
    if requested:
        return min(requested, by_cores)
    limit = max(memory_bytes(c.limits.memory) for c in cells)
    by_memory = host_memory_bytes // limit if host_memory_bytes and limit else by_cores
    return max(1, min(by_cores, by_memory))


def memory_bytes(text: str) -> int:
    """'6g' -> bytes: the matrix schema's memory limits are digits then k, m or g (binary multiples)."""
    return int(text[:-1]) << {"k": 10, "m": 20, "g": 30}[text[-1]]


def default_jobs() -> int:
    """Builds are mostly downloads and unpacking: two at a time even on a small machine, at most four."""
    return max(2, min(4, (os.cpu_count() or 2) // 2))
