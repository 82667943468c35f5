"""The published evidence in reports/: a real run of the full matrix, every cell accounted for, and
reports that are exactly what the renderer makes from its results.json (never edited by hand)."""

import json
import re
from pathlib import Path

import pytest
from packaging.version import Version

from runner.matrix.load import load_matrix
from runner.matrix.releases import read_upload_times
from runner.report import REPORT_FILES, write_reports
from runner.report.fields import keras_version
from runner.report.write import PUBLISHED_LINKS, published_links
from runner.results.store import load_results
from tests.conftest import ROOT

REPORTS = ROOT / "reports"


@pytest.fixture(scope="module")
def published():
    return load_results(REPORTS / "results.json")  # validates against the results schema


def test_every_cell_of_the_shipped_matrix_has_a_record(published):
    cells = load_matrix(ROOT / "matrix.yaml", offline=True).cells
    recorded = [c["cell_id"] for c in published["cells"]]
    assert len(recorded) == len(set(recorded))
    assert set(recorded) == {c.id for c in cells}


def test_the_published_run_is_real_and_complete(published):
    assert published["complete"] is True
    assert published["provenance"]["git_sha"] and published["provenance"]["docker_version"]
    cpu = [c for c in published["cells"] if c["device"] == "cpu"]
    assert all(c["status"] != "skipped" for c in cpu)
    measured = [c for c in cpu if c["status"] in ("ok", "partial")]
    assert measured and all(c["default_backend"]["backend"] or c["default_backend"]["error"] for c in cpu
                            if c["probe"] is not None)
    for cell in measured:
        for training in cell["trainings"].values():
            if training["status"] == "ok":
                assert training["test_accuracy"] > 0.9 and len(training["epoch_seconds"]) >= 2


def render_published(doc, directory, tmp_path):
    """The reports of one published folder as `report --link` writes them there: linking the other published
    reports and the site, relative to where the page is published (rendered into a copy of the layout)."""
    folder = tmp_path / directory.relative_to(ROOT)
    return write_reports(doc, folder, published_links(tmp_path))


def rerender(directory):
    folder = directory.relative_to(ROOT)
    links = " ".join("--link '%s=%s'" % pair for pair in PUBLISHED_LINKS)
    return "python -m runner report %s/results.json -o %s/ %s" % (folder, folder, links)


def test_published_reports_are_generated_from_results_json(published, tmp_path):
    written = render_published(published, REPORTS, tmp_path)
    assert sorted(written) == sorted(REPORT_FILES)
    for name in REPORT_FILES:  # results.json too: the page must say what the committed results say
        assert (REPORTS / name).read_text() == written[name].read_text(), "%s was edited or is stale: " \
            "regenerate with %s" % (name, rerender(REPORTS))
    assert json.loads((REPORTS / "findings.json").read_text())["findings"]


def test_published_findings_compare_backends_only_inside_one_cell(published):
    findings = {f["id"]: f for f in json.loads((REPORTS / "findings.json").read_text())["findings"]}
    assert "fastest-backend" not in findings  # the old finding pooled cells of different stacks
    speed = findings["backend-speed"]
    assert speed["items"] and all(len(item["cells"]) == 1 for item in speed["items"])
    # A claimed difference ('A 1.8x faster than B (95% ...') names two trainings of its one cell, and both were
    # measured `stable`: with a contended or unstable training the ratio is shown, never claimed.
    cells = {c["cell_id"]: c for c in published["cells"]}
    for item in speed["items"]:
        assert " is faster than " not in item["text"]  # the old wording would escape the check below
        for claim in item["text"].split("; "):
            if " faster than " in claim:
                found = re.match(r"^(?:.*: )?(\S+) [\d.]+x faster than (\S+) \(95% ", claim)
                assert found, claim
                trainings = cells[item["cells"][0]]["trainings"]
                assert trainings[found.group(1)]["timing"]["verdict"] == "stable", item["text"]
                assert trainings[found.group(2)]["timing"]["verdict"] == "stable", item["text"]


# ---- the sweeps (reports/every-release/, reports/cross-products/) ------------------------------------------

