"""bench/torch_cost.py's walk over a fake index: Linux requirements followed (extras too), other platforms'
left out, download sizes from the index and installed sizes from the wheel's zip directory (range reads)."""

import io
import json
import urllib.error
import zipfile

import pytest

from tests.conftest import ROOT, load_bench

BASE = "https://index.invalid/pypi"


@pytest.fixture(scope="module")
def cost():
    return load_bench("torch_cost")


def wheel(name, version, requires, payload):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("%s/big.so" % name, b"\0" * payload)
        meta = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)
        meta += "".join("Requires-Dist: %s\n" % r for r in requires)
        zf.writestr("%s-%s.dist-info/METADATA" % (name, version), meta)
    return out.getvalue()


def fake_index():
    packages = {  # name -> version -> (requires, uncompressed payload bytes, tag)
        "torch": {"2.0.0": (['nvidia-blas==1.1.*; platform_system == "Linux"', 'winonly; sys_platform == "win32"',
                             "kit[blas]==1.0", "plain>=1"], 5000, "cp311-cp311-manylinux_2_28_x86_64")},
        "nvidia-blas": {"1.1.0": ([], 7000, "py3-none-manylinux_2_17_x86_64"),
                        "1.2.0": ([], 9, "py3-none-manylinux_2_17_x86_64")},
        "kit": {"1.0": (['nvidia-blas==1.1.*; extra == "blas"', 'unused; extra == "other"'], 10, "py3-none-any"),
                "2.0": ([], 10, "py3-none-any")},
        "plain": {"1.0": ([], 100, "py3-none-any"), "3.0": ([], 300, "py3-none-any"),
                  "4.0": ([], 400, "cp312-cp312-manylinux_2_28_x86_64")},  # no wheel for the target
    }
    files, projects = {}, {}
    for name, releases in packages.items():
        projects[name] = {"info": {"version": max(releases), "requires_dist": releases[max(releases)][0]},
                          "releases": {}}
        for version, (requires, payload, tag) in releases.items():
            filename = "%s-%s-%s.whl" % (name.replace("-", "_"), version, tag)
            files[filename] = wheel(name, version, requires, payload)
            projects[name]["releases"][version] = [{"filename": filename, "size": len(files[filename]),
                                                    "url": "../../files/" + filename, "yanked": False}]

    def fetch(url, byte_range):
        if url.startswith(BASE + "/") and url.endswith("/json"):
            parts = url[len(BASE) + 1:].split("/")
            if len(parts) == 3:  # /pypi/<name>/<version>/json: this mirror does not serve it
                raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
            return json.dumps(projects[parts[0]]).encode()
        body = files[url.rsplit("/", 1)[1]]
        assert byte_range is not None, "a wheel is only ever read in ranges"
        return body[byte_range[0]:byte_range[1] + 1]
    return fetch


def test_the_walk_follows_linux_requirements_and_extras_and_measures_each_wheel(cost):
    fetch = fake_index()
    result = cost.walk("torch==2.0.0", "3.11", cost.Index(fetch, BASE), fetch)
    found = {p["name"]: p for p in result["packages"]}
    assert sorted(found) == ["kit", "nvidia-blas", "plain", "torch"]  # winonly and unused left out
    assert found["nvidia-blas"]["version"] == "1.1.0" and found["nvidia-blas"]["group"] == "cuda"
    assert found["plain"]["version"] == "3.0"  # 4.0 has no cp311 wheel
    assert found["kit"]["extras"] == ["blas"]
    assert found["torch"]["installed_bytes"] > 5000 and found["nvidia-blas"]["installed_bytes"] > 7000
    assert found["torch"]["metadata_source"].startswith("index: /pypi/torch/json")
    assert found["kit"]["metadata_source"].startswith("wheel METADATA")
    totals = result["totals"]
    assert totals["all"]["installed_bytes"] == sum(p["installed_bytes"] for p in found.values())
    assert totals["cuda"]["packages"] == 1 and totals["torch"]["packages"] == 1
    assert "all 4 wheels" in cost.table(result)


def test_the_committed_measurement_is_a_walk_of_torch(cost):
    doc = json.loads((ROOT / "bench" / "torch-cost.json").read_text())
    assert doc["kind"] == "keras-matrix-torch-cost" and doc["root"].startswith("torch==")
    assert doc["totals"]["all"]["installed_bytes"] == sum(p["installed_bytes"] for p in doc["packages"])
    assert doc["totals"]["cuda"]["installed_bytes"] > doc["totals"]["torch"]["installed_bytes"]
