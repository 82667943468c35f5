"""Release ranges: an axis that names a range (``keras: {releases: ">=0.2,<4"}``) becomes the list of
releases in it, read from the package index (PyPI's JSON API) when it answers, else from the versions list
kept in the package (runner/resources/versions/<axis>.txt, written by ``python -m runner.matrix.releases``).

Final releases only unless the range itself names a pre-release (PEP 440's rule), and never a yanked
release. Each expansion says where its releases came from and when, and is recorded in the results.

    python -m runner.matrix.releases keras tensorflow jax    # rewrite the versions lists from PyPI
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from runner.util import paths
from runner.util.fileio import FileProblem, read_capped
from runner.util.net import tls_context
from runner.util.text import one_line
from runner.util.validate import version_text_problem

INDEX_URL = "https://pypi.org/pypi/%s/json"
# Another index with PyPI's JSON API (a mirror, a local fake in the tests): its base URL, e.g.
# http://127.0.0.1:8080/pypi (the document of a package is BASE/<name>/json).
INDEX_VARIABLE = "KERAS_MATRIX_INDEX_URL"
_INDEX_BASE = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]{0,200})?")
INDEX_TIMEOUT = 10.0  # for the whole request: connecting, the headers and the body together
MAX_INDEX_BYTES = 64 * 1024 * 1024  # TensorFlow's document is ~1.6 MB; anything near this is not PyPI's
MAX_LIST_BYTES = 1024 * 1024  # a kept versions list (keras.txt is ~3 kB)
VERSIONS_DIR = paths.resources_dir() / "versions"
# Axis -> distribution name on the index (the CPU name: releases are the same for the GPU packages).
DISTRIBUTIONS = {"keras": "keras", "tensorflow": "tensorflow", "theano": "Theano", "cntk": "cntk", "jax": "jax",
                 "torch": "torch", "numpy": "numpy", "openvino": "openvino"}

# package name -> the index's JSON document (PyPI's /pypi/<name>/json shape); raises OSError or ValueError.
IndexFetch = Callable[[str, float], Dict[str, Any]]


class RangeError(ValueError):
    """A range that is not a PEP 440 specifier, or that no release satisfies; matrix.py adds file:line:key."""


@dataclass(frozen=True)
class Expansion:
    """One range and the releases it stood for in this run."""

    axis: str
    range: str
    source: str  # "index" or "list"
    date: str  # when the index answered, or when the list was generated
    versions: Tuple[str, ...]
    where: str = ""  # the group (or command) that named the range
    index_error: Optional[str] = None  # why the list was used although the index was asked

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"axis": self.axis, "range": self.range, "source": self.source, "date": self.date,
                               "versions": list(self.versions)}
        if self.where:
            out["where"] = self.where
        if self.index_error:
            out["index_error"] = self.index_error
        return out


def parse_range(text: Any) -> SpecifierSet:
    """A non-empty PEP 440 specifier set, or RangeError saying what would be valid."""
    if not isinstance(text, str) or not text.strip():
        raise RangeError("a release range is a PEP 440 specifier such as '>=1.0,<2', got %r" % (text,))
    problem = version_text_problem(text)
    if problem:
        raise RangeError("the range %r is refused: %s" % (text[:80], problem))
    try:
        spec = SpecifierSet(text)
    except (InvalidSpecifier, InvalidVersion):
        raise RangeError("%r is not a PEP 440 specifier; write e.g. '>=1.0,<2' (a single release is "
                         "written as a plain version, not under 'releases')" % text) from None
    if not str(spec):
        raise RangeError("%r is an empty range; write e.g. '>=1.0,<2'" % text)
    return spec


def in_range(spec: SpecifierSet, versions: Sequence[Version]) -> List[Version]:
    """The versions in spec, ascending; pre-releases only when the range names one (no fallback to them)."""
    pre = bool(spec.prereleases)
    return sorted(v for v in versions if spec.contains(v, prereleases=pre))


def index_url(name: str) -> str:
    """The URL of a distribution's JSON document: PyPI's, or under $KERAS_MATRIX_INDEX_URL (checked: a plain
    http(s) URL, else ValueError, which the resolver reports as the index's failure)."""
    base = os.environ.get(INDEX_VARIABLE)
    if not base:
        return INDEX_URL % name
    if not _INDEX_BASE.fullmatch(base):
        raise ValueError("$%s is not a plain http(s) URL such as http://127.0.0.1:8080/pypi" % INDEX_VARIABLE)
    return "%s/%s/json" % (base.rstrip("/"), name)


def _download(url: str, deadline: float, timeout: float) -> bytes:
    context = tls_context()  # the same bundle the builds get (corporate TLS interception)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    chunks: List[bytes] = []
    total = 0
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("the index did not finish its answer within %g s" % timeout)
            chunk = response.read1(1 << 16)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_INDEX_BYTES:
                raise ValueError("the index answered more than %d bytes" % MAX_INDEX_BYTES)
            chunks.append(chunk)
        if response.length:  # the connection ended before the Content-Length it announced
            raise http.client.IncompleteRead(b"".join(chunks), response.length)
    return b"".join(chunks)


def fetch_index(name: str, timeout: float) -> Dict[str, Any]:
    """PyPI's JSON document for a distribution, over TLS checked against the host's CA bundle.

    `timeout` bounds the whole request, not each read: the download runs in a daemon thread that is left
    behind (it ends at its next read) when the index has not answered in full by then. TimeoutError then;
    ValueError for an answer that is too large, not JSON, nested too deeply or not an object."""
    url = index_url(name)
    deadline = time.monotonic() + timeout
    outcome: Dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["body"] = _download(url, deadline, timeout)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="index-%s" % name, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError("the index did not answer within %g s" % timeout)
    if "error" in outcome:
        raise outcome["error"]
    try:
        document = json.loads(outcome["body"].decode("utf-8"))
    except RecursionError:
        raise ValueError("the index answered JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise ValueError("the index answered something other than a JSON object")
    return document


def index_releases(document: Dict[str, Any]) -> List[Version]:
    """Releases with at least one file, none of them yanked, from a PyPI JSON document."""
    releases = document.get("releases")
    if not isinstance(releases, dict):
        raise ValueError("no 'releases' in the index's answer")
    out = []
    for text, files in releases.items():
        try:
            if version_text_problem(text):
                continue  # '===' names, numbers of thousands of digits: not a release we can pin
            version = Version(text)
        except InvalidVersion:
            continue  # pre-PEP 440 releases cannot be pinned with == anyway
        if isinstance(files, list) and files and not all(isinstance(f, dict) and f.get("yanked") for f in files):
            out.append(version)
    return sorted(out)


def read_list(axis: str, directory: Path = VERSIONS_DIR) -> Tuple[List[Version], str]:
    """(releases, generation date) from the list kept in the package; FileNotFoundError when there is none.

    Read like any input: a regular file of at most MAX_LIST_BYTES (a FIFO or device fails at once), UTF-8
    (a leading BOM is allowed), one version per line; RangeError saying which line otherwise."""
    path = directory / ("%s.txt" % axis)
    try:
        text = read_capped(path, MAX_LIST_BYTES, "versions list").decode("utf-8-sig")
    except FileNotFoundError:
        raise
    except FileProblem as exc:
        raise RangeError("the versions list: %s" % exc) from None
    except OSError as exc:
        raise RangeError("cannot read the versions list %s: %s" % (path, exc.strerror or exc)) from None
    except UnicodeDecodeError:
        raise RangeError("the versions list %s is not UTF-8 text" % path) from None
    date = "unknown"
    versions = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line.startswith("# generated:"):
            date = (line.split(":", 1)[1].strip().split() or ["unknown"])[0][:40]
        elif line and not line.startswith("#"):
            try:
                if version_text_problem(line):
                    raise InvalidVersion(line)
                versions.append(Version(line))
            except InvalidVersion:
                raise RangeError("the versions list %s:%d: %r is not a PEP 440 version"
                                 % (path, number, line[:60])) from None
    return sorted(versions), date


@dataclass
class Resolver:
    """Expands ranges; asks the index once per axis and remembers every expansion it made."""

    offline: bool = False
    timeout: float = INDEX_TIMEOUT
    fetch: IndexFetch = fetch_index
    lists_dir: Path = VERSIONS_DIR
    expansions: List[Expansion] = field(default_factory=list)
    _known: Dict[str, Tuple[List[Version], str, str, Optional[str]]] = field(default_factory=dict)

    def releases(self, axis: str) -> Tuple[List[Version], str, str, Optional[str]]:
        """(releases, source, date, index error) for an axis."""
        if axis not in self._known:
            self._known[axis] = self._look_up(axis)
        return self._known[axis]

    def _look_up(self, axis: str) -> Tuple[List[Version], str, str, Optional[str]]:
        problem = "--offline" if self.offline else None
        if not self.offline:
            try:
                found = index_releases(self.fetch(DISTRIBUTIONS.get(axis, axis), self.timeout))
                return found, "index", time.strftime("%Y-%m-%d", time.gmtime()), None
            except (OSError, ValueError, http.client.HTTPException) as exc:  # unreachable, slow, cut, not JSON
                problem = "%s: %s" % (type(exc).__name__, one_line(exc, 200))
        try:
            versions, date = read_list(axis, self.lists_dir)
        except FileNotFoundError:
            raise RangeError("cannot list %s releases: the index was not asked or did not answer (%s) and there "
                             "is no list %s" % (axis, problem, self.lists_dir / ("%s.txt" % axis))) from None
        return versions, "list", date, problem

    def expand(self, axis: str, text: Any, where: str = "") -> Expansion:
        """The releases of axis in the range text, recorded; RangeError when it is invalid or empty."""
        spec = parse_range(text)
        versions, source, date, problem = self.releases(axis)
        chosen = in_range(spec, versions)
        if not chosen:
            final = [v for v in versions if not v.is_prerelease]
            raise RangeError("no %s release in the range %r (%d final releases known from the %s of %s%s)"
                             % (axis, text, len(final), source, date,
                                ", %s to %s" % (final[0], final[-1]) if final else ""))
        expansion = Expansion(axis=axis, range=str(text), source=source, date=date,
                              versions=tuple(str(v) for v in chosen), where=where, index_error=problem)
        self.expansions.append(expansion)
        return expansion

    def between(self, axis: str, low: str, high: str, where: str = "") -> Expansion:
        """Releases from low to high, both included; each bound must itself be a release."""
        for bound in (low, high):
            try:
                if version_text_problem(bound):
                    raise InvalidVersion(bound)
                Version(bound)
            except InvalidVersion:
                raise RangeError("%r is not a PEP 440 version" % bound) from None
        if Version(low) >= Version(high):
            raise RangeError("the lower bound %s is not below the upper bound %s" % (low, high))
        expansion = self.expand(axis, ">=%s,<=%s" % (low, high), where)
        found = [Version(v) for v in expansion.versions]
        for bound in (low, high):
            if Version(bound) not in found:
                raise RangeError("%s %s is not a release (releases from %s to %s: %s)"
                                 % (axis, bound, low, high, ", ".join(expansion.versions)))
        return expansion


def write_list(axis: str, directory: Path = VERSIONS_DIR, fetch: IndexFetch = fetch_index) -> Path:
    """Rewrite the kept list of an axis from the index, with a header saying when and how."""
    name = DISTRIBUTIONS.get(axis, axis)
    versions = [v for v in index_releases(fetch(name, 60.0)) if not v.is_prerelease]
    header = ["# %s releases on PyPI: final releases with files, none yanked (pre-releases left out)." % name,
              "# generated: %s from %s" % (time.strftime("%Y-%m-%d", time.gmtime()), index_url(name)),
              "# by: python -m runner.matrix.releases %s   (used when the index is unreachable, or with --offline)"
              % axis,
              "# %d releases, %s to %s" % (len(versions), versions[0], versions[-1])]
    path = directory / ("%s.txt" % axis)
    path.write_text("\n".join(header + [str(v) for v in versions]) + "\n")
    return path


def main(argv: Optional[List[str]] = None) -> int:
    axes = argv if argv is not None else sys.argv[1:]
    if not axes or any(a not in DISTRIBUTIONS for a in axes):
        print("usage: python -m runner.matrix.releases AXIS... (axes: %s)" % ", ".join(DISTRIBUTIONS), file=sys.stderr)
        return 2
    for axis in axes:
        print(write_list(axis))
    return 0


if __name__ == "__main__":
    sys.exit(main())
