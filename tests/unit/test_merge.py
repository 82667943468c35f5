"""Merging shard results: every cell once, duplicates and missing cells named."""

import pytest

from runner.results.merge import merge_results
from runner.results.store import validate_results
from runner.util.errors import ResultsError


def doc(run_id, *cell_ids, complete=True):
    cells = [{"cell_id": c, "status": "ok", "versions": {"keras": "==2.3.1"}, "python": "2.7", "device": "cpu",
              "trainings": {}, "default_backend": {"backend": "tensorflow", "error": None},
              "build": {"status": "built"}} for c in cell_ids]
    return {"schema_version": 1, "kind": "keras-matrix-results", "run_id": run_id, "complete": complete,
            "started_at": "2026-11-25T02:00:00+00:00", "finished_at": "2026-11-25T03:00:00+00:00",
            "provenance": {"runner_version": "0.1.0", "git_sha": "abc"}, "cells": cells}


def test_shards_merge_into_one_valid_run_with_every_cell_once():
    merged = merge_results([doc("s1", "a", "b"), doc("s2", "c")], expected_cells=["a", "b", "c"])
    validate_results(merged)
    assert [c["cell_id"] for c in merged["cells"]] == ["a", "b", "c"]
    assert merged["complete"] is True and merged["run_id"] == "s1+s2"
    assert [m["run_id"] for m in merged["provenance"]["merged_from"]] == ["s1", "s2"]


def test_duplicate_and_missing_cells_are_named():
    with pytest.raises(ResultsError, match="b \\(runs s1 and s2\\)"):
        merge_results([doc("s1", "a", "b"), doc("s2", "b")])
    assert len(merge_results([doc("s1", "a", "b"), doc("s2", "b")], allow_duplicates=True)["cells"]) == 2
    with pytest.raises(ResultsError, match="1 expected cells have no result: c"):
        merge_results([doc("s1", "a", "b")], expected_cells=["a", "b", "c"])


def test_an_incomplete_shard_makes_the_merge_incomplete():
    assert merge_results([doc("s1", "a"), doc("s2", "b", complete=False)])["complete"] is False


def with_matrix(document, sha):
    document["matrix"] = {"path": "matrix.yaml", "sha256": sha, "cells_total": 3}
    return document


def test_shards_of_different_matrices_are_refused_unless_allowed():
    first, second = with_matrix(doc("s1", "a"), "1" * 64), with_matrix(doc("s2", "b"), "2" * 64)
    with pytest.raises(ResultsError, match="different matrix files .*run s1: sha256 111111111111; run s2: sha256 2"):
        merge_results([first, second])
    merged = merge_results([first, second], allow_mixed_matrices=True)
    assert [c["cell_id"] for c in merged["cells"]] == ["a", "b"]
    same = merge_results([first, with_matrix(doc("s2", "b"), "1" * 64)])
    assert same["matrix"]["sha256"] == "1" * 64


def test_a_shard_without_a_matrix_hash_does_not_pass_for_one_with_it():
    with pytest.raises(ResultsError, match="different matrix files"):
        merge_results([with_matrix(doc("s1", "a"), "1" * 64), doc("s2", "b")])


def test_the_merged_selection_is_every_shard_selection_or_the_expected_cells():
    from runner.results.merge import merge_results

    def shard(run_id, cells):
        return {"run_id": run_id, "complete": True, "provenance": {}, "matrix": {"cells_selected": cells},
                "cells": [{"cell_id": c} for c in cells]}

    merged = merge_results([shard("a", ["c1", "c2"]), shard("b", ["c3"])])
    assert merged["matrix"]["cells_selected"] == ["c1", "c2", "c3"]
    expected = merge_results([shard("a", ["c1", "c2"]), shard("b", ["c3"])], expected_cells=["c3", "c1", "c2"])
    assert expected["matrix"]["cells_selected"] == ["c3", "c1", "c2"]
