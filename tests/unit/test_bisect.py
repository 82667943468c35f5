"""bisect: the first release whose observable differs from the lower bound's, in O(log n) cells, each
measured as an ordinary run of a normal cell (the fake engine's default backend changes at a release)."""

import json
import math
import textwrap

import pytest

from runner.bisect import observe, run_bisect, search, template_of
from runner.cli import main
from runner.matrix.expand import with_version
from runner.matrix.load import load_matrix
from runner.matrix.releases import Resolver
from runner.matrix.selection import select
from runner.render import render_cell
from runner.results.store import load_results
from runner.run.context import RunOptions
from runner.run.mnist import MnistData
from runner.util.errors import UsageError
from tests.fakes import FakeEngine

KERAS_1 = ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5", "1.0.6", "1.0.7", "1.0.8", "1.1.0", "1.1.1",
           "1.1.2", "1.2.0", "1.2.1", "1.2.2"]

MATRIX = """
version: 1
groups:
  - name: keras1
    matrix:
      era: py27
      keras: ["1.0.8", "1.1.2", "1.2.2"]
      tensorflow: "1.0.1"
      theano: "1.0.5"
      device: [cpu, gpu]
cells:
  - {name: theano-only, era: py27, keras: "1.2.2", theano: "1.0.5"}
  - {name: no-keras, era: py27, keras: null, theano: "1.0.5"}
"""


def record(backend=None, error=None, status="ok", trainings=None):
    return {"cell_id": "c", "status": status, "trainings": trainings or {},
            "default_backend": {"backend": backend, "error": error}}


def changes_at(releases, index, before="theano", after="tensorflow"):
    """A measure function whose default backend changes at releases[index]; it logs what was measured."""
    asked = []

    def measure(release):
        asked.append(release)
        return record(before if releases.index(release) < index else after)
    return measure, asked


def test_keras_1_0_0_to_1_2_2_finds_1_1_0_in_at_most_five_cells():
    measure, asked = changes_at(KERAS_1, KERAS_1.index("1.1.0"))
    found = search(KERAS_1, measure, "default_backend")
    assert found.first.release == "1.1.0" and found.before.release == "1.0.8"
    assert len(asked) == len(set(asked)) <= 5 and asked[0] == "1.0.0"
    assert (found.before.observed, found.first.observed) == ("theano", "tensorflow")


@pytest.mark.parametrize("count", [2, 3, 7, 15, 16, 99])
def test_every_change_point_is_found_within_ceil_log2_n_plus_two_cells(count):
    releases = ["0.%d" % n for n in range(count)]
    for index in range(1, count):
        measure, asked = changes_at(releases, index)
        found = search(releases, measure, "default_backend")
        assert found.first.release == releases[index], (count, index)
        assert found.before.release == releases[index - 1]
        assert len(asked) <= math.ceil(math.log2(count)) + 2 == found.limit


def test_no_change_between_the_bounds_is_reported_as_none_after_measuring_the_upper_bound():
    measure, asked = changes_at(KERAS_1, len(KERAS_1))
    found = search(KERAS_1, measure, "default_backend")
    assert found.first is None and asked[-1] == "1.2.2" and len(asked) <= found.limit


def test_observables_are_dotted_paths_and_default_backend_falls_back_to_the_error_type():
    trained = record("theano", trainings={"theano": {"status": "failed"}})
    assert observe(trained, "trainings.theano.status") == "failed"
    assert observe(trained, "trainings.tensorflow.status") is None
    assert observe(trained, "status") == "ok"
    failed = record(error={"type": "ImportError", "message": "no module named theano"}, status="import_failed")
    assert observe(failed, "default_backend") == "ImportError"
    assert observe(record(status="build_failed"), "default_backend") == "no answer (status build_failed)"
    assert observe(trained, "default_backend.backend") == "theano"


