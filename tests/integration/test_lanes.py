"""Measurement lanes on the real engine: two one-core cells measured at once, each on a core of its own.
The kernel inside each container says which cores it may use; the test believes that, not the runner."""

import json
import signal
import subprocess
import sys
import time

from runner.results.store import validate_results
from tests.conftest import cores_of
from tests.integration.conftest import ROOT, run_cli

LANES_MATRIX = ROOT / "tests" / "data" / "lanes-matrix.yaml"



def test_two_lanes_measure_two_cells_at_once_on_disjoint_cores(engine, tmp_path):
    proc = run_cli("run", LANES_MATRIX, "--results-dir", tmp_path, "--run-id", "lanes", "--rerun", "--lanes", "2",
                   timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = validate_results(json.loads((tmp_path / "lanes" / "results.json").read_text()))
    assert doc["settings"]["lanes"] == 2
    assert [c["name"] for c in doc["cells"]] == ["lane-tensorflow", "lane-jax"]  # matrix order
    trainings = []
    for cell in doc["cells"]:
        assert cell["status"] == "ok", (cell["cell_id"], cell["reason"])
        (backend, training), = cell["trainings"].items()
        assert training["test_accuracy"] > 0.9, (cell["cell_id"], training)
        # One core each, and the container's own view of its affinity is exactly the runner's cpuset.
        assert len(cores_of(cell["cpuset"])) == 1 and training["cpuset"] == cell["cpuset"]
        assert training["cpus_allowed"] == cores_of(cell["cpuset"]), (backend, training["cpus_allowed"])
        assert training["threads"] == "1"
        trainings.append(training)
    first, second = trainings
    assert set(cores_of(doc["cells"][0]["cpuset"])).isdisjoint(cores_of(doc["cells"][1]["cpuset"]))
    # The two cells were measured at the same time: each lane got its cores before the other lane's cell ended.
    starts = [c["measure_started_at"] for c in doc["cells"]]
    ends = [c["finished_at"] for c in doc["cells"]]
    assert max(starts) < min(ends), (starts, ends)


def test_stopping_a_run_while_two_lanes_measure_removes_both_lanes_containers(engine, tmp_path):
    from runner.engine.protocol import LABEL

    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "runner", "run", str(LANES_MATRIX), "--results-dir",
                                 str(tmp_path), "--run-id", "stopped", "--rerun", "--lanes", "2"],
                                cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        deadline = time.time() + 900
        while log.read_text().count(": probe - ") < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert log.read_text().count(": probe - ") == 2, log.read_text()[-2000:]
        time.sleep(1)  # both lanes are in a container now
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    text = log.read_text()
    assert proc.returncode == 130, text[-2000:]
    assert "interrupted" in text and "Traceback" not in text
    assert engine.client.containers.list(all=True, filters={"label": LABEL}) == []
    doc = validate_results(json.loads((tmp_path / "stopped" / "results.json").read_text()))
    assert doc["complete"] is False
