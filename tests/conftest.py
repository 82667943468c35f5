import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    # Everything under tests/integration talks to the real engine: mark it so `-m docker` selects it.
    for item in items:
        if "integration" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.docker)


@pytest.fixture(autouse=True)
def _no_docker_in_unit_tests(request, monkeypatch):
    """Unit tests cannot reach a Docker engine by accident: the SDK and the CLI point nowhere."""
    if "integration" in Path(str(request.node.fspath)).parts:
        return
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/keras-matrix-unit-tests.sock")


_LOOPBACK = ("127.", "::1", "localhost")


@pytest.fixture(autouse=True)
def _no_network_in_unit_tests(request, monkeypatch):
    """Unit tests cannot reach the network by accident: a connection or a name lookup anywhere but the
    loopback fails at once (fake servers on 127.0.0.1 are fine). The real downloads are integration tests."""
    if "integration" in Path(str(request.node.fspath)).parts:
        return
    import socket

    def refuse(host):
        raise OSError("unit tests have no network (tried %r); fake it, or move the test to tests/integration"
                      % (host,))

    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not str(address[0]).startswith(_LOOPBACK):
            refuse(address[0])
        return connect(sock, address)

    def guarded_lookup(host, *args, **kwargs):
        if host is not None and not str(host).startswith(_LOOPBACK):
            refuse(host)
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)


def cores_of(cpuset):
    """'0-2,5' -> [0, 1, 2, 5]: Docker's --cpuset-cpus syntax, read independently of the runner's code."""
    cores = []
    for part in cpuset.split(","):
        low, _, high = part.partition("-")
        cores.extend(range(int(low), int(high or low) + 1))
    return cores


def probe_scripts(monkeypatch, *names):
    """Fresh imports of the in-container scripts (runner/probe/NAME.py, Python 2.7 compatible) on the host,
    the way a container's python finds them: from the probe directory, with `common` re-imported too."""
    from runner.run.measure import PROBE_DIR

    monkeypatch.syspath_prepend(str(PROBE_DIR))
    for name in ("common",) + names:
        sys.modules.pop(name, None)
    modules = tuple(importlib.import_module(name) for name in names)
    return modules[0] if len(modules) == 1 else modules


def load_bench(name):
    """A script under bench/ (not a package) imported as a module, for its unit tests."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
