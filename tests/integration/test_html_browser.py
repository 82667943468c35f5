"""The HTML report in a real browser (headless Chromium): the script runs, the matrix and details render,
status chips toggle (a click hides a status, as in pytest-html) and the chart and findings follow the
filters, the pivot fits a 1400 px window and the page a 420 px one, every rendered text meets WCAG AA
contrast, a screenshot lands in test-artifacts/, and nothing is fetched from the network. Also: the search
keeps the matching heatmap marks, chart text keeps a legible size at 420 px, and the published reports and the
site link each other, every link followed and its target loaded.

Chromium is required, not optional: a missing browser fails these tests (CI installs the Debian package
`chromium`; locally: apt-get install -y chromium)."""

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from runner.report import compute_findings, write_reports

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


MULTI = "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu"


def sampled(walls, verdict="stable", causes=()):
    samples = [{"process": 0, "epoch": 0, "warmup": True, "wall": 4.0}]
    samples += [{"process": i // 5, "epoch": 1 + i % 5, "warmup": False, "wall": w} for i, w in enumerate(walls)]
    middle = sorted(walls)[len(walls) // 2]
    return {"samples": samples, "timing": {
        "estimator": "median", "seconds": middle, "interval": [min(walls), max(walls)], "confidence": 0.95,
        "rel_width": 0.03, "samples": len(walls), "processes": 2, "verdict": verdict, "causes": list(causes)}}


def with_new_fields(doc):
    """The fixture plus what this version records: samples and timing, declared expectations."""
    cells = {c["cell_id"]: c for c in doc["cells"]}
    multi = cells[MULTI]["trainings"]
    multi["tensorflow"].update(sampled([3.2, 3.25, 3.18, 3.22, 3.21, 3.19, 3.24, 3.2, 3.23, 3.2]))
    multi["jax"].update(sampled([2.1, 2.9, 1.9, 2.6, 2.0, 3.1, 2.2, 2.7, 1.8, 2.5], "contended", ["steal"]))
    cells[PARTIAL].update(expectation={"trainings": {"cntk": "failed"}, "reason": "CNTK 2.7 needs libmpi_cxx.so.1"},
                          expectation_verdict="expected_failure")
    cells["keras2.3.1-py27-cpu"].update(expectation={"status": "ok"}, expectation_verdict="unexpected_failure")
    cells["keras1.0.8-tf1.0.1-theano1.0.5-py27-cpu"].update(
        expectation={"status": "import_failed", "reason": "thought broken"}, expectation_verdict="unexpected_pass")
    return doc


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    doc = with_new_fields(json.loads(FIXTURE.read_text(encoding="utf-8")))
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
  var okChip = document.querySelector('button.chip[data-status="ok"]');
  okChip.click();  // first click: hides this status
  out.setAttribute("data-t-not-ok", shown());
  out.setAttribute("data-t-not-ok-pressed", okChip.getAttribute("aria-pressed"));
  var cpu = document.querySelector('svg[data-km-chart="cpu"]');
  var bars = function () {
    var groups = Array.prototype.filter.call(cpu.querySelectorAll("g.cg"),
                                             function (g) { return g.style.display !== "none"; });
    return groups.map(function (g) { return g.getAttribute("data-km-cell"); }).join(" ");
  };
  out.setAttribute("data-t-chart-not-ok", bars());
  out.setAttribute("data-t-chart-height-not-ok", cpu.viewBox.baseVal.height);
  out.setAttribute("data-t-findings-not-ok", Array.prototype.filter.call(
    document.querySelectorAll("ol.findings > li"), function (li) { return !li.hidden; })
    .map(function (li) { return li.getAttribute("data-finding"); }).join(" "));
  okChip.click();  // second click: shows it again
  out.setAttribute("data-t-ok-again", shown());
  out.setAttribute("data-t-chart-all", bars());
  out.setAttribute("data-t-chart-height-all", cpu.viewBox.baseVal.height);
  okChip.dispatchEvent(new MouseEvent("click", {altKey: true, bubbles: true}));  // alt-click: only this status
  out.setAttribute("data-t-ok", shown());
  var search = document.getElementById("km-search");
  search.value = "jax";
  search.dispatchEvent(new Event("input"));
  out.setAttribute("data-t-ok-jax", shown());
  out.setAttribute("data-t-chart-ok-jax", bars());
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
    not_ok = [c for c in doc["cells"] if c["status"] != "ok"]
    assert 'data-t-not-ok="%d of %d cells shown"' % (len(not_ok), total) in dom
    assert 'data-t-not-ok-pressed="false"' in dom
    assert 'data-t-ok-again="%d cells"' % total in dom
    assert 'data-t-ok="%d of %d cells shown"' % (len(ok), total) in dom
    assert 'data-t-ok-jax="%d of %d cells shown"' % (len([c for c in ok if "jax" in c["cell_id"]]), total) in dom
    assert 'data-t-reset="%d cells"' % total in dom
    assert 'data-t-gpu="%d of %d cells shown"' % (len(gpu), total) in dom
    assert 'data-t-sort-asc="%s"' % ok[0]["cell_id"] in dom  # status order: ok first, stable
    assert 'data-t-sort-desc="%s"' % next(c for c in doc["cells"] if c["status"] == "error")["cell_id"] in dom


def charted(doc, cells):
    """Cells with a bar in the CPU chart: a finished training on the CPU."""
    return " ".join(c["cell_id"] for c in cells if c["device"] == "cpu" and any(
        t["status"] == "ok" for t in c["trainings"].values()))


def test_the_chart_and_findings_follow_the_filters(chromium, report, tmp_path):
    doc, index = report
    driven = tmp_path / "driven.html"
    driven.write_text(index.read_text(encoding="utf-8").replace("</body>", _DRIVER), encoding="utf-8")
    dom = run_chromium(chromium, tmp_path, "--dump-dom", driven.as_uri()).stdout

    def attr(name):
        return re.search(r'%s="([^"]*)"' % name, dom).group(1)

    not_ok = [c for c in doc["cells"] if c["status"] != "ok"]
    assert attr("data-t-chart-not-ok") == charted(doc, not_ok) != ""
    assert attr("data-t-chart-all") == charted(doc, doc["cells"])
    # The hidden bars leave no gap: the chart is shorter while they are hidden.
    assert float(attr("data-t-chart-height-not-ok")) < float(attr("data-t-chart-height-all"))
    jax_ok = [c for c in doc["cells"] if c["status"] == "ok" and "jax" in c["cell_id"]]
    assert attr("data-t-chart-ok-jax") == charted(doc, jax_ok)
    # Findings: shown while one of their lines cites a shown cell (lines that cite none always show).
    shown = {c["cell_id"] for c in not_ok}
    expected = [f["id"] for f in compute_findings(doc)
                if any(not i["cells"] or set(i["cells"]) & shown for i in f["items"])]
    assert attr("data-t-findings-not-ok").split() == expected
    change = "default-backend-change-1.0.8-1.2.2"  # cites ok cells only: hidden with them
    assert change in [f["id"] for f in compute_findings(doc)] and change not in expected


_MEASURE = r"""<script>
(function () {
  function parse(c) {
    var m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) { return null; }
    var p = m[1].split(/[\s,\/]+/).filter(function (x) { return x; }).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, bottom, alpha) {
    return [0, 1, 2].map(function (i) { return top[i] * alpha + bottom[i] * (1 - alpha); });
  }
  function lum(c) {
    var w = [0.2126, 0.7152, 0.0722];
    return [0, 1, 2].reduce(function (sum, i) {
      var v = c[i] / 255;
      return sum + w[i] * (v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    }, 0);
  }
  function ratio(a, b) { var x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
  function chain(el) {
    var out = [];
    for (var e = el; e && e.nodeType === 1; e = e.parentElement) { out.push(e); }
    return out;
  }
  function background(el) {
    var bg = [255, 255, 255];
    chain(el).reverse().forEach(function (e) {
      var c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { bg = over(c, bg, c[3]); }
    });
    return bg;
  }
  function check(el, colour, what, bad) {
    var opacity = chain(el).reduce(function (o, e) { return o * parseFloat(getComputedStyle(e).opacity); }, 1);
    var c = parse(colour);
    if (!c) { return; }
    var bg = background(el);
    var r = ratio(over(c, bg, c[3] * opacity), bg);
    if (r < 4.5) { bad.push(what + " " + r.toFixed(2) + ":1"); }
  }
  function measure() {
    var bad = [];
    Array.prototype.forEach.call(document.querySelectorAll("body *"), function (el) {
      if (/^(SCRIPT|STYLE|TITLE|OPTION|svg|title)$/.test(el.tagName) || !el.getClientRects().length) { return; }
      var text = Array.prototype.some.call(el.childNodes,
                                           function (n) { return n.nodeType === 3 && n.textContent.trim(); });
      if (!text) { return; }
      var style = getComputedStyle(el);
      var colour = el instanceof SVGElement ? style.fill : style.color;
      var label = el.tagName + "." + (el.getAttribute("class") || "") + " '" + el.textContent.trim().slice(0, 30);
      check(el, colour, label + "'", bad);
    });
    Array.prototype.forEach.call(document.querySelectorAll("#km-cells th button"), function (b) {
      check(b, getComputedStyle(b, "::after").color, "sort arrow", bad);
    });
    return bad;
  }
  Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
  var out = window.parent !== window ? window.parent.document.body : document.body;  // framed at 420 px
  var bad = measure();
  document.querySelector('button.chip[data-status="skipped"]').click();  // an unpressed chip's text too
  bad = bad.concat(measure());
  document.querySelector('button.chip[data-status="skipped"]').click();
  var unique = bad.filter(function (b, i) { return bad.indexOf(b) === i; });
  out.setAttribute("data-t-contrast", JSON.stringify(unique.slice(0, 40)));
  // Every view of the matrix (exact versions and library sets), each shown in turn as its radio would.
  var overflow = Array.prototype.map.call(document.querySelectorAll("[data-pivot]"), function (pivot) {
    var hidden = pivot.hidden;
    pivot.hidden = false;
    var extra = pivot.scrollWidth - pivot.clientWidth;
    pivot.hidden = hidden;
    return extra;
  });
  out.setAttribute("data-t-pivot-overflow", String(Math.max.apply(null, overflow)));
  out.setAttribute("data-t-pivot-views", String(overflow.length));
  out.setAttribute("data-t-page-overflow", String(document.documentElement.scrollWidth - window.innerWidth));
  out.setAttribute("data-t-width", String(window.innerWidth));
})();
</script>
</body>"""


def measured(chromium, index, tmp_path, width):
    """The page at `width` CSS px: Chromium's window is at least 500 px wide, so narrower widths are an
    iframe of that width (its own viewport: media queries and innerWidth see `width`)."""
    page = tmp_path / ("measured-%d.html" % width)
    page.write_text(index.read_text(encoding="utf-8").replace("</body>", _MEASURE), encoding="utf-8")
    target = page
    if width < 500:
        target = tmp_path / ("frame-%d.html" % width)
        target.write_text('<!DOCTYPE html><html><body style="margin:0"><iframe src="%s" style="width:%dpx;'
                          'height:1000px;border:0"></iframe></body></html>' % (page.name, width), encoding="utf-8")
    dom = run_chromium(chromium, tmp_path, "--window-size=%d,1000" % max(width, 500), "--allow-file-access-from-files",
                       "--dump-dom", target.as_uri()).stdout
    return {name: html.unescape(re.search(r'data-t-%s="([^"]*)"' % name, dom).group(1))
            for name in ("contrast", "pivot-overflow", "pivot-views", "page-overflow", "width")}


def test_every_text_meets_wcag_aa_contrast(chromium, report, tmp_path):
    _, index = report
    assert json.loads(measured(chromium, index, tmp_path, 1400)["contrast"]) == []


def test_the_pivot_fits_1400_px_and_the_page_420_px(chromium, report, tmp_path):
    doc, index = report
    wide = measured(chromium, index, tmp_path, 1400)
    assert wide["width"] == "1400" and wide["pivot-views"] == "2"
    assert int(wide["pivot-overflow"]) <= 0, "a view of the matrix scrolls sideways at 1400 px"
    narrow = measured(chromium, index, tmp_path, 420)
    # At 420 px wide tables scroll inside their own box; the page itself never scrolls sideways.
    assert narrow["width"] == "420" and int(narrow["page-overflow"]) <= 0
    page = index.read_text(encoding="utf-8")
    assert "Attribute<wbr>Error" in page or "Import<wbr>Error" in page  # error names wrap whole, never cut


def test_published_report_fits_and_contrasts(chromium, tmp_path):
    index = ROOT / "reports" / "index.html"
    wide = measured(chromium, index, tmp_path, 1400)
    assert json.loads(wide["contrast"]) == [] and int(wide["pivot-overflow"]) <= 0  # both views, wrapped in bands


_BARS = """<script>
(function () {
  // Every bar the browser actually draws (a box with width, in a chart group that is shown): cell|backend|device.
  var drawn = [];
  Array.prototype.forEach.call(document.querySelectorAll("svg.chart"), function (svg) {
    Array.prototype.forEach.call(svg.querySelectorAll("g.cg rect[data-km-backend]"), function (bar) {
      var group = bar.closest("g.cg");
      if (group.style.display !== "none" && bar.getBBox().width > 0 && bar.getClientRects().length) {
        drawn.push(group.getAttribute("data-km-cell") + "|" + bar.getAttribute("data-km-backend") + "|" +
                   svg.getAttribute("data-km-chart"));
      }
    });
  });
  document.body.setAttribute("data-t-bars", drawn.join(" "));
})();
</script>
</body>"""


@pytest.mark.parametrize("folder", ["", "cross-products"])
def test_published_charts_draw_a_bar_for_every_timed_training(chromium, tmp_path, folder):
    """Each finished training of a timed cell has its bar (flagged ones too, drawn lighter); a smoke cell has
    none (its time is no measurement)."""
    from runner.report import timing
    from runner.report.fields import training_device

    directory = ROOT / "reports" / folder
    doc = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    page = tmp_path / "bars.html"
    page.write_text((directory / "index.html").read_text(encoding="utf-8").replace("</body>", _BARS),
                    encoding="utf-8")
    dom = run_chromium(chromium, tmp_path, "--window-size=1400,1000", "--dump-dom", page.as_uri()).stdout
    drawn = re.search(r'data-t-bars="([^"]*)"', dom).group(1).split()
    expected = ["%s|%s|%s" % (c["cell_id"], n, training_device(t, c)) for c in doc["cells"] if not timing.is_smoke(c)
                for n, t in (c.get("trainings") or {}).items() if t.get("status") == "ok"]
    assert sorted(drawn) == sorted(expected)
    flagged = sum(timing.is_shaky(t) for c in doc["cells"] if not timing.is_smoke(c)
                  for t in (c.get("trainings") or {}).values() if t.get("status") == "ok")
    assert (directory / "index.html").read_text(encoding="utf-8").count('class="flagged"') == \
        flagged + (1 if flagged else 0)  # lighter bars, and the legend's sample of one
    if folder == "cross-products":  # every cell is a smoke check: nothing charted
        assert expected == [] and drawn == []


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


_CHART_TEXT = """<script>
(function () {
  // The size chart text is drawn at: its font size times the SVG's scale on screen (a viewBox shrunk to a
  // narrow window shrinks its text with it).
  var sizes = Array.prototype.map.call(document.querySelectorAll("svg.chart text"), function (t) {
    return parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a;
  });
  var out = window.parent !== window ? window.parent.document.body : document.body;
  out.setAttribute("data-t-chart-texts", String(sizes.length));
  out.setAttribute("data-t-chart-text-min", String(Math.min.apply(null, sizes)));
  out.setAttribute("data-t-page-overflow", String(document.documentElement.scrollWidth - window.innerWidth));
})();
</script>
</body>"""


def framed(chromium, index, tmp_path, width, script, names):
    """The page with `script` at `width` CSS px (narrower than Chromium's 500 px window: in an iframe), and the
    data-t-* attributes the script set."""
    page = tmp_path / ("framed-%d.html" % width)
    page.write_text(index.read_text(encoding="utf-8").replace("</body>", script), encoding="utf-8")
    target = tmp_path / ("frame-of-%d.html" % width)
    target.write_text('<!DOCTYPE html><html><body style="margin:0"><iframe src="%s" style="width:%dpx;height:1000px;'
                      'border:0"></iframe></body></html>' % (page.name, width), encoding="utf-8")
    dom = run_chromium(chromium, tmp_path, "--window-size=%d,1000" % max(width, 500), "--allow-file-access-from-files",
                       "--dump-dom", target.as_uri()).stdout
    return {name: html.unescape(re.search(r'data-t-%s="([^"]*)"' % name, dom).group(1)) for name in names}


@pytest.mark.parametrize("width", [420, 1400])
def test_chart_text_stays_legible_on_a_phone(chromium, report, tmp_path, width):
    """At 420 px the chart keeps its own size and scrolls inside its box (its text was ~3 px when the SVG shrank
    to the window); the page itself still does not scroll sideways."""
    _, index = report
    seen = framed(chromium, index, tmp_path, width, _CHART_TEXT, ("chart-texts", "chart-text-min", "page-overflow"))
    assert int(seen["chart-texts"]) > 10
    assert float(seen["chart-text-min"]) >= 10.5, "chart text drawn at %s px" % seen["chart-text-min"]
    assert int(seen["page-overflow"]) <= 0


_HEATMAP_SEARCH = """<script>
(function () {
  function visible() {
    return Array.prototype.filter.call(document.querySelectorAll("table.heatmap a.hm"), function (a) {
      return !a.hidden && a.style.display !== "none" && a.getClientRects().length > 0;
    }).map(function (a) { return a.getAttribute("data-km-cell"); }).join(" ");
  }
  document.body.setAttribute("data-t-marks-all", visible());
  var search = document.getElementById("km-search");
  search.value = "cntk2.7";
  search.dispatchEvent(new Event("input"));
  document.body.setAttribute("data-t-marks-cntk", visible());
  document.body.setAttribute("data-t-shown-cntk", document.getElementById("km-shown").textContent);
})();
</script>
</body>"""


def test_search_keeps_the_matching_heatmap_marks(chromium, report, tmp_path):
    """Typing in the search box used to empty every heatmap (its marks had no search text to match)."""
    doc, index = report
    page = tmp_path / "heatmap-search.html"
    page.write_text(index.read_text(encoding="utf-8").replace("</body>", _HEATMAP_SEARCH), encoding="utf-8")
    dom = run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri()).stdout

    def attr(name):
        return html.unescape(re.search(r'data-t-%s="([^"]*)"' % name, dom).group(1)).split()

    matching = [c["cell_id"] for c in doc["cells"] if "cntk2.7" in c["cell_id"]]
    assert len(attr("marks-all")) > len(matching) > 0
    assert sorted(attr("marks-cntk")) == sorted(m for m in attr("marks-all") if m in matching)
    assert attr("shown-cntk")[0] == str(len(matching))


_LOADED = """<script>
(function () {
  // What a page shows once loaded: its title, and every link to another page (resolved by the browser).
  var out = document.createElement("pre");
  out.id = "t-links";
  out.textContent = JSON.stringify({title: document.title, links: Array.prototype.filter.call(
    document.querySelectorAll("a[href]"), function (a) {
      return a.getAttribute("href").charAt(0) !== "#" && /index\\.html(#.*)?$/.test(a.getAttribute("href"));
    }).map(function (a) { return a.href.split("#")[0]; })});
  document.body.appendChild(out);
})();
</script>
</body>"""


def test_the_published_reports_and_the_site_link_each_other_and_every_link_loads(chromium, tmp_path):
    """The published layout rendered as `report --link` and `site` write it (into a copy of reports/): from each
    report page and the site, every link to another report or the site is followed in Chromium, and each
    target loads (its script ran, or it is the site) and links back."""
    from runner.report.answers import load_sources, published_paths
    from runner.report.site import write_site
    from runner.report.write import PUBLISHED_LINKS, published_links
    from runner.results.store import load_results

    pages = {}
    for _, folder in PUBLISHED_LINKS[:-1]:
        written = write_reports(load_results(ROOT / folder / "results.json"), tmp_path / folder,
                                published_links(tmp_path))
        pages[folder] = written["index.html"]
    for path in published_paths(ROOT):  # the site reads every published results document (the bisect's too)
        copy = tmp_path / path.relative_to(ROOT)
        if not copy.exists():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copy)
    read = {path.parent.relative_to(tmp_path).as_posix() for path in published_paths(tmp_path)}
    also = [(label, tmp_path / folder) for label, folder in PUBLISHED_LINKS[:-1] if folder not in read]
    pages["reports/site"] = write_site(load_sources(published_paths(tmp_path)), tmp_path / "reports" / "site",
                                       also=also)[0]
    expected = {p.resolve().as_uri() for p in pages.values()}

    def visit(page):
        probe = page.parent / (".probe-" + page.name)  # beside the page: its relative links resolve the same
        probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _LOADED), encoding="utf-8")
        dom = run_chromium(chromium, tmp_path, "--dump-dom", probe.as_uri()).stdout
        probe.unlink()
        found = re.search(r'<pre id="t-links">(.*?)</pre>', dom, re.S)
        assert found, "%s did not load" % page
        seen = json.loads(html.unescape(found.group(1)))
        return seen, dom

    followed = {}
    for folder, page in pages.items():
        seen, _ = visit(page)
        links = {u.replace("/.probe-index.html", "/index.html") for u in seen["links"]}
        others = expected - {page.resolve().as_uri()}
        assert others <= links, "%s does not link %s" % (folder, sorted(others - links))
        for url in links & expected:
            followed.setdefault(url, set()).add(folder)
    assert set(followed) == expected
    for url in followed:  # each target, opened by the URL the links give, loads
        target = Path(url[len("file://"):])
        assert target.is_file(), url
        dom = run_chromium(chromium, tmp_path, "--dump-dom", url).stdout
        assert "<title>" in dom and ('data-km-ready="1"' in dom or "/site/" in url), "%s did not load" % url
