"""The GitHub workflow, run as written on the real engine: .github/workflows/keras-matrix.yml is read and its
jobs run by tests/workflow_runner.py (each `run:` script in bash with the job's env and GITHUB_OUTPUT /
GITHUB_STEP_SUMMARY files, each `uses:` step replaced by the local stand-in that module's docstring lists):
plan -> two shard jobs -> merge --matrix -> report and site -> diff against a baseline -> the Pages directory.

The workflow is dispatched with its own inputs pointed at tests/data/workflow-matrix.yaml (two CPU cells whose
images the e2e matrix builds, probe measure, and a GPU cell) and its default selection, `--filter device=cpu`,
the scheduled one; nothing in the file is edited. The baseline is a real earlier run of the whole matrix
(the GPU cell recorded as skipped), as reports/results.json holds GPU cells a CPU-only schedule leaves out:
the comparison must list that cell as not selected and stay green, where before the diff fix it called the
cell removed and failed every scheduled run. `prune: false` keeps the engine's images (the run builds them
from the layer cache the other end-to-end tests leave, and --prune would remove them).

Nothing here knows the cells' outcomes: the assertions are on what the records and the summaries say."""

import json
import re
import tarfile
from html.parser import HTMLParser
from pathlib import Path
from typing import List
from xml.etree import ElementTree

import pytest

from tests.integration.conftest import ROOT, run_cli
from tests.workflow_runner import Runner, WorkflowRun

WORKFLOW = ROOT / ".github" / "workflows" / "keras-matrix.yml"
MATRIX = "tests/data/workflow-matrix.yaml"


