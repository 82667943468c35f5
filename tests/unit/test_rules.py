"""Rules derived from records: computed from the published cross products, each with its cells, and a
candidate with a single counterexample is never stated as a rule."""

import copy
import json
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.report.rules import CANDIDATES, evaluate, render_markdown

ROOT = Path(__file__).resolve().parents[2]
CROSS = json.loads((ROOT / "reports" / "cross-products" / "results.json").read_text())


@pytest.fixture(scope="module")
def published():
    return {r.candidate.id: r for r in evaluate(CROSS["cells"])}


def test_the_three_readme_rules_hold_on_the_published_cross_products(published):
    clean = published["keras2-clean-only-same-minor"]
    assert clean.stated and clean.counterexamples == []
    assert sorted(clean.cells) == sorted(c["cell_id"] for c in CROSS["cells"] if c["cell_id"] in {
        "keras2.%d.%s-tf2.%d.%s-%s-cpu" % (m, k, m, t, py) for m, k, t, py in [
            (6, 0, 5, "py39"), (7, 0, 4, "py39"), (8, 0, 4, "py39"), (9, 0, 3, "py39"), (10, 0, 1, "py39"),
            (11, 0, 1, "py39"), (12, 0, 1, "py311"), (13, 1, 1, "py311"), (14, 0, 1, "py311"),
            (15, 0, 1, "py311")]})
    jax_breaks = published["jax-0.6.1-breaks-keras-3.0-3.9"]
    assert jax_breaks.stated and len(jax_breaks.cells) == 30 and jax_breaks.versions == ["0.6.1", "0.7.1", "0.9.2"]
    needs = published["keras-3.12-needs-jax-0.4.30"]
    assert needs.stated and needs.versions == ["0.4.28"]
    assert sorted(needs.cells) == ["keras3.%d.%d-tf2.16.2-jax0.4.28-py311-cpu" % mk
                                   for mk in [(12, 4), (13, 2), (14, 1), (15, 1)]]
    assert published["keras-3.12-trains-on-jax-0.4.30"].stated


def test_a_candidate_the_records_contradict_is_not_a_rule(published):
    conflict = published["conflict-means-failure"]
    assert not conflict.stated and len(conflict.counterexamples) == 26
    cell, why = conflict.counterexamples[0]
    assert cell == "keras2.6.0-tf2.7.4-py39-cpu" and why.startswith("trained despite pip check: tensorflow-cpu 2.7.4")


def test_one_counterexample_unstates_a_rule():
    cells = copy.deepcopy(CROSS["cells"])
    broken = next(c for c in cells if c["cell_id"] == "keras3.5.0-tf2.19.1-jax0.6.1-py311-cpu")
    broken["trainings"]["jax"]["status"] = "ok"
    result = {r.candidate.id: r for r in evaluate(cells)}["jax-0.6.1-breaks-keras-3.0-3.9"]
    assert not result.stated
    assert result.counterexamples == [("keras3.5.0-tf2.19.1-jax0.6.1-py311-cpu",
                                       "jax trained with Keras 3.5.0 and JAX 0.6.1")]
    text = render_markdown([result])
    assert "### Not a rule: JAX >= 0.6.1 breaks Keras 3.0-3.9" in text and "Counterexamples (1):" in text
    assert "## Rules the measured records support" in text and "### JAX" not in text


def test_a_candidate_without_support_is_not_a_rule():
    results = evaluate([])
    assert [r.stated for r in results] == [False] * len(CANDIDATES)


def test_records_that_cannot_tell_are_kept_apart():
    cells = copy.deepcopy(CROSS["cells"])
    skipped = next(c for c in cells if c["cell_id"] == "keras3.5.0-tf2.19.1-jax0.6.1-py311-cpu")
    skipped["trainings"]["jax"]["status"] = "skipped"
    result = {r.candidate.id: r for r in evaluate(cells)}["jax-0.6.1-breaks-keras-3.0-3.9"]
    assert result.stated and result.undecided == ["keras3.5.0-tf2.19.1-jax0.6.1-py311-cpu"]
    assert len(result.cells) == 29


def test_report_format_rules_prints_the_markdown(capsys):
    code = main(["report", str(ROOT / "reports" / "cross-products" / "results.json"), "--format", "rules"])
    out = capsys.readouterr().out
    assert code == 0
    assert "### Keras 2.6-2.15 install cleanly only with the TensorFlow of the same minor" in out
    assert "For all 10 measured pairs where Keras 2.6-2.15 was installed with TensorFlow and pip check was " \
           "clean, TensorFlow had the same minor as Keras. Counterexamples: none." in out
    assert "### Not a rule: a pip check conflict means the stack does not train" in out


def test_docs_rules_md_is_the_output_of_the_published_results(capsys):
    """docs/rules.md is generated; it says what the published records say today."""
    main(["report", str(ROOT / "reports" / "cross-products" / "results.json"), "--format", "rules"])
    out = capsys.readouterr().out
    assert out in (ROOT / "docs" / "rules.md").read_text()
