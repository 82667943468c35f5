"""The results reader: foreign, malformed or hostile files are refused with one clear line; writes are atomic."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.results.store import KIND, ResultsWriter, atomic_write_json, load_results
from runner.util.errors import ResultsError
from tests.conftest import ROOT


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not valid JSON"),
    ('{"kind": "something-else"}', "is not a keras-matrix results file"),
    ('{"kind": "keras-matrix-results", "schema_version": 99}', "schema_version 99"),
    ('{"kind": "keras-matrix-results", "schema_version": 1, "run_id": "x", "provenance": {}, '
     '"cells": [{"cell_id": "UPPER"}]}',
     "is malformed at cells/0"),
    ("[1, 2]", "is not a keras-matrix results file"),
    ("[" * 100000, "is not valid JSON"),
])
def test_bad_results_files_are_refused(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=message):
        load_results(path)


def test_cli_refuses_foreign_files_with_exit_5_and_no_traceback(tmp_path):
    path = tmp_path / "package.json"
    path.write_text('{"name": "left-pad"}')
    merge = ["merge", str(path), "-o", str(tmp_path / "m")]
    for args in (["report", str(path)], ["diff", str(path), str(path)], merge):
        proc = subprocess.run([sys.executable, "-m", "runner"] + args, capture_output=True, text=True, cwd=str(ROOT),
                              timeout=60)
        assert proc.returncode == 5, args
        assert "is not a keras-matrix results file" in proc.stderr and "Traceback" not in proc.stderr


@settings(max_examples=200, deadline=None)
@given(doc=st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                        lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.sampled_from(
                            ["kind", "schema_version", "cells", "cell_id", "status", "run_id", "provenance",
                             "trainings", "versions", "x"]), c, max_size=5)), max_leaves=20))
def test_random_documents_never_raise_anything_but_results_error(tmp_path_factory, doc):
    if isinstance(doc, dict) and doc.get("kind") is not None:
        doc["kind"] = "keras-matrix-results"
    path = tmp_path_factory.mktemp("fuzz") / "r.json"
    path.write_text(json.dumps(doc))
    try:
        loaded = load_results(path)
    except ResultsError:
        return
    # Accepted only when it really is a results document (the schema's required fields are there).
    assert loaded == doc and loaded["kind"] == KIND and isinstance(loaded["cells"], list)


def test_atomic_write_leaves_the_old_file_or_the_new_one(tmp_path, monkeypatch):
    import os

    path = tmp_path / "results.json"
    atomic_write_json(path, {"a": 1})

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(ResultsError, match="No space left on device"):
        atomic_write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left behind


def test_results_files_are_indented_sorted_json_ending_in_a_newline(tmp_path):
    atomic_write_json(tmp_path / "r.json", {"b": 1, "a": {"d": [1, 2], "c": None}})
    assert (tmp_path / "r.json").read_text() == (
        '{\n  "a": {\n    "c": null,\n    "d": [\n      1,\n      2\n    ]\n  },\n  "b": 1\n}\n')


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "results.json").symlink_to(victim)
    atomic_write_json(tmp_path / "results.json", {"a": 1})
    assert victim.read_text() == "keep" and json.loads((tmp_path / "results.json").read_text()) == {"a": 1}


def test_the_writer_keeps_matrix_order_whatever_order_cells_end_in(tmp_path):
    doc = {"kind": KIND, "matrix": {"cells_selected": ["a", "b", "c"]}}
    writer = ResultsWriter(tmp_path, doc, keep_cells=[{"cell_id": "b", "status": "ok"}])
    writer.write_cell({"cell_id": "c", "status": "ok"})
    writer.write_cell({"cell_id": "a", "status": "ok"})
    writer.write_cell({"cell_id": "c", "status": "partial"})  # written again: replaced, not repeated
    writer.finish(complete=True)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert [(c["cell_id"], c["status"]) for c in on_disk["cells"]] == [("a", "ok"), ("b", "ok"), ("c", "partial")]
    assert on_disk["complete"] is True and on_disk["finished_at"]
    assert json.loads((tmp_path / "cells" / "c.json").read_text())["schema_version"] == 1
