"""The docker CLI side of the engine: finding the CLI (one way, for builds, pulls and imports alike) and
running a BuildKit build with its output streamed to a log, killed at its timeout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Dict, List, Optional, Tuple

from runner.util.errors import EngineError
from runner.util.paths import source_checkout

CLI_VARIABLE = "KERAS_MATRIX_DOCKER_CLI"
FALLBACK_CLIS = ("/usr/bin/docker", "/usr/local/bin/docker")
_STEP = re.compile(r"^#(\d+) \[[^\]]*?(\d+/\d+)\] (.*)$")  # BuildKit: "#9 [stage-0 5/11] RUN ..."
_STEP_OUTPUT = re.compile(r"^#(\d+) \d+\.\d+ ")  # "#9 12.3 Collecting ...": the step is really running


@dataclass(frozen=True)
class DockerCli:
    path: str
    buildkit: Optional[str] = None  # "buildx", "builtin" (a pre-23 client with DOCKER_BUILDKIT=1), None: not asked


def find_docker_cli(buildkit: bool = False) -> DockerCli:
    """The docker CLI: $KERAS_MATRIX_DOCKER_CLI, else docker on PATH, /usr/bin/docker, /usr/local/bin/docker;
    the first that exists (with buildkit=True: the first that can build with BuildKit)."""
    candidates = [os.environ.get(CLI_VARIABLE) or "", "docker", *FALLBACK_CLIS]
    found: List[str] = []
    for candidate in filter(None, candidates):
        path = shutil.which(candidate)
        if path is None or path in found:
            continue
        found.append(path)
        if not buildkit:
            return DockerCli(path)
        kind = _buildkit_kind(path)
        if kind:
            return DockerCli(path, kind)
    tried = ", ".join(found or filter(None, candidates))
    if buildkit and found:
        raise EngineError("no docker CLI with BuildKit found (tried: %s). Builds need BuildKit for secrets and cache "
                          "mounts. Try: install the buildx plugin, or Debian's docker.io, or set %s."
                          % (tried, CLI_VARIABLE))
    raise EngineError("no docker CLI found (tried: %s). %s, or set %s to the docker client's path."
                      % (tried, engine_hint(), CLI_VARIABLE))


def engine_hint() -> str:
    """What to do about a missing engine, for where the tool runs: a checkout has the script that installs and
    starts one; an installed package does not, so it names the usual ways to start the daemon."""
    checkout = source_checkout()
    if checkout is not None:
        return "Try: bash %s" % (checkout / ".ci" / "ensure-docker.sh")
    return "Try: start the Docker daemon (e.g. sudo systemctl start docker), or point DOCKER_HOST at a running one"


def _buildkit_kind(cli: str) -> Optional[str]:
    try:
        if subprocess.run([cli, "buildx", "version"], capture_output=True, timeout=20).returncode == 0:
            return "buildx"
        version = subprocess.run([cli, "version", "--format", "{{.Client.Version}}"], capture_output=True,
                                 text=True, timeout=20).stdout.strip()
        if version and int(version.split(".")[0]) < 23:
            return "builtin"  # BuildKit is built into pre-23 clients (DOCKER_BUILDKIT=1)
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return None


def buildx_driver(cli: str) -> str:
    """The driver of the current buildx builder ("docker", "docker-container", ...); "docker" when unknown."""
    try:
        inspected = subprocess.run([cli, "buildx", "inspect"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        inspected = ""  # unknown: assume the default builder, the one that cannot export a cache
    return next((line.split(":", 1)[1].strip() for line in inspected.splitlines()
                 if line.strip().startswith("Driver:")), "docker")


def build_argv(cli: str, tag: str, context: Path, build_args: Dict[str, str], secrets: Dict[str, str],
               labels: Dict[str, str], cache_flags: List[str]) -> List[str]:
    # Cache export is a buildx feature: ask for it by name (a pre-23 `docker build` would not know the flags).
    argv = [cli, "buildx", "build"] if cache_flags else [cli, "build"]
    argv += ["--progress=plain", "-t", tag]
    for key, value in sorted(build_args.items()):
        argv += ["--build-arg", "%s=%s" % (key, value)]
    for key, src in sorted(secrets.items()):
        argv += ["--secret", "id=%s,src=%s" % (key, src)]
    for key, value in sorted(labels.items()):
        argv += ["--label", "%s=%s" % (key, value)]
    return argv + cache_flags + [str(context)]


def stream_build(argv: List[str], env: Dict[str, str], log_path: Optional[Path], timeout: float,
            should_stop: Optional[Callable[[], bool]],
            on_step: Optional[Callable[[str], None]]) -> Tuple[Optional[int], bool, str]:
    """Run a build, its output to log_path and on_step; killed at the timeout or when should_stop says.
    -> (exit code, whether the timeout fired, the output's last lines)."""
    chunks: List[str] = []
    pending: Dict[str, str] = {}
    fired = threading.Event()
    log: IO[str]
    with open(str(log_path) if log_path else os.devnull, "w", encoding="utf-8") as log:
        log.write("$ %s\n" % " ".join(argv))
        log.flush()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)

        def on_timeout() -> None:
            fired.set()
            _kill(proc)
        killer = threading.Timer(timeout, on_timeout)
        killer.start()
        try:
            for raw in proc.stdout or ():
                line = raw.decode("utf-8", "replace")
                log.write(line)
                chunks.append(line)
                if on_step:
                    _report_step(line, pending, on_step)
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
    return proc.returncode, fired.is_set(), "".join(chunks)



def _report_step(line: str, pending: Dict[str, str], on_step: Callable[[str], None]) -> None:
    """Announce a build step when it first prints output, so cached steps stay quiet."""
    step = _STEP.match(line)
    if step:
        pending[step.group(1)] = "step %s: %s" % (step.group(2), _short_step(step.group(3)))
        return
    running = _STEP_OUTPUT.match(line)
    if running and running.group(1) in pending:
        on_step(pending.pop(running.group(1)))


def _short_step(instruction: str) -> str:
    """'RUN --mount=... if [...]; fi; pip install x' -> 'RUN pip install x' (what a person wants to see)."""
    text = re.sub(r"--mount=\S+\s*", "", instruction)
    text = re.sub(r"if \[.*?fi;\s*", "", text)
    return re.sub(r"\s+", " ", text)[:100]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, 9)
    except OSError:  # ProcessLookupError included: it ended already
        pass
