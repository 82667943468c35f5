"""The landing page in headless Chromium: the selector's script runs and answers the pair named in the URL
(verdict, pip's conflict, the link to the cell), and screenshots at 1400 and 420 px land in test-artifacts/.
Chromium is required (apt-get install -y chromium), as for the report's browser tests."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from runner.report.answers import load_sources, published_paths
from runner.report.site import write_site

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def chromium(*args):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("headless Chromium is needed for the site's browser test: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                               "--disable-background-networking", "--disable-component-update", "--disable-sync",
                               "--user-data-dir=" + profile] + list(args),
                              capture_output=True, text=True, timeout=120)


def test_the_selector_answers_the_pair_in_the_url_and_the_page_renders_at_both_widths(tmp_path):
    site = tmp_path / "reports" / "site"
    index, _ = write_site(load_sources(published_paths(ROOT)), site)
    url = index.as_uri() + "#keras=2.8.0&with=tensorflow%202.10.1"
    dom = chromium("--dump-dom", url).stdout
    answer = dom[dom.index('id="answer"'):]
    answer = answer[:answer.index("</section>")]
    assert "v-fails" in dom and "<b>does not work</b>" in answer
    assert "tensorflow-cpu 2.10.1 has requirement keras&lt;2.11" in answer
    assert "#cell-keras2.8.0-tf2.10.1-py39-cpu" in answer
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1400, 420):
        shot = ARTIFACTS / ("site-%d.png" % width)
        chromium("--window-size=%d,900" % width, "--screenshot=%s" % shot, url)
        assert shot.is_file() and shot.stat().st_size > 10000
