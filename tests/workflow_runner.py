"""Runs a GitHub Actions workflow file as written, on this machine: the local stand-in for GitHub that
tests/integration/test_workflow_e2e.py runs .github/workflows/keras-matrix.yml with.

Jobs run in the order their `needs` give, each in a workspace of its own (`<root>/jobs/<job>[-<n>]`); a job
with `strategy.matrix` runs once per combination (the plan job's `include` list becomes the shard jobs). A
job's `if:` is evaluated (with GitHub's implicit `success() &&` unless it calls a status function), as are
step `if:`s. Its steps run in order:

- A `run:` step runs as GitHub's bash shell runs it: `bash --noprofile --norc -eo pipefail` on the script, in
  the workspace, with the workflow's, the job's and the step's `env` (in that order, expressions evaluated),
  GITHUB_WORKSPACE, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ENV and RUNNER_TEMP (local files and folders;
  GITHUB_OUTPUT and GITHUB_ENV are read back after the step, `name=value` and `name<<EOF` forms alike).
  `continue-on-error` keeps the job going, as on GitHub (outcome failure, conclusion success).
- A `uses:` step is replaced by the stand-in STANDINS names for its action (the version is not checked):
    actions/checkout            the workspace becomes a copy of the repository's working tree (the files git
                                tracks plus untracked ones it does not ignore, as they are now)
    actions/setup-python        one virtualenv of the current interpreter per workflow run, created with
                                --system-site-packages and put first on PATH: `python` and `pip` are the
                                current interpreter's, and `pip install .` installs the job's checkout into the
                                virtualenv (with pip's build isolation, so setuptools comes from PyPI or pip's
                                cache, as on GitHub) without touching the interpreter itself. `python-version`
                                and `cache` are ignored.
    actions/cache               a local store (`<root>/cache/<key>/`): restored by exact key, else by the
                                newest entry under a restore-keys prefix (output cache-hit); saved at the end of a
                                job that succeeded, under its key, unless that key exists (caches are immutable)
    actions/upload-artifact     copies `path` to `<root>/artifacts/<name>/`; `if-no-files-found: error` fails
                                the step when nothing is there
    actions/download-artifact   copies each artifact matching `pattern` (or `name`) to `<path>/<artifact>/`, as
                                v4 lays out several artifacts
    docker/setup-buildx-action  the running engine's builder (output name: default); nothing is created
    reproducible-containers/buildkit-cache-dance
                                no-op, after checking that `cache-map` is a JSON object of cache mounts
    EnricoMi/publish-unit-test-result-action
                                checks that every `junit_files` file exists and parses as JUnit XML
    actions/upload-pages-artifact
                                copies `path` to `<root>/pages/` (the Pages site as deploy-pages would serve it)
    actions/deploy-pages        checks that `<root>/pages/index.html` exists; output page_url is its file URL
  An action with no stand-in fails the run (UnsupportedWorkflow): a workflow change the test cannot follow
  is never silently skipped.
- Expressions `${{ ... }}` (in env, with, if, name, outputs, strategy) go through `evaluate()`, a small
  evaluator for what the file uses: the contexts github, inputs, env, matrix, needs, steps, runner, and
  secrets and vars (always empty); 'strings', numbers, true/false/null; `!`, `==`, `!=`, `&&`, `||` (GitHub's
  semantics: `a || b` is a's value when truthy, else b's); parentheses; the functions fromJSON, toJSON,
  hashFiles, format, contains, startsWith, always, success, failure, cancelled. Anything else raises
  UnsupportedWorkflow.

The event is a `schedule` (inputs empty) or a `workflow_dispatch` with inputs (defaults filled in from the
workflow's `workflow_dispatch.inputs`), as GitHub gives them.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml


class UnsupportedWorkflow(Exception):
    """The workflow uses something this runner does not implement (so the test cannot run it as written)."""


# ---- expressions ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!()\[\].,*])"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))")


def _tokens(text: str) -> List[Tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise UnsupportedWorkflow("cannot read the expression %r at %r" % (text, text[pos:]))
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def truthy(value: Any) -> bool:
    """GitHub's truthiness: null, false, 0, -0, NaN and '' are falsy."""
    if isinstance(value, float) and value != value:
        return False
    return value not in (None, False, 0, "")


