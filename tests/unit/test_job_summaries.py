"""Each job of the GitHub workflow writes one Markdown job summary that renders as tables, not as a run-on
paragraph. The plan and report jobs' `run:` scripts are executed here as GitHub runs them (bash -eo
pipefail, the job's env, $GITHUB_STEP_SUMMARY and $GITHUB_OUTPUT files), on the fixture results split into
two shard artifacts laid out as actions/download-artifact lays them; the summary is rendered with
markdown-it-py's GitHub-style tables."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "keras-matrix.yml"
FIXTURE = ROOT / "tests" / "fixtures" / "results-run.json"
PLAN_HEADER = ["cell", "group", "keras", "backends", "python", "base", "device"]


def jobs() -> Dict[str, Dict[str, Any]]:
    parsed: Dict[str, Dict[str, Any]] = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return parsed


def render(markdown: str) -> Tuple[str, List[Token]]:
    md = MarkdownIt("commonmark").enable("table")
    return md.render(markdown), md.parse(markdown)


def tables(tokens: List[Token]) -> List[Tuple[List[str], List[List[str]]]]:
    """(header cells, body rows) of every table, from the token stream."""
    found: List[Tuple[List[str], List[List[str]]]] = []
    header: List[str] = []
    rows: List[List[str]] = []
    row: List[str] = []
    section: Optional[str] = None
    for index, token in enumerate(tokens):
        if token.type == "table_open":
            header, rows = [], []
        elif token.type in ("thead_open", "tbody_open"):
            section = token.type
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and tokens[index - 1].type in ("th_open", "td_open"):
            row.append(token.content)
        elif token.type == "tr_close":
            if section == "thead_open":
                header = row
            else:
                rows.append(row)
        elif token.type == "table_close":
            found.append((header, rows))
    return found


def paragraphs(tokens: List[Token]) -> List[str]:
    return [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "paragraph_open"]


def run_job(job: str, workdir: Path, env: Dict[str, str]) -> List[Tuple[str, int, str]]:
    """Run the job's `run:` steps in order, as GitHub would (skipping installs); (name, rc, stderr) each."""
    outcomes = []
    for step in jobs()[job]["steps"]:
        script = step.get("run")
        if script is None or script.strip().startswith("pip install"):
            continue
        assert "${{" not in script, "expressions in a run script are not executed here (and invite injection)"
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                              cwd=str(workdir), env=dict(env, **{k: str(v) for k, v in step.get("env", {}).items()}),
                              capture_output=True, text=True, timeout=300)
        outcomes.append((step.get("name", step.get("id", "")), proc.returncode, proc.stderr))
        if proc.returncode != 0:
            break
    return outcomes


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    """A working directory shaped like the job's checkout: the matrix, templates and published reports."""
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("matrix.yaml", "dockerfiles", "reports"):
        (work / name).symlink_to(ROOT / name)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)  # the workflow says `python`, as setup-python provides
    return work


def job_env(work: Path, selection: str) -> Dict[str, str]:
    summary, output = work.parent / "step-summary.md", work.parent / "github-output"
    envfile = work.parent / "github-env"
    for path in (summary, output, envfile):
        path.touch()
    return dict(os.environ, PATH="%s:%s" % (work.parent / "bin", os.environ["PATH"]), PYTHONPATH=str(ROOT),
                SHARDS="2", SELECTION=selection, MATRIX="matrix.yaml", BASELINE="reports/results.json", PRUNE="true",
                HISTORY_URL=(work / "no-published-history.tar.gz").as_uri(),
                GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(output), GITHUB_ENV=str(envfile))


def split_fixture_into_shards(work: Path, keep: int = 2) -> List[str]:
    """The fixture's cells as two shard artifacts (shards/results-shard-N/results.json); returns all ids."""
    doc = json.loads(FIXTURE.read_text())
    ids = [c["cell_id"] for c in doc["cells"]]
    halves = [doc["cells"][::2], doc["cells"][1::2]]
    for index, cells in enumerate(halves[:keep], start=1):
        shard = dict(doc, run_id="shard-%d" % index, cells=cells)
        path = work / "shards" / ("results-shard-%d" % index) / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(shard))
    return ids


