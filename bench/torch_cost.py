"""What a torch axis costs an image: PyPI's Linux torch wheel and everything it requires on Linux.

Measures, from the package index (no install, no Docker): the cp311 manylinux x86_64 wheel of torch and
of every requirement its metadata declares for Linux, recursively (extras included, e.g.
cuda-toolkit[cublas,...] -> nvidia-cublas), each at the newest release that satisfies every specifier seen
for it and has a wheel for the target. For each wheel: its download size (the index's `size`) and its
installed size (the sum of the uncompressed sizes in the wheel's zip directory, read with HTTP range
requests: what the layer holds, before .pyc files).

Metadata comes from https://pypi.org/pypi/<name>/<version>/json when the index serves it; where it answers
404 (some mirrors serve only /pypi/<name>/json) the wheel's own METADATA is read, again with range requests.
This is a greedy walk, not pip's resolver: it says which wheels a Linux install of torch pulls, not how pip
would settle a conflict (the output lists any specifier a chosen release does not meet).

Writes bench/torch-cost.json and prints a table.

  python bench/torch_cost.py [--version 2.15.0] [--python 3.11] [--out bench/torch-cost.json]
"""

from __future__ import annotations

import argparse
import datetime
import email.parser
import io
import json
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
INDEX = "https://pypi.org/pypi"
TIMEOUT = 60.0
GLIBC_MINOR = 36  # Debian bookworm, the py311 era's base: manylinux_2_17 .. manylinux_2_36
CUDA_PREFIXES = ("nvidia-", "cuda-", "triton")

Fetch = Callable[[str, Optional[Tuple[int, int]]], bytes]  # url, byte range (inclusive) -> body


def http_fetch(url: str, byte_range: Optional[Tuple[int, int]] = None) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "keras-matrix-bench"})
    if byte_range:
        request.add_header("Range", "bytes=%d-%d" % byte_range)
    with urllib.request.urlopen(request, timeout=TIMEOUT, context=ssl.create_default_context()) as response:
        body: bytes = response.read()
        if byte_range and response.status != 206:  # a server that ignores Range sent the whole file
            body = body[byte_range[0]:byte_range[1] + 1]
        return body


