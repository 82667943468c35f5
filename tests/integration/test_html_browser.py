"""The HTML report in a real browser (headless Chromium): the script runs, the matrix and details render, a
screenshot lands in test-artifacts/, and nothing is fetched from the network.

Chromium is required, not optional: a missing browser fails these tests (CI installs the Debian package
`chromium`; locally: apt-get install -y chromium)."""

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from runner.report import write_reports

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "results-run.json"
ARTIFACTS = ROOT / "test-artifacts"
PARTIAL = "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu"


@pytest.fixture(scope="module")
def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is needed for the HTML report tests and was not found. "
                "Install it: apt-get install -y chromium (CI's .ci/run does).")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    paths = write_reports(doc, tmp_path_factory.mktemp("report"))
    return doc, paths["index.html"]


def run_chromium(chromium, tmp_path, *args):
    """Headless, offline (every host name resolves to nothing), with a throwaway profile."""
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-default-apps", "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND",
               "--user-data-dir=%s" % (tmp_path / "chromium-profile")] + list(args)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, "chromium failed (%s): %s" % (proc.returncode, proc.stderr[-2000:])
    return proc


def test_the_page_renders_and_its_script_runs(chromium, report, tmp_path):
    doc, index = report
    dom = run_chromium(chromium, tmp_path, "--dump-dom", index.as_uri()).stdout
    assert 'data-km-ready="1"' in dom, "the page's script did not run to the end"
    assert 'data-km-cells="%d"' % len(doc["cells"]) in dom
    assert 'class="pivot"' in dom and "tf 1.15.0 + theano 1.0.5 + cntk 2.7.post2" in dom
    for cell in doc["cells"]:
        assert 'id="cell-%s"' % cell["cell_id"] in dom
    assert "<svg" in dom
    assert "<script>alert" not in dom and "<img" not in dom


def test_a_link_to_a_cell_opens_its_details(chromium, report, tmp_path):
    _, index = report
    dom = run_chromium(chromium, tmp_path, "--dump-dom", index.as_uri() + "#cell-" + PARTIAL).stdout
    opened = [line for line in dom.splitlines() if 'id="cell-%s"' % PARTIAL in line and "<details" in line]
    assert opened and " open" in opened[0], "the script did not open the linked cell's details"


_DRIVER = """<script>
(function () {
  function shown() { return document.getElementById("km-shown").textContent; }
  function firstRow() { return document.querySelector("#km-cells tbody tr").getAttribute("data-km-cell"); }
  var out = document.body;
  document.querySelector('button.chip[data-status="ok"]').click();  // first click: only this status
  out.setAttribute("data-t-ok", shown());
  var search = document.getElementById("km-search");
  search.value = "jax";
  search.dispatchEvent(new Event("input"));
  out.setAttribute("data-t-ok-jax", shown());
  document.getElementById("km-reset").click();
  out.setAttribute("data-t-reset", shown());
  var device = document.getElementById("km-device");
  device.value = "gpu";
  device.dispatchEvent(new Event("change"));
  out.setAttribute("data-t-gpu", shown());
  document.getElementById("km-reset").click();
  var status = document.querySelectorAll("#km-cells thead th button")[1];
  status.click();
  out.setAttribute("data-t-sort-asc", firstRow());
  status.click();
  out.setAttribute("data-t-sort-desc", firstRow());
})();
</script>
</body>"""


def test_filters_and_sorting_work(chromium, report, tmp_path):
    doc, index = report
    driven = tmp_path / "driven.html"  # the page plus a script that uses its controls
    driven.write_text(index.read_text(encoding="utf-8").replace("</body>", _DRIVER), encoding="utf-8")
    dom = run_chromium(chromium, tmp_path, "--dump-dom", driven.as_uri()).stdout
    total = len(doc["cells"])
    ok = [c for c in doc["cells"] if c["status"] == "ok"]
    gpu = [c for c in doc["cells"] if c["device"] == "gpu"]
    assert 'data-t-ok="%d of %d cells shown"' % (len(ok), total) in dom
    assert 'data-t-ok-jax="%d of %d cells shown"' % (len([c for c in ok if "jax" in c["cell_id"]]), total) in dom
    assert 'data-t-reset="%d cells"' % total in dom
    assert 'data-t-gpu="%d of %d cells shown"' % (len(gpu), total) in dom
    assert 'data-t-sort-asc="%s"' % ok[0]["cell_id"] in dom  # status order: ok first, stable
    assert 'data-t-sort-desc="%s"' % next(c for c in doc["cells"] if c["status"] == "error")["cell_id"] in dom


def test_screenshot(chromium, report, tmp_path):
    _, index = report
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    if shot.exists():
        shot.unlink()
    run_chromium(chromium, tmp_path, "--screenshot=%s" % shot, "--window-size=1400,1000",
                 "--hide-scrollbars", index.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000  # a real page, not a blank one


class _Urls(HTMLParser):
    ATTRIBUTES = ("src", "href", "srcset", "action", "formaction", "poster", "data", "xlink:href", "background")

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in self.ATTRIBUTES and value]

    handle_startendtag = handle_starttag


def test_nothing_is_requested_from_the_network(report):
    _, index = report
    page = index.read_text(encoding="utf-8")
    parser = _Urls()
    parser.feed(page)
    external = [u for u in parser.urls if u.strip().lower().startswith(("http:", "https:", "//", "ftp:", "data:"))]
    assert parser.urls and not external
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page  # and the page's own policy forbids any fetch
