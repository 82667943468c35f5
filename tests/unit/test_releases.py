"""Release ranges (runner/matrix/releases.py) and cheap measures: an axis written {releases: RANGE} becomes the
releases in it, from the index or the kept list, recorded in the results; `measure: probe` trains nothing."""

import json
import textwrap
import urllib.error

import pytest

from runner.matrix.load import load_matrix
from runner.matrix.releases import VERSIONS_DIR, RangeError, Resolver, read_list
from runner.results.store import validate_results
from runner.run.context import RunOptions
from runner.run.loop import run_matrix
from runner.run.mnist import MnistData
from runner.util.errors import MatrixError
from tests.fakes import FakeEngine


def index_document(*entries):
    """A PyPI JSON document: (version, yanked) per release; yanked None means a release with no files."""
    releases = {}
    for version, yanked in entries:
        releases[version] = [] if yanked is None else [{"filename": "k-%s.tar.gz" % version, "yanked": yanked}]
    return {"info": {"name": "keras"}, "releases": releases}


KERAS_INDEX = index_document(("1.0.6", False), ("1.0.7", False), ("1.0.8", False), ("1.1.0", False),
                             ("1.1.1", True), ("1.1.2", None), ("1.2.0rc1", False), ("1.2.0", False),
                             ("1.2.2", False), ("not-a-version", False))


class Index:
    """A scripted index that counts what it was asked."""

    def __init__(self, document=KERAS_INDEX, error=None):
        self.document, self.error, self.asked = document, error, []

    def __call__(self, name, timeout):
        self.asked.append((name, timeout))
        if self.error:
            raise self.error
        return self.document


def matrix_file(tmp_path, keras_axis, extra=""):
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent("""
        version: 1
        groups:
          - name: sweep
            matrix:
              era: py27
              keras: %s
              theano: "1.0.5"
        %s""") % (keras_axis, textwrap.dedent(extra)))
    return path


def keras_of(matrix):
    return [c.keras for c in matrix.cells]


def test_a_range_becomes_the_final_unyanked_releases_the_index_lists(tmp_path):
    index = Index()
    matrix = load_matrix(matrix_file(tmp_path, '{releases: ">=1.0.7,<1.2.2"}'), resolver=Resolver(fetch=index))
    # 1.1.1 is yanked, 1.1.2 has no files, 1.2.0rc1 is a pre-release the range does not name, 1.2.2 is excluded.
    assert keras_of(matrix) == ["==1.0.7", "==1.0.8", "==1.1.0", "==1.2.0"]
    assert [c.id for c in matrix.cells][0] == "keras1.0.7-theano1.0.5-py27-cpu"
    [expansion] = matrix.expansions
    assert expansion["source"] == "index" and expansion["range"] == ">=1.0.7,<1.2.2"
    assert expansion["versions"] == ["1.0.7", "1.0.8", "1.1.0", "1.2.0"] and expansion["where"] == "group sweep"
    assert index.asked == [("keras", 10.0)]


def test_pre_releases_only_when_the_range_names_one(tmp_path):
    matrix = load_matrix(matrix_file(tmp_path, '{releases: ">=1.2.0rc1,<1.2.2"}'), resolver=Resolver(fetch=Index()))
    assert keras_of(matrix) == ["==1.2.0rc1", "==1.2.0"]


def test_the_index_is_asked_once_per_axis_however_many_groups_name_a_range(tmp_path):
    index = Index()
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent("""
        version: 1
        groups:
          - name: old
            matrix: {era: py27, keras: {releases: ">=1.0.7,<1.0.9"}, theano: "1.0.5"}
          - name: later
            matrix: {era: py27, keras: {releases: ">=1.2,<1.3"}, theano: "1.0.5"}
        """))
    matrix = load_matrix(path, resolver=Resolver(fetch=index))
    assert keras_of(matrix) == ["==1.0.7", "==1.0.8", "==1.2.0", "==1.2.2"]
    assert len(index.asked) == 1 and [e["where"] for e in matrix.expansions] == ["group old", "group later"]


def test_an_unreachable_index_falls_back_to_the_kept_list_and_says_why(tmp_path):
    index = Index(error=urllib.error.URLError("no route to host"))
    matrix = load_matrix(matrix_file(tmp_path, '{releases: ">=1.0.8,<1.2"}'), resolver=Resolver(fetch=index))
    assert keras_of(matrix) == ["==1.0.8", "==1.1.0", "==1.1.1", "==1.1.2"]
    [expansion] = matrix.expansions
    assert expansion["source"] == "list" and "no route to host" in expansion["index_error"]
    assert expansion["date"] == read_list("keras")[1] != "unknown"


def test_offline_never_asks_the_index(tmp_path):
    index = Index()
    matrix = load_matrix(matrix_file(tmp_path, '{releases: ">=1.0.8,<1.1"}'), resolver=Resolver(offline=True,
                                                                                              fetch=index))
    assert keras_of(matrix) == ["==1.0.8"] and index.asked == []
    assert matrix.expansions[0]["source"] == "list" and matrix.expansions[0]["index_error"] == "--offline"