def assert_one_record_per_cell(doc, sweep_file, measure):
    """The sweep's run is complete and holds exactly one record for each cell the sweep file gives."""
    cells = load_matrix(ROOT / "sweeps" / sweep_file, offline=True).cells
    recorded = [c["cell_id"] for c in doc["cells"]]
    assert len(recorded) == len(set(recorded)) and set(recorded) == {c.id for c in cells}
    assert doc["complete"] is True and {c["measure"] for c in doc["cells"]} == {measure}


def assert_reports_generated(doc, directory, tmp_path):
    written = render_published(doc, directory, tmp_path)
    for name in REPORT_FILES:
        assert (directory / name).read_text() == written[name].read_text(), "%s is stale: regenerate with %s" \
            % (name, rerender(directory))


# ---- the sweep of every Keras release (reports/every-release/) -------------------------------------------

SWEEP = REPORTS / "every-release"


@pytest.fixture(scope="module")
def sweep():
    return load_results(SWEEP / "results.json")


def test_every_keras_release_on_the_index_has_a_probe_record(sweep):
    assert_one_record_per_cell(sweep, "every-keras-release.yaml", "probe")
    releases = {c["versions"]["keras"].lstrip("=") for c in sweep["cells"]}
    assert len(releases) >= 99
    # The expansion the run used is recorded with its source, and every record says what pip installed.
    expansions = sweep["matrix"]["expansions"]
    assert expansions and all(e["axis"] == "keras" and e["source"] in ("index", "list") for e in expansions)
    assert all(c["installed"].get("keras") for c in sweep["cells"] if c["build"]["status"] == "built")


def test_sweep_reports_are_generated_from_its_results(sweep, tmp_path):
    assert_reports_generated(sweep, SWEEP, tmp_path)


def test_sweep_findings_locate_each_first_release_from_the_records(sweep):
    findings = {f["id"]: f for f in json.loads((SWEEP / "findings.json").read_text())["findings"]}
    change = findings["default-backend-change-1.0.8-1.1.0"]
    assert change["title"] == \
        "Default backend changes from theano to tensorflow at Keras 1.1.0 (the release after 1.0.8)"
    cntk = findings["backend-accepted-cntk"]["title"]
    assert cntk == "KERAS_BACKEND=cntk (installed) first gives cntk at Keras 2.0.5 (the release after 2.0.4)"
    # Each claim rests on the records it cites: 1.0.8 said theano and 1.1.0 tensorflow.
    by_id = {c["cell_id"]: c for c in sweep["cells"]}
    said = {by_id[c]["installed"]["keras"]: by_id[c]["default_backend"]["backend"] for c in change["cells"]}
    assert said == {"1.0.8": "theano", "1.1.0": "tensorflow"}


def test_the_findings_precedence_table_is_generated_from_the_sweep(sweep):
    # Every row of docs/findings.md's table is one the records produce (with the releases behind it), and none
    # is left out.
    from runner.report.precedence import precedence_rows, rows_without_evidence
    from runner.report.table import precedence_summary_markdown

    readme = (ROOT / "docs" / "findings.md").read_text(encoding="utf-8")
    begin, end = "<!-- precedence-table: generated, do not edit -->\n", "<!-- /precedence-table -->"
    table = readme[readme.index(begin) + len(begin):readme.index(end)]
    assert table == precedence_summary_markdown(sweep), "regenerate with: python -m runner report " \
        "reports/every-release/results.json --format precedence"
    rows = precedence_rows(sweep)
    assert rows and rows_without_evidence(rows, sweep) == []
    assert {row["line"] for row in rows} == {"0.x", "1.x", "2.x", "3.x"}


# ---- the cross products (reports/cross-products/) ----------------------------------------------------------

CROSS = REPORTS / "cross-products"


@pytest.fixture(scope="module")
def cross():
    return load_results(CROSS / "results.json")


def test_every_pair_of_the_cross_products_has_a_smoke_record(cross):
    assert_one_record_per_cell(cross, "cross-products.yaml", "smoke")
    # Each pair was measured (never skipped): installed, or pip's reason it could not be.
    for cell in cross["cells"]:
        assert cell["expectation_verdict"] == "observed" and cell["status"] != "skipped"
        if cell["build"]["status"] == "built":
            assert cell["installed"]["keras"] and cell["pip_check"] is not None and "scenarios" not in cell
        else:
            assert cell["reason"]


