"""The Docker adapter against a fake SDK client and a fake docker CLI (subprocess): no engine is touched.
What is checked is what a user would notice: which CLI runs, what reaches the engine, what a failure says,
that no container is left behind. (Longer than most test modules: it mirrors runner/engine/docker.py and
runner/engine/docker_cli.py together, and carries the fakes both need.)"""

import subprocess
import threading
import time

import docker.errors
import docker.types
import pytest
import requests
import urllib3.exceptions

from runner.engine import docker_cli
from runner.engine.docker import DockerEngine, docker_time
from runner.engine.docker_cli import CLI_VARIABLE, engine_hint, find_docker_cli
from runner.engine.protocol import LABEL, BuildSpec, Mount, RunSpec
from runner.util.errors import EngineError
from tests.conftest import ROOT

# -- a fake SDK client -----------------------------------------------------------------------------


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime(epoch))


class FakeContainer:
    def __init__(self, wait=None, oom=False, finished_at=None, created=None, remove_error=None):
        self.events = []
        self.wait_result = {"StatusCode": 0} if wait is None else wait
        self.attrs = {"State": {"OOMKilled": oom, "FinishedAt": finished_at}, "Created": created}
        self.remove_error = remove_error

    def start(self):
        self.events.append("start")

    def wait(self, timeout):
        self.events.append(("wait", timeout))
        if isinstance(self.wait_result, BaseException):
            raise self.wait_result
        return self.wait_result

    def kill(self):
        self.events.append("kill")

    def logs(self, stdout, stderr):
        self.events.append("logs")
        return b"training output\n"

    def reload(self):
        self.events.append("reload")

    def remove(self, force):
        self.events.append(("remove", force))
        if self.remove_error:
            raise self.remove_error


class FakeContainers:
    def __init__(self):
        self.created = []  # (image, kwargs)
        self.next = FakeContainer()
        self.by_status = {}
        self.list_calls = []
        self.error = None

    def create(self, image, **kwargs):
        if self.error:
            raise self.error
        self.created.append((image, kwargs))
        return self.next

    def list(self, all, filters):
        if self.error:
            raise self.error
        self.list_calls.append(filters)
        return list(self.by_status.get(filters.get("status"), []))


class FakeImage:
    attrs = {"Id": "sha256:abc", "Size": 1234}


class FakeImages:
    def __init__(self):
        self.error = None
        self.removed = []

    def get(self, ref):
        if self.error:
            raise self.error
        if ref.startswith("missing"):
            raise docker.errors.ImageNotFound("No such image: %s" % ref)
        return FakeImage()

    def remove(self, ref, force, noprune):
        if self.error:
            raise self.error
        if ref.startswith("missing"):
            raise docker.errors.ImageNotFound("No such image: %s" % ref)
        self.removed.append(ref)


class FakeClient:
    def __init__(self):
        self.containers = FakeContainers()
        self.images = FakeImages()
        self.info_value = {"NCPU": 8, "MemTotal": 16 << 30, "Runtimes": {"runc": {}}, "Driver": "overlay2",
                           "DriverStatus": [["Backing Filesystem", "extfs"]]}
        self.version_value = {"Version": "27.1.1", "ApiVersion": "1.46"}
        self.df_error = None
        self.closed = False
        self.pong = True

    def ping(self):
        return self.pong

    def info(self):
        return self.info_value

    def version(self):
        return self.version_value

    def df(self):
        if self.df_error:
            raise self.df_error
        return {"LayersSize": 5000}

    def close(self):
        self.closed = True


class Factory:
    """Stands for docker.from_env: records every connection asked for."""

    def __init__(self, client=None, error=None):
        self.client = client or FakeClient()
        self.error = error
        self.calls = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if self.error:
            raise self.error
        return self.client


# -- a fake docker CLI (subprocess) -----------------------------------------------------------------


class FakeProcess:
    def __init__(self, argv, lines=(), returncode=0, hang=False):
        self.args = argv
        self.pid = 4242
        self.returncode = None
        self.killed = threading.Event()
        self._final = returncode
        self._hang = hang
        self.stdout = self._lines(lines) if argv[0] != "tar" else FakePipe()

    def _lines(self, lines):
        for line in lines:
            if self.killed.is_set():
                return
            yield line.encode()
        if self._hang:
            self.killed.wait(10)

    def kill(self):
        self.killed.set()

    def wait(self):
        self.returncode = -9 if self.killed.is_set() else self._final
        return self.returncode


