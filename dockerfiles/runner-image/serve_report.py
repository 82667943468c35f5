"""The report service of docker-compose.yml: an HTTP server that picks its directory at every request, so
`docker-compose up` shows the run it launched, not the one that was newest when the server started.

REPORT_DIR (relative to the checkout) names one; otherwise the newest run under results/ (by the last write
to its results.json or its report): its report/ when that is as new as its results.json, else (a run under
way) a report rendered from its results.json by the checkout's runner (`report -o`, into /tmp, once per
version of the file); with no run, the published reports/.
"""

import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Optional

ROOT = Path(os.environ.get("KERAS_MATRIX_CHECKOUT", "/srv/keras-matrix"))  # mounted read-only
RENDERED = Path(tempfile.gettempdir()) / "keras-matrix-report"
PORT = 8000
LOCK = threading.Lock()


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def newest_run(results: Path) -> Optional[Path]:
    runs = {p.parent for p in results.glob("*/results.json")}
    runs |= {p.parent.parent for p in results.glob("*/report/index.html")}
    if not runs:
        return None
    return max(runs, key=lambda run: (max(_stamp(run / "results.json"), _stamp(run / "report" / "index.html")),
                                      run.name))


def rendered(run: Path) -> Optional[Path]:
    """The run's report rendered from its results.json as it is now (cached per version of the file)."""
    out = RENDERED / ("%s-%d" % (run.name, _stamp(run / "results.json")))
    with LOCK:
        if not (out / "index.html").is_file():
            shutil.rmtree(str(RENDERED), ignore_errors=True)  # older versions
            proc = subprocess.run([sys.executable, "-m", "runner", "report", str(run / "results.json"),
                                   "-o", str(out), "--format", "markdown"],
                                  cwd=str(ROOT), capture_output=True, text=True, timeout=300)
            if proc.returncode != 0 or not (out / "index.html").is_file():
                print("could not render %s: %s" % (run, proc.stderr.strip()[-500:]), file=sys.stderr, flush=True)
                return None
    return out


def report_dir() -> Path:
    named = os.environ.get("REPORT_DIR")
    if named:
        return ROOT / named
    run = newest_run(ROOT / "results")
    if run is None:
        return ROOT / "reports"
    report = run / "report"
    if _stamp(report / "index.html") >= _stamp(run / "results.json"):
        return report
    return rendered(run) or (report if (report / "index.html").is_file() else ROOT / "reports")


class Handler(http.server.SimpleHTTPRequestHandler):
    def translate_path(self, path: str) -> str:
        self.directory = str(report_dir())  # per request: a run that started or changed since is seen
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # a reload shows the run as it is now
        super().end_headers()


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