def test_plan_job_summary_is_one_markdown_table_of_the_planned_cells(checkout: Path) -> None:
    env = job_env(checkout, "--filter device=cpu")
    outcomes = run_job("plan", checkout, env)
    assert [rc for _, rc, _ in outcomes] == [0], outcomes
    expected = subprocess.run([sys.executable, "-m", "runner", "plan", "matrix.yaml", "--filter", "device=cpu",
                               "--format", "ids"], capture_output=True, text=True, cwd=str(ROOT), check=True)
    html, tokens = render(Path(env["GITHUB_STEP_SUMMARY"]).read_text())
    (header, rows), = tables(tokens)  # one table: written once
    assert header == PLAN_HEADER
    assert [row[0] for row in rows] == expected.stdout.split()
    assert html.count("<table>") == 1
    assert not [p for p in paragraphs(tokens) if "|" in p or "---" in p], "a table rendered as a paragraph"
    output = Path(env["GITHUB_OUTPUT"]).read_text()
    assert output.startswith("matrix=") and len(json.loads(output[len("matrix="):])["include"]) == 2


def test_report_job_summary_is_the_merged_table_once_then_the_diff(checkout: Path) -> None:
    ids = split_fixture_into_shards(checkout)
    env = job_env(checkout, " ".join("--cell %s" % cell_id for cell_id in ids))
    outcomes = run_job("report", checkout, env)
    names = [name for name, _, _ in outcomes]
    assert names == ["Merge the shards", "Since the last run", "Report and site",
                     "Compare with the published results"], outcomes
    assert [rc for _, rc, _ in outcomes][:3] == [0, 0, 0], outcomes
    assert outcomes[3][1] == 1  # the fixture broke stacks the published run had ok: the job fails...
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    html, tokens = render(summary)
    cell_tables = [rows for header, rows in tables(tokens) if header[:2] == ["cell", "status"]]
    assert len(cell_tables) == 1, "the merged table must be written once, not %d times" % len(cell_tables)
    assert sorted(row[0] for row in cell_tables[0]) == sorted(ids)  # every cell of both shards, one row each
    assert "REGRESSIONS" in summary  # ...and its summary says why, after the table
    assert summary.index("REGRESSIONS") > summary.index("| cell")
    assert not [p for p in paragraphs(tokens) if p.count("|") > 3], "a table rendered as a paragraph"
    # The Pages directory: the run's report in latest/, the landing page over it and the published reports.
    pages = checkout / "pages"
    assert (pages / "latest" / "junit.xml").is_file() and (pages / "latest" / "index.html").is_file()
    assert (pages / "index.html").is_file() and (pages / "reports" / "results.json").is_file()
    assert 'href="latest/index.html"' in (pages / "index.html").read_text()
    # A first run (no published history) starts one: this run in it, published with the site, and the
    # summary opens with the history's headline, before the merged table.
    with tarfile.open(pages / "history.tar.gz") as tar:
        assert len([m for m in tar.getmembers() if m.isfile() and m.name.endswith(".json")]) == 1
    assert summary.index("since the last run") < summary.index("| cell")
    assert (pages / "reports" / "site" / "index.html").is_file()  # the published reports' site/ link


def test_report_job_fails_at_the_merge_when_a_shard_is_missing(checkout: Path) -> None:
    ids = split_fixture_into_shards(checkout, keep=1)
    env = job_env(checkout, " ".join("--cell %s" % cell_id for cell_id in ids))
    outcomes = run_job("report", checkout, env)
    (name, rc, stderr), = outcomes
    assert name == "Merge the shards" and rc != 0
    assert "expected cells have no result" in stderr and ids[1] in stderr
