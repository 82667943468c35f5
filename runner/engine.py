"""The Docker engine, behind one small class: builds through the CLI (BuildKit: secrets, cache mounts),
everything else through the Docker SDK. The container lifecycle (limits, timeout, kill, logs, remove) is
owned end to end here, so no caller can leak a container.
"""

import calendar
import functools
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple

import requests

from runner.errors import EngineError

LABEL = "org.keras-matrix.managed"
_STEP = re.compile(r"^#(\d+) \[[^\]]*?(\d+/\d+)\] (.*)$")  # BuildKit: "#9 [stage-0 5/11] RUN ..."
_STEP_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ ")  # "#9 12.3 Collecting ...": the step is really running
TAIL_BYTES = 16000


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


@dataclass
class RunSpec:
    image: str
    command: List[str]
    env: Dict[str, str] = field(default_factory=dict)
    mounts: List[Mount] = field(default_factory=list)
    memory: str = "6g"
    cpus: str = "2"
    pids: int = 4096
    cpuset: Optional[str] = None
    gpu: bool = False
    timeout: float = 1800
    name: Optional[str] = None
    user: str = "65534:65534"  # nobody: the frameworks need no root to train


class Engine(Protocol):
    """What the run needs from a container engine. DockerEngine is the real one; tests/fakes.py has the
    fake the unit tests use (type-checked against this protocol)."""

    def alive(self) -> bool:
        """Does the daemon still answer (asked on a fresh connection)?"""

    def describe(self) -> Dict[str, Any]:
        """Facts for provenance and scheduling: docker_version, cpus, memory_bytes, gpu_runtime, ..."""

    def image(self, ref: str) -> Optional[Dict[str, Any]]:
        """Image attributes, or None when the engine has no such image."""

    def pull(self, ref: str, timeout: float = 600) -> Tuple[bool, str]:
        """Pull an image. -> (ok, last line of the engine's message)."""

    def import_rootfs(self, rootfs: Path, tag: str, labels: Dict[str, str]) -> None:
        """Make an image from a root file system directory (the registry-free base)."""

    def disk_usage(self) -> Optional[int]:
        """Bytes the image layers take, or None when the engine cannot say."""

    def remove_image(self, ref: str) -> bool:
        """Remove an image; False when there was none."""

    def build(self, context: Path, tag: str, build_args: Optional[Dict[str, str]] = None,
              secrets: Optional[Dict[str, str]] = None, labels: Optional[Dict[str, str]] = None,
              log_path: Optional[Path] = None, timeout: float = 3600,
              should_stop: Optional[Callable[[], bool]] = None,
              on_step: Optional[Callable[[str], None]] = None) -> "BuildOutcome":
        """Build context/Dockerfile as tag with BuildKit; the log streamed to log_path."""

    def run(self, spec: "RunSpec") -> "RunOutcome":
        """Run one container to completion under the spec's limits; it is always removed."""

    def remove_stale_containers(self, older_than: float = 60.0) -> int:
        """Remove this tool's containers that ended long ago (left by an engine that stopped)."""

    def remove_managed_containers(self) -> int:
        """Remove every container this tool started (after an interrupt)."""