@pytest.fixture(scope="module")
def baseline(engine, tmp_path_factory) -> Path:
    """Yesterday's published results: a real run of the whole matrix (the GPU cell skipped on this host)."""
    root = tmp_path_factory.mktemp("baseline")
    proc = run_cli("run", MATRIX, "--results-dir", root, "--run-id", "baseline", "--rerun", "--progress", "quiet",
                   "--cache-dir", root / "cache", timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root / "baseline" / "results.json"


@pytest.fixture(scope="module")
def published_history(baseline, tmp_path_factory) -> Path:
    """The history.tar.gz the published site carries: one earlier run (the baseline) in it."""
    root = tmp_path_factory.mktemp("history")
    proc = run_cli("history", "add", baseline, "--store", root / "store", timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with tarfile.open(root / "history.tar.gz", "w:gz") as tar:
        tar.add(str(root / "store"), arcname=".")
    return root / "history.tar.gz"


@pytest.fixture(scope="module")
def workflow(baseline, published_history, tmp_path_factory) -> WorkflowRun:
    root = tmp_path_factory.mktemp("workflow")
    return Runner(WORKFLOW, ROOT, root, event="workflow_dispatch", step_timeout_s=1800,
                  inputs={"matrix": MATRIX, "shards": "2", "baseline": str(baseline), "prune": "false",
                          "history_url": published_history.as_uri()}).run()


def _failures(run: WorkflowRun) -> List[str]:
    return ["%s %s / %s: %s" % (job.job, job.matrix.get("shard", ""), step.name, step.stderr[-2000:])
            for jobs in run.jobs.values() for job in jobs for step in job.steps if step.outcome == "failure"]


def _cpu_cells() -> List[str]:
    proc = run_cli("plan", MATRIX, "--filter", "device=cpu", "--format", "ids", timeout=120)
    return proc.stdout.split()


def test_every_job_of_the_workflow_succeeds_from_plan_to_pages(workflow):
    assert not _failures(workflow), "\n".join(_failures(workflow))
    assert {name: [job.result for job in jobs] for name, jobs in workflow.jobs.items()} == {
        "plan": ["success"], "run": ["success", "success"], "report": ["success"], "pages": ["success"]}
    # The plan job's output became the shard jobs.
    plan = json.loads(workflow.job("plan").outputs["matrix"])
    assert [job.matrix for job in workflow.jobs["run"]] == plan["include"]
    assert [entry["shard"] for entry in plan["include"]] == ["1/2", "2/2"]


def test_each_shard_measured_its_cells_on_the_engine_and_uploaded_them(workflow):
    measured = []
    for job in workflow.jobs["run"]:
        artifact = workflow.artifacts / ("results-shard-%d" % job.matrix["index"]) / "results.json"
        doc = json.loads(artifact.read_text())
        assert len(doc["cells"]) == job.matrix["cells"]
        for cell in doc["cells"]:
            # Measured now, in a container: the probe's answer names the Keras the image installed.
            assert cell["status"] == "ok" and cell["measure"] == "probe", cell.get("reason")
            assert cell["default_backend"]["keras_version"] == cell["versions"]["keras"].lstrip("=")
            measured.append(cell["cell_id"])
        assert "| cell" in job.summary  # `runner run` wrote its shard's table to the job summary
    assert sorted(measured) == sorted(_cpu_cells())


def test_the_merged_results_record_the_whole_selection(workflow):
    merged = json.loads((workflow.job("report").workspace / "merged" / "results.json").read_text())
    assert sorted(merged["matrix"]["cells_selected"]) == sorted(_cpu_cells())
    assert sorted(c["cell_id"] for c in merged["cells"]) == sorted(_cpu_cells())


def test_the_comparison_lists_the_unselected_gpu_cell_and_finds_no_regression(workflow, baseline):
    report = workflow.job("report")
    compare = report.step("Compare with the published results")
    assert compare.outcome == "success", compare.stderr[-2000:]
    summary = report.summary
    gpu = [c["cell_id"] for c in json.loads(baseline.read_text())["cells"] if c["device"] == "gpu"]
    assert gpu and all(cell_id in summary for cell_id in gpu)
    not_selected = summary[summary.index("Not in the new run's selection"):]
    assert all(cell_id in not_selected for cell_id in gpu)
    assert "no regressions" in summary and "REGRESSIONS" not in summary and "Removed" not in summary
    # One summary: since the last run first, the merged table once (written by `runner report`), then the diff.
    assert summary.count("| cell") == 1
    assert summary.index("since the last run") < summary.index("| cell") < summary.index("keras-matrix diff")


def test_the_summary_opens_with_what_changed_since_the_published_history_and_the_site_carries_it(workflow):
    report = workflow.job("report")
    since = report.step("Since the last run")
    assert since.outcome == "success" and since.outputs.get("status") == "0", since.stderr[-2000:]
    assert "restored from file:" in since.stdout
    first = report.summary.strip().splitlines()
    # The history's headline is the summary's first line, and it names the earlier run it compares with.
    assert "since the last run" in first[0] and "No regression" in "\n".join(first[:3])
    assert "baseline" in "\n".join(first[:3])
    # The history published with the site now holds both runs, and the site shows it.
    pages = workflow.pages
    with tarfile.open(pages / "history.tar.gz") as tar:
        runs = [m.name for m in tar.getmembers() if m.isfile() and m.name.endswith(".json")]
    assert len(runs) == 2, runs
    assert (pages / "history.html").is_file() and 'id="since"' in (pages / "index.html").read_text()


def test_the_published_reports_links_resolve_in_the_pages_directory(workflow):
    """The published report pages link each other and site/: in Pages the landing page is at the top, and
    reports/site/ leads there."""
    pages = workflow.pages
    for page in ("reports/index.html", "reports/every-release/index.html", "reports/cross-products/index.html"):
        if not (pages / page).is_file():
            continue
        parser = _Links()
        parser.feed((pages / page).read_text())
        for link in {link.split("#")[0] for link in parser.links if not re.match(r"^[a-z]+:|^#|^$", link)}:
            if link:
                assert ((pages / page).parent / link).is_file(), "%s links %s, missing in Pages" % (page, link)
    redirect = (pages / "reports" / "site" / "index.html").read_text()
    assert "../../index.html" in redirect and (pages / "reports" / "site" / "../../index.html").is_file()


def test_the_plan_job_summary_is_the_plan_table(workflow):
    summary = workflow.job("plan").summary
    assert summary.count("| cell") == 1 and all(cell_id in summary for cell_id in _cpu_cells())


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: List[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def test_the_pages_directory_holds_the_site_and_every_page_it_links(workflow):
    pages = workflow.pages
    assert workflow.job("pages").step("deployment").outcome == "success"
    assert (pages / "index.html").is_file() and (pages / "details.html").is_file()
    # This run's report and JUnit are published, and the JUnit the check read parses.
    assert (pages / "latest" / "index.html").is_file()
    assert ElementTree.parse(str(pages / "latest" / "junit.xml")).getroot().tag in ("testsuites", "testsuite")
    checked = set()
    for page in ("index.html", "details.html"):
        parser = _Links()
        parser.feed((pages / page).read_text())
        local = {link.split("#")[0] for link in parser.links
                 if not re.match(r"^[a-z]+:|^#|^$", link) and link.split("#")[0]}
        for link in local:
            target = (pages / page).parent / link
            assert target.resolve().is_relative_to(pages.resolve()), "%s links outside the site: %s" % (page, link)
            assert target.is_file(), "%s links %s, which the Pages directory lacks" % (page, link)
        checked |= local
    # The site links this run's report and the published ones it was built over.
    assert {"latest/index.html", "latest/results.json", "reports/index.html", "reports/results.json"} <= checked
    site = (pages / "index.html").read_text()
    assert all(cell_id in (pages / "latest" / "index.html").read_text() for cell_id in _cpu_cells())
    assert "latest" in site
