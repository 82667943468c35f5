"""--filter: the short axis names cell ids use, and a version written without its patch level."""

import pytest

from runner.matrix.load import load_matrix
from runner.matrix.selection import select
from runner.util.errors import UsageError
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def matrix():
    return load_matrix(ROOT / "matrix.yaml", offline=True)


def test_the_short_name_in_a_cell_id_filters_its_axis(matrix):
    short = [c.id for c in select(matrix, filters=["tf=2.9*"])]
    assert short and short == [c.id for c in select(matrix, filters=["tensorflow=2.9*"])]
    assert all("-tf2.9" in cell_id for cell_id in short)


def test_a_version_without_its_patch_level_says_what_would_match(matrix):
    with pytest.raises(UsageError, match=r"versions are matched whole; keras=2\.8\.\* matches 2\.8\.0"):
        select(matrix, filters=["keras=2.8"])
    assert [c.versions()["keras"] for c in select(matrix, filters=["keras=2.8.*", "device=cpu"])] == ["==2.8.0"]


def test_a_filter_that_matches_nothing_else_is_still_an_empty_selection(matrix):
    assert select(matrix, filters=["keras=9.9"]) == []  # no wider match to suggest: the caller says "no cell"
    with pytest.raises(UsageError, match="KEY one of"):
        select(matrix, filters=["tensorflw=2.9*"])