def _text(value: Any) -> str:
    """A value as GitHub interpolates it into a string."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()  # GitHub compares strings ignoring case
    if isinstance(left, bool) or isinstance(right, bool) or left is None or right is None:
        return bool(left == right)
    return bool(left == right)


@dataclass
class Context:
    """The contexts an expression sees, and the functions that need more than their arguments."""

    values: Dict[str, Any]
    workspace: Path = Path(".")
    job_ok: bool = True

    def function(self, name: str, args: List[Any]) -> Any:
        lname = name.lower()
        if lname == "fromjson":
            return json.loads(str(args[0]))
        if lname == "tojson":
            return json.dumps(args[0], indent=2)
        if lname == "always":
            return True
        if lname == "success":
            return self.job_ok
        if lname == "failure":
            return not self.job_ok
        if lname == "cancelled":
            return False
        if lname == "format":
            return re.sub(r"\{(\d+)\}", lambda m: _text(args[1 + int(m.group(1))]), str(args[0]))
        if lname == "contains":
            haystack = args[0]
            if isinstance(haystack, list):
                return any(_equal(item, args[1]) for item in haystack)
            return _text(args[1]).lower() in _text(haystack).lower()
        if lname == "startswith":
            return _text(args[0]).lower().startswith(_text(args[1]).lower())
        if lname == "hashfiles":
            return hash_files(self.workspace, [str(a) for a in args])
        raise UnsupportedWorkflow("the function %s() has no implementation here" % name)


def hash_files(workspace: Path, patterns: Sequence[str]) -> str:
    """hashFiles(): the sha256 of the sha256s of the matched files (sorted), '' when none matches."""
    matched = sorted({p for pattern in patterns for p in glob.glob(str(workspace / pattern), recursive=True)
                      if os.path.isfile(p)})
    if not matched:
        return ""
    outer = hashlib.sha256()
    for path in matched:
        outer.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return outer.hexdigest()


class _Parser:
    def __init__(self, text: str, context: Context) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.text = text
        self.context = context

    def peek(self) -> Tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, value: Optional[str] = None) -> Tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise UnsupportedWorkflow("expected %r in the expression %r" % (value, self.text))
        self.pos += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.peek()[0] != "end":
            raise UnsupportedWorkflow("cannot read the expression %r after %r" % (self.text, self.peek()[1]))
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek()[1] == "||":
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek()[1] == "&&":
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        if self.peek()[1] in ("==", "!="):
            op = self.take()[1]
            right = self.unary()
            return _equal(value, right) if op == "==" else not _equal(value, right)
        return value

    def unary(self) -> Any:
        if self.peek()[1] == "!":
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        value = self.atom()
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                kind, key = self.take()
                if kind != "name":
                    raise UnsupportedWorkflow("cannot read the property %r in %r" % (key, self.text))
            else:
                key = self.or_()
                self.take("]")
            value = _property(value, key)
        return value

    def atom(self) -> Any:
        kind, value = self.take()
        if kind == "str":
            return value[1:-1].replace("''", "'")
        if kind == "num":
            number = float(value)
            return int(number) if number.is_integer() else number
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind != "name":
            raise UnsupportedWorkflow("cannot read the expression %r at %r" % (self.text, value))
        if value in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value]
        if self.peek()[1] == "(":
            self.take()
            args: List[Any] = []
            while self.peek()[1] != ")":
                args.append(self.or_())
                if self.peek()[1] == ",":
                    self.take()
                elif self.peek()[1] != ")":
                    raise UnsupportedWorkflow("cannot read the arguments of %s() in %r" % (value, self.text))
            self.take(")")
            return self.context.function(value, args)
        if value not in self.context.values:
            raise UnsupportedWorkflow("the context %r has no implementation here (in %r)" % (value, self.text))
        return self.context.values[value]


def _property(value: Any, key: Any) -> Any:
    """A missing property is null, as on GitHub (secrets.ANYTHING, inputs.x on a schedule)."""
    if isinstance(value, dict):
        for name, item in value.items():
            if str(name).lower() == str(key).lower():
                return item
        return None
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    return None


def evaluate(expression: str, context: Context) -> Any:
    """The value of one expression (the text between `${{` and `}}`)."""
    return _Parser(expression, context).parse()


_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def substitute(value: Any, context: Context) -> Any:
    """Evaluate the expressions in a value from the workflow: a string that is one whole expression keeps the
    expression's type (`matrix: ${{ fromJSON(...) }}`), others are interpolated as text; lists and mappings
    are substituted item by item."""
    if isinstance(value, dict):
        return {k: substitute(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, context) for v in value]
    if not isinstance(value, str):
        return value
    whole = _EXPR.fullmatch(value.strip())
    if whole:
        return evaluate(whole.group(1), context)
    return _EXPR.sub(lambda m: _text(evaluate(m.group(1), context)), value)


def condition(text: Any, context: Context, implicit_success: bool = True) -> bool:
    """An `if:` (with or without `${{ }}`); without a status function it means `success() && (...)`."""
    if text is None:
        return context.job_ok if implicit_success else True
    if isinstance(text, bool):
        return text and (context.job_ok or not implicit_success)
    inner = str(text).strip()
    whole = _EXPR.fullmatch(inner)
    inner = whole.group(1) if whole else inner
    value = truthy(evaluate(inner, context))
    if implicit_success and not re.search(r"\b(always|success|failure|cancelled)\s*\(", inner):
        return context.job_ok and value
    return value


def read_outputs(path: Path) -> Dict[str, str]:
    """A GITHUB_OUTPUT or GITHUB_ENV file: `name=value` lines and `name<<DELIMITER` blocks."""
    values: Dict[str, str] = {}
    lines = path.read_text().splitlines() if path.is_file() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            while index < len(lines) and lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            index += 1
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        elif line.strip():
            raise UnsupportedWorkflow("cannot read the output line %r of %s" % (line, path))
    return values


def expand_matrix(matrix: Any) -> List[Dict[str, Any]]:
    """The combinations of a strategy.matrix: the cross product of its axes, or its `include` list alone."""
    if matrix is None:
        return [{}]
    if not isinstance(matrix, dict):
        raise UnsupportedWorkflow("strategy.matrix is not a mapping: %r" % (matrix,))
    include = matrix.get("include") or []
    axes = {k: v for k, v in matrix.items() if k not in ("include", "exclude")}
    if axes and (include or matrix.get("exclude")):
        raise UnsupportedWorkflow("a matrix with axes and include/exclude is not implemented here")
    if not axes:
        return [dict(entry) for entry in include]
    names = sorted(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(axes[n] for n in names))]


# ---- the run ------------------------------------------------------------------------------------------------

@dataclass
class StepRun:
    name: str
    outcome: str            # success, failure, skipped
    conclusion: str         # success unless it failed without continue-on-error
    stdout: str = ""
    stderr: str = ""
    returncode: Optional[int] = None
    outputs: Dict[str, str] = field(default_factory=dict)  # what the step wrote to GITHUB_OUTPUT


@dataclass
class JobRun:
    job: str
    matrix: Dict[str, Any]
    workspace: Path
    result: str = "success"  # success, failure, skipped
    steps: List[StepRun] = field(default_factory=list)
    outputs: Dict[str, str] = field(default_factory=dict)
    summary: str = ""

    def step(self, name: str) -> StepRun:
        (found,) = [s for s in self.steps if s.name == name]
        return found


@dataclass
class WorkflowRun:
    root: Path
    jobs: Dict[str, List[JobRun]]

    @property
    def pages(self) -> Path:
        return self.root / "pages"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    def job(self, name: str) -> JobRun:
        (found,) = self.jobs[name]
        return found


def repository_files(repo: Path) -> List[str]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=str(repo),
                            capture_output=True, check=True).stdout.decode()
    return [name for name in listed.split("\0") if name]


def copy_tree(repo: Path, dest: Path) -> None:
    for name in repository_files(repo):
        source = repo / name
        if not source.is_file():  # deleted in the working tree, or a submodule
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(source), str(target))


def _copy_into(source: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(str(source), str(dest), dirs_exist_ok=True)
    elif source.is_file():
        shutil.copy2(str(source), str(dest / source.name))


class Runner:
    """One run of a workflow file: `Runner(...).run()` returns the WorkflowRun."""

    def __init__(self, workflow: Path, repo: Path, root: Path, event: str = "schedule",
                 inputs: Optional[Mapping[str, str]] = None, step_timeout_s: float = 3600,
                 extra_env: Optional[Mapping[str, str]] = None) -> None:
        self.flow: Dict[Any, Any] = yaml.safe_load(workflow.read_text())
        self.repo, self.root, self.event = repo, root, event
        self.step_timeout_s = step_timeout_s
        self.extra_env = dict(extra_env or {})
        triggers = self.flow.get(True, self.flow.get("on")) or {}  # YAML 1.1 reads the key `on` as True
        if event not in triggers:
            raise UnsupportedWorkflow("the workflow has no %r trigger" % event)
        declared = ((triggers.get("workflow_dispatch") or {}).get("inputs") or {}) if event == "workflow_dispatch" \
            else {}
        unknown = set(inputs or {}) - set(declared)
        if unknown:
            raise UnsupportedWorkflow("inputs the workflow does not declare: %s" % sorted(unknown))
        self.inputs = {name: (inputs or {}).get(name, spec.get("default", "")) for name, spec in declared.items()}
        self.run_id = str(int.from_bytes(os.urandom(4), "big"))
        self.venv: Optional[Path] = None
        self.standins: Dict[str, Callable[[JobRun, Dict[str, Any], Dict[str, str]], Tuple[bool, Dict[str, str]]]]
        self.standins = {
            "actions/checkout": self._checkout, "actions/setup-python": self._setup_python,
            "actions/cache": self._cache, "actions/upload-artifact": self._upload_artifact,
            "actions/download-artifact": self._download_artifact, "docker/setup-buildx-action": self._buildx,
            "reproducible-containers/buildkit-cache-dance": self._cache_dance,
            "EnricoMi/publish-unit-test-result-action": self._junit,
            "actions/upload-pages-artifact": self._upload_pages, "actions/deploy-pages": self._deploy_pages}
        self._post: List[Callable[[], None]] = []

    # -- contexts
    def _github(self, workspace: Path) -> Dict[str, Any]:
        return {"event_name": self.event, "workspace": str(workspace), "run_id": self.run_id, "run_number": "1",
                "run_attempt": "1", "repository": "local/keras-matrix", "server_url": "file://",
                "sha": "0" * 40, "ref": "refs/heads/main", "event": {"inputs": self.inputs}}

    def _context(self, job: JobRun, env: Dict[str, Any], needs: Dict[str, Any],
                 steps: Dict[str, Any]) -> Context:
        return Context({"github": self._github(job.workspace), "inputs": self.inputs, "env": env,
                        "matrix": job.matrix, "needs": needs, "steps": steps, "secrets": {}, "vars": {},
                        "runner": {"os": "Linux", "arch": "X64", "temp": str(job.workspace.parent / "temp")}},
                       workspace=job.workspace, job_ok=job.result == "success")

    def _order(self) -> List[str]:
        jobs: Dict[str, Any] = self.flow["jobs"]
        done: List[str] = []
        while len(done) < len(jobs):
            ready = [name for name, job in jobs.items() if name not in done
                     and all(n in done for n in _needs(job))]
            if not ready:
                raise UnsupportedWorkflow("the jobs' needs form a cycle")
            done.extend(ready)
        return done

    def run(self) -> WorkflowRun:
        self.root.mkdir(parents=True, exist_ok=True)
        result = WorkflowRun(self.root, {})
        workflow_env_raw = self.flow.get("env") or {}
        for name in self._order():
            spec = self.flow["jobs"][name]
            needs = {n: {"result": _job_result(result.jobs[n]), "outputs": _merged_outputs(result.jobs[n])}
                     for n in _needs(spec)}
            probe = JobRun(name, {}, self.root / "jobs" / name / "work",
                           result="success" if all(v["result"] == "success" for v in needs.values()) else "failure")
            context = self._context(probe, {}, needs, {})
            context.values["env"] = substitute(workflow_env_raw, context)
            if not condition(spec.get("if"), context):
                result.jobs[name] = [JobRun(name, {}, probe.workspace, result="skipped")]
                continue
            strategy = substitute(spec.get("strategy") or {}, context)
            runs = []
            combos = expand_matrix(strategy.get("matrix"))
            for number, combo in enumerate(combos, start=1):
                workspace = self.root / "jobs" / (name if len(combos) == 1 and not combo else "%s-%d" % (name, number))
                runs.append(self._run_job(name, spec, combo, workspace, needs, context.values["env"]))
            result.jobs[name] = runs
        return result

    def _run_job(self, name: str, spec: Dict[str, Any], combo: Dict[str, Any], base: Path,
                 needs: Dict[str, Any], workflow_env: Dict[str, Any]) -> JobRun:
        job = JobRun(name, combo, base / "work")
        job.workspace.mkdir(parents=True)
        (base / "temp").mkdir()
        files = {key: base / key for key in ("output", "summary", "envfile")}
        env: Dict[str, Any] = dict(workflow_env)
        steps: Dict[str, Any] = {}
        context = self._context(job, env, needs, steps)
        env.update({k: _text(v) for k, v in substitute(spec.get("env") or {}, context).items()})
        added_env: Dict[str, str] = {}
        self._post = []
        for step in spec.get("steps") or []:
            context = self._context(job, dict(env, **added_env), needs, steps)
            label = _text(substitute(step.get("name") or step.get("id") or step.get("run") or step.get("uses"),
                                     context)).strip().splitlines()[0]
            if not condition(step.get("if"), context):
                job.steps.append(StepRun(label, "skipped", "skipped"))
                continue
            step_env = {k: _text(v) for k, v in substitute(step.get("env") or {}, context).items()}
            if "run" in step:
                if step.get("shell", "bash") != "bash" or "working-directory" in step:
                    raise UnsupportedWorkflow("step %r: only bash in the workspace is implemented" % label)
                script = substitute(step["run"], context)
                for path in files.values():
                    path.write_text("")
                ok, outputs, run = self._shell(job, script, dict(env, **added_env, **step_env), files)
                run.name = label
                added_env.update(read_outputs(files["envfile"]))
                job.summary += files["summary"].read_text()
            else:
                uses = str(step["uses"]).split("@")[0]
                if uses not in self.standins:
                    raise UnsupportedWorkflow("step %r uses %s, which has no stand-in" % (label, uses))
                with_ = {k: _text(v) for k, v in substitute(step.get("with") or {}, context).items()}
                try:
                    ok, outputs = self.standins[uses](job, with_, dict(env, **added_env, **step_env))
                    run = StepRun(label, "", "")
                except StandInFailure as exc:
                    ok, outputs, run = False, {}, StepRun(label, "", "", stderr=str(exc))
            run.outputs = dict(outputs)
            run.outcome = "success" if ok else "failure"
            run.conclusion = "success" if ok or step.get("continue-on-error") is True else "failure"
            job.steps.append(run)
            if "id" in step:
                steps[step["id"]] = {"outputs": outputs, "outcome": run.outcome, "conclusion": run.conclusion}
            if run.conclusion == "failure":
                job.result = "failure"
        for post in reversed(self._post):
            if job.result == "success":
                post()
        context = self._context(job, dict(env, **added_env), needs, steps)
        job.outputs = {k: _text(v) for k, v in substitute(spec.get("outputs") or {}, context).items()}
        return job

    def _shell(self, job: JobRun, script: str, env: Dict[str, Any],
               files: Dict[str, Path]) -> Tuple[bool, Dict[str, str], StepRun]:
        full = dict(os.environ, **self.extra_env)
        full.update({k: _text(v) for k, v in env.items()})
        if self.venv is not None:
            full["PATH"] = "%s:%s" % (self.venv / "bin", full["PATH"])
            full["VIRTUAL_ENV"] = str(self.venv)
        full.update(GITHUB_WORKSPACE=str(job.workspace), GITHUB_OUTPUT=str(files["output"]),
                    GITHUB_STEP_SUMMARY=str(files["summary"]), GITHUB_ENV=str(files["envfile"]),
                    RUNNER_TEMP=str(job.workspace.parent / "temp"), GITHUB_ACTIONS="true", CI="true",
                    GITHUB_EVENT_NAME=self.event, GITHUB_RUN_ID=self.run_id)
        full.pop("PYTHONPATH", None)  # the job imports the package it installed, not the test's checkout
        try:
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                                  cwd=str(job.workspace), env=full, capture_output=True, text=True,
                                  timeout=self.step_timeout_s)
        except subprocess.TimeoutExpired as exc:
            return False, {}, StepRun("", "", "", stderr="timed out after %ss: %s" % (self.step_timeout_s, exc))
        return (proc.returncode == 0, read_outputs(files["output"]),
                StepRun("", "", "", proc.stdout, proc.stderr, proc.returncode))

    # -- stand-ins: (job, with, env) -> (ok, outputs); StandInFailure for a failed step
    def _checkout(self, job: JobRun, with_: Dict[str, str], env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        copy_tree(self.repo, job.workspace)
        return True, {}

    def _setup_python(self, job: JobRun, with_: Dict[str, str], env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        if self.venv is None:
            venv = self.root / "python"
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                           check=True, capture_output=True)
            # pip of the current interpreter, run by the virtualenv's python (a --without-pip venv sees it
            # through its system site-packages), so it installs into the virtualenv.
            (venv / "bin" / "pip").write_text('#!/bin/sh\nexec "%s" -m pip "$@"\n' % (venv / "bin" / "python"))
            (venv / "bin" / "pip").chmod(0o755)
            self.extra_env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_ROOT_USER_ACTION="ignore")
            self.venv = venv
        return True, {"python-version": "%d.%d.%d" % sys.version_info[:3],
                      "python-path": str(self.venv / "bin" / "python")}

    def _cache(self, job: JobRun, with_: Dict[str, str], env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        store = self.root / "cache"
        key = with_["key"]
        paths = [p.strip() for p in with_["path"].splitlines() if p.strip()]
        restore = [k.strip() for k in with_.get("restore-keys", "").splitlines() if k.strip()]
        found: Optional[Path] = store / _safe(key) if (store / _safe(key)).is_dir() else None
        if found is None:
            for prefix in restore:
                candidates = sorted((p for p in store.glob("*") if p.name.startswith(_safe(prefix))),
                                    key=lambda p: p.stat().st_mtime)
                if candidates:
                    found = candidates[-1]
                    break
        if found is not None:
            for index, path in enumerate(paths):
                if (found / str(index)).exists():
                    _copy_into(found / str(index), job.workspace / path)

        def save() -> None:
            target = store / _safe(key)
            if target.exists():
                return
            for index, path in enumerate(paths):
                if (job.workspace / path).exists():
                    _copy_into(job.workspace / path, target / str(index))
            target.mkdir(parents=True, exist_ok=True)

        self._post.append(save)
        return True, {"cache-hit": "true" if found is not None and found.name == _safe(key) else "false"}

    def _upload_artifact(self, job: JobRun, with_: Dict[str, str], env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        source = job.workspace / with_["path"]
        if not source.exists() or (source.is_dir() and not any(source.rglob("*"))):
            if with_.get("if-no-files-found", "warn") == "error":
                raise StandInFailure("no files were found with the provided path: %s" % with_["path"])
            return True, {}
        dest = self.root / "artifacts" / with_.get("name", "artifact")
        if dest.exists():
            raise StandInFailure("an artifact named %s already exists" % dest.name)
        _copy_into(source, dest)
        return True, {"artifact-id": dest.name}

    def _download_artifact(self, job: JobRun, with_: Dict[str, str],
                           env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        pattern = with_.get("pattern") or with_.get("name") or "*"
        store = self.root / "artifacts"
        found = sorted(p for p in store.glob("*") if fnmatch.fnmatchcase(p.name, pattern)) if store.is_dir() else []
        dest = job.workspace / with_.get("path", ".")
        single = "name" in with_ and "pattern" not in with_
        for artifact in found:
            _copy_into(artifact, dest if single or with_.get("merge-multiple") == "true" else dest / artifact.name)
        return True, {"download-path": str(dest)}

    def _buildx(self, job: JobRun, with_: Dict[str, str], env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        return True, {"name": "default", "driver": "docker"}

    def _cache_dance(self, job: JobRun, with_: Dict[str, str], env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        mounts = json.loads(with_.get("cache-map") or "{}")
        if not isinstance(mounts, dict) or not all(isinstance(v, (str, dict)) for v in mounts.values()):
            raise StandInFailure("cache-map is not a JSON object of cache mounts: %r" % with_.get("cache-map"))
        return True, {}

    def _junit(self, job: JobRun, with_: Dict[str, str], env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        files = [f for p in with_["junit_files"].splitlines() if p.strip()
                 for f in glob.glob(str(job.workspace / p.strip()), recursive=True)]
        if not files:
            raise StandInFailure("no JUnit file matches %r" % with_["junit_files"])
        for path in files:
            try:
                root = ElementTree.parse(path).getroot()
            except ElementTree.ParseError as exc:
                raise StandInFailure("%s is not XML: %s" % (path, exc)) from None
            if root.tag not in ("testsuites", "testsuite"):
                raise StandInFailure("%s is not JUnit XML (root element %s)" % (path, root.tag))
        return True, {}

    def _upload_pages(self, job: JobRun, with_: Dict[str, str], env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        source = job.workspace / with_.get("path", "_site/")
        if not source.is_dir():
            raise StandInFailure("the Pages path %s is not a directory" % with_.get("path"))
        if (self.root / "pages").exists():
            shutil.rmtree(str(self.root / "pages"))
        shutil.copytree(str(source), str(self.root / "pages"))
        return True, {"artifact_id": "pages"}

    def _deploy_pages(self, job: JobRun, with_: Dict[str, str], env: Dict[str, str]) -> Tuple[bool, Dict[str, str]]:
        index = self.root / "pages" / "index.html"
        if not index.is_file():
            raise StandInFailure("the Pages artifact has no index.html")
        return True, {"page_url": index.as_uri()}


class StandInFailure(Exception):
    """A stand-in's step failed (the message is what the action would say)."""


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


def _needs(job: Mapping[str, Any]) -> List[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _job_result(runs: List[JobRun]) -> str:
    """A matrix job's result: failure if any of its jobs failed, skipped if all were skipped."""
    results = {r.result for r in runs}
    if "failure" in results:
        return "failure"
    return "skipped" if results == {"skipped"} else "success"


def _merged_outputs(runs: List[JobRun]) -> Dict[str, str]:
    merged: Dict[str, str] = {}
    for run in runs:
        merged.update({k: v for k, v in run.outputs.items() if v})
    return merged
