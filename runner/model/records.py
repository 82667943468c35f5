"""The results records: one definition of every record the tool writes and reads, and of its statuses.

Records stay plain JSON objects (dicts) on disk and in memory, so a results file written by one version
re-renders byte-identically in the next; their shapes are TypedDicts, checked by mypy where they are
built and read, and checked against ``resources/results.schema.json`` by a test (tests/unit/test_records.py).
Every module that names a status or a backend takes it from here. Longer than our usual module on
purpose: the record shapes are the results contract, and one file keeps every shape beside the others.
"""

from __future__ import annotations

import datetime
import enum
import re
from typing import Any, Dict, List, Optional, Tuple, TypedDict, Union

SCHEMA_VERSION = 1
# A record's reasons (cell, build, expectation) are clipped to this many characters when they are made.
REASON_LIMIT = 300
KIND = "keras-matrix-results"


class _TextEnum(str, enum.Enum):
    """A str-valued enum whose members print and serialise as their value ('ok', not 'Status.OK')."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Status(_TextEnum):
    """A cell's outcome. Order: best to worst (report sorting and colours follow it)."""

    OK = "ok"
    PARTIAL = "partial"
    TRAIN_FAILED = "train_failed"
    IMPORT_FAILED = "import_failed"
    UNSATISFIABLE = "unsatisfiable"
    BUILD_FAILED = "build_failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"
    ERROR = "error"

    @property
    def meaning(self) -> str:
        return STATUS_MEANINGS[self]


STATUS_MEANINGS: Dict[Status, str] = {
    Status.OK: "every backend trained",
    Status.PARTIAL: "some backends trained, some failed",
    Status.TRAIN_FAILED: "Keras imported but no backend trained",
    Status.IMPORT_FAILED: "Keras or every backend failed to import",
    Status.UNSATISFIABLE: "the installer (pip, uv) found no distribution for this Python/platform, or no solution to "
                          "the pins (uv says why)",
    Status.BUILD_FAILED: "the image did not build",
    Status.TIMEOUT: "the cell ran past its time limit",
    Status.SKIPPED: "not run (for example a GPU cell on an engine without a GPU runtime)",
    Status.ERROR: "the runner could not measure this cell (see reason)",
}

# A stack that worked (at least partly), and the outcomes that say it did not.
OK_STATUSES = frozenset({Status.OK, Status.PARTIAL})
FAILURE_STATUSES = (Status.TRAIN_FAILED, Status.IMPORT_FAILED, Status.UNSATISFIABLE, Status.BUILD_FAILED,
                    Status.TIMEOUT, Status.ERROR)
# Outcomes that are a property of the stack, not of the moment: a cache may reuse them.
REPRODUCIBLE_STATUSES = frozenset({Status.OK, Status.PARTIAL, Status.TRAIN_FAILED, Status.IMPORT_FAILED,
                                   Status.UNSATISFIABLE})
# Outcomes a resumed run measures again.
RETRY_ON_RESUME = frozenset({Status.ERROR, Status.TIMEOUT})


class TrainingStatus(_TextEnum):
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    SKIPPED = "skipped"


class BuildStatus(_TextEnum):
    BUILT = "built"
    CACHED = "cached"
    FAILED = "failed"
    TIMEOUT = "timeout"
    NOT_RUN = "not_run"


# The backend libraries Keras can run on, in the order their layers are built and reports list them
# (heaviest and most shared first; numpy and openvino come after the frameworks, so a cell that adds them
# shares the framework layers of the same stack without them). Short names are what cell ids and narrow
# tables use.
BACKENDS = ("tensorflow", "theano", "cntk", "jax", "torch", "numpy", "openvino")
SHORT_NAMES: Dict[str, str] = {"keras": "keras", "tensorflow": "tf", "theano": "theano", "cntk": "cntk",
                               "jax": "jax", "torch": "torch", "numpy": "numpy", "openvino": "openvino"}
