"""The Docker adapter behind runner.engine.protocol.Engine: builds through the docker CLI (BuildKit: secrets, cache
mounts, a local layer cache), everything else through the Docker SDK. The container lifecycle (limits,
timeout, kill, logs, remove) is owned end to end here, so no caller can leak a container.

Three rules keep it predictable: one function finds the CLI (find_docker_cli), one decorator turns every
engine failure into an EngineError a user can act on (_engine_call), and nothing talks to the daemon until
it is first needed (the CLI calls connect() early so a missing engine fails before any work). Longer than
our usual module on purpose: the container lifecycle is kept whole in one file.
"""

from __future__ import annotations

import calendar
import functools
import inspect
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Tuple, TypeVar, cast

import docker
import docker.errors
import docker.types
import requests
import urllib3.exceptions

from runner.engine.docker_cli import DockerCli, build_argv, buildx_driver, engine_hint, find_docker_cli, stream_build
from runner.engine.protocol import LABEL, BuildOutcome, BuildSpec, Engine, RunOutcome, RunSpec
from runner.util.errors import EngineError
from runner.util.text import clip, one_line

TAIL_CHARS = 16000
_ENGINE_FAILURES = (docker.errors.DockerException, requests.exceptions.RequestException, OSError)

F = TypeVar("F", bound=Callable[..., Any])


# -- failures ----------------------------------------------------------------------------------------

def engine_error(action: str, exc: BaseException) -> EngineError:
    """The one message shape for an engine failure: what we tried, what the engine (or the OS) said."""
    if isinstance(exc, docker.errors.APIError):
        return EngineError("the Docker engine refused to %s: %s" % (action, one_line(exc.explanation or exc, 300)))
    if isinstance(exc, (docker.errors.DockerException, requests.exceptions.RequestException)):
        return EngineError("the Docker engine stopped answering while trying to %s (%s: %s). %s"
                           % (action, type(exc).__name__, one_line(exc, 200), engine_hint()))
    return EngineError("could not %s (%s: %s)" % (action, type(exc).__name__, one_line(exc, 200)))


def _engine_call(action: str) -> Callable[[F], F]:
    """Every public method goes through this: SDK, requests and OS failures become one clear EngineError
    (the run stops cleanly and can be resumed). `action` may name the call's arguments: "pull {ref}"."""
    def decorate(method: F) -> F:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except _ENGINE_FAILURES as exc:
                try:
                    what = action.format(**signature.bind(*args, **kwargs).arguments)
                except (TypeError, KeyError, AttributeError, IndexError):
                    what = action
                raise engine_error(what, exc) from exc
        return cast(F, wrapper)
    return decorate


def is_wait_timeout(exc: BaseException) -> bool:
    """Did a container wait end because its read timeout fired? requests raises ReadTimeout, or (while
    reading the body over a unix socket) a ConnectionError wrapping urllib3's ReadTimeoutError."""
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        cause = exc.args[0]
        if isinstance(cause, urllib3.exceptions.MaxRetryError):
            cause = cause.reason
        return isinstance(cause, urllib3.exceptions.ReadTimeoutError)
    return False


# -- the adapter -------------------------------------------------------------------------------------

@dataclass
class _Connection:
    client: Any
    info: Dict[str, Any]
    version: Dict[str, Any]


