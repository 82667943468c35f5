"""What one run is given and what it derives: RunOptions (the caller's request, never changed), StopRequest
(the clean stop on Ctrl-C or SIGTERM) and RunContext (the run directory, CA bundle, jobs, lanes, GPU runtime and
the tools the threads share), handed to every job function (runner/run/jobs.py) by the loop (runner/run/loop.py).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Iterator, Optional

from runner.model.records import RunDocument
from runner.model.vocabulary import ProgressMode
from runner.results.store import ResultsWriter
from runner.run.cache import ResultCache
from runner.run.cran import CranCheck
from runner.run.progress import Progress
from runner.run.scheduling import CorePool, TrainingGate
from runner.run.timing import DEFAULT_BUDGET
from runner.util import paths

if TYPE_CHECKING:
    from runner.engine.protocol import Engine
    from runner.run.mnist import MnistData


@dataclass(frozen=True)
class RunOptions:
    """What the caller asked for. Never changed by the run (see RunContext for what it derives)."""

    results_dir: Path = Path("results")  # the run writes into results_dir/<run id>
    dockerfiles_dir: Path = field(default_factory=paths.default_generated_dir)
    cache_dir: Path = field(default_factory=paths.default_cache_dir)
    run_id: Optional[str] = None
    ca_bundle: Optional[str] = None  # None: look for the host's (runner.util.net.find_ca_bundle)
    allow_pull: bool = True
    prune: bool = False
    progress: str = ProgressMode.HUMAN.value
    gpu: Optional[bool] = None  # None: use the GPU runtime when the engine has one
    resume: bool = False  # keep the finished cells of an existing run directory and run only the rest
    rerun: bool = False  # measure every cell again, even when its inputs are unchanged since a cached result
    jobs: Optional[int] = None  # parallel builds (None: default_jobs())
    lanes: Optional[int] = None  # cells measured at once, each on its own cores (None: as many as fit, lanes_for())
    build_cache: Optional[Path] = None  # BuildKit layer cache kept across runs (CI): one subdirectory per cell
    timing_budget: str = DEFAULT_BUDGET  # TimingBudget: processes and epochs per full training (runner/run/timing.py)
    unique_run_id: bool = False  # run_id was chosen for the user (a timestamp): take ID-2, ID-3... when it is taken


class StopRequest:
    """Set once the run is stopping (Ctrl-C, SIGTERM, an engine that died): no new build or container starts."""

    def __init__(self) -> None:
        self.requested = False

    @contextmanager
    def on_sigterm(self) -> Iterator[StopRequest]:
        """Turns SIGTERM into the same clean stop as Ctrl-C while the run goes."""
        def handle(signum: int, frame: Optional[FrameType]) -> None:
            self.requested = True
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGTERM, handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGTERM, old)

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


class AheadLimit:
    """How far builds may run ahead of measuring. Builds are quicker than measuring, so without a bound every
    cell's image is built long before its turn: under --prune that held dozens of unmeasured images (51 GB
    on 2026-12-03), the low-disk rule then emptied the build cache, and later builds made their shared
    layers again, as new copies. The n-th build (in the order the cells are measured) starts once n - slots
    cells have been measured and removed. In that order, not first come: lanes measure in order, so a later
    cell holding the slot an earlier one waits for could stall both."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._returned = 0
        self._changed = threading.Condition()

    def take(self, turn: int, stop: StopRequest) -> None:
        """Waits until build number `turn` (0-based) may start; short waits, so a stopping run is not held."""
        with self._changed:
            while turn >= self.slots + self._returned:
                self._changed.wait(timeout=0.5)
                stop.check()

    def give_back(self) -> None:
        with self._changed:
            self._returned += 1
            self._changed.notify_all()


@dataclass
class RunContext:
    """One run's derived settings and shared tools, handed to every job function."""

    engine: Engine
    options: RunOptions
    data: MnistData
    run_id: str
    run_dir: Path
    ca_bundle: Optional[str]
    gpu_runtime: bool
    jobs: int
    lanes: int
    host_cpus: int
    progress: Progress
    cache: ResultCache
    writer: ResultsWriter
    gate: TrainingGate = field(default_factory=TrainingGate)
    core_pool: CorePool = field(default_factory=lambda: CorePool(1))
    stop: StopRequest = field(default_factory=StopRequest)
    cran: Optional[CranCheck] = None  # asked once, before building, when a cell wants CRAN packages
    as_of_index: Optional[str] = None  # host:port of the as-of index while the run builds as_of cells
    # With --prune: how many cells may be built and not yet measured and removed (AheadLimit below). None: any.
    ahead: Optional[AheadLimit] = None

    @property
    def doc(self) -> RunDocument:
        return self.writer.doc
