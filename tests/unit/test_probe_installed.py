"""installed.py (pip check and package ownership) on the host's Python, against a fake site-packages."""

import hashlib
import os
import sys

import pytest

from tests.conftest import probe_scripts


@pytest.fixture
def installed(monkeypatch):
    return probe_scripts(monkeypatch, "installed")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def dist_info(site, name, version, files, metadata_name=None, hashes=None):
    """A .dist-info as pip writes it: METADATA headers and a RECORD of path,hash,size rows (each distribution's
    files with hashes of their own unless `hashes` gives one)."""
    meta = site / ("%s-%s.dist-info" % (name.replace("-", "_"), version))
    write(meta / "METADATA", "Metadata-Version: 2.1\nName: %s\nVersion: %s\n\nlong description\nName: no\n"
          % (metadata_name or name, version))
    own = dict((f, "sha256=" + hashlib.sha256((name + version + f).encode()).hexdigest()) for f in files)
    rows = ["%s,%s,1" % (f, (hashes or own).get(f, own[f])) for f in files]
    rows += ["%s/RECORD,," % meta.name]
    write(meta / "RECORD", "\n".join(rows) + "\n")


def test_pip_check_problems_are_its_lines_and_the_all_clear_is_none(installed):
    out = ("tensorflow 2.5.3 has requirement numpy~=1.19.2, but you have numpy 1.23.5.\n"
           "tensorflow 2.5.3 requires keras-nightly, which is not installed.\n\n")
    assert installed.parse_pip_check(1, out) == {"exit_code": 1, "problems": [
        "tensorflow 2.5.3 has requirement numpy~=1.19.2, but you have numpy 1.23.5.",
        "tensorflow 2.5.3 requires keras-nightly, which is not installed."]}
    assert installed.parse_pip_check(0, "No broken requirements found.\n") == {"exit_code": 0, "problems": []}


def test_pip_check_lines_are_bounded(installed):
    result = installed.parse_pip_check(1, "\n".join("a%d 1 requires b, which is not installed." % i
                                                    for i in range(500)) + "\n" + "x" * 10000)
    assert len(result["problems"]) == installed.MAX_PROBLEMS
    assert all(len(p) <= 600 for p in result["problems"])


@pytest.mark.parametrize("path, top", [
    ("keras/layers/core.py", "keras"), ("six.py", "six"),
    ("_cffi_backend.cpython-311-x86_64-linux-gnu.so", "_cffi_backend"),
    ("../../../bin/keras", None), ("keras-2.4.3.dist-info/RECORD", None), ("__pycache__/six.cpython-311.pyc", None),
    ("distutils-precedence.pth", None), ("theano-1.0.5.egg-info/PKG-INFO", None),
])
def test_top_level_name(installed, path, top):
    assert installed.top_level_name(path) == top


def test_two_distributions_writing_keras_are_shared_and_namespaces_are_not(installed, tmp_path):
    site = tmp_path / "site-packages"
    dist_info(site, "keras", "2.4.3", ["keras/__init__.py", "keras/layers/core.py", "keras/__pycache__/x.pyc"])
    dist_info(site, "keras-nightly", "2.5.0.dev2021032900", ["keras/__init__.py", "keras/api/_v2/keras.py",
                                                               "keras/__pycache__/x.pyc"])
    dist_info(site, "protobuf", "3.20.3", ["google/protobuf/__init__.py"])
    dist_info(site, "googleapis-common-protos", "1.56", ["google/api/http.py"])
    dist_info(site, "six", "1.16.0", ["six.py", "__pycache__/six.cpython-311.pyc"])
    owners, shared = installed.ownership([str(site)])
    assert shared == {"keras": ["keras 2.4.3", "keras-nightly 2.5.0.dev2021032900"]}
    assert owners["google"] == ["googleapis-common-protos 1.56", "protobuf 3.20.3"]
    assert owners["six"] == ["six 1.16.0"]