def test_a_substituted_cell_is_the_cell_the_matrix_would_write(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MATRIX)
    template = template_of(select(load_matrix(path), ["keras1.0.8-*-cpu"]), "keras")
    path.write_text(MATRIX.replace('"1.0.8", "1.1.2"', '"1.0.8", "1.1.0"'))
    written = {c.id: c for c in load_matrix(path).cells}
    changed = with_version(template, "keras", "1.1.0")
    assert changed.id == "keras1.1.0-tf1.0.1-theano1.0.5-py27-cpu"
    assert changed == written[changed.id] and render_cell(changed) == render_cell(written[changed.id])
    assert with_version(template, "keras", "1.1.0", "probe").measure == "probe"


def test_the_selection_must_leave_exactly_one_template_with_the_axis(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MATRIX)
    matrix = load_matrix(path)
    with pytest.raises(UsageError, match="exactly one template cell with a keras version; the selection has 7: "
                                         ".* and 3 more. Try"):
        template_of(matrix.cells, "keras")
    with pytest.raises(UsageError, match="has 0"):
        template_of(select(matrix, ["no-keras"]), "keras")
    assert template_of(select(matrix, ["theano-only"]), "keras").name == "theano-only"


def test_bisect_runs_record_every_cell_and_print_the_answer_with_its_evidence(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MATRIX)
    matrix = load_matrix(path)
    template = template_of(select(matrix, ["keras1.0.8-*-cpu"]), "keras")
    engine = FakeEngine(default_backend_change=("1.1.0", "theano", "tensorflow"))
    data = MnistData(path=tmp_path / "data" / "mnist.npz", sha256="x", source="cache")
    options = RunOptions(results_dir=tmp_path / "results", dockerfiles_dir=tmp_path / "df", run_id="b",
                         progress="quiet", ca_bundle="/nonexistent", cache_dir=tmp_path / "cache")
    expansion = Resolver(offline=True).between("keras", "1.0.0", "1.2.2")
    lines = []
    found = run_bisect(matrix, template, "keras", expansion, "default_backend", engine, data, options, "probe",
                       out=lines.append)
    assert found.first.release == "1.1.0" and len(engine.builds) == len(found.steps) <= 5
    assert all(spec.command[1].endswith("probe.py") for spec in engine.runs)  # --measure probe: no training
    text = "\n".join(lines)
    assert "first keras release whose default_backend differs from 1.0.0's: 1.1.0" in text
    assert "keras1.0.8-tf1.0.1-theano1.0.5-py27-cpu  default_backend = 'theano'" in text
    assert "keras1.1.0-tf1.0.1-theano1.0.5-py27-cpu  default_backend = 'tensorflow'" in text
    assert "evidence: default backend tensorflow; keras.json backend tensorflow; status ok" in text
    doc = load_results(tmp_path / "results" / "b" / "results.json")
    assert sorted(c["cell_id"] for c in doc["cells"]) == sorted(s.record["cell_id"] for s in found.steps)
    assert doc["matrix"]["expansions"][-1]["versions"] == KERAS_1
    summary = json.loads((tmp_path / "results" / "b" / "bisect.json").read_text())
    assert summary["first_differing"] == "1.1.0" and summary["cells_measured"] == len(found.steps)
    # A second bisect reuses the result cache: nothing is built again.
    again = run_bisect(matrix, template, "keras", expansion, "default_backend", engine, data,
                       RunOptions(**{**options.__dict__, "run_id": "b2"}), "probe", out=lines.append)
    assert again.first.release == "1.1.0" and len(engine.builds) == len(found.steps)
    count = len(found.steps)
    assert lines[-1].startswith("%d cells measured (0 built now, %d from the result cache; " % (count, count))


def test_the_command_refuses_an_ambiguous_template_or_a_bound_that_is_no_release(tmp_path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(MATRIX))
    assert main(["bisect", str(path), "--axis", "keras", "--between", "1.0.8", "1.2.2", "--offline"]) == 2
    assert "exactly one template cell" in capsys.readouterr().err
    assert main(["bisect", str(path), "--cell", "keras1.0.8-*-cpu", "--axis", "keras", "--between", "1.0.9",
                 "1.2.2", "--offline"]) == 2
    assert "--between: keras 1.0.9 is not a release" in capsys.readouterr().err
