"""One rule for a training's time in every format (issue #24): the figure with its interval, a flag with its
cause next to it (never instead of it), 'trained (smoke)' for a smoke training that is never quoted or
charted, and comparisons inside a cell as ratios with an interval, claimed only when significant and
neither training is flagged."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runner.model import stats
from runner.report import compute_findings, render_html, render_table, summary_markdown, timing
from runner.report.junit import junit_xml
from runner.report.table import md_text

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PARTIAL = "keras2.3.1-tf1.15.0-theano1.0.5-cntk2.7.post2-py27-cpu"
MULTI = "keras3.15.1-tf2.21.0-jax0.10.2-py311-cpu"
OLD = "keras1.2.2-tf1.0.1-theano1.0.5-py27-cpu"
SMOKE = "keras1.0.8-tf1.0.1-theano1.0.5-py27-cpu"
TF = [3.20, 3.25, 3.18, 3.22, 3.21, 3.19, 3.24, 3.20, 3.23, 3.20]
WIDE = "95% interval +-7.9% after 3 process(es), 30 steady epochs (threshold +-3%)"


def sampled(walls, verdict="stable", causes=()):
    """Samples and the timing the protocol would record for them (the verdict and causes as given)."""
    summary = stats.summarize_samples(walls, 0.03)
    samples = [{"process": 1, "epoch": 1, "warmup": True, "wall": 9.0}]
    samples += [{"process": 1 + i // 5, "epoch": 2 + i % 5, "warmup": False, "wall": w} for i, w in enumerate(walls)]
    return {"samples": samples, "timing": {
        "estimator": "median", "seconds": summary["estimate"], "interval": summary["interval"], "confidence": 0.95,
        "rel_width": summary["rel_width"], "samples": len(walls), "processes": 2, "verdict": verdict,
        "causes": list(causes)}}


@pytest.fixture
def doc():
    doc = json.loads((FIXTURES / "results-run.json").read_text(encoding="utf-8"))
    cells = {c["cell_id"]: c for c in doc["cells"]}
    cells[MULTI]["trainings"]["tensorflow"].update(sampled(TF))
    cells[MULTI]["trainings"]["jax"].update(sampled([w * 0.55 for w in TF]))
    cells[PARTIAL]["trainings"]["tensorflow"].update(sampled([w * 0.8 for w in TF]))
    cells[PARTIAL]["trainings"]["theano"].update(
        sampled([w * 0.5 for w in TF], "contended", ["host steal 4% of wall"]))
    cells[OLD]["trainings"]["tensorflow"].update(
        sampled([1.1, 1.3, 1.2, 1.45, 1.0, 1.25, 1.35, 1.15, 1.4, 1.05], "unstable", [WIDE]))
    cells[SMOKE]["measure"] = "smoke"
    for name in ("tensorflow", "theano"):
        cells[SMOKE]["trainings"][name].update(sampled([5.55, 5.56, 5.57], "unstable", [WIDE]))
    return doc


def cell_of(doc, cell_id):
    return next(c for c in doc["cells"] if c["cell_id"] == cell_id)


def timed(doc):
    """(cell, backend, training) of every finished training of a timed (non-smoke) cell."""
    return [(c, n, t) for c in doc["cells"] if not timing.is_smoke(c)
            for n, t in (c.get("trainings") or {}).items() if timing.seconds(t) is not None]


# ---- the rule ------------------------------------------------------------------------------------------

def test_the_rule_shows_a_number_with_its_interval_and_the_flag_next_to_it():
    ok = {"status": "ok", "timing": {"seconds": 2.71, "rel_width": 0.02, "verdict": "stable", "causes": []}}
    assert timing.headline(ok) == "2.71 s \u00b12%"
    contended = {"status": "ok", "timing": {"seconds": 2.73, "rel_width": 0.05, "verdict": "contended",
                                            "causes": ["host steal 4% of wall", "foreign work on cores 0-1: 7% of wall",
                                                       "CFS throttling 0.12 s"]}}
    assert timing.headline(contended) == \
        "2.73 s \u00b15% [contended: host steal 4%, foreign work 7%, throttled 0.12 s]"
    unstable = {"status": "ok", "timing": {"seconds": 2.12, "rel_width": 0.06, "verdict": "unstable",
                                           "causes": [WIDE]}}
    assert timing.headline(unstable) == "2.12 s \u00b16% [unstable: wider than \u00b13%]"
    assert timing.figure_parts(unstable) == ("2.12 s \u00b16%", "unstable: wider than \u00b13%")
    # Smoke: labelled, never a number; a training that did not finish: no figure; an older record: its median.
    assert timing.headline(contended, smoke=True) == "trained (smoke)"
    assert timing.detail(contended, smoke=True) == timing.SMOKE_DETAIL and "2.73" not in timing.SMOKE_DETAIL
    assert timing.headline({"status": "failed", "timing": ok["timing"]}) == "-"
    assert timing.headline({"status": "ok", "steady_epoch_seconds": 2.254}) == "2.25s"
    # The details keep the recorded cause in full.
    assert timing.shaky_text(unstable) == "unstable (%s)" % WIDE


def test_short_causes_keep_their_size_and_fall_back_to_the_recorded_text():
    assert timing.short_cause("foreign work on cores 0,1: 12% of wall") == "foreign work 12%"
    assert timing.short_cause("host steal 14% of wall") == "host steal 14%"
    assert timing.short_cause("CFS throttling 0.50 s") == "throttled 0.50 s"
    assert timing.short_cause(WIDE) == "wider than \u00b13%"
    assert timing.short_cause("steal") == "steal"
    assert len(timing.short_cause("x" * 200)) <= 30


# ---- every format follows it -----------------------------------------------------------------------------

def junit_timings(doc):
    root = ET.fromstring(junit_xml(doc).split("\n", 1)[1])
    out = {}
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            if "timing" in props:
                out[(suite.get("name"), case.get("name"))] = props
    return out


def test_every_format_quotes_every_timed_training_with_the_same_text(doc):
    terminal = render_table(doc, "terminal", width=10 ** 6)
    markdown = render_table(doc, "markdown")
    summary = summary_markdown(doc)
    page = render_html(doc)
    properties = junit_timings(doc)
    findings = {f["id"]: f for f in compute_findings(doc)}
    trainings = timed(doc)
    assert {timing.verdict(t) for _, _, t in trainings} >= {"stable", "contended", "unstable"}
    for cell, name, training in trainings:
        text = timing.headline(training)
        # Recorded under the protocol: figure, interval, any flag; older records (no samples): their median.
        pattern = r"^\d+\.\d+ s \u00b1\d+(\.\d)?%( \[(contended|unstable): .+\])?$" if timing.has_samples(training) \
            else r"^\d+\.\d+s$"
        assert re.match(pattern, text), text
        assert text in terminal, text
        assert md_text(text) in markdown and md_text(text) in summary, text
        assert text in page, text
        assert properties[(cell["cell_id"], name)]["timing"] == text
        assert properties[(cell["cell_id"], name)].get("timing_verdict") == timing.verdict(training)
        if timing.is_shaky(training):  # the warning quotes the same text, with what stands behind it
            assert any("%s %s (95%% " % (name, text) in item["text"] for item in findings["timing-unstable"]["items"])
    # No page says there is no figure while another quotes it.
    for output in (terminal, markdown, summary, page, json.dumps(findings)):
        assert "too much noise to quote" not in output and "instead of a number" not in output


def test_the_html_matrix_sets_the_flag_apart_next_to_the_figure(doc):
    page = render_html(doc)
    theano = cell_of(doc, PARTIAL)["trainings"]["theano"]
    number, flag = timing.figure_parts(theano)
    assert '>theano <span class="nw">%s</span></span> <span class="fl">[%s]</span>' % (number, flag) in page
    assert "%s \u00b7 97" % timing.headline(theano) in page  # the cells table: figure, flag, accuracy


def test_a_smoke_training_is_labelled_smoke_and_never_quoted_or_charted(doc):
    outputs = [render_table(doc, "terminal", width=10 ** 6), summary_markdown(doc), junit_xml(doc)]
    page = render_html(doc)
    chart = page.split('data-km-chart="cpu"', 1)[1].split("</svg>", 1)[0]
    assert 'data-km-cell="%s"' % SMOKE not in chart
    details = page.split('id="cell-%s"' % SMOKE, 1)[1].split('<details class="cell', 1)[0]
    for output in outputs + [details, json.dumps(compute_findings(doc))]:
        assert "5.56" not in output and "5.6s" not in output
    assert "trained (smoke)" in outputs[0] and "trained (smoke)" in details
    props = junit_timings(doc)
    assert props[(SMOKE, "theano")] == {"timing": "trained (smoke)", "timing_verdict": "smoke"}


def test_the_chart_draws_a_solid_bar_for_every_timed_training_and_a_flagged_one_lighter(doc):
    chart = render_html(doc).split('data-km-chart="cpu"', 1)[1].split("</svg>", 1)[0]
    groups = dict(re.findall(r'<g class="cg" data-km-cell="([^"]+)"[^>]*>(.*?)</g>(?=<g class="cg"|$)', chart))
    for cell, name, training in timed(doc):
        bars = re.findall(r'<rect [^>]*>', groups[cell["cell_id"]])
        label = "%s %s" % (timing.headline(training), {"tensorflow": "tf"}.get(name, name))
        assert label in groups[cell["cell_id"]], label
        assert all('fill="none"' not in b for b in bars)
    flagged = re.findall(r'<rect [^>]*class="flagged"', chart)
    assert len(flagged) == 1 + sum(timing.is_shaky(t) for _, _, t in timed(doc))  # + the legend's sample


# ---- comparisons inside a cell -----------------------------------------------------------------------------

def test_a_ratio_with_its_interval_is_claimed_only_when_significant_and_unflagged(doc):
    multi = cell_of(doc, MULTI)["trainings"]
    text = timing.comparison_text("jax", multi["jax"], "tensorflow", multi["tensorflow"])
    assert re.match(r"^jax 1\.8\dx faster than tensorflow \(95% 1\.8\dx-1\.8\dx, p=[\d.e-]+, 10 vs 10 samples\)$",
                    text), text
    result = timing.comparison(multi["jax"], multi["tensorflow"])
    assert result["claimed"] and result["interval"][0] <= result["ratio"] <= result["interval"][1]
    # A flagged training: the ratio and its interval, no claim.
    partial = cell_of(doc, PARTIAL)["trainings"]
    text = timing.comparison_text("theano", partial["theano"], "tensorflow", partial["tensorflow"])
    assert text.startswith("theano vs tensorflow: 1.60x (95% ") and "not claimed: theano flagged" in text
    assert "faster" not in text
    # Samples 2% apart: significant (p < 0.01) but under the smallest difference a claim needs.
    close = {"status": "ok", **sampled([w * 0.98 for w in TF[5:] + TF[:5]])}
    text = timing.comparison_text("jax", close, "tensorflow", multi["tensorflow"])
    assert "jax vs tensorflow: 1.02x (95% " in text and "under the 5% minimum difference (p=" in text
    # Overlapping samples: not significant.
    mixed = {"status": "ok", **sampled(TF[::-1])}
    assert "not significant (p=" in timing.comparison_text("jax", mixed, "tensorflow", multi["tensorflow"])
    # Apart in every sample (p < 0.01) but only 4%: significant, yet under the smallest difference a claim
    # needs; said as such, not as "not significant" (keras2.0.9's tensorflow vs cntk in the published run).
    apart = {"status": "ok", **sampled([w * 0.96 for w in TF])}
    result = timing.comparison(apart, multi["tensorflow"])
    assert result["p"] < stats.ALPHA and not result["claimed"]
    assert "), under the 5% minimum difference (p=" in timing.comparison_text("jax", apart, "tensorflow",
                                                                             multi["tensorflow"])


def test_claims_in_the_findings_name_two_unflagged_trainings(doc):
    speed = {f["id"]: f for f in compute_findings(doc)}["backend-speed"]
    claims = 0
    for item in speed["items"]:
        trainings = cell_of(doc, item["cells"][0])["trainings"]
        for claim in re.findall(r"(\S+) [\d.]+x faster than (\S+) \(95%", item["text"]):
            claims += 1
            assert all(trainings[n]["timing"]["verdict"] == "stable" for n in claim), item["text"]
    assert claims == 1
