"""bench/torch_install.py without Docker: the container's answer is read from its marker line (no marker: an error
result with the output's tail), and each invocation replaces only the variants it measured in its output file,
so a slim and a full measurement taken at different times live in one file, each with its own date."""

import json
import subprocess

import pytest

from tests.conftest import ROOT, load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("torch_install")


def test_the_marker_line_is_the_result_and_its_absence_is_an_error(bench, monkeypatch):
    answer = json.dumps({"variant": "slim", "version": "2.15.0", "import_ok": False})
    answers = iter(["pip noise\n%s%s\n" % (bench.MARKER, answer), "Traceback: no space left on device\n"])
    seen = []

    def fake_run(cmd, capture_output, text):
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 0 if len(seen) == 1 else 1, next(answers), "")

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    assert bench.measure("img", "2.15.0", "slim", "/ca.crt") == {"variant": "slim", "version": "2.15.0",
                                                                 "import_ok": False}
    failed = bench.measure("img", "2.15.0", "full", None)
    assert failed["variant"] == "full" and "exit 1" in failed["error"] and "no space left" in failed["error"]
    assert "PIP_CERT=/etc/keras-matrix-ca.crt" in seen[0] and not any("PIP_CERT" in part for part in seen[1])


def test_each_run_replaces_only_the_variants_it_measured(bench, monkeypatch, tmp_path):
    out = tmp_path / "torch-install.json"
    calls = []

    def fake_measure(image, version, variant, ca_bundle):
        calls.append(variant)
        return {"variant": variant, "version": version, "run": len(calls)}

    monkeypatch.setattr(bench, "measure", fake_measure)
    assert bench.main(["--variant", "slim", "--out", str(out)]) == 0
    assert bench.main(["--variant", "full", "--out", str(out)]) == 0
    assert bench.main(["--variant", "slim", "--out", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert [(r["variant"], r["run"]) for r in results] == [("full", 2), ("slim", 3)]
    assert all(r["measured_at"] and r["image"] == bench.IMAGE for r in results)


def test_the_committed_measurement_says_the_slim_layer_does_not_import(bench):
    # docs/matrix.md and the torch cells' comments rest on this file: the slim install (no nvidia-* wheels) fails
    # at `import torch`, the full one imports and trains.
    results = {r["variant"]: r for r in json.loads((ROOT / "bench" / "torch-install.json").read_text())["results"]}
    assert results["slim"]["install_ok"] and not results["slim"]["import_ok"]
    assert "not found in the system path" in results["slim"]["import_output"]
    assert results["full"]["import_ok"] and results["full"]["keras_fit_ok"]
    assert results["full"]["installed_bytes"] > 4 * results["slim"]["installed_bytes"]
