"""Every file the tool writes or reads from a user goes through here.

Writes are atomic (a temp file in the same directory, fsync, rename): a reader sees the old file or the
new one, never half of one, and an interrupted write leaves no temp file. The target must be a regular
file or absent: a FIFO, device or directory planted at that name is refused, and a symlink there is
replaced, never written through. Reads are capped and only from regular files, so a FIFO or /dev/zero
given as input fails at once instead of hanging or filling memory.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Type, Union

PathLike = Union[str, "os.PathLike[str]"]


class FileProblem(OSError):
    """A path the tool will not read or write (not a regular file, too large); carries a plain message."""


def _check_target(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or stat.S_ISREG(st.st_mode):
        return  # a link is replaced by the rename, never followed
    raise FileProblem("%s exists and is not a regular file; refusing to replace it" % path)


def atomic_write_with(path: PathLike, write: Callable[[BinaryIO], None], mode: int = 0o644,
                      verify: Optional[Callable[[Path], None]] = None,
                      error: Optional[Type[Exception]] = None, hint: str = "") -> Path:
    """The one atomic write: `write` fills a temp file beside `path` (fsynced), `verify` may check the temp
    file before it replaces `path`, and nothing is left behind on failure. OSError on failure, or
    `error(message)` when given; whatever `write` or `verify` raise passes through."""
    path = Path(path)
    tmp: Optional[str] = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _check_target(path)
        fd, tmp = tempfile.mkstemp(prefix=".%s." % path.name, suffix=".tmp", dir=str(path.parent))
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if verify is not None:
            verify(Path(tmp))
        os.chmod(tmp, mode)  # mkstemp makes 0600; results, reports and data are meant to be read
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if error is None:
            raise
        raise error("cannot write %s: %s.%s" % (path, exc.strerror or exc, (" " + hint) if hint else "")) from exc
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_bytes(path: PathLike, data: bytes, mode: int = 0o644,
                       error: Optional[Type[Exception]] = None, hint: str = "") -> Path:
    """Write data to path atomically. OSError (or `error(message)` when given) on failure."""
    def write(handle: BinaryIO) -> None:
        handle.write(data)

    return atomic_write_with(path, write, mode=mode, error=error, hint=hint)


def atomic_write_text(path: PathLike, text: str, mode: int = 0o644,
                      error: Optional[Type[Exception]] = None, hint: str = "") -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), mode=mode, error=error, hint=hint)


def read_capped(path: PathLike, limit: int, what: str = "file", follow: bool = True) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; FileProblem otherwise (FIFO, device, too big).

    Opened without blocking, then checked with fstat on the very file opened, so a FIFO swapped in after a
    check cannot make the read hang. follow=False: a symbolic link there is refused (OSError ELOOP)."""
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags if follow else flags | getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem("%s is not a regular file (a pipe or device?); give a %s" % (path, what))
        if st.st_size > limit:
            raise FileProblem("%s is %d bytes, more than the %d a %s may have" % (path, st.st_size, limit, what))
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:  # grew while read
                raise FileProblem("%s is more than the %d bytes a %s may have" % (path, limit, what))
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def append_text(path: PathLike, text: str, what: str = "file") -> None:
    """Append text to a regular file (created 0644 when absent, its directory never). Opened without
    blocking and without following a link, then checked with fstat on the very file opened: a FIFO,
    device, directory or link there is refused (FileProblem or another OSError), never written to or waited on."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        if os.path.islink(path):
            raise FileProblem("%s is a symbolic link; give the %s itself" % (path, what)) from None
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            raise exc from None
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a FIFO without a reader: ENXIO
            raise FileProblem("%s is not a regular file (a pipe or device?); give a %s" % (path, what)) from None
        raise exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileProblem("%s is not a regular file (a pipe or device?); give a %s" % (path, what))
        os.set_blocking(fd, True)
        data = text.encode("utf-8")
        while data:
            written = os.write(fd, data)
            data = data[written:]
    finally:
        os.close(fd)
