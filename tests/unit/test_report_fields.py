"""The accessors every report reads records with: what a user sees in a table cell or a sentence."""

import pytest

from runner.report.fields import (
    cell_backends,
    combo_label,
    default_summary,
    error_text,
    error_type,
    fmt_seconds,
    keras_line,
    ok_steady,
    status_counts,
    version_key,
)
from runner.report.timing import training_summary


@pytest.mark.parametrize("kind, shown", [("builtins.ImportError", "ImportError"),
                                         ("exceptions.ImportError", "ImportError"),  # Python 2
                                         ("google.protobuf.message.DecodeError", "google.protobuf.message.DecodeError"),
                                         (None, "error")])
def test_error_type_drops_only_the_builtin_module(kind, shown):
    assert error_type({"type": kind}) == shown


def test_error_text_is_one_clipped_line_without_controls():
    text = error_text({"type": "builtins.OSError", "message": "first\u202e line\nsecond line"}, 40)
    assert text == "OSError: first  line"  # the bidi override is gone, the second line too
    long = error_text({"type": "OSError", "message": "x" * 500}, 40)
    assert len(long) == len("OSError: ") + 40 and long.endswith("\u2026")


@pytest.mark.parametrize("seconds, shown", [(None, "-"), (2.254, "2.25s"), (12.34, "12.3s"), (123.4, "123s")])
def test_seconds_keep_three_significant_figures(seconds, shown):
    assert fmt_seconds(seconds) == shown


def test_training_summary_says_time_and_accuracy_or_what_went_wrong():
    assert training_summary({"status": "ok", "steady_epoch_seconds": 2.25, "test_accuracy": 0.975}) == "2.25s 97.5%"
    assert training_summary({"status": "failed", "error": {"type": "builtins.ImportError"}}) == "failed: ImportError"
    assert training_summary({"status": "timeout", "stage": "timeout"}) == "timeout"
    assert training_summary(None) == "-"
    stable = {"status": "ok", "steady_epoch_seconds": 0.6, "test_accuracy": 0.975,
              "timing": {"seconds": 0.63, "rel_width": 0.02, "verdict": "stable", "causes": []}}
    assert training_summary(stable) == "0.63 s \u00b12% 97.5%"
    # A training measured with noise keeps its figure: the flag and its cause stand next to it, never instead.
    contended = dict(stable, timing={"seconds": 0.63, "rel_width": 0.3, "verdict": "contended", "causes": ["steal"]})
    assert training_summary(contended) == "0.63 s \u00b130% [contended: steal] 97.5%"
    assert training_summary(contended, smoke=True) == "trained (smoke) 97.5%"


def test_only_finished_trainings_have_a_timing():
    assert ok_steady({"status": "ok", "steady_epoch_seconds": 1}) == 1.0
    assert ok_steady({"status": "failed", "steady_epoch_seconds": 1.0}) is None
    assert ok_steady({"status": "ok", "steady_epoch_seconds": True}) is None  # JSON true is not a number here


def test_backends_in_report_order_and_short_names():
    cell = {"versions": {"keras": "==2.3.1", "theano": "==1.0.5", "tensorflow": "==1.15.0", "mxnet": "==1.0"},
            "trainings": {"cntk": {}}}
    assert cell_backends(cell) == ["tensorflow", "theano", "cntk", "mxnet"]  # unknown names last
    assert combo_label(cell) == "tf 1.15.0 + theano 1.0.5 + mxnet 1.0"
    assert combo_label({"versions": {"keras": "==3.0"}}) == "no backend library"


def test_default_summary_names_the_backend_the_error_or_nothing():
    assert default_summary({"default_backend": {"backend": "theano", "error": None}}) == "theano"
    assert default_summary({"default_backend": {"backend": None, "error": {"type": "builtins.ImportError"}}}) \
        == "error: ImportError"
    assert default_summary({}) == "-"


def test_versions_sort_as_versions_then_text_then_unknown():
    versions = ["2.10.0", None, "2.9.1", ">=2.3", "1.2.2"]
    assert sorted(versions, key=version_key) == ["1.2.2", "2.9.1", "2.10.0", ">=2.3", None]
    assert keras_line("2.15.0") == "2.15" and keras_line("3") == "3.0" and keras_line(">=2.3") == ">=2.3"


def test_status_counts_follow_the_status_order_then_unknown_values():
    doc = {"cells": [{"status": "error"}, {"status": "ok"}, {"status": "weird"}, {"status": "ok"}]}
    assert status_counts(doc) == [("ok", 2), ("error", 1), ("weird", 1)]


def test_installed_names_read_in_pep_503_form_whatever_the_record_holds():
    # Records from older probes hold dist-info spellings (tensorflow_cpu, ml_dtypes, tf_keras): issue #28 item 7.
    from runner.report.fields import installed_of, keras_version
    from runner.run.cell_record import record_probe

    old = {"installed": {"tensorflow_cpu": "2.21.0", "ml_dtypes": "0.5.1", "Keras": "3.15.1", "tf.keras": "1"}}
    assert installed_of(old) == {"tensorflow-cpu": "2.21.0", "ml-dtypes": "0.5.1", "keras": "3.15.1", "tf-keras": "1"}
    assert keras_version(old) == "3.15.1"
    record = {"cell_id": "x"}
    record_probe(record, {"installed": {"tensorflow_cpu": "2.21.0", "tf_keras": "2.21.0"}})
    assert record["installed"] == {"tensorflow-cpu": "2.21.0", "tf-keras": "2.21.0"}
