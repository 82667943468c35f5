"""The as-of index: PyPI's simple pages as they stood at a moment, for cells resolved as of a day (matrix key
`as_of`). pip 20.3 (the last for Python 2.7) has no `--uploaded-prior-to` and uv no Python 2.7, so the runner
serves the index itself: GET /<cutoff>/simple/<project>/ answers PEP 503 HTML listing the project's files
uploaded at or before the cutoff (their upload times from PyPI's JSON simple API, PEP 700), linking the files
where they are (files.pythonhosted.org: the build downloads them directly, through the CA bundle). One server
per run, on the engine's bridge address, only while the run builds; a file without an upload time is left
out (it cannot be shown to have existed then). Yanked files keep their mark: the index does not say when a
file was yanked, and pip skips a yanked file unless a requirement pins exactly it."""

from __future__ import annotations

import html
import http.client
import os
import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

from runner.matrix.pypi_json import fetch_json

SIMPLE_URL = "https://pypi.org/simple"
# Another index with PyPI's JSON simple API (a mirror, a local fake in the tests): its base URL.
SIMPLE_VARIABLE = "KERAS_MATRIX_SIMPLE_URL"
_BASE = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]{0,200})?")
_PATH = re.compile(r"/([0-9]{8}T[0-9]{6}Z)/simple/([A-Za-z0-9._-]{1,100})/?")
PORT = 3141  # fixed when free, so an image's layers keep their cache key from one run to the next
MAX_PAGE_BYTES = 32 * 1024 * 1024
UPSTREAM_TIMEOUT = 60.0

# project name -> the JSON simple page's files; raises OSError / ValueError; (None) when the project is unknown
PageFetch = Callable[[str], Optional[List[Dict[str, Any]]]]


def normalize(name: str) -> str:
    """PEP 503's normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def upstream_base() -> str:
    base = os.environ.get(SIMPLE_VARIABLE) or SIMPLE_URL
    if not _BASE.fullmatch(base):
        raise ValueError("$%s is not a plain http(s) URL such as https://pypi.org/simple" % SIMPLE_VARIABLE)
    return base.rstrip("/")


def fetch_files(project: str) -> Optional[List[Dict[str, Any]]]:
    """The files of a project from the upstream JSON simple API (PEP 691), None when it has no such project."""
    try:
        document = fetch_json("%s/%s/" % (upstream_base(), project), UPSTREAM_TIMEOUT,
                              accept="application/vnd.pypi.simple.v1+json", limit=MAX_PAGE_BYTES)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    files = document.get("files")
    if not isinstance(files, list):
        raise ValueError("the index's page for %s has no file list (not PEP 691 JSON)" % project)
    return [f for f in files if isinstance(f, dict)]


def stamp(cutoff: str) -> str:
    """'2018-06-06T23:18:41Z' -> '20180606T231841Z', the form the URL carries."""
    return cutoff.replace("-", "").replace(":", "")


def _iso(compact: str) -> str:
    return "%s-%s-%sT%s:%s:%sZ" % (compact[0:4], compact[4:6], compact[6:8], compact[9:11], compact[11:13],
                                   compact[13:15])


def page_as_of(project: str, files: List[Dict[str, Any]], cutoff: str) -> Tuple[str, int, int]:
    """(PEP 503 HTML of the files uploaded at or before cutoff, files kept, files left out)."""
    links = []
    left_out = 0
    for item in files:
        uploaded, url, name = item.get("upload-time"), item.get("url"), item.get("filename")
        if not (isinstance(uploaded, str) and isinstance(url, str) and isinstance(name, str)) \
                or uploaded[:19] + "Z" > cutoff or not url.startswith(("https://", "http://")):
            left_out += 1
            continue
        hashes = item.get("hashes")
        digest = hashes.get("sha256") if isinstance(hashes, dict) else None
        digest = digest if isinstance(digest, str) else None
        href = url.split("#")[0] + ("#sha256=%s" % digest if digest and re.fullmatch(r"[0-9a-f]{64}", digest) else "")
        attributes = ['href="%s"' % html.escape(href, quote=True)]
        requires = item.get("requires-python")
        if isinstance(requires, str) and requires:
            attributes.append('data-requires-python="%s"' % html.escape(requires, quote=True))
        yanked = item.get("yanked")
        if yanked:
            attributes.append('data-yanked="%s"' % html.escape(yanked if isinstance(yanked, str) else "", quote=True))
        links.append("<a %s>%s</a><br/>" % (" ".join(attributes), html.escape(name)))
    title = html.escape(project)
    page = ('<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
            "<title>Links for %s</title></head>\n<body><h1>Links for %s</h1>\n%s\n</body></html>\n"
            % (title, title, "\n".join(links)))
    return page, len(links), left_out


class AsOfIndex:
    """The server: start() -> 'host:port' (what the builds get as KERAS_MATRIX_AS_OF_INDEX), stop()."""

    def __init__(self, host: str, port: int = PORT, fetch: PageFetch = fetch_files) -> None:
        self.host, self.port, self.fetch = host, port, fetch
        self.requests = 0
        self.failures: List[str] = []
        self._pages: Dict[str, Optional[List[Dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    def files(self, project: str) -> Optional[List[Dict[str, Any]]]:
        with self._lock:
            if project in self._pages:
                return self._pages[project]
        files = self.fetch(project)  # outside the lock: builds ask for different projects at once
        with self._lock:
            self._pages[project] = files
        return files

    def start(self) -> str:
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index.requests += 1
                match = _PATH.fullmatch(self.path.split("?")[0])
                if not match:
                    return self._answer(404, "text/plain", "not an as-of index page: /<cutoff>/simple/<project>/\n")
                cutoff, project = _iso(match.group(1)), normalize(match.group(2))
                try:
                    files = index.files(project)
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    index.failures.append("%s: %s" % (project, exc))
                    return self._answer(502, "text/plain", "the upstream index failed for %s: %s\n"
                                        % (project, type(exc).__name__))
                if files is None:
                    return self._answer(404, "text/plain", "no project %s on the index\n" % project)
                page, _, _ = page_as_of(project, files, cutoff)
                self._answer(200, "text/html; charset=utf-8", page)

            def _answer(self, code: int, kind: str, text: str) -> None:
                body = text.encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the build log shows what pip fetched

        try:
            self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        except OSError:  # the fixed port is taken (another run): any free one
            self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="as-of-index", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        return "%s:%d" % (host if isinstance(host, str) else host.decode(), port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
