"""Release-day resolution (matrix key `as_of`): the cutoff from the index or the kept list, the cell id and
record carrying it, the Dockerfile installing through the as-of index, and the index serving only the files
uploaded by then (runner/matrix/as_of.py, runner/run/as_of_index.py)."""

import json
import textwrap
import urllib.error
import urllib.request

import pytest

from runner.matrix.load import load_matrix
from runner.matrix.releases import Resolver, index_upload_times, read_list, read_upload_times
from runner.render import render_cell
from runner.results.store import validate_results
from runner.run.as_of_index import AsOfIndex, page_as_of, stamp
from runner.run.build import classify_build_failure, source_build_failure
from runner.run.context import RunOptions
from runner.run.loop import run_matrix
from runner.run.mnist import MnistData
from runner.util.errors import MatrixError
from tests.fakes import FakeEngine

KERAS = {"info": {"name": "keras"}, "releases": {
    "2.2.0": [{"filename": "Keras-2.2.0.tar.gz", "upload_time_iso_8601": "2018-06-06T23:18:39.123456Z"},
              {"filename": "Keras-2.2.0-py2.py3-none-any.whl", "upload_time_iso_8601": "2018-06-06T23:18:41.5Z"},
              {"filename": "Keras-2.2.0-late.whl", "upload_time_iso_8601": "2018-09-01T00:00:00Z"}],
    "2.2.1": [{"filename": "Keras-2.2.1.tar.gz", "upload_time": "2018-07-27T22:38:09"}],
    "2.2.2": [],  # no files: not a release
    "2.2.3": [{"filename": "Keras-2.2.3.tar.gz"}],  # no time
}}


def fetch(name, timeout):
    return KERAS


def matrix_file(tmp_path, cells):
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\ncells:\n" + textwrap.indent(cells, "  "))
    return path


def test_a_release_is_published_when_its_files_of_that_day_are_up():
    """The wheel 2 s after the sdist counts; a file added months later does not move the day."""
    assert index_upload_times(KERAS) == {"2.2.0": "2018-06-06T23:18:41Z", "2.2.1": "2018-07-27T22:38:09Z"}


def test_as_of_release_is_the_keras_release_day_and_joins_the_id(tmp_path):
    path = matrix_file(tmp_path, '- {name: a, era: py27, keras: "2.2.0", tensorflow: "<2", as_of: release}\n'
                                 '- {name: b, era: py27, keras: "2.2.0", tensorflow: "<2", as_of: "2018-07-01"}\n'
                                 '- {name: c, era: py27, keras: "2.2.0", tensorflow: "<2"}\n')
    cells = {c.name: c for c in load_matrix(path, resolver=Resolver(fetch=fetch)).cells}
    assert cells["a"].id == "keras2.2.0-tflt2-py27-cpu-asof20180606"
    assert (cells["a"].as_of.cutoff, cells["a"].as_of.rule) == ("2018-06-06T23:18:41Z", "release")
    assert cells["a"].as_of.source.startswith("index ")
    assert cells["b"].as_of.cutoff == "2018-07-01T23:59:59Z" and cells["b"].as_of.source == "matrix"
    assert cells["c"].as_of is None and cells["c"].id == "keras2.2.0-tflt2-py27-cpu"


@pytest.mark.parametrize("cell, message", [
    ('{name: a, era: py27, keras: ">=2.2,<2.3", as_of: release}', "needs one pinned Keras release"),
    ('{name: a, era: py27, keras: "2.2.2", as_of: release}', "keras 2.2.2 is not a release on the index"),
    ('{name: a, era: py27, keras: "2.2.3", as_of: release}', "keras 2.2.3 has no upload time in the index"),
    ('{name: a, era: py27, keras: "9.9.9", as_of: release}', "is not a release on the index"),
    ('{name: a, era: py27, keras: "2.2.0", as_of: "2018-02-30"}', "as_of is 'release' or a UTC date"),
    ('{name: a, era: py27, keras: "2.2.0", as_of: "yesterday"}', "as_of"),
    ('{name: a, era: py27, keras: "2.2.0", as_of: 2018}', "as_of"),
])
def test_a_bad_as_of_names_the_cell_and_why(tmp_path, cell, message):
    with pytest.raises(MatrixError) as error:
        load_matrix(matrix_file(tmp_path, "- %s\n" % cell), resolver=Resolver(fetch=fetch))
    assert message in str(error.value) and "m.yaml:" in str(error.value)