def _engine_call(method):
    """A lost connection to the daemon (it stopped, its socket vanished) is an EngineError with a clear
    message, whatever the SDK or requests raised: the run stops cleanly and can be resumed."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (EngineError, KeyboardInterrupt):
            raise
        except (self._docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
            raise EngineError("the Docker engine stopped answering (%s: %s)"
                              % (type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")) from None
    return wrapper


def tail(text, limit=TAIL_BYTES):
    return text if len(text) <= limit else "...[earlier output clipped]...\n" + text[-limit:]


def _find_buildkit_cli():
    """A docker CLI that can build with BuildKit: buildx, or a pre-23 client with BuildKit built in."""
    candidates = []
    override = os.environ.get("KERAS_MATRIX_DOCKER_CLI")
    if override:
        candidates.append(override)
    for path in (shutil.which("docker"), "/usr/bin/docker", "/usr/local/bin/docker"):
        if path and path not in candidates and os.path.exists(path):
            candidates.append(path)
    for cli in candidates:
        try:
            if subprocess.run([cli, "buildx", "version"], capture_output=True, timeout=20).returncode == 0:
                return cli
            version = subprocess.run([cli, "version", "--format", "{{.Client.Version}}"], capture_output=True,
                                     text=True, timeout=20).stdout.strip()
            if version and int(version.split(".")[0]) < 23:
                return cli  # BuildKit is built into pre-23 clients (DOCKER_BUILDKIT=1)
        except (OSError, subprocess.SubprocessError, ValueError):
            continue
    raise EngineError("no docker CLI with BuildKit found (tried: %s). Builds need BuildKit for secrets and cache "
                      "mounts. Try: install the buildx plugin, or Debian's docker.io, or set KERAS_MATRIX_DOCKER_CLI."
                      % (", ".join(candidates) or "none on PATH"))


class DockerEngine:
    def __init__(self):
        try:
            import docker
            import docker.errors
        except ImportError:  # pragma: no cover - a dependency
            raise EngineError("the Docker SDK for Python is missing. Try: pip install docker") from None
        self._docker = docker
        try:
            self.client = docker.from_env(timeout=300)
            self.client.ping()
            self._info = self.client.info()
            self._version = self.client.version()
        except Exception as exc:  # the SDK raises several types for "no daemon"
            raise EngineError("cannot reach the Docker engine (%s). Is dockerd running and DOCKER_HOST right? "
                              "Try: bash .ci/ensure-docker.sh" % str(exc).splitlines()[0][:200]) from None
        self.cli = None  # found on first build: plan/report never need it

    # -- facts ---------------------------------------------------------------------------------------

    def alive(self):
        """Does the daemon still answer? (A run checks this when a cell fails in an engine call.)
        Asked on a new connection: a daemon shutting down still serves the pooled ones it has."""
        try:
            fresh = self._docker.from_env(timeout=10, version=self._version.get("ApiVersion"))
            try:
                return bool(fresh.ping())
            finally:
                fresh.close()
        except Exception:
            return False

    def describe(self):
        info = self._info
        runtimes = sorted((info.get("Runtimes") or {}).keys())
        return {
            "docker_version": self._version.get("Version"),
            "api_version": self._version.get("ApiVersion"),
            "os": info.get("OperatingSystem"),
            "kernel": info.get("KernelVersion"),
            "cpus": info.get("NCPU"),
            "memory_bytes": info.get("MemTotal"),
            "storage_driver": info.get("Driver"),
            "runtimes": runtimes,
            "gpu_runtime": self.has_gpu_runtime(),
        }

    def has_gpu_runtime(self):
        runtimes = (self._info.get("Runtimes") or {}).keys()
        return "nvidia" in runtimes or bool(self._info.get("CDISpecDirs") and os.path.exists("/dev/nvidiactl"))

    # -- images --------------------------------------------------------------------------------------

    @_engine_call
    def image(self, ref):
        """Image attributes, or None when the engine has no such image."""
        try:
            return self.client.images.get(ref).attrs
        except self._docker.errors.ImageNotFound:
            return None
        except self._docker.errors.APIError as exc:
            raise EngineError("the engine failed to inspect %s: %s" % (ref, exc.explanation)) from None

    def pull(self, ref, timeout=600):
        """Pull through the CLI (it honours the user's registry credentials and mirrors). -> (ok, message)."""
        cli = shutil.which("docker") or "/usr/bin/docker"
        try:
            proc = subprocess.run([cli, "pull", ref], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, "pull timed out after %ds" % timeout
        except OSError as exc:
            return False, str(exc)
        message = (proc.stderr or proc.stdout).strip().splitlines()
        return proc.returncode == 0, (message[-1] if message else "")

    def import_rootfs(self, rootfs, tag, labels):
        """tar a root file system into `docker import` (the registry-free base image)."""
        cli = shutil.which("docker") or "/usr/bin/docker"
        changes = []
        for key, value in sorted(labels.items()):
            changes += ["--change", "LABEL %s=%s" % (key, value)]
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            proc = subprocess.run([cli, "import"] + changes + ["-", tag], stdin=tar.stdout, capture_output=True,
                                  text=True, timeout=900)
        finally:
            tar.stdout.close()
            tar.wait()
        if proc.returncode != 0 or tar.returncode != 0:
            raise EngineError("docker import of %s failed: %s" % (tag, (proc.stderr or "").strip()[:300]))

    def disk_usage(self):
        """Bytes the engine's image layers take (shared layers counted once), or None if it cannot say."""
        try:
            return int(self.client.df().get("LayersSize") or 0)
        except Exception:  # a slow or old daemon: disk accounting is a report, never a failure
            return None

    @_engine_call
    def remove_image(self, ref):
        try:
            self.client.images.remove(ref, force=True, noprune=False)
            return True
        except self._docker.errors.ImageNotFound:
            return False
        except self._docker.errors.APIError:
            return False

    def build(self, context, tag, build_args=None, secrets=None, labels=None, log_path=None, timeout=3600,
              should_stop=None, on_step=None):
        """BuildKit build through the CLI, output streamed to log_path; killed at the timeout."""
        if self.cli is None:
            self.cli = _find_buildkit_cli()
        argv = [self.cli, "build", "--progress=plain", "-t", tag]
        for key, value in sorted((build_args or {}).items()):
            argv += ["--build-arg", "%s=%s" % (key, value)]
        for key, src in sorted((secrets or {}).items()):
            argv += ["--secret", "id=%s,src=%s" % (key, src)]
        for key, value in sorted((labels or {}).items()):
            argv += ["--label", "%s=%s" % (key, value)]
        argv.append(str(context))
        env = dict(os.environ, DOCKER_BUILDKIT="1")
        started = time.monotonic()
        log_path = Path(log_path) if log_path else None
        chunks = []
        pending_steps = {}
        timed_out = False
        with open(str(log_path), "w") if log_path else open(os.devnull, "w") as log:
            log.write("$ %s\n" % " ".join(argv))
            log.flush()
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            killer = threading.Timer(timeout, lambda: _kill(proc))
            killer.start()
            try:
                for raw in proc.stdout:
                    line = raw.decode("utf-8", "replace")
                    log.write(line)
                    chunks.append(line)
                    if on_step:
                        _report_step(line, pending_steps, on_step)
                    if len(chunks) > 4000:
                        del chunks[:2000]
                    if should_stop and should_stop():
                        _kill(proc)
                proc.wait()
            except BaseException:
                _kill(proc)
                proc.wait()
                raise
            finally:
                killer.cancel()
                timed_out = time.monotonic() - started >= timeout and proc.returncode != 0
        seconds = time.monotonic() - started
        outcome = BuildOutcome(ok=proc.returncode == 0, seconds=seconds, timed_out=timed_out,
                               log_tail=tail("".join(chunks)))
        if outcome.ok:
            attrs = self.image(tag) or {}
            outcome.image_id = attrs.get("Id")
            outcome.image_size = attrs.get("Size")
        return outcome

    # -- containers ----------------------------------------------------------------------------------

    @_engine_call
    def run(self, spec):
        """Run one container to completion under limits; always removed afterwards."""
        docker = self._docker
        kwargs = dict(
            command=spec.command,
            environment=spec.env,
            network_mode="none",  # training and probing need no network: none is given
            read_only=True,
            tmpfs={"/tmp": "rw,exec,nosuid,size=4g"},  # Theano compiles and loads .so files under HOME
            mounts=[docker.types.Mount(m.target, m.source, type="bind", read_only=m.read_only) for m in spec.mounts],
            mem_limit=spec.memory,
            memswap_limit=spec.memory,
            nano_cpus=int(float(spec.cpus) * 1e9),
            pids_limit=spec.pids,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            user=spec.user,
            working_dir="/tmp",
            labels={LABEL: "1"},
            name=spec.name,
            detach=True,
        )
        if spec.cpuset:
            kwargs["cpuset_cpus"] = spec.cpuset
        if spec.gpu:
            kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
        started = time.monotonic()
        try:
            container = self.client.containers.create(spec.image, **kwargs)
        except docker.errors.APIError as exc:
            raise EngineError("cannot create a container from %s: %s" % (spec.image, exc.explanation)) from None
        exit_code, timed_out, oom = None, False, False
        try:
            container.start()
            try:
                exit_code = container.wait(timeout=spec.timeout).get("StatusCode")
            except Exception as exc:  # requests' ReadTimeout / ConnectionError: the timeout fired
                if "timed out" not in str(exc).lower() and "timeout" not in type(exc).__name__.lower():
                    raise
                timed_out = True
                try:
                    container.kill()
                except docker.errors.APIError:
                    pass
            output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            container.reload()
            oom = bool(container.attrs.get("State", {}).get("OOMKilled"))
        finally:
            try:
                container.remove(force=True)
            except Exception:  # never mask the error that got us here (the daemon may be gone)
                pass
        return RunOutcome(exit_code=exit_code, output=output, seconds=time.monotonic() - started,
                          timed_out=timed_out, oom_killed=oom)

    @_engine_call
    def remove_stale_containers(self, older_than=60.0):
        """Remove containers of this tool that ended over older_than seconds ago: left behind when the daemon
        stopped under a run (it could not remove them then). Running ones, maybe another run's, stay."""
        now = time.time()
        stale = []
        for status in ("exited", "dead", "created"):
            for container in self.client.containers.list(all=True, filters={"label": LABEL, "status": status}):
                state = container.attrs.get("State") or {}
                ended = _docker_time(state.get("FinishedAt")) or _docker_time(container.attrs.get("Created"))
                if ended is None or now - ended >= older_than:
                    stale.append(container)
        return self._remove_containers(stale)

    @_engine_call
    def remove_managed_containers(self):
        """Remove every container this tool started (after an interrupt)."""
        return self._remove_containers(self.client.containers.list(all=True, filters={"label": LABEL}))

    def _remove_containers(self, containers):
        removed = 0
        for container in containers:
            try:
                container.remove(force=True)
                removed += 1
            except self._docker.errors.APIError:
                pass
        return removed


def _docker_time(text):
    """Epoch seconds of a Docker timestamp ('2026-11-27T09:30:01.123456789Z'), None for unset/zero ones."""
    if not text or text.startswith("0001-"):
        return None
    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _report_step(line, pending, on_step):
    """Announce a build step when it first prints output, so cached steps stay quiet."""
    step = _STEP.match(line)
    if step:
        pending[step.group(1)] = "step %s: %s" % (step.group(2), _short_step(step.group(3)))
        return
    running = _STEP_OUTPUT.match(line)
    if running and running.group(1) in pending:
        on_step(pending.pop(running.group(1)))


def _short_step(instruction):
    """'RUN --mount=... if [...]; fi; pip install x' -> 'RUN pip install x' (what a person wants to see)."""
    text = re.sub(r"--mount=\S+\s*", "", instruction)
    text = re.sub(r"if \[.*?fi;\s*", "", text)
    return re.sub(r"\s+", " ", text)[:100]


def _kill(proc):
    try:
        os.killpg(proc.pid, 9)
    except (OSError, ProcessLookupError):
        pass