# Backends that only some Keras releases have: the first Keras release with that backend. The matrix refuses
# such an axis on a cell whose Keras cannot be shown to be that release or later (runner/matrix/load.py).
BACKEND_SINCE_KERAS: Dict[str, str] = {"numpy": "3.0", "openvino": "3.8"}


def short_name(name: str) -> str:
    return SHORT_NAMES.get(name, name)


def canonical_name(name: str) -> str:
    """A distribution name in PEP 503's form: 'tensorflow_cpu' -> 'tensorflow-cpu', 'Keras_Applications' ->
    'keras-applications' (records from older probes hold the dist-info spelling)."""
    return re.sub(r"[-_.]+", "-", str(name)).lower()


def canonical_installed(installed: Any) -> Dict[str, str]:
    """An installed set ({name: version}) with PEP 503 names; the first spelling of a name wins."""
    found: Dict[str, str] = {}
    for name, version in (installed.items() if isinstance(installed, dict) else ()):
        found.setdefault(canonical_name(name), str(version))
    return found


def backend_sort_key(name: str) -> Tuple[int, str]:
    """Known backends in BACKENDS order, then any other name alphabetically."""
    return (BACKENDS.index(name), "") if name in BACKENDS else (len(BACKENDS), name)


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


# ---- record shapes (keys as in results.schema.json) ---------------------------------------------------

class ErrorInfo(TypedDict, total=False):
    """An exception a container reported: its type and message (and where it came from)."""

    type: str
    message: Optional[str]
    traceback_tail: Optional[str]


class BuildStep(TypedDict):
    """One Dockerfile step of a build as BuildKit's plain progress reported it: built (with its seconds) or
    taken from the layer cache (cached, no seconds)."""

    step: str  # "[stage-0 5/7] RUN ... pip install keras==3.15.0", clipped
    seconds: Optional[float]
    cached: bool


class _BuildRecordFields(TypedDict):
    status: str  # BuildStatus
    seconds: Optional[float]
    image: Optional[str]
    image_id: Optional[str]
    image_size: Optional[int]
    dockerfile: Optional[str]
    dockerfile_sha256: Optional[str]
    log: Optional[str]
    log_tail: Optional[str]
    resolver: Optional[str]  # uv's explanation of an unsatisfiable stack (absent in records before 2026-12-03)


class BuildRecord(_BuildRecordFields, total=False):
    # Per step (absent in results recorded before them, and when the build log had no BuildKit steps): what
    # each layer cost, so a run's floor can count every distinct layer once (bench/cold_floor.py).
    steps: List[BuildStep]


class DefaultBackend(TypedDict, total=False):
    """What Keras chose with a clean HOME and no KERAS_BACKEND, or the exception it raised."""

    backend: Optional[str]
    error: Optional[ErrorInfo]
    keras_version: Optional[str]
    keras_json: Union[Dict[str, Any], str, None]
    keras_json_written: Optional[bool]
    stderr_tail: Optional[str]


class Sample(TypedDict, total=False):
    """One timed epoch: which process and epoch, and the clocks and contention counters around it."""

    process: int
    epoch: int
    warmup: bool
    wall: float
    process_cpu: Optional[float]
    container_cpu: Optional[float]
    throttled: Optional[float]
    nr_throttled: Optional[int]
    steal: Optional[float]
    cores_busy: Optional[float]  # busy seconds of the host CPUs we may run on, anyone's work (/proc/stat)
    # Batch times (absent in results recorded before them): how many batches the epoch ran, and the wall
    # time of each group of batch_group consecutive batches in integer microseconds (runner/probe/train.py).
    batches: int
    batch_group: int
    batch_us: List[int]
    batch_clock: str  # BatchClock; absent: the callback (results recorded before slices have none)
    # The process's calibration workload, median seconds (train.py --calibrate): how fast the machine was.
    calibration: Optional[float]