def test_the_same_file_with_the_same_hash_from_several_distributions_is_not_shared(installed, tmp_path):
    # torch 2.2-2.7's nvidia-*-cu12 wheels each ship the same empty nvidia/__init__.py (RECORD:
    # nvidia/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0): identical bytes, nothing overwritten.
    # The keras3 x torch cross product reported them as a conflict, in place of the cell's real error.
    empty = {"nvidia/__init__.py": "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}
    site = tmp_path / "site-packages"
    dist_info(site, "nvidia-cublas-cu12", "12.1.3.1", ["nvidia/__init__.py", "nvidia/cublas/lib/libcublas.so.12"],
              hashes=empty)
    dist_info(site, "nvidia-cudnn-cu12", "8.9.2.26", ["nvidia/__init__.py", "nvidia/cudnn/lib/libcudnn.so.8"],
              hashes=empty)
    dist_info(site, "keras", "2.4.3", ["keras/__init__.py"])
    dist_info(site, "keras-nightly", "2.5.0.dev2021032900", ["keras/__init__.py"])
    owners, shared = installed.ownership([str(site)])
    assert owners["nvidia"] == ["nvidia-cublas-cu12 12.1.3.1", "nvidia-cudnn-cu12 8.9.2.26"]
    assert shared == {"keras": ["keras 2.4.3", "keras-nightly 2.5.0.dev2021032900"]}
    # One writer without a hash for the file (a RECORD row with none): it cannot be shown identical, so shared.
    dist_info(site, "nvidia-nccl-cu12", "2.19.3", ["nvidia/__init__.py"], hashes={"nvidia/__init__.py": ""})
    assert set(installed.ownership([str(site)])[1]) == {"keras", "nvidia"}


def test_egg_info_installed_files_are_relative_to_the_egg_info(installed, tmp_path):
    site = tmp_path / "site-packages"
    egg = site / "Theano-1.0.5-py2.7.egg-info"
    write(egg / "PKG-INFO", "Metadata-Version: 1.1\nName: Theano\nVersion: 1.0.5\n")
    write(egg / "installed-files.txt", "../theano/__init__.py\n../../../../bin/theano-cache\nPKG-INFO\n")
    dist_info(site, "theano-fork", "0.1", ["theano/__init__.py"])
    owners, shared = installed.ownership([str(site)])
    assert shared == {"theano": ["Theano 1.0.5", "theano-fork 0.1"]}
    assert "bin" not in owners


def test_top_level_txt_when_no_file_list(installed, tmp_path):
    site = tmp_path / "site-packages"
    write(site / "cntk-2.7.egg-info" / "top_level.txt", "cntk\n")
    owners, shared = installed.ownership([str(site)])
    assert owners == {"cntk": ["cntk 2.7"]} and shared == {}


def test_site_directories_are_the_site_packages_on_sys_path(installed, tmp_path, monkeypatch):
    site = tmp_path / "lib" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(site), str(tmp_path / "missing" / "site-packages")])
    assert installed.site_directories() == [str(site)]
    assert os.path.isdir(installed.site_directories()[0])


def test_a_quoted_record_path_with_a_comma_is_one_path(installed, tmp_path):
    site = tmp_path / "site-packages"
    dist_info(site, "odd", "1.0", ['"odd/a,b.py"'])
    dist_info(site, "odd-fork", "1.0", ['"odd/a,b.py"'])
    _, shared = installed.ownership([str(site)])
    assert shared == {"odd": ["odd 1.0", "odd-fork 1.0"]}


def test_the_installed_set_is_read_from_metadata_first_of_a_name_wins(installed, tmp_path):
    """What importlib.metadata sees: METADATA's version (not the directory name's), lowercased names, and
    for a name found twice on sys.path the one imported first."""
    first, second = tmp_path / "a" / "site-packages", tmp_path / "b" / "site-packages"
    dist_info(first, "keras", "3.15.1", ["keras/__init__.py"])
    dist_info(second, "keras", "2.4.3", ["keras/__init__.py"])
    meta = first / "cntk-2.7.dist-info"  # the directory says 2.7, its METADATA 2.7.post2 (a real CNTK wheel)
    write(meta / "METADATA", "Metadata-Version: 2.0\nName: cntk\nVersion: 2.7.post2\n")
    write(first / "Theano-1.0.5-py2.7.egg-info" / "PKG-INFO", "Metadata-Version: 1.1\nName: Theano\nVersion: 1.0.5\n")
    dist_info(first, "typing_extensions", "4.16.0", ["typing_extensions.py"])
    dists = installed.distributions([str(first), str(second)])
    assert installed.installed_set(dists) == {"keras": "3.15.1", "cntk": "2.7.post2", "theano": "1.0.5",
                                              "typing-extensions": "4.16.0"}  # PEP 503 names, as pip prints
    # The ownership answer from the same scan as from its own.
    assert installed.ownership([str(first), str(second)], dists) == installed.ownership([str(first), str(second)])
