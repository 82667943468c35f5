"""A scripted container engine for the unit tests, type-checked against runner.engine.protocol.Engine.

FakeEngine answers for the cells of MATRIX: builds fail the way pip and apt would for the cells meant to
fail, trainings report MNIST-like results, and every request is recorded so tests can check what the run
asked for (cpusets, GPU use, builds running during trainings)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from packaging.version import Version

from runner.engine.protocol import BuildOutcome, BuildSpec, Engine, RunOutcome, RunSpec
from runner.probe import MARKER
from runner.util.errors import EngineError

MATRIX = """
version: 1
cells:
  - {name: good, era: py27, keras: "2.3.1", tensorflow: "1.15.0", theano: "1.0.5"}
  - {name: nowheel, era: py311, keras: "2.3.1", tensorflow: "1.15.0"}
  - {name: half, era: py27, keras: "2.2.5", tensorflow: "1.14.0", theano: "1.0.5"}
  - {name: gpu, era: py311, keras: "3.15.1", tensorflow: "2.21.0", device: gpu}
  - {name: broken, era: py27, keras: "2.1.6", theano: "1.0.5"}
"""


class FakeEngine:
    """Scripted answers per image; records what the runner asked for."""

    def __init__(self, interrupt_on: Optional[str] = None, daemon_dies_on: Optional[str] = None,
                 build_seconds: float = 0.0, die_in_build: bool = False, cpus: Optional[int] = None,
                 run_seconds: float = 0.0, gpu_runtime: bool = False,
                 default_backend_change: Optional[Tuple[str, str, str]] = None) -> None:
        # (release, backend before it, backend from it): the probe's default backend by the image's Keras
        self.default_backend_change = default_backend_change
        self.gpu_runtime = gpu_runtime
        self.die_in_build = die_in_build
        self.cpus, self.run_seconds = cpus, run_seconds
        self.active_runs: Dict[object, Tuple[Optional[str], bool]] = {}  # (cpuset, gpu) of each running container
        self.gpu_runs_together = 0
        self.overlapping_runs: List[List[Optional[str]]] = []  # cpusets of runs that found others running
        self.runs: List[RunSpec] = []
        self.builds: List[str] = []
        self.build_args: Dict[str, Dict[str, str]] = {}
        self.build_caches: List[Optional[Path]] = []  # the layer-cache directory each build was given
        self.build_seconds = build_seconds
        self.active_builds = 0
        self.most_parallel_builds = 0
        self.trainings_during_builds = 0
        self.removed_images: List[str] = []
        self.cache_trims: List[int] = []
        self.free_disk: Optional[int] = None  # not on this host, as a remote engine
        self.lock = threading.Lock()
        self.interrupt_on = interrupt_on
        self.daemon_dies_on = daemon_dies_on
        self.dead = False

    def alive(self) -> bool:
        return not self.dead

    def describe(self) -> Dict[str, Any]:
        return {"docker_version": "fake", "gpu_runtime": self.gpu_runtime, "cpus": self.cpus,
                "memory_bytes": 64 << 30}

    def image(self, ref: str) -> Optional[Dict[str, Any]]:
        return {"Id": "sha256:base", "Config": {"Labels": {}}}

    def pull(self, ref: str, timeout: float = 600) -> Tuple[bool, str]:
        return True, "ok"

    def import_rootfs(self, rootfs: Path, tag: str, labels: Dict[str, str]) -> None:
        raise AssertionError("the fake has every base image: nothing is bootstrapped")

    def disk_usage(self) -> Optional[int]:
        return 1000 * len(self.builds)

    def bridge_gateway(self) -> Optional[str]:
        return "127.0.0.1"  # the as-of index binds here in the unit tests

    def remove_image(self, ref: str) -> bool:
        self.removed_images.append(ref)
        return True

    def build_cache_usage(self) -> Optional[int]:
        return 0

    def trim_build_cache(self, keep_bytes: int, everything: bool = False) -> Optional[int]:
        self.cache_trims.append(-1 if everything else keep_bytes)
        return 500

    def free_disk_bytes(self) -> Optional[int]:
        return self.free_disk

    def build(self, spec: BuildSpec) -> BuildOutcome:
        tag = spec.tag
        with self.lock:
            self.builds.append(tag)
            self.build_args[tag] = dict(spec.build_args)
            self.build_caches.append(spec.cache_dir)
            self.active_builds += 1
            self.most_parallel_builds = max(self.most_parallel_builds, self.active_builds)
        time.sleep(self.build_seconds)
        with self.lock:
            self.active_builds -= 1
        if self.daemon_dies_on and self.daemon_dies_on in tag and self.die_in_build:
            self.dead = True
            return BuildOutcome(ok=False, seconds=1, log_tail="ERROR: Cannot connect to the Docker daemon\n")
        if "tf1.15.0-py311" in tag:
            return BuildOutcome(ok=False, seconds=1,
                                log_tail="#9 1.2 ERROR: No matching distribution found for tensorflow==1.15.0\n")
        if "keras2.1.6" in tag:
            return BuildOutcome(ok=False, seconds=1, log_tail="#7 3.0 E: Unable to locate package python2.7\n")
        return BuildOutcome(ok=True, seconds=2, image_id="sha256:img", image_size=1000)

    def run(self, spec: RunSpec) -> RunOutcome:
        self.runs.append(spec)
        if (self.dead and not self.die_in_build) or (self.daemon_dies_on and self.daemon_dies_on in spec.image):
            self.dead = True
            raise EngineError("cannot create a container: connection refused")
        if self.interrupt_on and self.interrupt_on in spec.image:
            raise KeyboardInterrupt
        key = object()
        with self.lock:
            if self.active_runs:
                self.overlapping_runs.append(sorted([c for c, _ in self.active_runs.values()] + [spec.cpuset],
                                                    key=str))
                if spec.gpu and any(gpu for _, gpu in self.active_runs.values()):
                    self.gpu_runs_together += 1
            self.active_runs[key] = (spec.cpuset, spec.gpu)
        time.sleep(self.run_seconds)
        with self.lock:
            del self.active_runs[key]
        if spec.command[1].endswith("probe.py"):
            keras, default = "2.3.1", "tensorflow"
            if self.default_backend_change:
                keras = re.search(r":keras([^-]+)-", spec.image).group(1)  # type: ignore[union-attr]
                release, before, after = self.default_backend_change
                default = before if Version(keras) < Version(release) else after
            result: Dict[str, Any] = {
                "python": "2.7.18", "installed": {"keras": keras}, "libraries": {},
                "default_backend": {"backend": default, "error": None, "keras_json": {"backend": default},
                                    "keras_json_written": True}}
            return RunOutcome(0, "noise\n" + MARKER + json.dumps(result) + "\n", 1.0)
        backend = spec.env["KERAS_BACKEND"]
        if self.active_builds:
            self.trainings_during_builds += 1
        if "keras2.2.5" in spec.image and backend == "theano":
            result = {"status": "failed", "stage": "train", "error": {"type": "RuntimeError", "message": "boom"}}
            return RunOutcome(1, MARKER + json.dumps(result) + "\n", 1.0)
        result = {"status": "ok", "stage": "evaluate", "backend_used": backend, "epoch_seconds": [3.0, 2.0, 2.2],
                  "test_accuracy": 0.97, "test_loss": 0.1, "device": {"devices": ["CPU"], "gpu": False}}
        return RunOutcome(0, MARKER + json.dumps(result) + "\n", 8.0)

    def remove_managed_containers(self) -> int:
        return 0

    def remove_stale_containers(self, older_than: float = 60.0) -> int:
        return 0


# mypy checks here that the fake has every method of the protocol, with compatible signatures.
_check: Engine = FakeEngine()
