"""Stage: bases. Make every base image a cell needs available, and say how it was obtained:
a local image, a pull from a registry, or a registry-free bootstrap (debootstrap + docker import).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

from runner.render import bootstrap_tag
from runner.util.errors import EngineError

if TYPE_CHECKING:
    from runner.engine.protocol import Engine
    from runner.matrix.eras import Base

Log = Callable[[str], None]

BOOTSTRAP_LABEL = "org.keras-matrix.bootstrap"


@dataclass
class BaseOutcome:
    name: str
    ref: Optional[str]  # what FROM uses (passed as BASE_IMAGE), None when unavailable
    source: str  # local | pulled | bootstrapped | bootstrap-cached | unavailable
    seconds: float = 0.0
    image_id: Optional[str] = None
    message: str = ""

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "ref": self.ref, "source": self.source, "image_id": self.image_id,
                "seconds": round(self.seconds, 2), "message": self.message}


def bootstrap_spec(base: Base) -> str:
    return "%s %s %s" % (base.suite, base.variant, base.mirror)


def _debootstrap(base: Base, engine: Engine, tag: str, log: Log) -> None:
    if shutil.which("debootstrap") is None:
        raise EngineError("debootstrap is not installed. "
                          "Try: apt-get install debootstrap (or bash .ci/ensure-docker.sh)")
    if os.geteuid() != 0:
        raise EngineError("debootstrap needs root to build base %s. Try: run as root, or make %s available "
                          "(docker pull / docker load)" % (base.name, base.image or tag))
    workdir = tempfile.mkdtemp(prefix="keras-matrix-rootfs-")
    try:
        argv = ["debootstrap", "--variant=%s" % base.variant, str(base.suite), workdir, base.mirror]
        log("base %s: %s" % (base.name, " ".join(argv)))
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise EngineError("debootstrap of %s failed: %s. Is the suite served by %s?"
                              % (base.suite, " | ".join(last)[:400], base.mirror))
        engine.import_rootfs(Path(workdir), tag, {BOOTSTRAP_LABEL: bootstrap_spec(base).replace(" ", "_")})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _quiet(message: str) -> None:
    pass


def ensure_base(base: Base, engine: Engine, log: Log = _quiet, allow_pull: bool = True) -> BaseOutcome:
    """Local image, else pull, else bootstrap. Never raises for an unavailable base: reports it."""
    started = time.monotonic()

    def done(ref: str, source: str, message: str = "") -> BaseOutcome:
        attrs = engine.image(ref)
        return BaseOutcome(base.name, ref, source, time.monotonic() - started,
                           (attrs or {}).get("Id"), message)

    notes: List[str] = []
    if base.image:
        if engine.image(base.image):
            return done(base.image, "local")
        if allow_pull:
            ok, message = engine.pull(base.image)
            if ok:
                return done(base.image, "pulled")
            notes.append("pull %s failed: %s" % (base.image, message[:200]))
    if base.suite:
        tag = bootstrap_tag(base)
        attrs = engine.image(tag)
        expected = bootstrap_spec(base).replace(" ", "_")
        if attrs and (attrs.get("Config") or {}).get("Labels", {}).get(BOOTSTRAP_LABEL) == expected:
            return done(tag, "bootstrap-cached", "; ".join(notes))
        try:
            _debootstrap(base, engine, tag, log)
        except EngineError as exc:
            notes.append(str(exc))
            return BaseOutcome(base.name, None, "unavailable", time.monotonic() - started, None, "; ".join(notes))
        return done(tag, "bootstrapped", "; ".join(notes))
    notes.append("no bootstrap declared for this base; add `bootstrap: {suite: ...}` to use it without a registry")
    return BaseOutcome(base.name, None, "unavailable", time.monotonic() - started, None, "; ".join(notes))