class RangeFile(io.RawIOBase):
    """A remote file read with HTTP range requests: enough for zipfile to read a wheel's directory and one
    member without downloading the wheel."""

    def __init__(self, url: str, size: int, fetch: Fetch) -> None:
        super().__init__()
        self.url, self.size, self.fetch, self.pos, self.requests = url, size, fetch, 0, 0

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def read(self, n: Optional[int] = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        if end <= self.pos:
            return b""
        data = self.fetch(self.url, (self.pos, end - 1))
        self.requests += 1
        self.pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def target_tags(python: str) -> List[Tag]:
    """Wheel tags a CPython `python` on manylinux x86_64 (glibc 2.GLIBC_MINOR) installs, best first."""
    major, minor = (int(part) for part in python.split("."))
    platforms = ["manylinux_2_%d_x86_64" % m for m in range(GLIBC_MINOR, 16, -1)] + \
        ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    return list(cpython_tags((major, minor), platforms=platforms)) + \
        list(compatible_tags((major, minor), "cp%d%d" % (major, minor), platforms=platforms))


def environment(python: str, extra: str = "") -> Dict[str, str]:
    """PEP 508 marker values of the target: Linux, x86_64, CPython `python`."""
    return {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
            "python_version": python, "python_full_version": python + ".0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "",
            "implementation_version": python + ".0", "extra": extra}


def applies(requirement: Requirement, extras: Iterable[str], python: str) -> bool:
    """Whether a requirement holds on the target for a package asked for with `extras`."""
    if requirement.marker is None:
        return True
    return any(Marker(str(requirement.marker)).evaluate(environment(python, extra))
               for extra in [""] + sorted(extras))


def best_wheel(files: List[Dict[str, Any]], tags: List[Tag]) -> Optional[Dict[str, Any]]:
    rank = {tag: index for index, tag in enumerate(tags)}
    best: Optional[Tuple[int, Dict[str, Any]]] = None
    for entry in files:
        if not entry["filename"].endswith(".whl") or entry.get("yanked"):
            continue
        try:
            _, _, _, wheel_tags = parse_wheel_filename(entry["filename"])
        except ValueError:
            continue
        score = min((rank[t] for t in wheel_tags if t in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, entry)
    return best[1] if best else None


class Index:
    """PyPI's JSON API with the fallbacks this script needs, cached per run."""

    def __init__(self, fetch: Fetch = http_fetch, base: str = INDEX) -> None:
        self.fetch, self.base = fetch, base
        self.projects: Dict[str, Dict[str, Any]] = {}
        self.requests = 0

    def _json(self, url: str) -> Dict[str, Any]:
        self.requests += 1
        result: Dict[str, Any] = json.loads(self.fetch(url, None))
        # File URLs are absolute on pypi.org; some mirrors write them relative to the document.
        for files in [result.get("urls") or []] + list((result.get("releases") or {}).values()):
            for entry in files:
                entry["url"] = urllib.parse.urljoin(url, entry["url"])
        return result

    def project(self, name: str) -> Dict[str, Any]:
        if name not in self.projects:
            self.projects[name] = self._json("%s/%s/json" % (self.base, name))
        return self.projects[name]

    def release(self, name: str, version: str) -> Tuple[List[Dict[str, Any]], Optional[List[str]], str]:
        """(files, requires_dist or None when the index did not say, where it came from)."""
        try:
            doc = self._json("%s/%s/%s/json" % (self.base, name, version))
            return doc["urls"], doc["info"].get("requires_dist") or [], "index: /pypi/%s/%s/json" % (name, version)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
        doc = self.project(name)
        files = doc["releases"].get(version, [])
        if doc["info"]["version"] == version:
            return files, doc["info"].get("requires_dist") or [], "index: /pypi/%s/json (latest release)" % name
        return files, None, "wheel METADATA (the index answered 404 for /pypi/%s/%s/json)" % (name, version)


def read_wheel(entry: Dict[str, Any], fetch: Fetch) -> Tuple[int, List[str], int]:
    """(installed bytes, Requires-Dist lines, HTTP requests) from the wheel's zip directory and METADATA."""
    remote = RangeFile(entry["url"], int(entry["size"]), fetch)
    with zipfile.ZipFile(io.BufferedReader(remote, buffer_size=1 << 16)) as wheel:
        installed = sum(info.file_size for info in wheel.infolist())
        metadata = [n for n in wheel.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        requires: List[str] = []
        if metadata:
            message = email.parser.Parser().parsestr(wheel.read(metadata[0]).decode("utf-8", "replace"))
            requires = message.get_all("Requires-Dist") or []
    return installed, requires, remote.requests


def choose(index: Index, name: str, spec: SpecifierSet, tags: List[Tag]) -> Tuple[str, Dict[str, Any]]:
    """The newest release of `name` in `spec` with a wheel for the target (pre-releases only if named)."""
    releases = index.project(name)["releases"]
    candidates = []
    for text, files in releases.items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if spec.contains(version):  # pre-releases only where the specifier names one (PEP 440)
            candidates.append((version, text, files))
    for _, text, files in sorted(candidates, reverse=True):
        wheel = best_wheel(files, tags)
        if wheel is not None:
            return text, wheel
    raise LookupError("no release of %s in %r has a wheel for the target" % (name, str(spec)))


def walk(root: str, python: str, index: Index, fetch: Fetch = http_fetch) -> Dict[str, Any]:
    """Every wheel a Linux install of `root` pulls, with sizes; see the module docstring."""
    tags = target_tags(python)
    specs: Dict[str, SpecifierSet] = {}
    extras: Dict[str, Set[str]] = {}
    required_by: Dict[str, Set[str]] = {}
    chosen: Dict[str, Dict[str, Any]] = {}
    first = Requirement(root)
    queue = [(first, "(root)")]
    while queue:
        requirement, parent = queue.pop(0)
        name = canonicalize_name(requirement.name)
        specs[name] = specs.get(name, SpecifierSet()) & requirement.specifier
        new_extras = set(requirement.extras) - extras.get(name, set())
        extras.setdefault(name, set()).update(requirement.extras)
        required_by.setdefault(name, set()).add(parent)
        current = chosen.get(name)
        if current and Version(current["version"]) in specs[name] and not new_extras:
            continue
        version, wheel = choose(index, name, specs[name], tags)
        if not current or current["version"] != version:
            files, requires, source = index.release(name, version)
            wheel = best_wheel(files, tags) or wheel
            installed, wheel_requires, requests = read_wheel(wheel, fetch)
            index.requests += requests
            if requires is None:
                requires = wheel_requires
            current = chosen[name] = {"name": name, "version": version, "wheel": wheel["filename"],
                                      "download_bytes": int(wheel["size"]), "installed_bytes": installed,
                                      "metadata_source": source, "requires_dist": requires}
        for line in current["requires_dist"]:
            child = Requirement(line)
            if applies(child, extras[name], python):
                queue.append((child, "%s %s" % (name, current["version"])))
    packages = []
    for package, info in chosen.items():
        unmet = "" if Version(info["version"]) in specs[package] else str(specs[package])
        group = "torch" if package == canonicalize_name(first.name) else \
            "cuda" if package.startswith(CUDA_PREFIXES) else "other"
        packages.append({**{k: v for k, v in info.items() if k != "requires_dist"}, "group": group,
                         "extras": sorted(extras[package]), "specifier": str(specs[package]),
                         "required_by": sorted(required_by[package]), **({"unmet_specifier": unmet} if unmet else {})})
    packages.sort(key=lambda p: (-p["installed_bytes"], p["name"]))
    totals = {}
    for group in ("torch", "cuda", "other", "all"):
        members = [p for p in packages if group in ("all", p["group"])]
        totals[group] = {"packages": len(members), "download_bytes": sum(p["download_bytes"] for p in members),
                         "installed_bytes": sum(p["installed_bytes"] for p in members)}
    return {"packages": packages, "totals": totals}


def table(doc: Dict[str, Any]) -> str:
    rows = ["%-34s %-14s %10s %10s  %s" % ("package", "version", "download", "installed", "group"),
            "-" * 80]
    for p in doc["packages"]:
        rows.append("%-34s %-14s %8.1f MB %8.1f MB  %s" % (p["name"], p["version"], p["download_bytes"] / 1e6,
                                                          p["installed_bytes"] / 1e6, p["group"]))
    rows.append("-" * 80)
    for group, label in (("torch", "torch itself"), ("cuda", "CUDA/GPU (nvidia-*, cuda-*, triton)"),
                         ("other", "other requirements"), ("all", "all %d wheels" % doc["totals"]["all"]["packages"])):
        t = doc["totals"][group]
        rows.append("%-49s %8.1f MB %8.1f MB" % (label, t["download_bytes"] / 1e6, t["installed_bytes"] / 1e6))
    return "\n".join(rows)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help="torch release (default: the newest on the index)")
    parser.add_argument("--python", default="3.11", help="CPython version of the target (default: 3.11, the py311 era)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "torch-cost.json"))
    args = parser.parse_args(argv)
    index = Index()
    version = args.version or index.project("torch")["info"]["version"]
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    result = walk("torch==%s" % version, args.python, index)
    doc = {"kind": "keras-matrix-torch-cost", "measured_at": started.isoformat(), "index": INDEX,
           "root": "torch==%s" % version,
           "target": {"python": args.python, "implementation": "cpython",
                      "platform": "manylinux x86_64, glibc <= 2.%d (Debian bookworm)" % GLIBC_MINOR},
           "method": "greedy walk of Requires-Dist for Linux x86_64 (extras followed); newest release in every "
                     "specifier seen with a wheel for the target; download_bytes = the index's size, "
                     "installed_bytes = sum of uncompressed sizes in the wheel's zip directory (read with HTTP "
                     "range requests)",
           "http_requests": index.requests, **result}
    Path(args.out).write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    print(table(result))
    print("\nwrote %s (%d requests to the index and the wheels)" % (args.out, index.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