def test_cross_product_reports_are_generated_from_its_results_with_a_heatmap_per_framework(cross, tmp_path):
    assert_reports_generated(cross, CROSS, tmp_path)
    from runner.report.heatmap import heatmaps

    grids = {grid["axis"]: grid for grid in heatmaps(cross)}
    assert {"tensorflow", "jax"} <= set(grids)


def test_the_published_site_is_generated_from_the_published_results(tmp_path):
    """reports/site/ is what `python -m runner site` makes from the published results, never edited."""
    import shutil

    from runner.cli.site import PUBLISHED_HISTORY, published_also, render_site
    from runner.report.answers import load_sources, published_paths

    # the site links each report relative to itself: build it where it is published, in a copy of the tree
    for source in published_paths(ROOT):
        for name in ("results.json", "index.html"):  # the results, and the page the site links when there is one
            if (source.parent / name).is_file():
                copy = tmp_path / (source.parent / name).relative_to(ROOT)
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source.parent / name, copy)
    store = ROOT / PUBLISHED_HISTORY  # `runner site` renders the published history with the published reports
    also = [(label, tmp_path / folder.relative_to(ROOT))
            for label, folder in published_also(published_paths(ROOT), ROOT)]
    for _, folder in also:  # linked from the site, not read: its page must exist where the site links it
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / folder.relative_to(tmp_path) / "index.html", folder / "index.html")
    written = render_site(load_sources(published_paths(tmp_path)), tmp_path / "reports" / "site",
                          store if store.is_dir() else None, also)
    assert written
    for path in written:
        committed = REPORTS / "site" / Path(path).name
        assert committed.read_text(encoding="utf-8") == Path(path).read_text(encoding="utf-8"), \
            "%s is stale: regenerate with python -m runner site" % committed


# ---- every Keras release as released (reports/as-released/) ---------------------------------------------

AS_RELEASED = REPORTS / "as-released"
AS_RELEASED_GROUPS = ("keras0", "keras1.0-1.1", "keras1.2", "keras2.0-2.3", "keras2.4-2.11", "keras2.12-2.15", "keras3")


def test_the_release_day_sweep_holds_every_release_resolved_as_of_its_day(tmp_path):
    doc = load_results(AS_RELEASED / "results.json")
    sweep = load_matrix(ROOT / "sweeps" / "every-keras-release-as-released.yaml", offline=True).cells
    wanted = {c.id: c for c in sweep if c.group in AS_RELEASED_GROUPS}
    recorded = {c["cell_id"]: c for c in doc["cells"]}
    assert len(recorded) == len(doc["cells"]) and set(recorded) == set(wanted)
    days = read_upload_times("keras")
    for record in recorded.values():  # each resolved as of its own Keras release's day
        assert record["as_of"]["rule"] == "release" and record["as_of"]["cutoff"] == days[keras_version(record)]
        assert record["measure"] == "probe" and record["expectation_verdict"] == "observed"
        assert record["status"] in ("ok", "import_failed") or record["reason"]
    assert_reports_generated(doc, AS_RELEASED, tmp_path)


