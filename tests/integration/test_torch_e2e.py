"""PyTorch, Keras 3's third trainable backend, on the real engine: the Keras 3.15.1 + torch 2.15.0 cell (torch
alone, as the matrix's keras3-torch-only) through a real smoke run. It builds from PyPI's Linux torch wheel, a
CUDA build: with a cold cache the build downloads about 3 GB and the image holds about 5.5 GB of torch and
nvidia-* wheels (bench/torch-install.json: without those wheels `import torch` fails, so there is no slimmer
layer to test). The record says what was installed, what Keras chose with no KERAS_BACKEND, and that torch
trained on the CPU and learned."""

import json

import pytest

from runner.results.store import validate_results
from tests.integration.conftest import ROOT, run_cli

MATRIX = ROOT / "tests" / "data" / "torch-matrix.yaml"
CELL = "keras3.15.1-torch2.15.0-py311-cpu"


@pytest.fixture(scope="module")
def torch_run(engine, tmp_path_factory):
    results = tmp_path_factory.mktemp("torch")
    proc = run_cli("run", MATRIX, "--results-dir", results, "--run-id", "torch", "--rerun", timeout=3000)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    doc = validate_results(json.loads((results / "torch" / "results.json").read_text()))
    assert [c["cell_id"] for c in doc["cells"]] == [CELL]
    return doc["cells"][0]


def test_torch_trains_keras_3_on_the_cpu(torch_run):
    cell = torch_run
    assert cell["status"] == "ok", cell.get("reason")
    assert set(cell["trainings"]) == {"torch"}
    training = cell["trainings"]["torch"]
    assert training["status"] == "ok", training.get("error")
    assert training["test_accuracy"] > 0.7  # 3 epochs of a few batches: it learns (smoke, no time claimed)
    assert training["device"] == {"devices": ["cpu"], "gpu": False}
    # torch says which build it is: PyPI's Linux wheel is the CUDA one (2.15.0+cu132), run here without a GPU.
    library = cell["probe"]["libraries"]["torch"]
    assert library["importable"] is True and library["version"].startswith("2.15.0+cu"), library


def test_the_default_backend_with_torch_alone_is_still_tensorflow(torch_run):
    # Keras 3 with no keras.json and no KERAS_BACKEND asks for tensorflow; with torch alone installed the import
    # raises, naming the missing module, and the keras.json Keras wrote names tensorflow.
    default = torch_run["default_backend"]
    assert default["backend"] is None
    assert default["error"]["type"].endswith("ModuleNotFoundError")
    assert "tensorflow" in default["error"]["message"]
    assert default["keras_json"]["backend"] == "tensorflow"


def test_the_torch_layer_is_pypis_cuda_build_and_what_it_costs(torch_run):
    installed = torch_run["installed"]
    assert installed["torch"] == "2.15.0" and installed["keras"] == "3.15.1"
    nvidia = sorted(name for name in installed if name.startswith("nvidia-"))
    assert len(nvidia) >= 10, nvidia  # the CUDA libraries come along even for a CPU cell
    assert torch_run["pip_check"] == {"exit_code": 0, "problems": []}
    assert torch_run["build"]["image_size"] > 4e9  # the docs' "about 5.5 GB installed" is not an old number
