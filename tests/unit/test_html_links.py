"""Links between the published reports and the site: relative, from where each page is written, and only
where asked for (`report --link`), so a report written anywhere else has no link that could break."""

import re
import shutil
from pathlib import Path

from runner.cli import main
from runner.report import write_reports
from runner.report.write import PUBLISHED_LINKS, link_hrefs, published_links
from tests.conftest import ROOT
from tests.unit.test_report import minimal_cell, minimal_doc


def report_links(page):
    nav = re.search(r'<nav aria-label="reports".*?</nav>', page, re.S)
    return re.findall(r'<a href="([^"]*)" data-km-report="([^"]*)">', nav.group(0)) if nav else []


def test_each_published_page_links_the_others_relative_to_where_it_is_published(tmp_path):
    links = published_links(tmp_path)
    assert link_hrefs(links, tmp_path / "reports") == [
        ("matrix", ""), ("every release", "every-release/index.html"), ("as released", "as-released/index.html"),
        ("cross products", "cross-products/index.html"), ("site", "site/index.html")]
    assert link_hrefs(links, tmp_path / "reports" / "every-release") == [
        ("matrix", "../index.html"), ("every release", ""), ("as released", "../as-released/index.html"),
        ("cross products", "../cross-products/index.html"), ("site", "../site/index.html")]
    page = write_reports(minimal_doc(minimal_cell()), tmp_path / "reports" / "cross-products",
                         links)["index.html"].read_text(encoding="utf-8")
    assert report_links(page) == [("../index.html", "matrix"), ("../every-release/index.html", "every release"),
                                  ("../as-released/index.html", "as released"), ("../site/index.html", "site")]
    assert '<b aria-current="page">cross products</b>' in page
    folders = dict(PUBLISHED_LINKS)
    for href, label in report_links(page):  # each resolves to the published page of the checkout
        target = (ROOT / "reports" / "cross-products" / href).resolve()
        assert target == (ROOT / folders[label] / "index.html").resolve()


def test_a_report_written_without_links_has_none(tmp_path):
    page = write_reports(minimal_doc(minimal_cell()), tmp_path)["index.html"].read_text(encoding="utf-8")
    assert report_links(page) == [] and 'aria-label="reports"' not in page
    assert not re.findall(r'href="(?!#)[^"]*"', page)  # only links inside the page


def test_report_link_option_links_relative_to_out_and_refuses_what_it_cannot_use(tmp_path, capsys):
    results = tmp_path / "run" / "results.json"
    results.parent.mkdir()
    shutil.copyfile(ROOT / "tests" / "fixtures" / "results-run.json", results)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<!DOCTYPE html>", encoding="utf-8")
    out = tmp_path / "out" / "mine"
    assert main(["report", str(results), "-o", str(out), "--link", "the site=%s" % (tmp_path / "site"),
                 "--link", str(tmp_path / "other")]) == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert report_links(page) == [("../../site/index.html", "the site"), ("../../other/index.html", "other")]
    assert "warning: --link other: no %s yet" % (tmp_path / "other" / "index.html") in capsys.readouterr().err
    assert main(["report", str(results), "--link", "x"]) == 2
    assert "--link needs --out" in capsys.readouterr().err
    assert main(["report", str(results), "-o", str(out), "--link", "label="]) == 2
    assert "--link 'label=': give a report folder or page" in capsys.readouterr().err
    assert Path(out).is_dir()