def test_docs_sweeps_as_released_claims_are_what_both_sweeps_recorded():
    """docs/sweeps.md "Every release, as released": each difference it names, read from both published sweeps."""
    as_released = {keras_version(c): c for c in load_results(AS_RELEASED / "results.json")["cells"]}
    today = {}
    for cell in load_results(SWEEP / "results.json")["cells"]:
        today.setdefault(keras_version(cell), []).append(cell)
    text = " ".join((ROOT / "docs" / "sweeps.md").read_text().split())
    assert "every Keras release on PyPI, 0.2.0 to 3.15.1 (99 releases)" in text and len(as_released) == 99
    for version in ("2.2.0", "2.2.1", "2.2.2"):  # worked on the day, fail to import today
        day = as_released[version]
        assert day["status"] == "ok" and day["default_backend"]["backend"] == "tensorflow"
        assert day["pip_check"]["exit_code"] == 0 and day["installed"]["tensorflow"] in ("1.8.0", "1.9.0")
        assert [c["status"] for c in today[version]] == ["import_failed"]
    for version in ("1.1.0", "1.1.1", "1.1.2"):
        assert as_released[version]["status"] == "import_failed"
        assert "No module named tensorflow" in as_released[version]["reason"]
        assert "tensorflow" not in as_released[version]["installed"]
    for version in ("1.2.0", "1.2.1", "1.2.2"):
        assert as_released[version]["default_backend"]["backend"] == "tensorflow"
    assert "No module named h5py" in as_released["1.0.7"]["reason"]
    for version in ("0.2.0", "0.3.0", "0.3.1", "0.3.2", "0.3.3", "1.0.0"):
        assert as_released[version]["status"] == "build_failed"
        assert re.match(r"building scipy-[\d.]+ from source failed: DistutilsError", as_released[version]["reason"])
    assert {as_released[v]["status"] for v in ("2.0.0", "2.0.1")} == {"unsatisfiable"}
    assert "Theano>=0.9" in as_released["2.0.0"]["reason"]


def test_docs_sweeps_as_released_python3_claims_are_what_the_sweep_recorded():
    """docs/sweeps.md, the Python 3 lines as released: Keras 2.4 unasked on cp39, 2.6-2.15 ahead of their
    TensorFlow."""
    as_released = {keras_version(c): c for c in load_results(AS_RELEASED / "results.json")["cells"]}
    today = {keras_version(c): c for c in load_results(SWEEP / "results.json")["cells"]}
    for version in ("2.4.0", "2.4.1", "2.4.2", "2.4.3"):
        assert as_released[version]["status"] == "unsatisfiable"
        assert "has no wheels with a matching Python ABI tag (e.g., `cp39`)" in as_released[version]["reason"]
    installed = ["2.6.0", "2.7.0", "2.8.0", "2.9.0", "2.10.0", "2.11.0", "2.13.1", "2.14.0", "2.15.0"]
    for version in installed:
        day = as_released[version]
        tf = day["installed"].get("tensorflow-cpu") or day["installed"].get("tensorflow_cpu")
        # the TensorFlow of the day is the minor before the release's own
        assert tf is not None and Version(tf).release[:2] < Version(version).release[:2], (version, tf)
        assert today[version]["status"] == "ok"  # with its own minor's TensorFlow
        if version == "2.7.0":  # TensorFlow 2.6.1 admits it: pip check clean, the import fails all the same
            assert day["pip_check"]["exit_code"] == 0 and day["status"] == "import_failed"
            continue
        assert day["conflict"], version  # pip check's, or (2.6.0) two distributions writing keras/
        assert version == "2.6.0" or day["pip_check"]["exit_code"] != 0, version
    assert "keras-nightly" in as_released["2.6.0"]["conflict"]
    failed = [v for v in installed if as_released[v]["status"] == "import_failed"]
    assert failed == ["2.6.0", "2.7.0", "2.9.0", "2.10.0", "2.11.0", "2.13.1"]
    assert all(as_released[v]["default_backend"]["backend"] == "tensorflow" for v in ("2.8.0", "2.14.0", "2.15.0"))
    assert as_released["2.12.0"]["status"] == "unsatisfiable" and "2.12.0rc1" in as_released["2.12.0"]["reason"]
    keras3 = {v: c for v, c in as_released.items() if v.startswith("3.")}
    assert len(keras3) == 40 and {c["status"] for c in keras3.values()} == {"ok"}
    assert {c["default_backend"]["backend"] for c in keras3.values()} == {"tensorflow"}
    conflicted = sorted((v for v, c in keras3.items() if c["pip_check"]["exit_code"] != 0), key=Version)
    assert conflicted == ["3.0.0", "3.0.1", "3.0.2", "3.0.3", "3.0.4", "3.0.5"]
    assert all("has requirement keras<2.16" in keras3[v]["conflict"] for v in conflicted)
    assert keras3["3.1.0"]["installed"]["tensorflow-cpu"] == "2.16.1"
