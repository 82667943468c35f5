"""`report --explain ID`: a finding printed with each line's cells and the record fields it read."""

from pathlib import Path

from runner.cli.main import main

SWEEP = Path(__file__).resolve().parents[2] / "reports" / "every-release" / "results.json"


def test_explain_prints_the_finding_its_cells_and_the_fields_it_read(capsys):
    assert main(["report", str(SWEEP), "--explain", "backend-accepted-numpy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("backend-accepted-numpy [info]: KERAS_BACKEND=numpy (installed)")
    assert "fields read: installed.keras, conflict, scenarios[default].backend" in out
    assert "   - keras3.0.5-tf2.16.2-jax0.4.26-py311-cpu (Keras 3.0.5 + tf 2.16.2 + jax 0.4.26 (cpu))" in out
    assert "scenarios[env-numpy].error = ModuleNotFoundError: No module named 'torch'" in out
    assert "traceback_tail" not in out  # an error reads as its type and message


def test_explain_of_an_unknown_id_lists_the_ids_and_exits_2(capsys):
    assert main(["report", str(SWEEP), "--explain", "no-such-finding"]) == 2
    err = capsys.readouterr().err
    assert "no finding 'no-such-finding'" in err and "backend-accepted-numpy" in err


def test_explain_a_precedence_question_prints_its_rows_with_the_scenario_fields(capsys):
    # The KERAS_HOME rows of issue #28 item 1: the error that names the planted backend is in the output.
    assert main(["report", str(SWEEP), "--explain", "precedence:KERAS_HOME"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("precedence:KERAS_HOME [info]: How Keras picks its backend: KERAS_HOME (")
    assert "2.x | KERAS_HOME | honoured, then raised (its keras.json names jax)" in out
    assert "scenarios[keras-home].keras_json_before.backend = jax" in out
    assert "scenarios[keras-home].error.message = Unable to import backend : jax" in out


def test_an_unknown_precedence_question_lists_the_questions(capsys):
    assert main(["report", str(SWEEP), "--explain", "precedence:nothing"]) == 2
    assert "precedence:<question>: KERAS_BACKEND naming a backend not installed" in capsys.readouterr().err
