"""What the runner makes of a training container's output: epoch summaries and the training record."""

from runner.engine import RunOutcome
from runner.matrix import load_matrix
from runner.measure import summarize_epochs, train_backend
from runner.probe import MARKER


def test_first_epoch_is_kept_apart_from_the_steady_median():
    assert summarize_epochs([9.0, 2.0, 4.0, 3.0]) == {
        "first_epoch_seconds": 9.0, "steady_epoch_seconds": 3.0, "steady_epoch_spread": [2.0, 4.0]}
    assert summarize_epochs([5.0]) == {
        "first_epoch_seconds": 5.0, "steady_epoch_seconds": 5.0, "steady_epoch_spread": [5.0, 5.0]}
    assert summarize_epochs([])["steady_epoch_seconds"] is None


class _Answer:
    """An engine that answers every run with one outcome."""

    def __init__(self, outcome):
        self.outcome = outcome

    def run(self, spec):
        return self.outcome


def _cell(tmp_path, device="cpu"):
    path = tmp_path / "m.yaml"
    path.write_text('version: 1\ncells:\n  - {name: a, era: py311, keras: "3.0.5", tensorflow: "2.16.2", '
                    'device: %s}\n' % device)
    return load_matrix(path).cells[0]


def test_a_gpu_cell_that_trained_on_the_cpu_failed(tmp_path):
    output = MARKER + '{"status": "ok", "epoch_seconds": [2, 1], "device": {"gpu": false, "devices": ["CPU"]}}\n'
    record = train_backend(_cell(tmp_path, "gpu"), _Answer(RunOutcome(0, output, 3.0)), "img", "tensorflow",
                           tmp_path, 60, gpu=True)
    assert record["status"] == "failed" and record["stage"] == "device" and record["error"]["type"] == "no_gpu"
    assert record["steady_epoch_seconds"] == 1.0


def test_a_container_that_died_without_a_result_is_a_crash_and_a_timeout_is_a_timeout(tmp_path):
    cell = _cell(tmp_path)
    crashed = train_backend(cell, _Answer(RunOutcome(139, "Segmentation fault\n", 1.0)), "img", "theano", tmp_path, 60)
    assert crashed["status"] == "failed" and crashed["stage"] == "container"
    assert crashed["error"]["type"] == "crash" and "139" in crashed["error"]["message"]
    assert "Segmentation fault" in crashed["log_tail"]
    late = train_backend(cell, _Answer(RunOutcome(None, "", 60.0, timed_out=True)), "img", "theano", tmp_path, 60)
    assert late["status"] == "timeout" and late["error"] == {"type": "timeout", "message": "training ran past 60s"}
