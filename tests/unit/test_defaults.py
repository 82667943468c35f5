"""report --format defaults: releases grouped by what their default probe said, a change marked."""

from runner.report.defaults import default_rows, defaults_markdown


def cell(keras, backend=None, error=None, status="ok", theano="1.0.5"):
    return {"cell_id": "keras%s-theano%s" % (keras, theano), "status": status,
            "installed": {"keras": keras}, "versions": {"keras": "==" + keras, "theano": "==" + theano},
            "default_backend": {"backend": backend, "error": error} if backend or error else None}


def test_consecutive_releases_with_one_answer_are_one_row_and_a_new_default_is_bold():
    doc = {"cells": [cell("1.0.7", "theano"), cell("1.0.8", "theano"), cell("1.1.0", "tensorflow"),
                     cell("1.2.0", "tensorflow"), cell("2.4.0", status="timeout"),
                     cell("2.4.2", error={"type": "builtins.AttributeError", "message": "no attribute x"})]}
    assert [(r[0], r[1], r[2]) for r in default_rows(doc)] == [
        ("1.0.7", "1.0.8", "theano"), ("1.1.0", "1.2.0", "tensorflow"), ("2.4.0", "2.4.0", "no answer: timeout"),
        ("2.4.2", "2.4.2", "raised AttributeError: no attribute x")]
    table = defaults_markdown(doc)
    assert "**1.1.0 - 1.2.0**" in table and "**1.0.7" not in table


def test_a_release_measured_on_two_stacks_says_which_gave_which_answer():
    doc = {"cells": [cell("0.3.2", "theano", theano="0.8.2"),
                     cell("0.3.2", error={"type": "builtins.ImportError", "message": "cannot import name x"})]}
    ((_, _, answer, backends, count),) = default_rows(doc)
    assert answer == "raised ImportError: cannot import name x (with theano 1.0.5); theano (with theano 0.8.2)"
    assert backends == {"theano"} and count == 2


def test_untrusted_record_text_cannot_break_the_table():
    doc = {"cells": [cell("1.0.0", error={"type": "builtins.ValueError", "message": "a | b <script>\nx"})]}
    row = defaults_markdown(doc).splitlines()[2]
    assert row.count("|") - row.count("\\|") == 4 and "<script>" not in row
