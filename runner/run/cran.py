"""CRAN for R cells (matrix key `r: {cran: [...]}`): asked once per run, before any build, whether it answers
(an HTTP HEAD with a short timeout, through the CA bundle the builds get). Where it does not, the cells are
built without their CRAN layer and their record says the CRAN part was skipped, with the error measured;
where it does, the Dockerfile installs the packages and the probe says whether R finds them."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

from runner.model.records import CranPart, RRecord
from runner.util.net import tls_context

if TYPE_CHECKING:
    from runner.matrix.cells import Cell

CRAN_URL = "https://cloud.r-project.org/"
CRAN_TIMEOUT = 5.0


@dataclass(frozen=True)
class CranCheck:
    """Whether CRAN answered this run, and the error when it did not."""

    url: str
    reachable: bool
    reason: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"url": self.url, "reachable": self.reachable, "reason": self.reason}


def check_cran(ca_bundle: Optional[str], url: str = CRAN_URL, timeout: float = CRAN_TIMEOUT,
               opener: Optional[Callable[..., Any]] = None) -> CranCheck:
    """HEAD `url`: any 2xx/3xx answer is reachable; an HTTP error, a TLS failure or no connection is not,
    with the error's text as the reason."""
    try:
        context = tls_context(ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        return CranCheck(url, False, "the CA bundle %s cannot be used: %s" % (ca_bundle, exc))
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "keras-matrix"})
    try:
        with (opener or urllib.request.urlopen)(request, timeout=timeout, context=context) as response:
            code = getattr(response, "status", 200)
    except urllib.error.HTTPError as exc:
        return CranCheck(url, False, "HTTP %s %s" % (exc.code, exc.reason))
    except urllib.error.URLError as exc:
        return CranCheck(url, False, str(exc.reason))
    except (OSError, ValueError) as exc:  # timeouts, resets
        return CranCheck(url, False, str(exc) or type(exc).__name__)
    if not 200 <= code < 400:
        return CranCheck(url, False, "HTTP %s" % code)
    return CranCheck(url, True)


def wants_cran(cell: Cell) -> bool:
    return bool(cell.r and cell.r.cran)


def cell_to_build(cell: Cell, check: Optional[CranCheck]) -> Cell:
    """The cell as built this run: without its CRAN packages unless CRAN answered."""
    if wants_cran(cell) and not (check and check.reachable):
        assert cell.r is not None
        return replace(cell, r=replace(cell.r, cran=()))
    return cell


def cran_part(cell: Cell, check: Optional[CranCheck], r: Optional[RRecord]) -> Optional[CranPart]:
    """What became of the cell's CRAN packages: skipped (CRAN did not answer: the measured reason), installed,
    or missing (R does not find them in the built image, or the probe said nothing). None: none asked."""
    if not wants_cran(cell):
        return None
    assert cell.r is not None
    requested = list(cell.r.cran)
    if not (check and check.reachable):
        why = check.reason if check else "not checked"
        return CranPart(requested=requested, status="skipped",
                        reason="CRAN (%s) did not answer before the build: %s" % (CRAN_URL, why))
    found = (r or {}).get("r_packages") or {}
    missing = [name for name in requested if not found.get(name)]
    if missing:
        return CranPart(requested=requested, status="missing",
                        reason="built with CRAN, but R does not find %s" % ", ".join(missing))
    return CranPart(requested=requested, status="installed", reason=None)