class FakePipe:
    closed = False

    def close(self):
        self.closed = True


class FakeDocker:
    """What each fake CLI path can do, and every command line the adapter ran."""

    def __init__(self):
        self.clis = {}  # path -> {"buildx": bool, "version": str}
        self.ran = []  # argv of every subprocess.run / Popen
        self.popen_kwargs = []
        self.driver = "docker"
        self.pull_result = (0, "", "Status: Downloaded newer image")
        self.import_result = (0, "sha256:new", "")
        self.build_lines = ["#1 DONE\n"]
        self.build_rc = 0
        self.build_hang = False
        self.error = None  # raised by every command (the CLI cannot be executed)
        self.processes = []

    def run(self, argv, **kwargs):
        self.ran.append(list(argv))
        if self.error:
            raise self.error
        caps = self.clis.get(argv[0], {})
        verb = argv[1:3]
        if verb == ["buildx", "version"]:
            return subprocess.CompletedProcess(argv, 0 if caps.get("buildx") else 1, b"", b"")
        if argv[1] == "version":
            return subprocess.CompletedProcess(argv, 0, caps.get("version", "27.1.1") + "\n", "")
        if verb == ["buildx", "inspect"]:
            return subprocess.CompletedProcess(argv, 0, "Name: default\nDriver: %s\n" % self.driver, "")
        if argv[1] == "pull":
            if self.pull_result == "timeout":
                raise subprocess.TimeoutExpired(argv, kwargs["timeout"])
            rc, out, err = self.pull_result
            return subprocess.CompletedProcess(argv, rc, out, err)
        if argv[1] == "import":
            if self.import_result == "timeout":
                raise subprocess.TimeoutExpired(argv, kwargs["timeout"])
            rc, out, err = self.import_result
            return subprocess.CompletedProcess(argv, rc, out, err)
        raise AssertionError("unexpected command %r" % argv)

    def popen(self, argv, **kwargs):
        self.ran.append(list(argv))
        self.popen_kwargs.append(kwargs)
        if self.error:
            raise self.error
        process = FakeProcess(argv, self.build_lines, self.build_rc, self.build_hang)
        self.processes.append(process)
        return process

    def commands(self, verb):
        return [argv for argv in self.ran if argv[1:2] == [verb] or argv[:1] == [verb]]