class Stability(_TextEnum):
    STABLE = "stable"          # the interval is narrow enough to quote the figure
    UNSTABLE = "unstable"      # still too wide after the sampling budget
    CONTENDED = "contended"    # steal, throttling or missing CPU time say the cores were not ours


class Timing(TypedDict, total=False):
    """The headline steady-epoch figure with its uncertainty and verdict."""

    estimator: str
    seconds: Optional[float]
    interval: Optional[List[float]]
    confidence: float
    rel_width: Optional[float]
    samples: int
    processes: int
    verdict: str  # Stability
    causes: List[str]
    cpu_per_wall: Optional[float]
    steal_share: Optional[float]
    foreign_share: Optional[float]  # others' CPU seconds on our cores per wall second (cores_busy - container_cpu)
    throttled_seconds: Optional[float]


class TrainingRecord(TypedDict, total=False):
    status: str  # TrainingStatus
    stage: Optional[str]
    backend_used: Optional[str]
    keras_version: Optional[str]
    device: Optional[Dict[str, Any]]
    epoch_seconds: List[float]
    first_epoch_seconds: Optional[float]
    steady_epoch_seconds: Optional[float]
    steady_epoch_spread: Optional[List[float]]
    test_accuracy: Optional[float]
    test_loss: Optional[float]
    threads: Union[str, int, None]
    cpuset: Optional[str]
    cpus_allowed: Optional[List[int]]
    error: Optional[ErrorInfo]
    exit_code: Optional[int]
    oom_killed: Optional[bool]
    seconds: Optional[float]
    started_at: Optional[str]
    finished_at: Optional[str]
    log_tail: Optional[str]
    samples: List[Sample]
    timing: Optional[Timing]


class ExpectationVerdict(_TextEnum):
    """How a cell's outcome compares with what the matrix declared (pytest's passed/xfailed/failed/xpassed)."""

    MET = "met"
    EXPECTED_FAILURE = "expected_failure"
    UNEXPECTED_FAILURE = "unexpected_failure"
    UNEXPECTED_PASS = "unexpected_pass"
    OBSERVED = "observed"  # expect: {status: any}: a sweep declares no outcome, so none is a failure


class Expectation(TypedDict, total=False):
    """What the matrix declared: a cell status and/or per-backend training outcomes, and why."""

    status: Optional[str]
    trainings: Optional[Dict[str, str]]
    reason: Optional[str]


class Scenario(TypedDict, total=False):
    """One way of asking Keras for its backend, in a fresh process (runner/probe/scenarios.py): the
    environment it set, the keras.json planted before and found after, what backend() said or raised."""

    id: str
    description: str
    env: Dict[str, str]
    keras_json_before: Union[Dict[str, Any], str, None]
    backend: Optional[str]
    error: Optional[ErrorInfo]
    keras_json_after: Union[Dict[str, Any], str, None]
    keras_json_path: Optional[str]  # '~/.keras/keras.json', '$KERAS_HOME/keras.json', '/tmp/.keras/keras.json'
    keras_json_written: Optional[bool]


class RError(TypedDict, total=False):
    """An R or Python error seen from R: its condition classes, message, and the step that raised."""

    type: str
    message: Optional[str]
    stage: Optional[str]


class RScenario(TypedDict, total=False):
    """One fresh Rscript process (runner/probe/r_probe.R): what it set from R, and what Keras said through
    reticulate, or the error."""

    id: str
    env: Dict[str, str]
    r_version: Optional[str]
    python: Optional[str]
    python_version: Optional[str]
    keras_version: Optional[str]
    r_packages: Optional[Dict[str, Optional[str]]]
    backend: Optional[str]  # keras$backend$backend()
    backend_function: Optional[str]
    config_backend: Optional[str]  # keras$config$backend() (Keras 3)
    error: Optional[RError]
    r_functions: Dict[str, Dict[str, Any]]  # 'keras3::config_backend()' -> {value} or {error}
    stderr_tail: Optional[str]


