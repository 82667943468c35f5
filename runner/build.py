"""Stage: build. One image per cell from its rendered Dockerfile, with the log kept per cell, and the build
outcome classified: a missing distribution is `unsatisfiable`, not a generic failure."""

import hashlib
import os
import re
from pathlib import Path

from runner.render import render_cell, write_cell

IMAGE_REPO = "keras-matrix/cell"

# pip's ways of saying "there is nothing to install for this Python/platform" or "no solution exists".
_UNSATISFIABLE = re.compile(
    r"No matching distribution found|Could not find a version that satisfies the requirement|"
    r"ResolutionImpossible|conflicting dependencies|requires a different Python|"
    r"is not a supported wheel on this platform",
)
_PIP_ERROR = re.compile(r"^(?:#\d+ [\d.]+ )?(ERROR: .*)$", re.MULTILINE)

CA_BUNDLE_CANDIDATES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem")


def image_tag(cell):
    return "%s:%s" % (IMAGE_REPO, cell.id)


def find_ca_bundle(explicit=None):
    """The host's CA bundle to mount into builds (TLS interception, private CAs), or None."""
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    for variable in ("KERAS_MATRIX_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(variable)
        if value and os.path.isfile(value):
            return value
    for path in CA_BUNDLE_CANDIDATES:
        if os.path.isfile(path):
            return path
    return None


def _shorten_versions(message):
    """pip lists every version it saw; keep the count and the range."""
    def shorten(match):
        versions = [v.strip() for v in match.group(1).split(",") if v.strip()]
        if len(versions) <= 4:
            return match.group(0)
        return "(pip saw %d versions: %s ... %s)" % (len(versions), versions[0], versions[-1])

    return re.sub(r"\(from versions: ([^)]*)\)", shorten, message)


def classify_build_failure(log_text, timed_out):
    """-> (status, one-line reason)."""
    if timed_out:
        return "timeout", "the build ran past its time limit"
    pip_errors = _PIP_ERROR.findall(log_text)
    if _UNSATISFIABLE.search(log_text):
        reason = next((e for e in pip_errors if _UNSATISFIABLE.search(e)), None) or pip_errors[-1:] or ["pip found no solution"]
        return "unsatisfiable", _shorten_versions(reason if isinstance(reason, str) else reason[0])[:300]
    if pip_errors:
        return "build_failed", pip_errors[-1][:300]
    failed = [line for line in log_text.splitlines() if "ERROR" in line or "failed" in line.lower()]
    return "build_failed", (failed[-1].strip()[:300] if failed else "docker build failed (see the log)")


def build_cell(cell, engine, base_ref, dockerfiles_dir, log_path, ca_bundle, timeout, should_stop=None,
               on_step=None, text=None):
    """-> (status or None when built, reason, build record dict). text: the Dockerfile, if already rendered."""
    text = text if text is not None else render_cell(cell)
    dockerfile = write_cell(cell, dockerfiles_dir, text)
    record = {
        "status": "not_run", "seconds": None, "image": image_tag(cell), "image_id": None, "image_size": None,
        "dockerfile": str(dockerfile), "dockerfile_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "log": str(log_path), "log_tail": None,
    }
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    outcome = engine.build(
        dockerfile.parent, image_tag(cell), build_args={"BASE_IMAGE": base_ref},
        secrets={"ca_bundle": ca_bundle} if ca_bundle else {},
        labels={"org.keras-matrix.dockerfile-sha256": record["dockerfile_sha256"]},
        log_path=log_path, timeout=timeout, should_stop=should_stop, on_step=on_step,
    )
    record["seconds"] = round(outcome.seconds, 2)
    if outcome.ok:
        record.update(status="built", image_id=outcome.image_id, image_size=outcome.image_size)
        return None, None, record
    status, reason = classify_build_failure(outcome.log_tail, outcome.timed_out)
    record.update(status="timeout" if outcome.timed_out else "failed", log_tail=outcome.log_tail[-6000:])
    return status, reason, record