def test_the_kept_keras_list_has_every_pypi_release_from_0_2_0_to_3_15_1():
    versions, date = read_list("keras")
    assert len(versions) == 99 and str(versions[0]) == "0.2.0" and str(versions[-1]) == "3.15.1"
    assert not any(v.is_prerelease for v in versions)
    header = (VERSIONS_DIR / "keras.txt").read_text().splitlines()[:3]
    assert any("pypi.org/pypi/keras/json" in line for line in header) and date[:2] == "20"
    for axis in ("tensorflow", "jax"):
        assert read_list(axis)[0], axis


@pytest.mark.parametrize("axis, message", [
    ('{releases: "1.0.8"}', "not a PEP 440 specifier"),
    ('{releases: ">=9,<10"}', "no keras release in the range '>=9,<10'"),
    ('{releases: ">=1.0.8,<1.0.8"}', "no keras release in the range"),
])
def test_a_bad_or_empty_range_is_an_error_naming_the_key_and_the_range(tmp_path, axis, message):
    with pytest.raises(MatrixError) as caught:
        load_matrix(matrix_file(tmp_path, axis), resolver=Resolver(offline=True))
    assert message in str(caught.value) and "groups[sweep].matrix.keras.releases" in str(caught.value)
    assert caught.value.line == 7


def test_a_misspelled_range_key_is_refused_by_the_schema(tmp_path):
    with pytest.raises(MatrixError) as caught:
        load_matrix(matrix_file(tmp_path, '{release: ">=1.0"}'), resolver=Resolver(offline=True))
    assert "{releases: RANGE}" in str(caught.value) and caught.value.exit_code == 2


def test_between_needs_real_releases_as_bounds():
    resolver = Resolver(offline=True)
    expansion = resolver.between("keras", "1.0.8", "1.2.2")
    assert expansion.versions == ("1.0.8", "1.1.0", "1.1.1", "1.1.2", "1.2.0", "1.2.1", "1.2.2")
    with pytest.raises(RangeError, match="1.0.9 is not a release"):
        resolver.between("keras", "1.0.9", "1.2.2")
    with pytest.raises(RangeError, match="not below"):
        resolver.between("keras", "1.2.2", "1.0.8")


# ---- measure: full | smoke | probe


def test_measure_comes_from_the_cell_the_include_entry_or_the_defaults(tmp_path):
    path = matrix_file(tmp_path, '["1.0.8", "1.1.0"]', """
        defaults: {measure: smoke}
        cells:
          - {name: lone, era: py27, keras: "2.3.1", measure: probe}
        """)
    text = path.read_text().replace('      theano: "1.0.5"\n',
                                    '      theano: "1.0.5"\n      include: [{keras: "1.1.0", measure: full}]\n')
    path.write_text(text)
    measures = {c.keras: c.measure for c in load_matrix(path).cells}
    assert measures == {"==1.0.8": "smoke", "==1.1.0": "full", "==2.3.1": "probe"}
    path.write_text(text.replace("measure: probe", "measure: quick"))
    with pytest.raises(MatrixError, match="quick"):
        load_matrix(path)


def test_a_probe_cell_trains_nothing_and_its_status_comes_from_the_probe(tmp_path):
    path = matrix_file(tmp_path, '{releases: ">=1.0.8,<1.1.1"}', "defaults: {measure: probe}\n")
    matrix = load_matrix(path, offline=True)
    engine = FakeEngine(default_backend_change=("1.1.0", "theano", "tensorflow"))
    data = MnistData(path=tmp_path / "data" / "mnist.npz", sha256="x", source="cache")
    options = RunOptions(results_dir=tmp_path / "results", dockerfiles_dir=tmp_path / "df", run_id="t",
                         progress="quiet", ca_bundle="/nonexistent", cache_dir=tmp_path / "cache")
    doc = run_matrix(matrix, matrix.cells, engine, data, options)
    assert [spec.command[1].rsplit("/", 1)[1] for spec in engine.runs] == ["probe.py", "probe.py"]
    assert [(c["status"], c["trainings"], c["default_backend"]["backend"]) for c in doc["cells"]] == [
        ("ok", {}, "theano"), ("ok", {}, "tensorflow")]
    on_disk = json.loads((tmp_path / "results" / "t" / "results.json").read_text())
    validate_results(on_disk)
    [expansion] = on_disk["matrix"]["expansions"]
    assert expansion["versions"] == ["1.0.8", "1.1.0"] and expansion["source"] == "list"


def test_plan_offline_expands_a_range_from_the_kept_list(tmp_path, capsys):
    from runner.cli import main

    path = matrix_file(tmp_path, '{releases: ">=1.1,<1.2"}')
    assert main(["plan", str(path), "--offline", "--format", "ids"]) == 0
    assert capsys.readouterr().out.split() == ["keras1.1.0-theano1.0.5-py27-cpu", "keras1.1.1-theano1.0.5-py27-cpu",
                                               "keras1.1.2-theano1.0.5-py27-cpu"]


def test_a_cut_connection_also_falls_back_to_the_list(tmp_path):
    import http.client

    index = Index(error=http.client.IncompleteRead(b"{"))
    matrix = load_matrix(matrix_file(tmp_path, '{releases: ">=1.1,<1.2"}'), resolver=Resolver(fetch=index))
    assert len(matrix.cells) == 3 and matrix.expansions[0]["source"] == "list"
