"""The site: one landing page over the published results documents, whose first screen answers the default
backend by release, whether a pair works (with the cell's evidence), and how fast a stack's backends train;
a details page with the provenance; every value escaped."""

import json
from pathlib import Path

from runner.cli.main import main
from runner.report.answers import load_sources, published_paths
from runner.report.site import default_rows, pairs, site_context, speed_rows, write_site

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "reports" / "site"


def sources():
    return load_sources(published_paths(ROOT))


def test_default_backend_rows_fold_releases_and_mark_1_1_0_and_the_keras_backend_milestones():
    rows, milestones = default_rows(sources())
    changed = [r for r in rows if r["changed"]]
    assert [(r["first"], r["default"], r["from"]) for r in changed] == [("1.1.0", "tensorflow", "theano")]
    assert {"backend": "cntk", "since": "2.0.5"} in milestones
    assert {"backend": "jax", "since": "3.0.0"} in milestones
    theano = next(r for r in rows if r["default"] == "theano")
    assert theano["last"] == "1.0.8"
    assert rows[-1]["last"] == "3.15.1" and rows[-1]["default"] == "tensorflow"


def test_every_published_pair_has_a_verdict_and_its_evidence_one_click_away():
    published = pairs(sources(), SITE)
    conflicting = published["2.8.0"]["tensorflow 2.10.1"]
    assert conflicting["verdict"] == "does not work"
    assert conflicting["link"] == "../cross-products/index.html#cell-keras2.8.0-tf2.10.1-py39-cpu"
    assert conflicting["conflict"].startswith("pip check: tensorflow-cpu 2.10.1 has requirement keras<2.11")
    working = published["2.8.0"]["tensorflow 2.8.4"]
    assert working["verdict"] == "works" and working["measure"] == "full"  # the matrix run's full measure wins
    assert working["link"] == "../index.html#cell-keras2.8.0-tf2.8.4-py39-cpu"
    assert published["3.5.0"]["jax 0.6.1"]["verdict"] == "does not work"


def test_speed_rows_are_full_measures_with_two_backends_or_more_fastest_first():
    rows = speed_rows(sources(), SITE)
    legacy = next(r for r in rows if r["cell"] == "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu")
    assert [b["backend"] for b in legacy["bars"]] == ["tf", "theano", "cntk"] and legacy["bars"][-1]["width"] == 100.0
    assert all(len(r["bars"]) >= 2 for r in rows)


def test_the_site_is_written_self_contained_and_escaped(tmp_path):
    doc = json.loads((ROOT / "reports" / "cross-products" / "results.json").read_text())
    hostile = doc["cells"][0]
    hostile["reason"] = "</script><img src=x onerror=alert(1)>"
    hostile["conflict"] = "<b>bold</b>"
    path = tmp_path / "hostile" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    index, details = write_site(load_sources([path]), tmp_path / "site")
    html = index.read_text()
    assert "<img src=x" not in html and "</script><img" not in html and "<b>bold</b>" not in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # opens offline
    assert "details.html" in html and "Default backend by Keras release" in html
    assert "run" in details.read_text() and "cross-products-2" in details.read_text()


def test_the_context_states_the_rules_and_links_every_report():
    context = site_context(sources(), SITE)
    stated = [r.candidate.statement for r in context["rules"] if r.stated]
    assert "JAX >= 0.6.1 breaks Keras 3.0-3.9" in stated
    assert {r["name"] for r in context["reports"]} >= {"matrix", "cross-products", "every-release"}
    cross = next(r for r in context["reports"] if r["name"] == "cross-products")
    assert cross["link"] == "../cross-products/index.html"


def test_site_command_errors_are_one_line(tmp_path, capsys):
    assert main(["site", str(tmp_path / "missing.json"), "-o", str(tmp_path / "out")]) == 5
    err = capsys.readouterr().err
    assert "no such results file" in err and "Traceback" not in err
    (tmp_path / "file").write_text("x")
    assert main(["site", str(ROOT / "reports" / "cross-products"), "-o", str(tmp_path / "file")]) == 2
