"""What the run needs from a container engine: the `Engine` protocol and the plain data it takes and
gives (build and run outcomes, the container spec). No engine code lives here: the Docker adapter is
runner/engine/docker.py (DockerEngine); the unit tests' fake is tests/fakes.py. Both are checked against
this protocol by mypy, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

LABEL = "org.keras-matrix.managed"  # on every container this tool starts: how cleanup finds them


@dataclass
class BuildOutcome:
    ok: bool
    seconds: float
    timed_out: bool = False
    image_id: Optional[str] = None
    image_size: Optional[int] = None
    log_tail: str = ""


@dataclass
class RunOutcome:
    exit_code: Optional[int]
    output: str
    seconds: float
    timed_out: bool = False
    oom_killed: bool = False


@dataclass
class Mount:
    source: str
    target: str
    read_only: bool = True


def _private_tmp() -> Dict[str, str]:
    return {"/tmp": "rw,exec,nosuid,size=4g"}  # Theano compiles and loads .so files under HOME=/tmp/home


@dataclass
class BuildSpec:
    """One image build: context/Dockerfile built as tag with BuildKit, the log streamed to log_path."""

    context: Path
    tag: str
    build_args: Dict[str, str] = field(default_factory=dict)
    secrets: Dict[str, str] = field(default_factory=dict)  # id -> host file, mounted for RUN --mount=type=secret
    labels: Dict[str, str] = field(default_factory=dict)
    log_path: Optional[Path] = None
    timeout: float = 3600
    should_stop: Optional[Callable[[], bool]] = None  # polled while building: True kills the build
    on_step: Optional[Callable[[str], None]] = None  # each step's first line, for progress
    # A layer cache kept across runs (CI), where the engine can export one; give each image its own directory
    # (a local cache has one index: builds sharing one overwrite it).
    cache_dir: Optional[Path] = None


@dataclass
class RunSpec:
    """One container run. The security settings default to the locked-down values every probe and training
    uses; an engine applies them as given and adds nothing of its own."""

    image: str
    command: List[str]
    env: Dict[str, str] = field(default_factory=dict)
    mounts: List[Mount] = field(default_factory=list)
    memory: str = "6g"
    cpus: Optional[str] = "2"  # CFS quota in cores; None: no quota (the cpuset alone bounds the container)
    pids: int = 4096
    cpuset: Optional[str] = None
    gpu: bool = False
    timeout: float = 1800
    name: Optional[str] = None
    # -- security: training and probing need no network, no root, no capabilities, no writable image
    network: str = "none"
    read_only: bool = True  # the root file system; scratch space is the tmpfs below
    tmpfs: Dict[str, str] = field(default_factory=_private_tmp)
    cap_drop: List[str] = field(default_factory=lambda: ["ALL"])
    security_opt: List[str] = field(default_factory=lambda: ["no-new-privileges"])
    user: str = "65534:65534"  # nobody: the frameworks need no root to train
    working_dir: str = "/tmp"


class Engine(Protocol):
    """What the run needs from a container engine. DockerEngine (runner/engine/docker.py) is the real one;
    tests/fakes.py has the fake the unit tests use (type-checked against this protocol). Every method
    raises runner.util.errors.EngineError when the engine itself fails (unreachable, stopped, refused)."""

    def alive(self) -> bool:
        """Does the daemon still answer (asked on a fresh connection)? Never raises."""

    def describe(self) -> Dict[str, Any]:
        """Facts for provenance and scheduling: docker_version, cpus, memory_bytes, gpu_runtime, ..."""

    def image(self, ref: str) -> Optional[Dict[str, Any]]:
        """Image attributes, or None when the engine has no such image."""

    def pull(self, ref: str, timeout: float = 600) -> Tuple[bool, str]:
        """Pull an image. -> (ok, last line of the engine's message); a failed pull is (False, why)."""

    def import_rootfs(self, rootfs: Path, tag: str, labels: Dict[str, str]) -> None:
        """Make an image from a root file system directory (the registry-free base)."""

    def disk_usage(self) -> Optional[int]:
        """Bytes the image layers take, or None when the engine cannot say."""

    def bridge_gateway(self) -> Optional[str]:
        """The host's address on the engine's default bridge (what a build's RUN step reaches the host at), or
        None when the engine has no such network."""

    def remove_image(self, ref: str) -> bool:
        """Remove an image; False when there was none (or it is in use)."""

    def build_cache_usage(self) -> Optional[int]:
        """Bytes BuildKit's build cache holds (layers and cache mounts), or None when the engine cannot say:
        0 at a run's start means a cold run."""

    def trim_build_cache(self, keep_bytes: int, everything: bool = False) -> Optional[int]:
        """Drop the least recently used build cache until at most keep_bytes remain (everything=True: all of
        it, cache mounts too). -> bytes reclaimed, or None when the engine cannot (no BuildKit cache API):
        removing an image leaves its layers there."""

    def free_disk_bytes(self) -> Optional[int]:
        """Free bytes on the file system of the engine's data root, or None when it is not on this host (a
        remote engine, or the runner in a container without it)."""

    def build(self, spec: BuildSpec) -> BuildOutcome:
        """Build the spec's image; a failed build is an outcome, not an error."""

    def run(self, spec: RunSpec) -> RunOutcome:
        """Run one container to completion under the spec's limits; it is always removed."""

    def remove_stale_containers(self, older_than: float = 60.0) -> int:
        """Remove this tool's containers that ended long ago (left by an engine that stopped)."""

    def remove_managed_containers(self) -> int:
        """Remove every container this tool started (after an interrupt)."""