def test_offline_the_kept_list_gives_every_release_its_day():
    versions, _ = read_list("keras")
    days = read_upload_times("keras")
    assert {str(v) for v in versions} == set(days)  # every kept release has its time
    assert days["2.2.0"] == "2018-06-06T23:18:41Z"
    resolver = Resolver(offline=True)
    assert resolver.uploaded("keras", "2.2.0") == ("2018-06-06T23:18:41Z", "list " + read_list("keras")[1])


def test_the_dockerfile_installs_through_the_as_of_index_without_the_era_pins(tmp_path):
    path = matrix_file(tmp_path, '- {name: a, era: py27, keras: "2.2.0", tensorflow: "<2", as_of: release}\n'
                                 '- {name: c, era: py27, keras: "2.2.0", tensorflow: "<2"}\n')
    cells = {c.name: c for c in load_matrix(path, resolver=Resolver(fetch=fetch)).cells}
    text, plain = render_cell(cells["a"]), render_cell(cells["c"])
    assert "ARG KERAS_MATRIX_AS_OF_INDEX" in text and "ARG KERAS_MATRIX_AS_OF_INDEX" not in plain
    installs = [line for line in text.splitlines() if " -m pip install " in line]
    exports = text.count('export PIP_INDEX_URL="http://${KERAS_MATRIX_AS_OF_INDEX:?}/20180606T231841Z/simple/"')
    assert exports == len(installs) == 3  # build tools, tensorflow, keras: no era base packages
    assert "PIP_CONSTRAINT" not in text and "PIP_CONSTRAINT" in plain  # the era's pins name later releases
    assert "pip==20.3.4" in text  # pip itself is today's: the bootstrap does not go through the as-of index


FILES = [
    {"filename": "pkg-1.0.tar.gz", "url": "https://files.example/pkg-1.0.tar.gz", "hashes": {"sha256": "a" * 64},
     "upload-time": "2017-01-01T00:00:00.000000Z", "requires-python": None, "yanked": False},
    {"filename": "pkg-1.1-py2.py3-none-any.whl", "url": "https://files.example/pkg-1.1.whl", "hashes": {},
     "upload-time": "2018-06-06T23:18:41Z", "requires-python": ">=2.7,<4", "yanked": "broken <b>"},
    {"filename": "pkg-2.0.tar.gz", "url": "https://files.example/pkg-2.0.tar.gz", "hashes": {"sha256": "b" * 64},
     "upload-time": "2018-06-06T23:18:42Z", "requires-python": ">=3.6", "yanked": False},
    {"filename": "pkg-0.9.zip", "url": "https://files.example/pkg-0.9.zip", "hashes": {}},  # no upload time
    {"filename": "<script>", "url": "javascript:alert(1)", "upload-time": "2010-01-01T00:00:00Z"},
]


def test_the_page_lists_only_what_was_uploaded_by_the_cutoff_escaped():
    page, kept, left_out = page_as_of("pkg", FILES, "2018-06-06T23:18:41Z")
    assert (kept, left_out) == (2, 3)
    assert '<a href="https://files.example/pkg-1.0.tar.gz#sha256=%s">pkg-1.0.tar.gz</a>' % ("a" * 64) in page
    assert 'data-requires-python="&gt;=2.7,&lt;4"' in page and 'data-yanked="broken &lt;b&gt;"' in page
    assert "pkg-2.0" not in page and "pkg-0.9" not in page and "javascript" not in page and "<script>" not in page