class CranPart(TypedDict):
    """The R packages a cell asked from CRAN: installed, skipped (CRAN did not answer; reason: the error
    measured before the build) or missing (built, but R does not find them)."""

    requested: List[str]
    status: str
    reason: Optional[str]


class RRecord(TypedDict, total=False):
    """What R sees of the cell's Keras through reticulate (R cells only)."""

    rscript: Optional[str]
    r_version: Optional[str]
    reticulate_version: Optional[str]
    python: Optional[str]
    r_packages: Optional[Dict[str, Optional[str]]]
    scenarios: List[RScenario]
    cran: Optional[CranPart]
    error: Optional[str]


class PipCheck(TypedDict):
    """`pip check` in the container: its exit code and each line naming a broken requirement."""

    exit_code: Optional[int]
    problems: List[str]


class AsOfRecord(TypedDict):
    cutoff: str  # UTC: files uploaded later were not seen by the cell's installs
    rule: str  # release (the day the cell's Keras release was published) | date (given in the matrix)
    source: str  # where the cutoff came from: 'index DATE', 'list DATE' (the kept versions list), 'matrix'


class CellRecord(TypedDict, total=False):
    """One cell's result: what was asked, what was installed, what Keras said, how each backend trained."""

    schema_version: int
    cell_id: str
    group: str
    name: str
    era: str
    description: str
    versions: Dict[str, str]
    requirements: List[str]
    python: str
    device: str
    device_used: Optional[str]
    base_image: Dict[str, Any]
    status: str  # Status
    reason: Optional[str]
    cached: bool
    cache_key: Optional[str]
    measured_in_run: Optional[str]
    started_at: Optional[str]
    finished_at: Optional[str]
    seconds: Optional[float]
    build: BuildRecord
    probe: Optional[Dict[str, Any]]
    installed: Dict[str, str]
    default_backend: DefaultBackend
    trainings: Dict[str, TrainingRecord]
    cpuset: Optional[str]
    measure_started_at: Optional[str]
    measure_seconds: Optional[float]
    expectation: Optional[Expectation]
    expectation_verdict: Optional[str]  # ExpectationVerdict
    measure: str  # full | smoke | probe: how much of the cell was measured
    as_of: Optional[AsOfRecord]  # resolved as the index served it then (matrix key as_of); absent: as it is now
    scenarios: List[Scenario]
    tf_keras: Optional[Dict[str, Any]]
    pip_check: Optional[PipCheck]
    shared_packages: Dict[str, List[str]]  # import package -> the distributions that wrote files into it
    conflict: Optional[str]  # the installed set is broken: pip check problems and shared packages, named
    r: RRecord  # R cells only: what R sees through reticulate, and the CRAN part


class RunDocument(TypedDict, total=False):
    """A whole run (results.json): settings, provenance, and the cells in matrix order."""

    schema_version: int
    kind: str
    run_id: str
    started_at: Optional[str]
    finished_at: Optional[str]
    complete: bool
    matrix: Dict[str, Any]
    settings: Dict[str, Any]
    provenance: Dict[str, Any]
    disk: Dict[str, Optional[int]]
    resumed_from: Dict[str, Any]
    merged_from: List[Dict[str, Any]]
    cells: List[CellRecord]


def new_build_record(image: Optional[str] = None, dockerfile: Optional[str] = None,
                     dockerfile_sha256: Optional[str] = None, log: Optional[str] = None) -> BuildRecord:
    return BuildRecord(status=BuildStatus.NOT_RUN.value, seconds=None, image=image, image_id=None,
                       image_size=None, dockerfile=dockerfile, dockerfile_sha256=dockerfile_sha256, log=log,
                       log_tail=None, resolver=None)


def empty_default_backend() -> DefaultBackend:
    return DefaultBackend(backend=None, error=None)
