"""Release ranges: an axis that names a range (``keras: {releases: ">=0.2,<4"}``) becomes the list of
releases in it, read from the package index (PyPI's JSON API) when it answers, else from the versions list
kept in the package (runner/resources/versions/<axis>.txt, written by ``python -m runner.matrix.releases``).

Final releases only unless the range itself names a pre-release (PEP 440's rule), and never a yanked
release. Each expansion says where its releases came from and when, and is recorded in the results.

    python -m runner.matrix.releases keras tensorflow jax    # rewrite the versions lists from PyPI
"""

from __future__ import annotations

import http.client
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from runner.matrix.pypi_json import INDEX_TIMEOUT, IndexFetch, fetch_index, index_url
from runner.util import paths
from runner.util.fileio import FileProblem, read_capped
from runner.util.text import one_line
from runner.util.validate import version_text_problem

MAX_LIST_BYTES = 1024 * 1024  # a kept versions list (keras.txt is ~3 kB)
VERSIONS_DIR = paths.resources_dir() / "versions"
# Axis -> distribution name on the index (the CPU name: releases are the same for the GPU packages).
DISTRIBUTIONS = {"keras": "keras", "tensorflow": "tensorflow", "theano": "Theano", "cntk": "cntk", "jax": "jax",
                 "torch": "torch", "numpy": "numpy", "openvino": "openvino"}


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


_ISO = "%Y-%m-%dT%H:%M:%SZ"
_UPLOAD_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")


def index_upload_times(document: Dict[str, Any]) -> Dict[str, str]:
    """Release -> when it was published ('2018-06-06T23:18:45Z', UTC) from a PyPI JSON document: the last upload
    among its files uploaded within a day of its first (a wheel follows its sdist by seconds or minutes; a file
    added months later is not what its release day served). What "its release day" means for an as_of cell.
    Releases without a readable time are left out."""
    out: Dict[str, str] = {}
    releases = document.get("releases")
    for text, files in (releases.items() if isinstance(releases, dict) else ()):
        times = []
        for item in files if isinstance(files, list) else ():
            stamp = item.get("upload_time_iso_8601") or item.get("upload_time") if isinstance(item, dict) else None
            if isinstance(stamp, str) and _UPLOAD_TIME.match(stamp):
                times.append(stamp[:19] + "Z")
        if times:
            first = min(times)
            day_after = (datetime.strptime(first, _ISO) + timedelta(days=1)).strftime(_ISO)
            out[text] = max(t for t in times if t <= day_after)
    return out


def _by_version(times: Dict[str, str]) -> Dict[Version, str]:
    """Upload times keyed by release, so '2.2' and '2.2.0' name one (texts that are not versions left out)."""
    out = {}
    for text, stamp in times.items():
        try:
            if not version_text_problem(text):
                out[Version(text)] = stamp
        except InvalidVersion:
            continue
    return out


def read_list(axis: str, directory: Path = VERSIONS_DIR) -> Tuple[List[Version], str]:
    """(releases, generation date) from the list kept in the package; FileNotFoundError when there is none."""
    versions, date, _ = _read_kept(axis, directory)
    return versions, date


def read_upload_times(axis: str, directory: Path = VERSIONS_DIR) -> Dict[str, str]:
    """Release -> upload time from the kept list's second column (lists written before it have none: {})."""
    return _read_kept(axis, directory)[2]


def _read_kept(axis: str, directory: Path) -> Tuple[List[Version], str, Dict[str, str]]:
    """(releases, generation date, upload times) of a kept list.

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
    times = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line.startswith("# generated:"):
            date = (line.split(":", 1)[1].strip().split() or ["unknown"])[0][:40]
        elif line and not line.startswith("#"):
            fields = line.split()
            line = fields[0]
            if len(fields) > 1 and _UPLOAD_TIME.fullmatch(fields[1].rstrip("Z")):
                times[line] = fields[1].rstrip("Z") + "Z"
            try:
                if version_text_problem(line):
                    raise InvalidVersion(line)
                versions.append(Version(line))
            except InvalidVersion:
                raise RangeError("the versions list %s:%d: %r is not a PEP 440 version"
                                 % (path, number, line[:60])) from None
    return sorted(versions), date, times


@dataclass
class Resolver:
    """Expands ranges; asks the index once per axis and remembers every expansion it made."""

    offline: bool = False
    timeout: float = INDEX_TIMEOUT
    fetch: IndexFetch = fetch_index
    lists_dir: Path = VERSIONS_DIR
    expansions: List[Expansion] = field(default_factory=list)
    _known: Dict[str, Tuple[List[Version], str, str, Optional[str]]] = field(default_factory=dict)
    _uploads: Dict[str, Dict[Version, str]] = field(default_factory=dict)  # axis -> release -> upload time

    def releases(self, axis: str) -> Tuple[List[Version], str, str, Optional[str]]:
        """(releases, source, date, index error) for an axis."""
        if axis not in self._known:
            self._known[axis] = self._look_up(axis)
        return self._known[axis]

    def _look_up(self, axis: str) -> Tuple[List[Version], str, str, Optional[str]]:
        problem = "--offline" if self.offline else None
        if not self.offline:
            try:
                document = self.fetch(DISTRIBUTIONS.get(axis, axis), self.timeout)
                found = index_releases(document)
                self._uploads[axis] = _by_version(index_upload_times(document))
                return found, "index", time.strftime("%Y-%m-%d", time.gmtime()), None
            except (OSError, ValueError, http.client.HTTPException) as exc:  # unreachable, slow, cut, not JSON
                problem = "%s: %s" % (type(exc).__name__, one_line(exc, 200))
        try:
            versions, date, times = _read_kept(axis, self.lists_dir)
        except FileNotFoundError:
            raise RangeError("cannot list %s releases: the index was not asked or did not answer (%s) and there "
                             "is no list %s" % (axis, problem, self.lists_dir / ("%s.txt" % axis))) from None
        self._uploads[axis] = _by_version(times)
        return versions, "list", date, problem

    def uploaded(self, axis: str, version: str) -> Tuple[str, str]:
        """(upload time of the release, where it came from: 'index DATE' or 'list DATE'); RangeError when the
        release is not on the index or its time is unknown (a kept list written before times were kept)."""
        versions, source, date, problem = self.releases(axis)
        stamp = self._uploads.get(axis, {}).get(Version(version))
        if stamp is None:
            known = "is not a release on the index" if Version(version) not in versions else \
                "has no upload time in the %s of %s" % (source, date)
            raise RangeError("%s %s %s%s" % (axis, version, known, " (index: %s)" % problem if problem else ""))
        return stamp, "%s %s" % (source, date)

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
    document = fetch(name, 60.0)
    versions = [v for v in index_releases(document) if not v.is_prerelease]
    uploads = {Version(k): t for k, t in index_upload_times(document).items() if not version_text_problem(k)}
    header = ["# %s releases on PyPI: final releases with files, none yanked (pre-releases left out)." % name,
              "# generated: %s from %s" % (time.strftime("%Y-%m-%d", time.gmtime()), index_url(name)),
              "# by: python -m runner.matrix.releases %s   (used when the index is unreachable, or with --offline)"
              % axis,
              "# each line: a release and when it was published "
              "(UTC: its last file uploaded within a day of the first)",
              "# %d releases, %s to %s" % (len(versions), versions[0], versions[-1])]
    path = directory / ("%s.txt" % axis)
    lines = [("%s %s" % (v, uploads[v])) if v in uploads else str(v) for v in versions]
    path.write_text("\n".join(header + lines) + "\n")
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