def test_the_server_answers_pip_and_refuses_anything_else():
    asked = []

    def upstream(project):
        asked.append(project)
        if project == "broken":
            raise OSError("connection reset")
        return FILES if project == "pkg" else None

    index = AsOfIndex("127.0.0.1", port=0, fetch=upstream)
    address = index.start()
    try:
        base = "http://%s/%s/simple" % (address, stamp("2018-06-06T23:18:41Z"))
        with urllib.request.urlopen(base + "/PKG/", timeout=10) as response:
            page = response.read().decode()
        assert "pkg-1.0.tar.gz" in page and "pkg-2.0" not in page
        urllib.request.urlopen(base + "/Pkg/", timeout=10).read()
        assert asked == ["pkg"]  # PEP 503 names, asked upstream once
        for path, code in [("/nothere/", 404), ("/broken/", 502), ("/../etc/", 404)]:
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(base + path, timeout=10)
            assert error.value.code == code
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen("http://%s/2018/simple/pkg/" % address, timeout=10)
        assert error.value.code == 404
        assert index.failures == ["broken: connection reset"]
    finally:
        index.stop()


def test_a_run_serves_the_index_to_as_of_builds_only_and_records_the_cutoff(tmp_path):
    path = matrix_file(tmp_path, '- {name: a, era: py27, keras: "2.2.0", tensorflow: "<2", as_of: release}\n'
                                 '- {name: c, era: py27, keras: "2.2.0", tensorflow: "<2"}\n')
    matrix = load_matrix(path, resolver=Resolver(fetch=fetch))
    engine = FakeEngine()
    data = MnistData(path=tmp_path / "mnist.npz", sha256="x", source="cache")
    options = RunOptions(results_dir=tmp_path / "results", dockerfiles_dir=tmp_path / "df", run_id="t",
                         progress="quiet", ca_bundle="/nonexistent", cache_dir=tmp_path / "cache")
    doc = run_matrix(matrix, matrix.cells, engine, data, options)
    validate_results(json.loads(json.dumps(doc)))
    args = engine.build_args
    as_of = [a for tag, a in args.items() if "asof" in tag]
    plain = [a for tag, a in args.items() if "asof" not in tag]
    assert as_of[0]["KERAS_MATRIX_AS_OF_INDEX"].startswith("127.0.0.1:")
    assert "KERAS_MATRIX_AS_OF_INDEX" not in plain[0]
    records = {r["cell_id"]: r for r in doc["cells"]}
    assert records["keras2.2.0-tflt2-py27-cpu-asof20180606"]["as_of"] == {
        "cutoff": "2018-06-06T23:18:41Z", "rule": "release", "source": matrix.cells[0].as_of.source}
    assert "as_of" not in records["keras2.2.0-tflt2-py27-cpu"]


H5PY_LOG = """#8 8.416 Collecting h5py<3
#8 8.429   Downloading h5py-2.6.0.tar.gz (245 kB)
#8 10.74     ERROR: Command errored out with exit status 1:
#8 10.74         raise DistutilsError(msg)
#8 10.74     distutils.errors.DistutilsError: Could not find suitable distribution for Requirement.parse('pkgconfig')
#8 10.74 ERROR: Command errored out with exit status 1: python setup.py egg_info Check the logs for full command output.
"""


def test_a_failed_source_build_names_the_distribution_and_its_error():
    """A release day before manylinux wheels builds from sources; pip's last line names neither (captured log)."""
    status, reason = classify_build_failure(H5PY_LOG, False)
    assert status == "build_failed"
    assert reason == ("building h5py-2.6.0 from source failed: DistutilsError: Could not find suitable distribution "
                      "for Requirement.parse('pkgconfig')")
    assert source_build_failure("#5 1.0 ERROR: No matching distribution found for x") is None
