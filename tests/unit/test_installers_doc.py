"""docs/installers.md states measured figures (pip vs uv build times, what the probe saw in each image); each is
recomputed here from the measurement it came from, bench/installers.json, so the page cannot drift from it."""

import json
import re

import pytest

from tests.conftest import ROOT

DATA = json.loads((ROOT / "bench" / "installers.json").read_text())
DOC = " ".join((ROOT / "docs" / "installers.md").read_text().split())


def _build(cell, installer, cache):
    (build,) = [b for b in DATA["builds"] if (b["cell"], b["installer"], b["cache"]) == (cell, installer, cache)]
    return build


@pytest.mark.parametrize("cell", sorted(DATA["probe"]))
def test_the_build_time_row_is_the_measurement(cell):
    row = re.search(r"\| `%s` \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|" % re.escape(cell), DOC)
    assert row, cell
    expected = [_build(cell, i, c)["install_steps_seconds"] for i in ("pip", "uv") for c in ("cold", "warm")]
    assert [float(x) for x in row.groups()] == expected


@pytest.mark.parametrize("cell", sorted(DATA["probe"]))
def test_the_probe_row_is_the_measurement(cell):
    pip, uv = DATA["probe"][cell]["pip"], DATA["probe"][cell]["uv"]
    row = re.search(r"\| `%s` \| identical \((\d+) distributions[^|]*\| clean in both \| identical \|[^|]*\| "
                    r"([\d.]+) MB pip, ([\d.]+) MB uv \|" % re.escape(cell), DOC)
    assert row, cell
    assert pip["installed"] == uv["installed"] and int(row.group(1)) == len(pip["installed"])
    assert pip["pip_check"] == uv["pip_check"] == {"exit_code": 0, "problems": []}
    assert uv["package_owners_equal_to_pip"] and pip["shared_packages"] == uv["shared_packages"] == {}
    assert pip["default_backend"] == uv["default_backend"]
    assert pip["default_backend_error"] == uv["default_backend_error"]
    assert [float(row.group(2)), float(row.group(3))] == [round(pip["image_size"] / 1e6, 1),
                                                          round(uv["image_size"] / 1e6, 1)]
    assert "uv" not in uv["installed"] and "pip" in uv["installed"]


def test_the_prose_figures_are_the_measurement():
    sizes = {round((v["uv"]["image_size"] - v["pip"]["image_size"]) / 1e6, 1) for v in DATA["probe"].values()}
    assert sizes == {float(re.search(r"The uv images are ([\d.]+) MB larger", DOC).group(1))}
    fetch = [b["steps"]["uv itself (pip fetches uv)"] for b in DATA["builds"] if b["installer"] == "uv"]
    assert "(%.1f to %.1f s, by pip)" % (min(fetch), max(fetch)) in DOC
    pip_downloads = {b["downloads"] for b in DATA["builds"] if b["installer"] == "pip" and b["cache"] == "warm"}
    cold = {b["downloads"] for b in DATA["builds"] if b["installer"] == "pip" and b["cache"] == "cold"}
    assert pip_downloads == cold and "(%s downloads, as cold)" % " and ".join(
        str(n) for n in sorted(pip_downloads, reverse=True)) in DOC
    assert {b["downloads"] for b in DATA["builds"] if b["installer"] == "uv" and b["cache"] == "warm"} == {1}
    tf_warm = _build("keras2.9.0-tf2.9.3-py39-cpu", "uv", "warm")["steps"]["tensorflow-cpu==2.9.3"]
    assert "warm TensorFlow 2.9 layer's %.1f s" % tf_warm in DOC
    said = " ".join(_build("keras2.9.0-tf2.9.3-py39-cpu", "uv", "warm")["uv_said"])
    compiled = re.search(r"Bytecode compiled \d+ files in ([\d.]+)s", said).group(1)
    assert "bytecode compilation (%.1f s of the warm" % float(compiled) in DOC


def test_the_keras_2_4_paragraphs_are_the_measurement():
    cells = DATA["keras_2_4"]["cells"]
    k240, k242 = cells["keras2.4.0-tf2.5.3-py39-cpu"], cells["keras2.4.2-tf2.5.3-py39-cpu"]
    uv = k240["uv"]
    assert uv["status"] == "import_failed" and k240["pip_published"]["status"] == "timeout"
    assert uv["installed"]["tensorflow"] == uv["installed"]["tensorflow-cpu"] == "2.5.3"
    assert uv["installed"]["numpy"] == "1.19.5" and uv["installed"]["keras-nightly"] == "2.5.0.dev2021032900"
    assert set(uv["shared_packages"]) == {"keras", "tensorflow"} and uv["pip_check"]["problems"] == []
    resolved = re.search(r"Resolved \d+ packages in ([\d.]+)s", uv["keras_layer_uv_said"][0]).group(1)
    assert "uv resolved the Keras layer in %.1f s" % float(resolved) in DOC
    assert "the layer took %.1f s" % uv["keras_layer_seconds"] in DOC
    assert "the whole build %.1f s" % uv["build_seconds"] in DOC
    assert uv["default_backend_error"] in DOC
    pip, uv = k242["pip_published"], k242["uv"]
    assert pip["installed"] == uv["installed"] and pip["pip_check"] == uv["pip_check"]
    assert "the same %d distributions at the same versions" % len(uv["installed"]) in DOC
    assert "`%s`" % uv["pip_check"]["problems"][0] in DOC
    assert pip["reason"] == uv["reason"]