class DockerEngine:
    """The Engine on a Docker daemon. Constructing it contacts nothing; the first call that needs the
    daemon connects (once, shared by all threads)."""

    def __init__(self, client_factory: Optional[Callable[..., Any]] = None) -> None:
        self._client_factory: Callable[..., Any] = client_factory or docker.from_env
        # Two locks: a slow CLI probe (seconds) must not hold up the containers that need the connection.
        self._connect_lock = threading.Lock()
        self._cli_lock = threading.Lock()
        self._connection: Optional[_Connection] = None
        self._cli: Optional[DockerCli] = None
        self._build_cli: Optional[DockerCli] = None
        self._cache_export: Optional[Tuple[Optional[str], List[str]]] = None  # (why not, extra flags)
        self._cache_note_given = False

    def connect(self) -> DockerEngine:
        """Reach the daemon now, or raise EngineError("cannot reach the Docker engine ...")."""
        self._connected()
        return self

    @property
    def client(self) -> Any:
        """The Docker SDK client (connected on first use)."""
        return self._connected().client

    def _connected(self) -> _Connection:
        with self._connect_lock:
            if self._connection is None:
                try:
                    client = self._client_factory(timeout=300)
                    client.ping()
                    self._connection = _Connection(client, client.info(), client.version())
                except _ENGINE_FAILURES as exc:  # the SDK raises several types for "no daemon"
                    raise EngineError("cannot reach the Docker engine (%s). Is dockerd running and DOCKER_HOST "
                                      "right? %s" % (one_line(exc, 200), engine_hint())) from None
            return self._connection

    # -- facts ---------------------------------------------------------------------------------------

    @_engine_call("check the engine")
    def alive(self) -> bool:
        """Asked on a new connection: a daemon shutting down still serves the pooled ones it has."""
        known = self._connection.version.get("ApiVersion") if self._connection else None
        try:
            fresh = self._client_factory(timeout=10, **({"version": known} if known else {}))
            try:
                return bool(fresh.ping())
            finally:
                fresh.close()
        except Exception:  # any failure to answer means "not alive"
            return False

    @_engine_call("describe the engine")
    def describe(self) -> Dict[str, Any]:
        connection = self._connected()
        info, version = connection.info, connection.version
        return {
            "docker_version": version.get("Version"),
            "api_version": version.get("ApiVersion"),
            "os": info.get("OperatingSystem"),
            "kernel": info.get("KernelVersion"),
            "cpus": info.get("NCPU"),
            "memory_bytes": info.get("MemTotal"),
            "storage_driver": info.get("Driver"),
            "runtimes": sorted((info.get("Runtimes") or {}).keys()),
            "gpu_runtime": self.has_gpu_runtime(),
        }

    @_engine_call("describe the engine")
    def has_gpu_runtime(self) -> bool:
        info = self._connected().info
        return "nvidia" in (info.get("Runtimes") or {}) or bool(info.get("CDISpecDirs")
                                                                 and os.path.exists("/dev/nvidiactl"))

    # -- images --------------------------------------------------------------------------------------

    @_engine_call("inspect image {ref}")
    def image(self, ref: str) -> Optional[Dict[str, Any]]:
        try:
            attrs: Dict[str, Any] = self.client.images.get(ref).attrs
        except docker.errors.ImageNotFound:
            return None
        return attrs

    @_engine_call("pull {ref}")
    def pull(self, ref: str, timeout: float = 600) -> Tuple[bool, str]:
        """Through the CLI: it honours the user's registry credentials and mirrors."""
        try:
            proc = subprocess.run([self._plain_cli(), "pull", ref], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, "pull timed out after %ds" % timeout
        message = (proc.stderr or proc.stdout).strip().splitlines()
        return proc.returncode == 0, (message[-1] if message else "")

    @_engine_call("import a root file system as {tag}")
    def import_rootfs(self, rootfs: Path, tag: str, labels: Dict[str, str]) -> None:
        """tar the directory into `docker import` (the registry-free base image)."""
        argv = [self._plain_cli(), "import"]
        for key, value in sorted(labels.items()):
            argv += ["--change", "LABEL %s=%s" % (key, value)]
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            proc = subprocess.run(argv + ["-", tag], stdin=tar.stdout, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            tar.kill()
            raise EngineError("docker import of %s did not finish within 900 s" % tag) from None
        finally:
            if tar.stdout:
                tar.stdout.close()
            tar.wait()
        if proc.returncode != 0 or tar.returncode != 0:
            raise EngineError("docker import of %s failed: %s" % (tag, (proc.stderr or "").strip()[:300]))

    @_engine_call("measure the engine's disk usage")
    def disk_usage(self) -> Optional[int]:
        """Image layers' bytes (shared layers counted once); None when a slow or old daemon cannot say:
        disk accounting is a report, never a failure."""
        client = self.client
        try:
            return int(client.df().get("LayersSize") or 0)
        except (*_ENGINE_FAILURES, TypeError, ValueError):
            return None

    @_engine_call("look up the engine's bridge network")
    def bridge_gateway(self) -> Optional[str]:
        try:
            configs = (self.client.networks.get("bridge").attrs.get("IPAM") or {}).get("Config") or []
        except docker.errors.NotFound:
            return None
        gateways = [c.get("Gateway") for c in configs if isinstance(c, dict) and c.get("Gateway")]
        ipv4 = [g for g in gateways if isinstance(g, str) and g.count(".") == 3]
        return ipv4[0] if ipv4 else None

    @_engine_call("remove image {ref}")
    def remove_image(self, ref: str) -> bool:
        try:
            self.client.images.remove(ref, force=True, noprune=False)
            return True
        except docker.errors.APIError:  # no such image (ImageNotFound is one), or still in use
            return False

    def free_disk_bytes(self) -> Optional[int]:
        try:
            root = self._connected().info.get("DockerRootDir")
            if not isinstance(root, str) or not os.path.isdir(root):
                return None
            stat = os.statvfs(root)
        except (*_ENGINE_FAILURES, TypeError, ValueError):
            return None
        return stat.f_bavail * stat.f_frsize

    def build_cache_usage(self) -> Optional[int]:
        try:
            answer = self.client.df()
        except (*_ENGINE_FAILURES, TypeError, ValueError):
            return None
        if not isinstance(answer, dict) or "BuildCache" not in answer:
            return None  # an engine without BuildKit's cache API
        records = answer["BuildCache"] or []  # null: an empty cache
        if not isinstance(records, list):
            return None
        return sum(int(r.get("Size") or 0) for r in records if isinstance(r, dict))

    @_engine_call("trim the build cache")
    def trim_build_cache(self, keep_bytes: int, everything: bool = False) -> Optional[int]:
        # keep_storage asks BuildKit's own garbage collector, which drops the least recently used records
        # first: the era layers every cell builds on were used by the last build and stay. Its accounting can
        # fall far short of the disk the cache holds, hence `everything` (run/loop.py, PRUNED_LOW_DISK).
        try:
            answer = (self.client.api.prune_builds(all=True) if everything
                      else self.client.api.prune_builds(keep_storage=keep_bytes))
        except (*_ENGINE_FAILURES, TypeError, ValueError):
            return None
        return int((answer or {}).get("SpaceReclaimed") or 0)

    def _plain_cli(self) -> str:
        with self._cli_lock:
            if self._cli is None:
                self._cli = find_docker_cli()
            return self._cli.path

    # -- builds --------------------------------------------------------------------------------------

    @_engine_call("build {spec.tag}")
    def build(self, spec: BuildSpec) -> BuildOutcome:
        """BuildKit build through the CLI, output streamed to log_path; killed at the timeout."""
        with self._cli_lock:
            if self._build_cli is None:
                self._build_cli = find_docker_cli(buildkit=True)  # BuildKit asked once per engine
            builder = self._build_cli
        cache = self._cache_flags(builder, Path(spec.cache_dir), spec.on_step) if spec.cache_dir else []
        argv = build_argv(builder.path, spec.tag, spec.context, spec.build_args, spec.secrets, spec.labels, cache)
        started = time.monotonic()
        returncode, fired, text = stream_build(argv, dict(os.environ, DOCKER_BUILDKIT="1"), spec.log_path,
                                               spec.timeout, spec.should_stop, spec.on_step)
        outcome = BuildOutcome(ok=returncode == 0, seconds=time.monotonic() - started,
                               timed_out=fired and returncode != 0, log_tail=clip(text, TAIL_CHARS, keep="tail"))
        if outcome.ok:
            attrs = self.image(spec.tag) or {}
            outcome.image_id = attrs.get("Id")
            outcome.image_size = attrs.get("Size")
        return outcome

    def _cache_flags(self, builder: DockerCli, cache_dir: Path, on_step: Optional[Callable[[str], None]]) -> List[str]:
        with self._cli_lock:
            if self._cache_export is None:
                self._cache_export = self._can_export_cache(builder)
            why_not, extra = self._cache_export
            say = why_not is not None and not self._cache_note_given and on_step is not None
            self._cache_note_given = self._cache_note_given or say
        if why_not is not None:
            if say and on_step:
                on_step("layer cache %s not kept: %s" % (cache_dir, why_not))
            return []
        flags = ["--cache-from", "type=local,src=%s" % cache_dir] if cache_dir.is_dir() else []
        return flags + ["--cache-to", "type=local,dest=%s,mode=max" % cache_dir] + extra

    def _can_export_cache(self, builder: DockerCli) -> Tuple[Optional[str], List[str]]:
        """(why a local layer cache cannot be exported, or None; flags such a build needs)."""
        if builder.buildkit != "buildx":
            return "this docker CLI's built-in BuildKit (a pre-23 client without buildx) cannot export a cache", []
        if buildx_driver(builder.path) != "docker":
            return None, ["--load"]  # a builder with a store of its own: load the image into the engine's
        status = dict(pair for pair in (self._connected().info.get("DriverStatus") or []) if len(pair) == 2)
        if "snapshotter" in str(status.get("driver-type", "")):
            return None, []  # the containerd image store can export a cache from the default builder
        return ("buildx's 'docker' driver cannot export a cache. Try: turn on the containerd image store, or "
                "select a docker-container builder (docker buildx create --use)", [])

    # -- containers ----------------------------------------------------------------------------------

    @_engine_call("run a container from {spec.image}")
    def run(self, spec: RunSpec) -> RunOutcome:
        """Run one container to completion under the spec's limits; always removed afterwards."""
        started = time.monotonic()
        container = self.client.containers.create(spec.image, **sdk_options(spec))
        exit_code, timed_out, oom, output = None, False, False, ""
        try:
            container.start()
            try:
                exit_code = container.wait(timeout=spec.timeout).get("StatusCode")
            except requests.exceptions.RequestException as exc:
                if not is_wait_timeout(exc):
                    raise
                timed_out = True
                try:
                    container.kill()
                except docker.errors.APIError:  # it ended by itself meanwhile
                    pass
            output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
            container.reload()
            oom = bool((container.attrs.get("State") or {}).get("OOMKilled"))
        finally:
            try:
                container.remove(force=True)
            except Exception:  # never mask the error that got us here (the daemon may be gone)
                pass
        return RunOutcome(exit_code=exit_code, output=output, seconds=time.monotonic() - started,
                          timed_out=timed_out, oom_killed=oom)

    @_engine_call("remove stale containers")
    def remove_stale_containers(self, older_than: float = 60.0) -> int:
        """Remove containers of this tool that ended over older_than seconds ago: left behind when the daemon
        stopped under a run (it could not remove them then). Running ones, maybe another run's, stay."""
        now = time.time()
        stale = []
        for status in ("exited", "dead", "created"):
            for container in self.client.containers.list(all=True, filters={"label": LABEL, "status": status}):
                state = container.attrs.get("State") or {}
                ended = docker_time(state.get("FinishedAt")) or docker_time(container.attrs.get("Created"))
                if ended is None or now - ended >= older_than:
                    stale.append(container)
        return _remove_containers(stale)

    @_engine_call("remove this tool's containers")
    def remove_managed_containers(self) -> int:
        return _remove_containers(self.client.containers.list(all=True, filters={"label": LABEL}))


if TYPE_CHECKING:  # mypy proves the adapter implements the protocol
    _conforms: Engine = DockerEngine()


def host_path(source: str, environ: Mapping[str, str] = os.environ) -> str:
    """A bind mount's source as the host's engine names it. The runner in a container (docker-compose.yml) sees
    the checkout at KERAS_MATRIX_MOUNTED_ROOT, which the host calls KERAS_MATRIX_HOST_ROOT (its entrypoint
    asks the engine); a path outside it, or a runner not in a container, is left as it is."""
    mounted, host = environ.get("KERAS_MATRIX_MOUNTED_ROOT"), environ.get("KERAS_MATRIX_HOST_ROOT")
    if not mounted or not host:
        return source
    relative = os.path.relpath(os.path.abspath(source), os.path.abspath(mounted))
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return source
    return os.path.normpath(os.path.join(host, relative))


def sdk_options(spec: RunSpec) -> Dict[str, Any]:
    """The SDK's containers.create keywords for a spec: every limit and security setting comes from it."""
    options: Dict[str, Any] = dict(
        command=spec.command, environment=spec.env, network_mode=spec.network, read_only=spec.read_only,
        tmpfs=dict(spec.tmpfs),
        mounts=[docker.types.Mount(m.target, host_path(m.source), type="bind", read_only=m.read_only)
                for m in spec.mounts],
        mem_limit=spec.memory, memswap_limit=spec.memory,
        pids_limit=spec.pids, cap_drop=list(spec.cap_drop), security_opt=list(spec.security_opt), user=spec.user,
        working_dir=spec.working_dir, labels={LABEL: "1"}, name=spec.name, detach=True,
    )
    if spec.cpus is not None:
        options["nano_cpus"] = int(float(spec.cpus) * 1e9)
    if spec.cpuset:
        options["cpuset_cpus"] = spec.cpuset
    if spec.gpu:
        gpu = "gpu"  # not our vocabulary: Docker's capability name
        options["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[[gpu]])]
    return options


def _remove_containers(containers: List[Any]) -> int:
    removed = 0
    for container in containers:
        try:
            container.remove(force=True)
            removed += 1
        except docker.errors.APIError:
            pass
    return removed


def docker_time(text: Optional[str]) -> Optional[int]:
    """Epoch seconds of a Docker timestamp ('2026-11-27T09:30:01.123456789Z'), None for unset/zero ones."""
    if not text or text.startswith("0001-"):
        return None
    try:
        return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


