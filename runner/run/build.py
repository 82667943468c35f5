"""Stage: build. One image per cell from its rendered Dockerfile, with the log kept per cell, and the build
outcome classified: a missing distribution, or a resolver that proves no solution exists (pip's errors, uv's
"we can conclude that your requirements are unsatisfiable"), is `unsatisfiable`, not a generic failure; uv's
explanation is kept whole in the build record (`resolver`)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Match, Optional, Tuple

from runner.engine.protocol import BuildSpec
from runner.model.records import REASON_LIMIT, BuildRecord, BuildStatus, BuildStep, Status, new_build_record
from runner.render import render_cell, write_cell
from runner.util.text import one_line

if TYPE_CHECKING:
    from runner.engine.protocol import Engine
    from runner.matrix.cells import Cell

IMAGE_REPO = "keras-matrix/cell"

# pip's ways of saying "there is nothing to install for this Python/platform" or "no solution exists".
_UNSATISFIABLE = re.compile(
    r"No matching distribution found|Could not find a version that satisfies the requirement|"
    r"ResolutionImpossible|conflicting dependencies|requires a different Python|"
    r"is not a supported wheel on this platform",
)
_PIP_ERROR = re.compile(r"^(?:#\d+ [\d.]+ )?(ERROR: .*)$", re.MULTILINE)

# uv's way (eras with `installer: uv`): "No solution found when resolving dependencies", then its derivation,
# "Because X depends on Y ... we can conclude that your requirements are unsatisfiable.", then hints: uv 0.13
# writes "error: ..." and "cause: ..." lines; older releases drew "× ...:" and "╰─▶ ..." lines.
_BUILDKIT_PREFIX = re.compile(r"^#\d+ [\d.]+ ?")
_UV_NO_SOLUTION = "No solution found when resolving dependencies"
_UV_DECORATION = re.compile(r"^(?:error:|cause:|hint:|[×╰─▶│├┬┴\s])+")
_UV_STEP_END = re.compile(r"^(?:#\d+ (?:ERROR|DONE|CANCELED)\b|------|executor failed|ERROR: )")
_UV_ERROR = re.compile(r"^(?:#\d+ [\d.]+ )?(error: .*)$", re.MULTILINE)
RESOLVER_LIMIT = 2000



def image_tag(cell: Cell) -> str:
    return "%s:%s" % (IMAGE_REPO, cell.id)


def _shorten_versions(message: str) -> str:
    """pip lists every version it saw; keep the count and the range."""
    def shorten(match: Match[str]) -> str:
        versions = [v.strip() for v in match.group(1).split(",") if v.strip()]
        if len(versions) <= 4:
            return match.group(0)
        return "(pip saw %d versions: %s ... %s)" % (len(versions), versions[0], versions[-1])

    return re.sub(r"\(from versions: ([^)]*)\)", shorten, message)


# pip downloading release after release of one distribution: its resolver is backtracking.
_DOWNLOAD = re.compile(r"Downloading ([A-Za-z0-9][A-Za-z0-9._]*?)-([0-9][^-\s]*?)(?:-py|-cp|\.tar|\.zip)")
BACKTRACK_RELEASES = 3


def backtracking(log_text: str) -> Optional[str]:
    """'tensorflow (14 releases downloaded: 2.14.1 ... 2.2.0)' when pip fetched several releases of one
    distribution (it does that only while backtracking), the most fetched first; None otherwise."""
    seen: dict[str, list[str]] = {}
    for name, version in _DOWNLOAD.findall(log_text):
        versions = seen.setdefault(name.lower().replace("_", "-"), [])
        if version not in versions:
            versions.append(version)
    name, versions = max(seen.items(), key=lambda kv: len(kv[1]), default=("", []))
    if len(versions) < BACKTRACK_RELEASES:
        return None
    return "%s (%d releases downloaded: %s ... %s)" % (name, len(versions), versions[0], versions[-1])


_SOURCE = re.compile(r"Downloading ([A-Za-z0-9][A-Za-z0-9._-]*?-[0-9][^\s/]*?)\.(?:tar\.gz|tar\.bz2|zip)\b")
_SETUP_FAILED = "python setup.py egg_info"
_LAST_ERROR = re.compile(r"^(?:#\d+ [\d.]+ )?\s+([A-Za-z_.]*(?:Error|Exception)\b.*)$", re.MULTILINE)


def source_build_failure(log_text: str) -> Optional[str]:
    """'building h5py-2.6.0 from source failed: DistutilsError: Could not find ... pkgconfig' when pip's legacy
    `setup.py egg_info` of a source distribution failed (pip's own line names neither), else None."""
    at = log_text.find(_SETUP_FAILED)
    if at < 0:
        return None
    sources = _SOURCE.findall(log_text[:at])
    errors = _LAST_ERROR.findall(log_text[:at + 200])
    what = sources[-1] if sources else "a source distribution"
    said = errors[-1].split("errors.")[-1].strip() if errors else "setup.py egg_info exited with an error"
    return "building %s from source failed: %s" % (what, said)


BACKTRACKING_TIMEOUT = "the build ran past its time limit while pip was backtracking through "


def is_backtracking_timeout(record: Mapping[str, Any]) -> bool:
    """A cell whose build timed out while pip was still resolving: the same pins and index give the same
    search, so it is kept like any other answer of the resolver (a slow download is measured again)."""
    return record.get("status") == Status.TIMEOUT and str(record.get("reason") or "").startswith(BACKTRACKING_TIMEOUT)


def _uv_answer(log_text: str) -> Optional[Tuple[str, str]]:
    """(uv's derivation of why no solution exists, its hints), each on one line, from the first time the log
    shows them; None when the log holds no such answer (pip's answers are classified by their errors)."""
    lines = [_BUILDKIT_PREFIX.sub("", line) for line in log_text.splitlines()]
    start = next((i for i, line in enumerate(lines) if _UV_NO_SOLUTION in line), None)
    if start is None:
        return None
    because: list[str] = []
    hints: list[str] = []
    for line in lines[start + 1:]:
        if _UV_STEP_END.match(line):
            break
        text = _UV_DECORATION.sub("", line).strip()
        if text:
            (hints if line.lstrip().startswith("hint:") or hints else because).append(text)
    return (re.sub(r"\s+", " ", " ".join(because)) or _UV_NO_SOLUTION, re.sub(r"\s+", " ", " ".join(hints)))


def resolver_explanation(log_text: str) -> Optional[str]:
    """uv's whole answer (derivation, then '(hint: ...)') on one line, for the build record; None without one."""
    answer = _uv_answer(log_text)
    if answer is None:
        return None
    because, hints = answer
    return (because + (" (hint: %s)" % hints if hints else ""))[:RESOLVER_LIMIT]


def classify_build_failure(log_text: str, timed_out: bool) -> Tuple[Status, str]:
    """-> (cell status, one-line reason)."""
    answer = _uv_answer(log_text)
    if answer is not None:  # the resolver's proof, however long the build took to give it
        return Status.UNSATISFIABLE, one_line(answer[0], REASON_LIMIT)
    if timed_out:
        behind = backtracking(log_text)
        if behind:
            return Status.TIMEOUT, (BACKTRACKING_TIMEOUT + behind)[:REASON_LIMIT]
        return Status.TIMEOUT, "the build ran past its time limit"
    pip_errors = _PIP_ERROR.findall(log_text)
    if _UNSATISFIABLE.search(log_text):
        reason = next((e for e in pip_errors if _UNSATISFIABLE.search(e)), None) or (
            pip_errors[-1] if pip_errors else "pip found no solution")
        return Status.UNSATISFIABLE, _shorten_versions(reason)[:REASON_LIMIT]
    if pip_errors:
        return Status.BUILD_FAILED, (source_build_failure(log_text) or pip_errors[-1])[:REASON_LIMIT]
    uv_error = _uv_error(log_text)
    if uv_error:
        return Status.BUILD_FAILED, uv_error[:REASON_LIMIT]
    said = "failed"  # not our vocabulary: what a build step prints
    failed = [line for line in log_text.splitlines() if "ERROR" in line or said in line.lower()]
    return Status.BUILD_FAILED, (failed[-1].strip()[:REASON_LIMIT] if failed else "docker build failed (see the log)")


def _uv_error(log_text: str) -> Optional[str]:
    """uv's last 'error: ...' line with the 'cause: ...' lines under it, on one line (a failed sdist build,
    an index that does not answer); None when uv said no error."""
    matches = list(_UV_ERROR.finditer(log_text))
    if not matches:
        return None
    match = matches[-1]
    parts = [match.group(1)]
    for line in log_text[match.end():].splitlines()[1:]:
        text = _BUILDKIT_PREFIX.sub("", line).strip()
        if not text.startswith("cause:"):
            break
        parts.append(text)
    return " ".join(parts)


BuildResult = Tuple[Optional[Status], Optional[str], BuildRecord]


_STEP_TITLE = re.compile(r"^#(\d+) (\[(?!internal\])[^\]]*\] .*)$")
_STEP_DONE = re.compile(r"^#(\d+) DONE (\d+(?:\.\d+)?)s$")
_STEP_CACHED = re.compile(r"^#(\d+) CACHED$")
STEP_TITLE_LIMIT = 200


def build_steps(log_text: str) -> List[BuildStep]:
    """The Dockerfile steps of a BuildKit plain-progress log, in the order they were first named, each built
    (`#N DONE 4.5s`) or cached (`#N CACHED`); BuildKit's own [internal] steps are left out. A step the log
    names but never finishes (a failed or stopped build) has no seconds and is not cached."""
    titles: Dict[str, str] = {}
    done: Dict[str, float] = {}
    cached = set()
    for line in log_text.splitlines():
        line = line.rstrip()
        for pattern in (_STEP_TITLE, _STEP_DONE, _STEP_CACHED):
            match = pattern.match(line)
            if not match:
                continue
            if pattern is _STEP_TITLE:
                titles.setdefault(match.group(1), match.group(2)[:STEP_TITLE_LIMIT])
            elif pattern is _STEP_DONE:
                done[match.group(1)] = float(match.group(2))
            else:
                cached.add(match.group(1))
            break
    return [BuildStep(step=title, seconds=None if number in cached else done.get(number), cached=number in cached)
            for number, title in titles.items()]


def build_cell(cell: Cell, engine: Engine, base_ref: str, dockerfiles_dir: Path, log_path: Path,
               ca_bundle: Optional[str], timeout: float, should_stop: Optional[Callable[[], bool]] = None,
               on_step: Optional[Callable[[str], None]] = None, text: Optional[str] = None,
               build_cache: Optional[Path] = None, as_of_index: Optional[str] = None) -> BuildResult:
    """-> (cell status, or None when built; reason; build record). text: the Dockerfile, if already rendered."""
    text = text if text is not None else render_cell(cell)
    dockerfile = write_cell(cell, dockerfiles_dir, text)
    record = new_build_record(image=image_tag(cell), dockerfile=str(dockerfile),
                              dockerfile_sha256=hashlib.sha256(text.encode()).hexdigest(), log=str(log_path))
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    outcome = engine.build(BuildSpec(
        dockerfile.parent, image_tag(cell),
        build_args=dict({"BASE_IMAGE": base_ref}, **({"KERAS_MATRIX_AS_OF_INDEX": as_of_index}
                                                    if cell.as_of and as_of_index else {})),
        secrets={"ca_bundle": ca_bundle} if ca_bundle else {},
        labels={"org.keras-matrix.dockerfile-sha256": record["dockerfile_sha256"] or ""},
        log_path=log_path, timeout=timeout, should_stop=should_stop, on_step=on_step,
        # A local cache has one index: cells building in parallel must not share a directory.
        cache_dir=(build_cache / cell.id) if build_cache else None,
    ))
    record["seconds"] = round(outcome.seconds, 2)
    try:
        steps = build_steps(Path(log_path).read_text(encoding="utf-8", errors="replace"))
    except OSError:
        steps = []  # no log to read (an engine that keeps none): the record simply has no steps
    if steps:
        record["steps"] = steps
    if outcome.ok:
        record["status"] = BuildStatus.BUILT.value
        record["image_id"], record["image_size"] = outcome.image_id, outcome.image_size
        return None, None, record
    status, reason = classify_build_failure(outcome.log_tail, outcome.timed_out)
    record["status"] = (BuildStatus.TIMEOUT if outcome.timed_out else BuildStatus.FAILED).value
    record["log_tail"] = outcome.log_tail[-6000:]
    record["resolver"] = resolver_explanation(outcome.log_tail)
    return status, reason, record
