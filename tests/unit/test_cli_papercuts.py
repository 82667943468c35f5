"""Small things a user meets on the first day: the matrix path defaults to ./matrix.yaml, `plan` prints
versions as written, --shards without its format is an error, and shell completion exists."""

import shutil
import subprocess

import pytest

from runner.cli import main
from tests.conftest import ROOT


def test_the_matrix_defaults_to_matrix_yaml_in_the_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--format", "ids"]) == 2
    err = capsys.readouterr().err
    assert "no matrix file given and no ./matrix.yaml here" in err and "Traceback" not in err
    shutil.copy(ROOT / "matrix.yaml", tmp_path / "matrix.yaml")
    assert main(["plan", "--format", "ids", "--offline"]) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) == 80 and "keras3.15.1-jax0.10.2-py311-cpu" in ids


def test_plan_prints_versions_exactly_as_written(tmp_path, capsys):
    matrix = tmp_path / "m.yaml"
    matrix.write_text("""
version: 1
eras:
  py310:
    python: "3.10"
    template: py3-cpu
    base: debian-bookworm
    packages: {keras: keras, tensorflow: tensorflow}
cells:
  - {name: ten, era: py310, keras: "2.10", tensorflow: "2.10.0"}
""")
    for fmt in ("table", "markdown"):
        assert main(["plan", str(matrix), "--format", fmt]) == 0
        row = [line for line in capsys.readouterr().out.splitlines() if line.lstrip("| ").startswith("keras2.10")]
        assert len(row) == 1 and " 3.10 " in row[0] and " 3.1 " not in row[0], row
        assert " 2.10 " in row[0], row


@pytest.mark.parametrize("fmt", ["table", "json", "ids", "markdown"])
def test_shards_without_the_github_matrix_format_is_a_usage_error(fmt, capsys):
    assert main(["plan", str(ROOT / "matrix.yaml"), "--format", fmt, "--shards", "2"]) == 2
    assert "use it with --format github-matrix" in capsys.readouterr().err
    assert main(["plan", str(ROOT / "matrix.yaml"), "--format", "github-matrix", "--shards", "2"]) == 0


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_name_the_subcommands_and_options(shell, capsys):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("plan", "run", "report", "merge", "diff", "--profile", "--strict", "--progress"):
        assert word in script, word


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_bash_completion_completes_subcommands_in_bash(capsys):
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    probe = script + """
COMP_WORDS=(keras-matrix re); COMP_CWORD=1; COMP_LINE="keras-matrix re"; COMP_POINT=${#COMP_LINE}
_shtab_keras_matrix keras-matrix re keras-matrix
printf '%s\\n' "${COMPREPLY[@]}"
"""
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert sorted(out.stdout.split()) == ["render", "report"], out.stderr
