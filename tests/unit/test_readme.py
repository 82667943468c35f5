"""README.md is the user's door: short, and every measured fact it states is recomputed here from the
published results (a generated table is compared with its generator's output)."""

import re
from collections import defaultdict

import pytest
from packaging.version import Version

from runner.report.defaults import answers_by_release, defaults_markdown
from runner.results.store import load_results
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
REPORTS = ROOT / "reports"


@pytest.fixture(scope="module")
def every_release():
    return load_results(REPORTS / "every-release" / "results.json")


def _generated(text, name):
    begin, end = "<!-- %s: generated, do not edit -->\n" % name, "<!-- /%s -->" % name
    return text[text.index(begin) + len(begin):text.index(end)]


def test_the_readme_is_short_and_links_only_to_pages_that_exist():
    assert len(README.splitlines()) < 200
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_the_answer_table_is_generated_from_the_every_release_sweep(every_release):
    assert _generated(README, "defaults-table") == defaults_markdown(every_release), \
        "regenerate with: python -m runner report reports/every-release/results.json --format defaults"


def test_the_sweep_covers_the_releases_the_readme_names(every_release):
    releases = set()
    for expansion in every_release["matrix"]["expansions"]:
        releases |= set(expansion["versions"])
    ordered = sorted(releases, key=Version)
    assert "every Keras release on PyPI (%d releases, %s to %s" % (len(ordered), ordered[0], ordered[-1]) in README


def test_tensorflow_became_the_default_at_1_1_0_and_theano_was_it_before(every_release):
    said = {release: answer for release, answer, _, _ in answers_by_release(every_release)}
    assert "only from Keras **1.1.0**; Keras 0.3.3 to 1.0.8 default to Theano" in README
    before = [r for r in said if Version("0.3.3") <= Version(r) < Version("1.1.0")]
    assert before and all(said[r] == "theano" for r in before)
    assert said["1.1.0"] == "tensorflow"
    assert not any(said[r].startswith("tensorflow") for r in said if Version(r) < Version("1.1.0"))


def test_keras_2_6_to_2_15_ignore_keras_backend(every_release):
    assert "Keras 2.6.0 to 2.15.0 ignore it" in README
    said = {release: answer for release, answer, _, _ in answers_by_release(every_release)}
    line = [r for r in said if Version("2.6") <= Version(r) < Version("2.16")]
    assert min(line, key=Version) == "2.6.0" and max(line, key=Version) == "2.15.0"
    assert all(said[r] == "tensorflow (no choice: KERAS_BACKEND ignored)" for r in line)
    assert not any("no choice" in said[r] for r in said if Version(r) >= Version("3"))


def test_keras_2_pip_check_is_clean_only_with_the_tensorflow_of_the_same_minor():
    cross = load_results(REPORTS / "cross-products" / "results.json")
    pairs = defaultdict(list)
    for cell in cross["cells"]:
        installed = cell.get("installed") or {}
        keras = installed.get("keras")
        tf = next((v for k, v in installed.items() if k.replace("_", "-") in ("tensorflow", "tensorflow-cpu")), None)
        if keras and tf and Version(keras).major == 2:
            same = Version(keras).release[:2] == Version(tf).release[:2]
            clean = not (cell.get("pip_check") or {}).get("problems")
            pairs[(same, clean)].append(cell["cell_id"])
    assert "of the 100 pairs of Keras 2.6-2.15 and TensorFlow 2.6-2.15" in README
    assert "`pip check` is clean for exactly the 10 of the same minor" in README
    assert sum(len(v) for v in pairs.values()) == 100
    assert len(pairs[(True, True)]) == 10 and len(pairs[(False, False)]) == 90


def test_keras_3_numpy_and_openvino_are_selected_but_cannot_fit():
    matrix = load_results(REPORTS / "results.json")
    assert "`model.fit` raises `NotImplementedError`\n  on each (Keras 3.8.0 and 3.15.1" in README
    seen = {}
    for cell in matrix["cells"]:
        for backend in ("numpy", "openvino"):
            training = (cell.get("trainings") or {}).get(backend)
            if training:
                error = training.get("error") or {}
                seen[(cell["installed"]["keras"], backend)] = (training["status"], error.get("type"))
                scenarios = {s["id"]: s for s in cell.get("scenarios") or []}
                assert scenarios["env-" + backend]["backend"] == backend  # selected by KERAS_BACKEND
    assert {keras for keras, _ in seen} == {"3.8.0", "3.15.1"}
    assert set(seen.values()) == {("failed", "builtins.NotImplementedError")}


def test_the_two_ask_examples_say_what_the_published_records_answer():
    from runner.report.answers import Verdict, answers, load_sources, parse_pins, published_paths

    sources = load_sources(published_paths(ROOT))
    assert "keras-matrix ask keras==2.8 tensorflow==2.10   # does not work: pip's conflict" in README
    (found,) = answers(sources, parse_pins(["keras==2.8", "tensorflow==2.10"]))
    assert found.verdict is Verdict.FAILS and (found.cell.get("pip_check") or {}).get("problems")
    assert "keras-matrix ask keras==2.8 tensorflow==2.16   # not measured" in README
    assert answers(sources, parse_pins(["keras==2.8", "tensorflow==2.16"])) == []


def test_the_test_command_says_it_needs_a_docker_engine_where_it_stands():
    """#25: the two commands include `python -m pytest`, which needs a running Docker engine (the integration
    tests fail without one); the README says so on that line, and where the unit tests need neither."""
    section = README.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    (line,) = [line for line in section.splitlines() if line.startswith("python -m pytest")]
    assert "needs a running Docker engine" in line
    assert "`python -m pytest tests/unit` needs neither Docker nor the network" in " ".join(section.split())
