# -*- coding: utf-8 -*-
"""What the installed set says about itself: `pip check`, and which distributions own each top-level
import package (two distributions writing one package, e.g. keras and keras-nightly both writing keras/,
is a broken stack whatever Keras says afterwards).

Ownership is read from the metadata directories pip leaves in each sys.path entry (a .dist-info's RECORD,
an .egg-info's installed-files.txt, else its top_level.txt): the same files importlib.metadata and
pkg_resources read, read directly so Python 2.7 and 3.x (3.5-3.7 have no importlib.metadata) give the
same answer, and so the parsing can be tested on a fake site-packages.
Runs on Python 2.7 and 3.x: no f-strings, no annotations.
"""
from __future__ import print_function

import io
import os
import re
import sys

from common import clip, run

NO_PROBLEMS = "No broken requirements found."
MAX_PROBLEMS = 50
_MODULE_SUFFIXES = (".py", ".so", ".pyd")


def parse_pip_check(code, out):
    """pip check's exit code and stdout -> {'exit_code', 'problems': [line, ...]}.
    Its lines look like 'tensorflow 2.5.3 requires numpy~=1.19.2, but you have numpy 1.23.5.' (older pips:
    'has requirement'), 'x 1.0 requires y, which is not installed.' or the all-clear sentence."""
    problems = []
    for line in out.splitlines():
        line = line.strip()
        if line and line != NO_PROBLEMS:
            problems.append(clip(line, 500))
    return {"exit_code": code, "problems": problems[:MAX_PROBLEMS]}


def pip_check():
    code, out, err, timed_out = run([sys.executable, "-m", "pip", "check"], timeout=120)
    result = parse_pip_check(code, out)
    if timed_out:
        result["error"] = "pip check ran past 120 s"
    elif code not in (0, 1) or (code == 1 and not result["problems"]):
        result["error"] = clip("pip check failed (exit code %s): %s" % (code, err), 1000)
    return result


def _read_text(path):
    try:
        with io.open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def _name_version(meta_dir):
    """(name, version) from METADATA/PKG-INFO headers, else from the directory's own name."""
    for header_file in ("METADATA", "PKG-INFO"):
        text = _read_text(os.path.join(meta_dir, header_file))
        if text is None:
            continue
        fields = {}
        for line in text.splitlines():
            if not line.strip():
                break  # the headers end at the first blank line
            key, sep, value = line.partition(":")
            if sep and key in ("Name", "Version") and key not in fields:
                fields[key] = value.strip()
        if "Name" in fields:
            return fields["Name"], fields.get("Version", "")
    stem = os.path.basename(meta_dir).rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    return name, version.split("-")[0]


def top_level_name(relative_path):
    """'keras/layers/core.py' -> 'keras'; 'six.py' -> 'six'; '_x.cpython-311.so' -> '_x'; metadata,
    caches, scripts outside site-packages ('../../bin/x') and data files -> None."""
    parts = relative_path.replace("\\", "/").split("/")
    first = parts[0]
    if not first or first in ("..", ".", "__pycache__") or first.endswith((".dist-info", ".egg-info", ".data")):
        return None
    if len(parts) > 1:
        return first
    if first.endswith(_MODULE_SUFFIXES):
        return first.split(".")[0]
    return None


def _unquote(field):
    if len(field) > 1 and field[0] == field[-1] == '"':
        return field[1:-1].replace('""', '"')
    return field


def _record_hashes(meta_dir):
    """{path as RECORD writes it: its hash} for the rows of RECORD that carry one ('sha256=...')."""
    text = _read_text(os.path.join(meta_dir, "RECORD")) or ""
    rows = [line.rsplit(",", 2) for line in text.splitlines() if line.strip()]
    return dict((_unquote(row[0]).replace("\\", "/"), row[1]) for row in rows if len(row) == 3 and row[1])


def _record_files(meta_dir, site_dir):
    """Files the distribution wrote, relative to site_dir, or None when its metadata lists none."""
    text = _read_text(os.path.join(meta_dir, "RECORD"))
    if text is not None:  # rows are path,hash,size: only the path may hold a comma (then it is quoted)
        return [_unquote(line.rsplit(",", 2)[0]) for line in text.splitlines() if line.strip()]
    text = _read_text(os.path.join(meta_dir, "installed-files.txt"))
    if text is not None:  # paths relative to the .egg-info directory
        return [os.path.relpath(os.path.normpath(os.path.join(meta_dir, line.strip())), site_dir)
                for line in text.splitlines() if line.strip()]
    return None


def distributions(site_dirs):
    """[(name, version, [written file relative paths] or None, [top-level names], {path: RECORD hash})] in each
    directory."""
    found = []
    for site_dir in site_dirs:
        try:
            entries = sorted(os.listdir(site_dir))
        except (IOError, OSError):
            continue
        for entry in entries:
            if not entry.endswith((".dist-info", ".egg-info")):
                continue
            meta_dir = os.path.join(site_dir, entry)
            if not os.path.isdir(meta_dir):
                continue
            name, version = _name_version(meta_dir)
            files = _record_files(meta_dir, site_dir)
            if files is not None:
                tops = set(t for t in (top_level_name(f) for f in files) if t)
            else:
                tops = set(line.strip() for line in (_read_text(os.path.join(meta_dir, "top_level.txt")) or "")
                           .splitlines() if line.strip())
            found.append((name, version, files, sorted(tops), _record_hashes(meta_dir)))
    return found


def installed_set(dists):
    """distributions() -> {canonical name: version}: what importlib.metadata sees, the first of a name in
    sys.path order winning as at import. The version is METADATA's (pip freeze 20.3 on Python 2.7 reads the
    directory name instead: cntk-2.7.dist-info holding Version 2.7.post2 is 2.7 there, 2.7.post2 here)."""
    found = {}
    for name, version, _, _, _ in dists:
        found.setdefault(canonical_name(name), version)
    return found


def canonical_name(name):
    """PEP 503's form, as pip prints it: 'Keras_Applications' -> 'keras-applications'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def ownership(site_dirs, dists=None):
    """-> (owners {package: ['name version', ...]}, shared {package: ['name version', ...]}).
    A package is shared when two distributions wrote the same file in it (keras/__init__.py from keras and
    from keras-nightly), or, where a distribution lists no files, when both claim it in top_level.txt.
    Namespace packages (google/ from protobuf and googleapis) share a name but no file: not shared. Nor is a
    file every writer's RECORD gives the same hash: identical bytes (the empty nvidia/__init__.py each of
    torch's nvidia-*-cu12 wheels ships) leave nothing overwritten."""
    owners = {}
    writers = {}  # file -> set of distributions, for packages written by more than one
    hashes = {}  # file -> set of the hashes its writers' RECORDs give ('' where one gives none)
    for name, version, files, tops, recorded in distributions(site_dirs) if dists is None else dists:
        label = "%s %s" % (name, version)
        for top in tops:
            owners.setdefault(top, [])
            if label not in owners[top]:
                owners[top].append(label)
        for path in files or ["%s/<top_level.txt>" % top for top in tops]:
            top = top_level_name(path)
            if top and not path.endswith(".pyc"):
                path = path.replace("\\", "/")
                writers.setdefault(path, set()).add(label)
                hashes.setdefault(path, set()).add(recorded.get(path, ""))
    shared = {}
    for path, labels in writers.items():
        if len(labels) > 1 and (len(hashes[path]) > 1 or "" in hashes[path]):
            top = top_level_name(path)
            shared[top] = sorted(set(shared.get(top, [])) | labels)
    return dict((k, sorted(v)) for k, v in owners.items()), shared


def site_directories():
    """The sys.path directories that hold installed distributions (site-packages, dist-packages)."""
    return [p for p in sys.path if p and os.path.isdir(p) and os.path.basename(p) in ("site-packages", "dist-packages")]
