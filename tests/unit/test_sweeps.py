"""The shipped sweep files (sweeps/): they load offline, the release sweep covers every Keras release in the
kept list exactly once, and the cross products are full products with the smoke measure."""

from collections import Counter
from pathlib import Path

from packaging.version import Version

from runner.matrix.load import load_matrix
from runner.matrix.releases import VERSIONS_DIR

SWEEPS = Path(__file__).resolve().parents[2] / "sweeps"


def kept_releases(axis):
    return [line.split()[0] for line in (VERSIONS_DIR / ("%s.txt" % axis)).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def test_every_keras_release_is_probed_once_on_cpu():
    matrix = load_matrix(SWEEPS / "every-keras-release.yaml", offline=True)
    keras = Counter(c.versions()["keras"].lstrip("=") for c in matrix.cells)
    assert sorted(keras) == sorted(kept_releases("keras")) and len(keras) >= 99
    # Keras 0.x twice: with Keras 1's Theano 1.0 and with the Theano of its own time; every other release once.
    assert {v for v, n in keras.items() if n != 1} == {v for v in keras if v.startswith("0.")}
    assert {c.measure for c in matrix.cells} == {"probe"} and {c.device for c in matrix.cells} == {"cpu"}
    assert {c.scenarios for c in matrix.cells} == {True}
    assert {c.expect.status for c in matrix.cells} == {"any"}  # a sweep declares no outcome
    # Every release has a backend of its time to choose from; the expansion used is recorded.
    assert all(len(c.backends) >= 1 for c in matrix.cells)
    assert {e["axis"] for e in matrix.expansions} == {"keras"}


def test_cross_products_are_full_products_with_the_smoke_measure():
    matrix = load_matrix(SWEEPS / "cross-products.yaml", offline=True)
    assert {c.measure for c in matrix.cells} == {"smoke"}
    # Whether a pair works is the question; how Keras chooses is the release sweep's (scenarios asked there).
    assert {c.scenarios for c in matrix.cells} == {False}
    assert {c.expect.status for c in matrix.cells} == {"any"}
    per_group = Counter(c.group for c in matrix.cells)
    assert per_group == {"keras2-x-tf2.6-2.11": 60, "keras2-x-tf2.12-2.15": 40, "keras3-x-tf-jax": 96,
                         "keras3-x-torch": 48}
    # Keras 3 x torch: torch alone, its layer first, so the 16 Keras layers of a torch release share it.
    torch = [c for c in matrix.cells if c.group == "keras3-x-torch"]
    assert {c.backend_names for c in torch} == {("torch",)} and {c.requirements[0][0] for c in torch} == {"torch"}
    assert len({(c.versions()["keras"], c.versions()["torch"]) for c in torch}) == 48
    # Every Keras 2 minor meets every TensorFlow 2.6-2.15, each TensorFlow in the era its pins need.
    keras2 = [c for c in matrix.cells if c.group.startswith("keras2")]
    assert len({(c.versions()["keras"], c.versions()["tensorflow"]) for c in keras2}) == 100
    era_by_tf = {Version(c.versions()["tensorflow"].lstrip("=")) >= Version("2.12"): c.era.name for c in keras2}
    assert era_by_tf == {False: "py39", True: "py311"}
    with_tf = [c for c in matrix.cells if c.group != "keras3-x-torch"]
    pairs = {(c.versions()["keras"], c.versions()["tensorflow"]) for c in with_tf}
    assert len(pairs) == len(with_tf)
    assert all("jax" in c.versions() for c in matrix.cells if c.group == "keras3-x-tf-jax")
