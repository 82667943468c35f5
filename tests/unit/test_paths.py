"""runner.util.paths: a source checkout uses its own dockerfiles/; an installed package (no pyproject.toml and
no dockerfiles/ beside runner/) uses the package data the wheel carries. (tests/integration/test_install.py
installs a real wheel and runs from /.)"""

from runner.util import paths
from tests.conftest import ROOT


def test_a_checkout_uses_its_own_dockerfiles():
    if paths.source_checkout() is None:  # these tests run against an installed package (test_install.py)
        assert paths.templates_dir() == paths.PACKAGE_DIR / "dockerfiles"
    else:
        assert paths.templates_dir() == ROOT / "dockerfiles"
    assert (paths.templates_dir() / "py3-cpu.Dockerfile.j2").is_file()
    assert paths.eras_file().is_file()
    assert (paths.probe_dir() / "probe.py").is_file()
    assert (paths.resources_dir() / "results.schema.json").is_file()


def test_an_installed_package_uses_its_package_data(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    (site / "runner" / "dockerfiles").mkdir(parents=True)
    (site / "runner" / "dockerfiles" / "eras.yaml").write_text("{}\n")
    monkeypatch.setattr(paths, "SOURCE_ROOT", site)
    monkeypatch.setattr(paths, "_package_path", lambda name: site / "runner" / name)
    assert paths.source_checkout() is None
    assert paths.templates_dir() == site / "runner" / "dockerfiles"
    assert paths.eras_file() == site / "runner" / "dockerfiles" / "eras.yaml"


def test_a_stray_dockerfiles_directory_in_site_packages_is_not_a_checkout(tmp_path, monkeypatch):
    (tmp_path / "dockerfiles").mkdir()
    (tmp_path / "dockerfiles" / "eras.yaml").write_text("{}\n")
    monkeypatch.setattr(paths, "SOURCE_ROOT", tmp_path)
    assert paths.source_checkout() is None
    (tmp_path / "pyproject.toml").write_text("")
    assert paths.source_checkout() == tmp_path


def test_the_cache_and_generated_dockerfiles_follow_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.CACHE_DIR_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.default_cache_dir() == tmp_path / ".cache"
    assert paths.default_generated_dir() == tmp_path / "dockerfiles" / "generated"
    monkeypatch.setenv(paths.CACHE_DIR_VARIABLE, str(tmp_path / "c"))
    assert paths.default_cache_dir() == tmp_path / "c"