def _executable(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 99\n")  # never run: subprocess is faked
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def cli(tmp_path, monkeypatch):
    fake = FakeDocker()
    fake.on_path = _executable(tmp_path / "bin" / "docker")
    fake.fallbacks = (_executable(tmp_path / "usr-bin" / "docker"), _executable(tmp_path / "usr-local-bin" / "docker"))
    fake.override = _executable(tmp_path / "custom" / "my-docker")
    for path in (fake.on_path, *fake.fallbacks, fake.override):
        fake.clis[path] = {"buildx": True}
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv(CLI_VARIABLE, raising=False)
    monkeypatch.setattr(docker_cli, "FALLBACK_CLIS", fake.fallbacks)
    monkeypatch.setattr(subprocess, "run", fake.run)
    monkeypatch.setattr(subprocess, "Popen", fake.popen)
    monkeypatch.setattr(docker_cli, "_kill", lambda process: process.kill())
    return fake


@pytest.fixture
def factory():
    return Factory()


@pytest.fixture
def engine(factory):
    return DockerEngine(client_factory=factory)


def build(engine, tmp_path, **kwargs):
    return engine.build(BuildSpec(tmp_path / "ctx", "keras-matrix/cell:x", log_path=tmp_path / "build.log", **kwargs))


def spec(**overrides):
    return RunSpec(image="keras-matrix/cell:x", command=["matrix-python", "/opt/probe.py"], **overrides)


# -- connection ------------------------------------------------------------------------------------


def test_constructing_the_engine_contacts_neither_the_daemon_nor_the_cli(cli, factory):
    DockerEngine(client_factory=factory)
    assert factory.calls == [] and cli.ran == []


def test_the_connection_is_made_on_first_use_and_shared_by_later_calls(cli, factory, engine):
    engine.image("keras:1")
    engine.describe()
    engine.run(spec())
    engine.remove_managed_containers()
    assert factory.calls == [{"timeout": 300}]


@pytest.mark.parametrize("call", [
    lambda e: e.connect(), lambda e: e.describe(), lambda e: e.image("keras:1"), lambda e: e.run(spec()),
    lambda e: e.remove_stale_containers(), lambda e: e.disk_usage(),
], ids=["connect", "describe", "image", "run", "remove_stale_containers", "disk_usage"])
def test_an_unreachable_daemon_is_one_clear_error_whatever_asks_first(call):
    down = Factory(error=docker.errors.DockerException(
        "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file'))"))
    with pytest.raises(EngineError) as caught:
        call(DockerEngine(client_factory=down))
    message = str(caught.value)
    assert message.startswith("cannot reach the Docker engine (Error while fetching server API version")
    assert message.endswith(engine_hint()) and caught.value.exit_code == 3


def test_a_failed_connection_is_tried_again_on_the_next_call(factory, engine):
    factory.error = requests.exceptions.ConnectionError("refused")
    with pytest.raises(EngineError, match="cannot reach"):
        engine.connect()
    factory.error = None
    assert engine.connect().describe()["docker_version"] == "27.1.1"


def test_describe_reports_the_engine_facts(factory, engine):
    factory.client.info_value["Runtimes"] = {"runc": {}, "nvidia": {}}
    facts = engine.describe()
    assert facts["cpus"] == 8 and facts["memory_bytes"] == 16 << 30 and facts["api_version"] == "1.46"
    assert facts["runtimes"] == ["nvidia", "runc"] and facts["gpu_runtime"] is True


def test_alive_asks_on_a_fresh_connection_and_closes_it(factory, engine):
    engine.connect()
    assert engine.alive() is True
    assert factory.calls[-1] == {"timeout": 10, "version": "1.46"} and factory.client.closed
    factory.error = requests.exceptions.ConnectionError("refused")
    assert engine.alive() is False
    fresh = Factory()
    assert DockerEngine(client_factory=fresh).alive() is True and fresh.calls == [{"timeout": 10}]


# -- one way to find the CLI ------------------------------------------------------------------------


def _run_operation(operation, engine, tmp_path):
    if operation == "build":
        build(engine, tmp_path)
    elif operation == "pull":
        engine.pull("debian:bookworm")
    else:
        engine.import_rootfs(tmp_path, "keras-matrix/base:x", {})


def _cli_used(cli, operation):
    return [argv[0] for argv in cli.ran if argv[1:2] == [operation] or argv[2:3] == [operation]]


@pytest.mark.parametrize("operation", ["build", "pull", "import"])
def test_the_cli_override_is_used_first_by_every_operation(operation, cli, engine, tmp_path, monkeypatch):
    monkeypatch.setenv(CLI_VARIABLE, cli.override)
    _run_operation(operation, engine, tmp_path)
    assert _cli_used(cli, operation) == [cli.override]


@pytest.mark.parametrize("operation", ["build", "pull", "import"])
def test_without_an_override_the_cli_comes_from_path_then_the_usual_places(operation, cli, engine, tmp_path,
                                                                              monkeypatch):
    _run_operation(operation, engine, tmp_path)
    assert _cli_used(cli, operation) == [cli.on_path]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv(CLI_VARIABLE, str(tmp_path / "no-such-docker"))  # an override that is not there
    other = DockerEngine(client_factory=Factory())
    cli.ran.clear()
    _run_operation(operation, other, tmp_path)
    assert _cli_used(cli, operation) == [cli.fallbacks[0]]


@pytest.mark.parametrize("operation", ["build", "pull", "import"])
def test_no_cli_anywhere_is_a_clear_error(operation, cli, engine, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(docker_cli, "FALLBACK_CLIS", (str(tmp_path / "nope" / "docker"),))
    with pytest.raises(EngineError, match=r"no docker CLI found \(tried: docker, .*nope/docker\).*%s" % CLI_VARIABLE):
        _run_operation(operation, engine, tmp_path)


def test_builds_pass_over_a_cli_without_buildkit_but_pulls_do_not_need_it(cli, engine, tmp_path):
    cli.clis[cli.on_path] = {"buildx": False, "version": "24.0.7"}  # a 23+ client without the buildx plugin
    cli.clis[cli.fallbacks[0]] = {"buildx": False, "version": "20.10.24"}  # BuildKit built in
    outcome = build(engine, tmp_path, cache_dir=tmp_path / "cache")
    assert outcome.ok and _cli_used(cli, "build") == [cli.fallbacks[0]]
    engine.pull("debian:bookworm")
    assert _cli_used(cli, "pull") == [cli.on_path]


def test_no_cli_with_buildkit_is_a_clear_error(cli, engine, tmp_path):
    for path in cli.clis:
        cli.clis[path] = {"buildx": False, "version": "25.0.0"}
    with pytest.raises(EngineError, match="no docker CLI with BuildKit found .*install the buildx plugin"):
        build(engine, tmp_path)
    assert find_docker_cli().path == cli.on_path  # still there for pulls and imports


def test_buildkit_is_asked_once_per_engine(cli, engine, tmp_path):
    build(engine, tmp_path)
    build(engine, tmp_path)
    assert [argv for argv in cli.ran if argv[1:3] == ["buildx", "version"]] == [[cli.on_path, "buildx", "version"]]
    assert len(_cli_used(cli, "build")) == 2


# -- one place for failures ---------------------------------------------------------------------------

FAILURES = [
    docker.errors.DockerException("Error while fetching server API version"),
    requests.exceptions.ConnectionError("('Connection aborted.', ConnectionResetError(104))"),
    OSError(32, "Broken pipe"),
]


def _fail_sdk(client, cli, exc):
    client.images.error = client.containers.error = exc


def _fail_cli(client, cli, exc):
    cli.error = exc


PUBLIC_CALLS = [
    ("image", lambda e, p: e.image("keras:1"), _fail_sdk, "inspect image keras:1"),
    ("remove_image", lambda e, p: e.remove_image("keras:1"), _fail_sdk, "remove image keras:1"),
    ("run", lambda e, p: e.run(spec()), _fail_sdk, "run a container from keras-matrix/cell:x"),
    ("remove_stale", lambda e, p: e.remove_stale_containers(), _fail_sdk, "remove stale containers"),
    ("remove_managed", lambda e, p: e.remove_managed_containers(), _fail_sdk, "remove this tool's containers"),
    ("pull", lambda e, p: e.pull("debian:bookworm"), _fail_cli, "pull debian:bookworm"),
    ("import", lambda e, p: e.import_rootfs(p, "base:x", {}), _fail_cli, "import a root file system as base:x"),
    ("build", lambda e, p: build(e, p), _fail_cli, "build keras-matrix/cell:x"),
]


@pytest.mark.parametrize("exc", FAILURES, ids=lambda exc: type(exc).__name__)
@pytest.mark.parametrize("name,call,inject,action", PUBLIC_CALLS, ids=[c[0] for c in PUBLIC_CALLS])
def test_every_public_method_turns_engine_failures_into_one_clear_error(name, call, inject, action, exc, cli,
                                                                        factory, engine, tmp_path):
    engine.connect()
    if inject is _fail_cli:  # the CLI is found (and BuildKit probed) before its command fails
        engine.pull("debian:bookworm")
        build(engine, tmp_path)
    inject(factory.client, cli, exc)
    with pytest.raises(EngineError) as caught:
        call(engine, tmp_path)
    message = str(caught.value)
    assert action in message and type(exc).__name__ in message and str(exc)[:20] in message
    if not isinstance(exc, (docker.errors.DockerException, requests.exceptions.RequestException)):  # the OS's
        assert message.startswith("could not %s" % action)
    else:
        assert message.startswith("the Docker engine stopped answering while trying to %s" % action)
        assert message.endswith(engine_hint())


def test_an_engine_that_refuses_says_what_it_refused_and_why(factory, engine):
    factory.client.containers.error = docker.errors.APIError("500 Server Error", explanation="no space left on device")
    with pytest.raises(EngineError, match="^the Docker engine refused to run a container from keras-matrix/cell:x: "
                                          "no space left on device$"):
        engine.run(spec())


@pytest.mark.parametrize("call", [lambda e: e.image("keras:1"), lambda e: e.run(spec()),
                                  lambda e: e.remove_managed_containers()], ids=["image", "run", "remove_managed"])
def test_an_interrupt_is_never_turned_into_an_engine_error(call, factory, engine):
    factory.client.images.error = factory.client.containers.error = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        call(engine)


def test_missing_images_are_answers_not_errors(factory, engine):
    assert engine.image("missing:1") is None and engine.remove_image("missing:1") is False
    assert engine.image("keras:1") == {"Id": "sha256:abc", "Size": 1234}
    assert engine.remove_image("keras:1") is True and factory.client.images.removed == ["keras:1"]


def test_disk_usage_is_a_report_never_a_failure(factory, engine):
    assert engine.disk_usage() == 5000
    factory.client.df_error = requests.exceptions.ReadTimeout("df took too long")
    assert engine.disk_usage() is None


# -- containers --------------------------------------------------------------------------------------


def test_the_locked_down_defaults_reach_the_engine_exactly(factory, engine):
    engine.run(RunSpec(image="img:1", command=["python", "-c", "1"], env={"A": "1"},
                       mounts=[Mount("/host/probe", "/opt/probe")], memory="3g", cpus="1.5", pids=256, timeout=60))
    assert factory.client.containers.created == [("img:1", {
        "command": ["python", "-c", "1"], "environment": {"A": "1"},
        "network_mode": "none", "read_only": True, "tmpfs": {"/tmp": "rw,exec,nosuid,size=4g"},
        "mounts": [docker.types.Mount("/opt/probe", "/host/probe", type="bind", read_only=True)],
        "mem_limit": "3g", "memswap_limit": "3g", "nano_cpus": 1500000000, "pids_limit": 256,
        "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "user": "65534:65534", "working_dir": "/tmp",
        "labels": {LABEL: "1"}, "name": None, "detach": True,
    })]


def test_a_spec_without_a_cpu_quota_gets_none_only_its_cpuset(factory, engine):
    engine.run(spec(cpus=None, cpuset="0-1"))
    (_, options), = factory.client.containers.created
    assert "nano_cpus" not in options and options["cpuset_cpus"] == "0-1"


def test_the_specs_own_security_settings_reach_the_engine_unchanged(factory, engine):
    engine.run(spec(network="bridge", read_only=False, tmpfs={"/scratch": "rw,size=1g"}, cap_drop=["NET_RAW"],
                    security_opt=["seccomp=unconfined"], user="1000:1000", working_dir="/work", cpuset="2-3",
                    gpu=True, name="km-x"))
    (_, options), = factory.client.containers.created
    assert (options["network_mode"], options["read_only"], options["tmpfs"], options["cap_drop"],
            options["security_opt"], options["user"], options["working_dir"], options["cpuset_cpus"],
            options["name"]) == ("bridge", False, {"/scratch": "rw,size=1g"}, ["NET_RAW"], ["seccomp=unconfined"],
                                 "1000:1000", "/work", "2-3", "km-x")
    assert options["device_requests"] == [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]


def test_a_finished_container_gives_its_exit_code_output_and_is_removed(factory, engine):
    container = factory.client.containers.next = FakeContainer(wait={"StatusCode": 3}, oom=True)
    outcome = engine.run(spec(timeout=42))
    assert (outcome.exit_code, outcome.output, outcome.timed_out, outcome.oom_killed) == (3, "training output\n",
                                                                                          False, True)
    assert container.events == ["start", ("wait", 42), "logs", "reload", ("remove", True)]


WAIT_TIMEOUTS = [
    requests.exceptions.ReadTimeout("UnixHTTPConnectionPool(host='localhost', port=None): Read timed out."),
    requests.exceptions.ConnectionError(urllib3.exceptions.ReadTimeoutError(None, "/wait", "Read timed out.")),
    requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, "/wait", urllib3.exceptions.ReadTimeoutError(None, "/wait", "Read timed out."))),
]


