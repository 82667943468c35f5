import importlib.util
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


def cores_of(cpuset):
    """'0-2,5' -> [0, 1, 2, 5]: Docker's --cpuset-cpus syntax, read independently of the runner's code."""
    cores = []
    for part in cpuset.split(","):
        low, _, high = part.partition("-")
        cores.extend(range(int(low), int(high or low) + 1))
    return cores


def load_bench(name):
    """A script under bench/ (not a package) imported as a module, for its unit tests."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / (name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
