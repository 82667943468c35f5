"""runner/util/fileio.py: the one atomic writer every results, report, cache and data file goes through."""

import os

import pytest

from runner.util.errors import DataError
from runner.util.fileio import FileProblem, atomic_write_text, atomic_write_with


def test_a_failed_verification_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "mnist.npz"
    target.write_bytes(b"old")

    def refuse(tmp):
        assert tmp.read_bytes() == b"new" and tmp.parent == tmp_path  # checked beside the target, fsynced
        raise DataError("does not verify")

    with pytest.raises(DataError, match="does not verify"):
        atomic_write_with(target, lambda handle: handle.write(b"new"), verify=refuse)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["mnist.npz"]


def test_written_files_are_readable_by_others_and_os_errors_become_the_callers_error(tmp_path):
    path = atomic_write_text(tmp_path / "deep" / "r.json", "{}\n")
    assert path.read_text() == "{}\n" and oct(path.stat().st_mode & 0o777) == "0o644"
    (tmp_path / "dir").mkdir()
    with pytest.raises(FileProblem, match="not a regular file"):
        atomic_write_text(tmp_path / "dir", "x")
    (tmp_path / "plain").write_text("a file, not a directory")
    with pytest.raises(DataError, match="cannot write .*Try another directory"):
        atomic_write_text(tmp_path / "plain" / "x.json", "x", error=DataError, hint="Try another directory.")