@pytest.mark.parametrize("exc", WAIT_TIMEOUTS, ids=["ReadTimeout", "ConnectionError(ReadTimeoutError)",
                                                    "ConnectionError(MaxRetryError(ReadTimeoutError))"])
def test_a_wait_timeout_is_known_by_its_type_the_container_killed_and_removed(exc, factory, engine):
    container = factory.client.containers.next = FakeContainer(wait=exc)
    outcome = engine.run(spec())
    assert outcome.timed_out is True and outcome.exit_code is None and outcome.output == "training output\n"
    assert container.events[2:] == ["kill", "logs", "reload", ("remove", True)]


@pytest.mark.parametrize("exc", [
    docker.errors.APIError("Read timed out"),  # says "timed out", is not a timeout
    requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused (timed out)")),
    requests.exceptions.ConnectionError("Read timed out."),
], ids=["APIError", "ConnectionError(refused)", "ConnectionError(text)"])
def test_other_wait_failures_are_engine_errors_and_the_container_is_still_removed(exc, factory, engine):
    container = factory.client.containers.next = FakeContainer(wait=exc)
    with pytest.raises(EngineError, match="run a container from keras-matrix/cell:x"):
        engine.run(spec())
    assert "kill" not in container.events and container.events[-1] == ("remove", True)


