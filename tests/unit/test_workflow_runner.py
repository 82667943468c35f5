"""tests/workflow_runner.py, the local stand-in for GitHub Actions the workflow's end-to-end test uses: its
expression evaluator follows GitHub's rules for what the workflow file uses, and its stand-ins behave as
the actions they replace (on a toy workflow; the real file runs in tests/integration/test_workflow_e2e.py)."""

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.workflow_runner import (
    Context,
    Runner,
    UnsupportedWorkflow,
    condition,
    evaluate,
    expand_matrix,
    read_outputs,
    substitute,
)

WORKFLOW = ROOT / ".github" / "workflows" / "keras-matrix.yml"


def ctx(**values):
    base = {"inputs": {}, "env": {}, "matrix": {}, "needs": {}, "steps": {}, "secrets": {}, "vars": {},
            "github": {"run_id": "7", "workspace": "/w"}}
    base.update(values)
    return Context(base)


@pytest.mark.parametrize("expression, expected", [
    ("inputs.shards || '4'", "4"),                       # a schedule has no inputs: the fallback
    ("'' || 'x'", "x"), ("0 || null", None), ("'a' && 'b'", "b"), ("'' && 'b'", ""),
    ("!true", False), ("!''", True), ("'ABC' == 'abc'", True), ("1 != 2", True),
    ("(false || 'y') == 'Y'", True), ("'it''s'", "it's"), ("fromJSON('{\"a\": [1, 2]}').a[1]", 2),
    ("format('{0}-{1}', 'a', 3)", "a-3"), ("contains('abc', 'B')", True), ("startsWith('abc', 'ab')", True),
    ("secrets.TOKEN", None), ("always()", True),
])
def test_expressions_follow_githubs_rules(expression, expected):
    assert evaluate(expression, ctx()) == expected


def test_contexts_and_interpolation():
    context = ctx(inputs={"shards": "2"}, matrix={"index": 3},
                  needs={"plan": {"outputs": {"matrix": '{"include": []}'}}})
    assert substitute("${{ inputs.shards || '4' }}", context) == "2"
    assert substitute("k-${{ matrix.index }}-${{ github.run_id }}", context) == "k-3-7"
    # A whole-string expression keeps its type: the plan's JSON becomes the job matrix.
    assert substitute("${{ fromJSON(needs.plan.outputs.matrix) }}", context) == {"include": []}
    assert substitute({"a": ["${{ matrix.index }}"]}, context) == {"a": [3]}


def test_conditions_add_the_implicit_success():
    failed = ctx(needs={"run": {"result": "failure"}})
    failed.job_ok = False
    assert condition(None, failed) is False
    assert condition("needs.run.result != 'skipped'", failed) is False       # success() && ...
    assert condition("always() && needs.run.result != 'skipped'", failed) is True
    assert condition("${{ failure() }}", failed) is True


@pytest.mark.parametrize("expression", ["github.event.pull_request.title ||", "steps.x.outputs.y > 2",
                                        "nosuchcontext.x", "toLower('A')"])
def test_what_is_not_implemented_fails_loudly(expression):
    with pytest.raises(UnsupportedWorkflow):
        evaluate(expression, ctx())


def test_outputs_files_and_matrix_expansion(tmp_path):
    out = tmp_path / "out"
    out.write_text("a=1\nmap<<EOF\n{\"x\":\n 1}\nEOF\nb=x=y\n")
    assert read_outputs(out) == {"a": "1", "map": '{"x":\n 1}', "b": "x=y"}
    assert expand_matrix({"include": [{"shard": "1/2"}, {"shard": "2/2"}]}) == [{"shard": "1/2"}, {"shard": "2/2"}]
    assert expand_matrix({"py": ["3.9", "3.11"], "os": ["l"]}) == [{"os": "l", "py": "3.9"}, {"os": "l", "py": "3.11"}]
    with pytest.raises(UnsupportedWorkflow):
        expand_matrix({"py": ["3.9"], "include": [{"x": 1}]})


