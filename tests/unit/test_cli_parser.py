"""The command line's shape: its name in --help, --debug on either side of the subcommand, and the
run's default locations (the working directory, or $KERAS_MATRIX_CACHE_DIR)."""

from pathlib import Path

import pytest

from runner.cli import build_parser, main
from runner.util.paths import default_cache_dir


def test_help_names_the_console_script(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert capsys.readouterr().out.startswith("usage: keras-matrix ")
    with pytest.raises(SystemExit):
        main(["plan", "--help"])
    assert capsys.readouterr().out.startswith("usage: keras-matrix plan ")


@pytest.mark.parametrize("argv", [
    ["--debug", "plan", "/nonexistent/matrix.yaml"],
    ["plan", "/nonexistent/matrix.yaml", "--debug"],
    ["plan", "--debug", "/nonexistent/matrix.yaml"],
])
def test_debug_anywhere_shows_the_traceback(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "error: /nonexistent/matrix.yaml: no such file" in err


def test_without_debug_one_line_and_no_traceback(capsys):
    assert main(["plan", "/nonexistent/matrix.yaml"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip() == "error: /nonexistent/matrix.yaml: no such file"


def test_debug_given_only_before_the_subcommand_is_kept():
    assert build_parser().parse_args(["--debug", "report", "r.json"]).debug is True
    assert build_parser().parse_args(["report", "r.json"]).debug is False


def test_run_defaults_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERAS_MATRIX_CACHE_DIR", raising=False)
    args = build_parser().parse_args(["run", "m.yaml"])
    assert args.cache_dir == ""  # resolved by the command (an unusable $KERAS_MATRIX_CACHE_DIR fails only there)
    assert default_cache_dir() == tmp_path / ".cache"
    assert Path(args.dockerfiles_dir) == tmp_path / "dockerfiles" / "generated"


def test_cache_dir_variable_and_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_MATRIX_CACHE_DIR", str(tmp_path / "shared-cache"))
    assert build_parser().parse_args(["run", "m.yaml"]).cache_dir == ""
    assert default_cache_dir() == tmp_path / "shared-cache"
    # the option still wins over the variable
    assert build_parser().parse_args(["run", "m.yaml", "--cache-dir", "elsewhere"]).cache_dir == "elsewhere"
