"""What the HTML page shows of one cell (runner/report/cell_view.py): no false alarms in the stack table, and
the base image by name with what the engine said apart."""

from runner.report import render_html
from runner.report.cell_view import cell_view
from tests.unit.test_report import minimal_cell, minimal_doc

REGISTRY_ERROR = ('pull debian:bullseye-slim failed: Error response from daemon: Get "https://registry-1.docker.io/v2/"'
                  ': dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host <script>x</script>')


def rows(cell):
    return {r["name"]: r for r in cell_view(cell, ["tensorflow", "cntk"])["versions"]}


def test_a_framework_installed_under_another_distribution_name_is_installed():
    cell = minimal_cell(versions={"keras": "==2.10.0", "tensorflow": "==2.10.1"},
                        installed={"keras": "2.10.0", "tensorflow-cpu": "2.10.1", "tensorflow-estimator": "2.10.0"})
    tf = rows(cell)["tensorflow"]
    assert not tf["missing"] and not tf["mismatch"]
    assert tf["installed"] == "2.10.1 (tensorflow-cpu)"
    assert "tensorflow-cpu" not in rows(cell)  # one row, not the request and its provider twice
    page = render_html(minimal_doc(cell))
    assert "not installed" not in page and "not what was requested" not in page
    # a framework that really is missing still says so, and another release still is a mismatch
    missing = minimal_cell(versions={"tensorflow": "==2.10.1"}, installed={"keras": "2.10.0"})
    assert rows(missing)["tensorflow"]["missing"]
    assert rows(minimal_cell(versions={"tensorflow": "==2.10.1"},
                             installed={"tensorflow-cpu": "2.9.0"}))["tensorflow"]["mismatch"]


def test_a_post_release_is_the_release_it_follows():
    # The cntk 2.7.post2 wheel reports itself as 2.7.
    assert not rows(minimal_cell(versions={"cntk": "==2.7.post2"}, installed={"cntk": "2.7"}))["cntk"]["mismatch"]
    assert not rows(minimal_cell(versions={"cntk": "==2.7"}, installed={"cntk": "2.7.post2"}))["cntk"]["mismatch"]
    assert rows(minimal_cell(versions={"cntk": "==2.7.post2"}, installed={"cntk": "2.6"}))["cntk"]["mismatch"]
    assert rows(minimal_cell(versions={"cntk": ">=2.8"}, installed={"cntk": "2.7.post2"}))["cntk"]["mismatch"]


def test_the_base_image_is_shown_by_name_and_a_registry_error_as_an_error_clipped_and_escaped():
    base = {"name": "debian-bullseye", "ref": "keras-matrix/base:bullseye-minbase", "source": "bootstrap-cached",
            "image_id": "sha256:f839", "seconds": 0.1, "message": REGISTRY_ERROR + " pad" * 2000}
    view = cell_view(minimal_cell(base_image=base), [])["base_image"]
    assert view["name"] == "keras-matrix/base:bullseye-minbase (debian-bullseye, bootstrap-cached)"
    assert view["message"].startswith("pull debian:bullseye-slim failed") and len(view["message"]) < 2000
    page = render_html(minimal_doc(minimal_cell(base_image=base)))
    row = page[page.index("<th>Base image</th>"):]
    row = row[:row.index("</tr>")]
    assert '<td class="mono">keras-matrix/base:bullseye-minbase (debian-bullseye, bootstrap-cached)' in row
    assert '<pre class="err">pull debian:bullseye-slim failed' in row and "<script>x" not in row
    assert cell_view(minimal_cell(), [])["base_image"] == {"name": "-", "message": ""}
    unneeded = {"name": "cuda10.0-ubuntu18.04", "ref": None, "source": "not needed", "message": ""}
    assert cell_view(minimal_cell(base_image=unneeded), [])["base_image"] == {
        "name": "cuda10.0-ubuntu18.04 (not needed)", "message": ""}
