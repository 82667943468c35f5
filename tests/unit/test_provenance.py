"""Where a run came from: git commit of a checkout (none for an installed copy), host and run header."""

import subprocess

from runner.model.records import KIND, SCHEMA_VERSION
from runner.run import provenance
from runner.util import paths


def test_a_checkout_reports_its_commit(monkeypatch, tmp_path):
    # A checkout of its own (the tests also run from an installed copy, which is no checkout).
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True,
                              env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                                   "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}).stdout.strip()

    git("init", "-q")
    (tmp_path / "f").write_text("x")
    git("add", "f")
    git("commit", "-qm", "one")
    monkeypatch.setattr(paths, "SOURCE_ROOT", tmp_path)
    assert provenance.git_sha() == git("rev-parse", "--short=12", "HEAD")
    (tmp_path / "f").write_text("changed")
    assert provenance.git_sha() == git("rev-parse", "--short=12", "HEAD") + "-dirty"


def test_an_installed_copy_has_no_commit_and_never_asks_git(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "SOURCE_ROOT", tmp_path / "site-packages")
    asked = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: asked.append(a))
    assert provenance.git_sha() is None and asked == []


def test_the_run_header_starts_incomplete_with_settings_and_provenance(tmp_path):
    matrix = tmp_path / "m.yaml"
    matrix.write_bytes(b"version: 1\n")
    doc = provenance.run_document("r1", matrix, 7, ["a", "b"], {"jobs": 2}, {"docker_version": "27.1", "cpus": 4},
                                  True, "cache", "abc", 123)
    assert doc["kind"] == KIND and doc["schema_version"] == SCHEMA_VERSION and doc["complete"] is False
    assert doc["matrix"] == {"path": str(matrix), "cells_total": 7, "cells_selected": ["a", "b"],
                             "sha256": "09bfcc6a14b83e2192b8673677725c84883ee9cd0c70e45c9ec09daa8f2b2847"}
    assert doc["provenance"]["docker_version"] == "27.1" and doc["provenance"]["gpu_runtime"] is True
    assert doc["disk"] == {"layers_bytes_start": 123, "layers_bytes_peak": None, "layers_bytes_end": None}
    assert doc["cells"] == [] and doc["finished_at"] is None