TOY = """
on:
  workflow_dispatch:
    inputs:
      word: {default: "hello"}
env:
  WORD: ${{ inputs.word || 'none' }}
jobs:
  plan:
    runs-on: ubuntu-latest
    outputs:
      matrix: ${{ steps.p.outputs.matrix }}
    steps:
      - id: p
        run: |
          echo 'matrix={"include":[{"n":1},{"n":2}]}' >> "$GITHUB_OUTPUT"
          echo "# planned $WORD" >> "$GITHUB_STEP_SUMMARY"
  work:
    needs: plan
    strategy:
      matrix: ${{ fromJSON(needs.plan.outputs.matrix) }}
    env:
      N: ${{ matrix.n }}
    steps:
      - run: mkdir -p out && echo "$WORD $N" > out/word.txt
      - id: cache
        uses: actions/cache@v4
        with: {path: out, key: "k-${{ matrix.n }}"}
      - uses: actions/upload-artifact@v4
        with: {name: "r-${{ matrix.n }}", path: out/, if-no-files-found: error}
      - name: may fail
        continue-on-error: true
        run: exit 3
  gather:
    needs: work
    if: always()
    steps:
      - uses: actions/download-artifact@v4
        with: {pattern: "r-*", path: got}
      - run: cat got/*/word.txt > all.txt
      - uses: actions/upload-artifact@v4
        with: {name: none, path: missing/, if-no-files-found: error}
      - name: skipped after a failure
        run: "true"
"""


def test_a_toy_workflow_runs_with_the_stand_ins(tmp_path):
    flow = tmp_path / "flow.yml"
    flow.write_text(TOY)
    run = Runner(flow, ROOT, tmp_path / "run", event="workflow_dispatch", inputs={}).run()
    assert run.job("plan").summary == "# planned hello\n"
    assert [j.matrix for j in run.jobs["work"]] == [{"n": 1}, {"n": 2}]
    assert [j.result for j in run.jobs["work"]] == ["success", "success"]  # continue-on-error
    assert [s.outcome for s in run.jobs["work"][0].steps][-1] == "failure"
    assert (run.job("gather").workspace / "all.txt").read_text() == "hello 1\nhello 2\n"
    gather = run.job("gather")
    assert gather.result == "failure" and "no files were found" in gather.steps[2].stderr
    assert gather.steps[3].outcome == "skipped"
    # The cache was saved after each successful job, under its key.
    assert sorted(p.name for p in (run.root / "cache").iterdir()) == ["k-1", "k-2"]


def test_an_action_without_a_stand_in_is_refused(tmp_path):
    flow = tmp_path / "flow.yml"
    flow.write_text("on: {schedule: [{cron: '1 1 * * 1'}]}\njobs:\n  a:\n    steps:\n      - uses: some/action@v1\n")
    with pytest.raises(UnsupportedWorkflow, match="some/action"):
        Runner(flow, ROOT, tmp_path / "run").run()


def test_every_action_and_expression_of_the_real_workflow_is_implemented():
    """The real file only uses actions with a stand-in and expressions the evaluator reads."""
    flow = yaml.safe_load(WORKFLOW.read_text())
    runner = Runner(WORKFLOW, ROOT, Path("/nonexistent"), event="workflow_dispatch")
    uses = {s["uses"].split("@")[0] for job in flow["jobs"].values() for s in job["steps"] if "uses" in s}
    assert uses <= set(runner.standins), uses - set(runner.standins)
    plan = {"outputs": {"matrix": json.dumps({"include": [{"shard": "1/1", "index": 1}]})}, "result": "success"}
    context = ctx(needs={"plan": plan, "run": {"result": "success"}, "report": {"outputs": {"pages": "success"}}},
                  steps={"buildx": {"outputs": {"name": "b"}}, "pip-cache": {"outputs": {}},
                         "pip-mounts": {"outputs": {"map": "{}", "cells": "ab"}}, "deployment": {"outputs": {}},
                         "pages-artifact": {"outcome": "success"}})
    expressions = [e for value in _strings(flow) for e in re.findall(r"\$\{\{(.*?)\}\}", value)]
    assert len(expressions) > 10
    for expression in expressions:
        evaluate(expression, context)  # raises UnsupportedWorkflow on anything it cannot read


def _strings(value):
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []
