"""What the scheduled workflow's caches would hold: the layer cache and the pip cache of built cells.

Layer cache: for each image given, every layer of `docker save IMAGE` gzip-compressed at level 6 (what a
BuildKit local cache export stores per blob), with which of the measured images share each layer. The
runner's `run --build-cache DIR` exports one subdirectory per cell, so a cell's cache holds all its layers,
shared or not.

Pip cache: for each image, its installed set (`pip freeze` in the container, no network) downloaded again as
the wheels pip would cache (`pip download --no-deps` for the image's Python and Linux x86_64), summed; a
requirement with no wheel for that target is listed, not counted.

Writes bench/ci-cache-sizes.json (with the machine and the date) and prints a table; docs/ci.md "Caches" cites
it and tests/unit/test_workflow.py checks the figures the page states against it.

  python bench/ci_cache_sizes.py IMAGE [IMAGE ...] [--out bench/ci-cache-sizes.json] [--no-wheels]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

CHUNK = 1 << 20


def layer_sizes(image: str) -> Dict[str, Dict[str, int]]:
    """layer id -> {raw, gzip} bytes, streaming `docker save` (nothing written to disk)."""
    proc = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    layers: Dict[str, Dict[str, int]] = {}
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith("layer.tar"):
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
            raw = packed = 0
            chunk = handle.read(CHUNK)
            while chunk:
                raw += len(chunk)
                packed += len(compressor.compress(chunk))
                chunk = handle.read(CHUNK)
            packed += len(compressor.flush())
            layers[member.name.split("/")[0]] = {"raw": raw, "gzip": packed}
    if proc.wait() != 0:
        raise SystemExit("docker save %s failed (exit %d)" % (image, proc.returncode))
    return layers


def installed(image: str) -> Tuple[str, List[str]]:
    """(python version 'X.Y', `pip freeze` lines) of the stack's Python: the venv's, else python2.7 (a py27
    image has a system python3 too, without the stack)."""
    script = ("for p in /opt/venv/bin/python python2.7 python3; do if command -v $p >/dev/null 2>&1; then "
              "$p -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'; $p -m pip freeze; exit; fi; done")
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script],
                         capture_output=True, text=True, check=True, timeout=300).stdout.split()
    return out[0], [line for line in out[1:] if "==" in line]


def wheel_sizes(python: str, requirements: List[str]) -> Dict[str, Any]:
    """The wheels of the installed set for this Python on Linux x86_64: bytes each, and what has none."""
    abi = "cp27mu" if python == "2.7" else "cp" + python.replace(".", "")
    wheels: Dict[str, int] = {}
    missing: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for requirement in requirements:
            before = set(os.listdir(tmp))
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                   "--python-version", python, "--implementation", "cp", "--abi", abi, "--abi", "abi3",
                   "--abi", "none", "-d", tmp]
            for tag in ("manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64",
                        "manylinux_2_27_x86_64", "manylinux_2_28_x86_64", "linux_x86_64", "any"):
                cmd += ["--platform", tag]
            if subprocess.run(cmd + [requirement], capture_output=True, timeout=1800).returncode != 0:
                missing.append(requirement)
                continue
            for name in set(os.listdir(tmp)) - before:
                wheels[name] = os.path.getsize(os.path.join(tmp, name))
    return {"bytes": sum(wheels.values()), "wheels": dict(sorted(wheels.items())), "no_wheel": missing}


def measure(images: List[str], with_wheels: bool) -> Dict[str, Any]:
    layers = {image: layer_sizes(image) for image in images}
    owners: Dict[str, List[str]] = {}
    for image, found in layers.items():
        for layer in found:
            owners.setdefault(layer, []).append(image)
    cells = []
    for image in images:
        found = layers[image]
        cell: Dict[str, Any] = {
            "image": image, "layers": len(found),
            "raw_bytes": sum(v["raw"] for v in found.values()),
            "layer_cache_bytes": sum(v["gzip"] for v in found.values()),
            "shared_layer_bytes": sum(v["gzip"] for k, v in found.items() if len(owners[k]) > 1)}
        if with_wheels:
            python, requirements = installed(image)
            cell.update(python=python, pip_cache=wheel_sizes(python, requirements))
        cells.append(cell)
    union = {k: v for found in layers.values() for k, v in found.items()}
    return {"measured": datetime.date.today().isoformat(), "machine": machine(),
            "compression": "gzip level 6 per layer, as a BuildKit local cache export stores blobs",
            "cells": cells, "distinct_layer_cache_bytes": sum(v["gzip"] for v in union.values())}


def machine() -> str:
    model: Optional[str] = None
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), None)
    except OSError:
        pass
    return "%s, %d CPUs, %s" % (model or platform.processor() or "unknown CPU", os.cpu_count() or 0, platform.system())


def table(doc: Dict[str, Any]) -> str:
    lines = ["%-72s %10s %12s %10s" % ("image", "raw MB", "layers MB", "wheels MB")]
    for cell in doc["cells"]:
        wheels = cell.get("pip_cache", {}).get("bytes")
        lines.append("%-72s %10.0f %12.0f %10s" % (cell["image"], cell["raw_bytes"] / 1e6,
                                                  cell["layer_cache_bytes"] / 1e6,
                                                  "-" if wheels is None else "%.0f" % (wheels / 1e6)))
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="The layer cache and pip cache sizes of built cells "
                                                 "(bench/ci-cache-sizes.json; see the module docstring).")
    parser.add_argument("images", nargs="+", help="cell images, e.g. keras-matrix/cell:keras3.15.1-tf2.21.0-py311-cpu")
    parser.add_argument("--out", default=str(Path(__file__).with_name("ci-cache-sizes.json")))
    parser.add_argument("--no-wheels", action="store_true", help="layers only (no pip download)")
    args = parser.parse_args(argv)
    if not all(re.match(r"^[\w./:-]+$", image) for image in args.images):
        parser.error("an image name has characters an image reference cannot have")
    doc = measure(args.images, not args.no_wheels)
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(table(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