def test_a_failing_remove_never_masks_the_error_that_ended_the_run(factory, engine):
    container = factory.client.containers.next = FakeContainer(
        wait=requests.exceptions.ConnectionError("Connection aborted"),
        remove_error=requests.exceptions.ConnectionError("gone"))
    with pytest.raises(EngineError, match="Connection aborted"):
        engine.run(spec())
    assert container.events[-1] == ("remove", True)


def test_an_interrupt_during_a_run_still_removes_the_container(factory, engine):
    container = factory.client.containers.next = FakeContainer(wait=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        engine.run(spec())
    assert container.events[-1] == ("remove", True)


def test_only_containers_that_ended_long_ago_are_stale(factory, engine):
    now = time.time()
    old = FakeContainer(finished_at=iso(now - 7200))
    recent = FakeContainer(finished_at=iso(now - 10))
    never_started_long_ago = FakeContainer(finished_at="0001-01-01T00:00:00Z", created=iso(now - 3600))
    never_started_just_now = FakeContainer(finished_at="0001-01-01T00:00:00Z", created=iso(now - 5))
    unknown_age = FakeContainer(finished_at=None, created="garbage")
    factory.client.containers.by_status = {"exited": [old, recent], "dead": [unknown_age],
                                           "created": [never_started_long_ago, never_started_just_now]}
    assert engine.remove_stale_containers(older_than=60) == 3
    for container, removed in ((old, True), (recent, False), (never_started_long_ago, True),
                               (never_started_just_now, False), (unknown_age, True)):
        assert (("remove", True) in container.events) is removed
    statuses = ("exited", "dead", "created")
    assert factory.client.containers.list_calls == [{"label": LABEL, "status": status} for status in statuses]


def test_removing_managed_containers_counts_only_those_removed(factory, engine):
    gone = FakeContainer(remove_error=docker.errors.NotFound("already gone"))
    factory.client.containers.by_status = {None: [FakeContainer(), gone, FakeContainer()]}
    assert engine.remove_managed_containers() == 2
    assert factory.client.containers.list_calls == [{"label": LABEL}]


def test_docker_timestamps_parse_and_unset_ones_are_none():
    assert docker_time("2026-11-27T09:30:01.123456789Z") == 1795771801
    assert docker_time("0001-01-01T00:00:00Z") is None and docker_time("") is None and docker_time("bad") is None


# -- pull and import ---------------------------------------------------------------------------------


def test_pull_answers_with_the_engines_last_line(cli, engine):
    assert engine.pull("debian:bookworm") == (True, "Status: Downloaded newer image")
    cli.pull_result = (1, "", "Error response from daemon: pull access denied\nmore detail\n")
    assert engine.pull("debian:bookworm") == (False, "more detail")
    cli.pull_result = "timeout"
    assert engine.pull("debian:bookworm", timeout=5) == (False, "pull timed out after 5s")


def test_import_labels_the_image_and_a_failure_is_an_engine_error(cli, engine, tmp_path):
    engine.import_rootfs(tmp_path, "keras-matrix/base:bookworm", {"b.label": "2", "a.label": "x y"})
    assert cli.commands("tar") == [["tar", "-C", str(tmp_path), "-c", "."]]
    assert cli.commands("import") == [[cli.on_path, "import", "--change", "LABEL a.label=x y", "--change",
                                       "LABEL b.label=2", "-", "keras-matrix/base:bookworm"]]
    assert cli.processes[0].stdout.closed
    cli.import_result = (1, "", "invalid tar header")
    with pytest.raises(EngineError, match="docker import of keras-matrix/base:bookworm failed: invalid tar header"):
        engine.import_rootfs(tmp_path, "keras-matrix/base:bookworm", {})
    cli.import_result = "timeout"
    with pytest.raises(EngineError, match="did not finish within 900 s"):
        engine.import_rootfs(tmp_path, "keras-matrix/base:bookworm", {})
    assert cli.processes[-1].killed.is_set()


# -- builds ------------------------------------------------------------------------------------------


def test_build_command_line_carries_args_secrets_and_labels_in_a_stable_order(cli, engine, tmp_path):
    outcome = build(engine, tmp_path, build_args={"PY": "3.11", "BASE_IMAGE": "debian:bookworm"},
                    secrets={"ca_bundle": "/etc/ca.pem"}, labels={"z.sha": "1", "a.sha": "2"})
    argv = [cli.on_path, "build", "--progress=plain", "-t", "keras-matrix/cell:x",
            "--build-arg", "BASE_IMAGE=debian:bookworm", "--build-arg", "PY=3.11",
            "--secret", "id=ca_bundle,src=/etc/ca.pem", "--label", "a.sha=2", "--label", "z.sha=1",
            str(tmp_path / "ctx")]
    assert cli.commands("build") == [argv]
    assert cli.popen_kwargs[0]["env"]["DOCKER_BUILDKIT"] == "1" and cli.popen_kwargs[0]["start_new_session"]
    assert (tmp_path / "build.log").read_text().startswith("$ %s\n" % " ".join(argv))
    assert (outcome.ok, outcome.image_id, outcome.image_size, outcome.timed_out) == (True, "sha256:abc", 1234, False)


def test_build_output_is_logged_and_only_steps_that_run_are_announced(cli, engine, tmp_path):
    cli.build_lines = ["#5 [stage-0 2/4] RUN --mount=type=cache,target=/root/.cache if [ -f /x ]; then y; fi; "
                       "pip install keras\n", "#5 1.2 Collecting keras\n",
                       "#6 [stage-0 3/4] RUN echo cached\n", "#6 CACHED\n"]
    steps = []
    build(engine, tmp_path, on_step=steps.append)
    assert steps == ["step 2/4: RUN pip install keras"]
    assert (tmp_path / "build.log").read_text().endswith("".join(cli.build_lines))


def test_a_failed_build_keeps_the_tail_of_its_output_and_looks_up_no_image(cli, factory, engine, tmp_path):
    cli.build_lines = ["line %05d\n" % i for i in range(3000)]  # 33,000 characters
    cli.build_rc = 1
    factory.client.images.error = AssertionError("a failed build has no image to inspect")
    outcome = build(engine, tmp_path)
    text = "".join(cli.build_lines)
    assert not outcome.ok and not outcome.timed_out and outcome.image_id is None
    assert outcome.log_tail == "...[earlier output clipped]...\n" + text[-16000:]


def test_a_build_past_its_timeout_is_killed_and_says_so(cli, engine, tmp_path):
    cli.build_hang = True
    started = time.monotonic()
    outcome = build(engine, tmp_path, timeout=0.2)
    assert outcome.timed_out and not outcome.ok and cli.processes[0].killed.is_set()
    assert time.monotonic() - started < 5


def test_a_build_stopped_on_request_is_killed_but_not_a_timeout(cli, engine, tmp_path):
    cli.build_lines = ["#1 one\n", "#1 two\n", "#1 three\n"]
    outcome = build(engine, tmp_path, should_stop=lambda: True)
    assert cli.processes[0].killed.is_set() and not outcome.ok and not outcome.timed_out
    assert "three" not in (tmp_path / "build.log").read_text()


# -- the layer cache ---------------------------------------------------------------------------------


def test_a_builder_with_its_own_store_exports_the_cache_and_loads_the_image(cli, engine, tmp_path):
    cli.driver = "docker-container"
    cache = tmp_path / "cache"
    build(engine, tmp_path, cache_dir=cache)  # first run: nothing to read yet
    cache.mkdir()
    build(engine, tmp_path, cache_dir=cache)
    first, second = [argv for argv in cli.ran if argv[1:3] == ["buildx", "build"]]
    assert first[:3] == [cli.on_path, "buildx", "build"]
    assert first[first.index("-t") + 2:] == ["--cache-to", "type=local,dest=%s,mode=max" % cache, "--load",
                                             str(tmp_path / "ctx")]
    assert second[second.index("-t") + 2:] == ["--cache-from", "type=local,src=%s" % cache,
                                               "--cache-to", "type=local,dest=%s,mode=max" % cache, "--load",
                                               str(tmp_path / "ctx")]


def test_the_default_builder_exports_the_cache_with_the_containerd_store(cli, factory, engine, tmp_path):
    factory.client.info_value["DriverStatus"] = [["driver-type", "io.containerd.snapshotter.v1"]]
    build(engine, tmp_path, cache_dir=tmp_path / "cache")
    argv, = [a for a in cli.ran if a[1:3] == ["buildx", "build"]]
    assert argv[argv.index("-t") + 2:] == ["--cache-to", "type=local,dest=%s,mode=max" % (tmp_path / "cache"),
                                           str(tmp_path / "ctx")]


@pytest.mark.parametrize("client", [{"buildx": True}, {"buildx": False, "version": "20.10.24"}],
                         ids=["buildx-docker-driver", "pre-23-builtin"])
def test_a_builder_that_cannot_export_a_cache_builds_without_it_and_says_so_once(client, cli, engine, tmp_path):
    cli.clis[cli.on_path] = client
    steps = []
    for _ in range(2):
        outcome = build(engine, tmp_path, cache_dir=tmp_path / "cache", on_step=steps.append)
        assert outcome.ok
    assert [argv[1] for argv in cli.ran if "-t" in argv] == ["build", "build"]  # plain `docker build`
    assert not any("--cache-to" in argv or "--cache-from" in argv for argv in cli.ran)
    assert len(steps) == 1 and steps[0].startswith("layer cache %s not kept: " % (tmp_path / "cache"))
    assert ("built-in BuildKit" in steps[0]) is (not client["buildx"])


def test_no_cache_dir_means_no_cache_flags_and_no_probe(cli, engine, tmp_path):
    build(engine, tmp_path)
    assert not any(argv[1:3] == ["buildx", "inspect"] for argv in cli.ran)
    assert cli.commands("build")[0][1] == "build"


def test_an_installed_package_names_how_to_start_an_engine_not_a_script_it_does_not_have(monkeypatch):
    """A pip install has no .ci/ensure-docker.sh: the hint there says how to start the daemon instead."""
    from runner.engine import docker_cli

    monkeypatch.setattr(docker_cli, "source_checkout", lambda: None)
    assert docker_cli.engine_hint().startswith("Try: start the Docker daemon")
    assert ".ci/" not in docker_cli.engine_hint()
    monkeypatch.setattr(docker_cli, "source_checkout", lambda: ROOT)  # a checkout: its own script, by full path
    assert docker_cli.engine_hint() == "Try: bash %s" % (ROOT / ".ci" / "ensure-docker.sh")


def test_bind_mount_sources_are_named_by_the_host_path_when_the_runner_runs_in_compose(monkeypatch):
    """docker-compose.yml mounts the checkout at /keras-matrix; the host's engine knows it by its host path."""
    from runner.engine.docker import host_path, sdk_options
    from runner.engine.protocol import Mount, RunSpec

    compose = {"KERAS_MATRIX_MOUNTED_ROOT": "/keras-matrix", "KERAS_MATRIX_HOST_ROOT": "/home/me/keras-matrix"}
    assert host_path("/keras-matrix/runner/probe", compose) == "/home/me/keras-matrix/runner/probe"
    assert host_path("/keras-matrix", compose) == "/home/me/keras-matrix"
    assert host_path("/keras-matrix-other/x", compose) == "/keras-matrix-other/x"  # not inside the mount
    assert host_path("/etc/ssl/certs", compose) == "/etc/ssl/certs"
    assert host_path("/keras-matrix/runner/probe", {}) == "/keras-matrix/runner/probe"  # not in a container
    spec = RunSpec(image="i", command=["true"], name="n", mounts=[Mount("/keras-matrix/.cache/mnist", "/data")])
    for key, value in compose.items():
        monkeypatch.setenv(key, value)
    (mount,) = sdk_options(spec)["mounts"]
    assert mount["Source"] == "/home/me/keras-matrix/.cache/mnist" and mount["Target"] == "/data"
