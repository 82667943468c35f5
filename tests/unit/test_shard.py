"""Sharding: every cell exactly once, deterministic, balanced, layer-sharing cells kept together; and
N shards run and merged give the same cells as one unsharded run."""

import json

import pytest

from runner.matrix.load import load_matrix
from runner.matrix.shard import LAYER_COST, cell_cost, github_matrix, layer_key, select_shard, shards
from runner.report import render_table
from runner.results.merge import merge_results
from runner.run.context import RunOptions
from runner.run.loop import run_matrix
from runner.run.mnist import MnistData
from runner.util.errors import UsageError
from tests.conftest import ROOT
from tests.fakes import MATRIX, FakeEngine


@pytest.fixture(scope="module")
def cells():
    return load_matrix(ROOT / "matrix.yaml", offline=True).cells


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 8, 100])
def test_every_cell_lands_in_exactly_one_shard(cells, count):
    parts = shards(cells, count)
    assert len(parts) == count
    ids = [c.id for part in parts for c in part]
    assert sorted(ids) == sorted(c.id for c in cells)
    assert parts == shards(cells, count)  # deterministic


def test_cells_sharing_heavy_layers_stay_together_and_shards_are_balanced(cells):
    parts = shards(cells, 4)
    where = {}
    for index, part in enumerate(parts):
        for cell in part:
            where.setdefault(layer_key(cell), set()).add(index)
    assert all(len(indexes) == 1 for indexes in where.values())
    loads = [sum(cell_cost(c) for c in part) + LAYER_COST * len({layer_key(c) for c in part}) for part in parts]
    biggest_group = max(LAYER_COST + sum(cell_cost(c) for c in cells if layer_key(c) == key) for key in where)
    assert max(loads) - min(loads) <= biggest_group


def test_shard_syntax_is_checked(cells):
    for bad in ("0/4", "5/4", "1/0", "a/b", "1-4", "", "1/4\n", " 1/4", "01/4", "1_0/20", "+1/4"):
        with pytest.raises(UsageError):
            select_shard(cells, bad)


@pytest.mark.parametrize("huge", ["1/1001", "1/10000000", "1/" + "9" * 400, "5/" + "1" * 30])
def test_shard_counts_are_bounded_before_any_work(cells, huge):
    """A huge N used to hang (a list of N loads) or end in MemoryError/OverflowError."""
    with pytest.raises(UsageError, match="N <= 1000"):
        select_shard(cells, huge)
    with pytest.raises(UsageError):
        shards(cells, 10 ** 9)


def test_github_matrix_has_one_entry_per_shard_or_cell(cells):
    assert [e["shard"] for e in github_matrix(cells, 3)["include"]] == ["1/3", "2/3", "3/3"]
    assert len(github_matrix(cells)["include"]) == len(cells)
    json.dumps(github_matrix(cells, 3))


def test_sharded_runs_merged_equal_one_unsharded_run(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(MATRIX)
    matrix = load_matrix(path)
    data = MnistData(path=tmp_path / "mnist.npz", sha256="x", source="cache")

    def run(cells, run_id):
        options = RunOptions(results_dir=tmp_path / "results", dockerfiles_dir=tmp_path / "df", run_id=run_id,
                             progress="quiet", ca_bundle="/nonexistent", cache_dir=tmp_path / "cache" / run_id)
        return run_matrix(matrix, cells, FakeEngine(), data, options)

    single = run(matrix.cells, "single")
    parts = [run(part, "shard%d" % i) for i, part in enumerate(shards(matrix.cells, 3)) if part]
    merged = merge_results(parts, expected_cells=[c.id for c in matrix.cells])
    order = [c["cell_id"] for c in single["cells"]]
    assert [c["cell_id"] for c in merged["cells"]] == order
    assert [c["status"] for c in merged["cells"]] == [c["status"] for c in single["cells"]]
    assert render_table(merged, "terminal").splitlines()[2:] == render_table(single, "terminal").splitlines()[2:]
