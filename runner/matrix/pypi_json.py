"""The package index's JSON API (PyPI's /pypi/<name>/json): one bounded, checked download of a distribution's
document, over TLS against the host's CA bundle, from PyPI or the index $KERAS_MATRIX_INDEX_URL names."""

from __future__ import annotations

import http.client
import json
import os
import re
import threading
import time
import urllib.request
from typing import Any, Callable, Dict, List

from runner.util.net import tls_context

INDEX_URL = "https://pypi.org/pypi/%s/json"
# Another index with PyPI's JSON API (a mirror, a local fake in the tests): its base URL, e.g.
# http://127.0.0.1:8080/pypi (the document of a package is BASE/<name>/json).
INDEX_VARIABLE = "KERAS_MATRIX_INDEX_URL"
_INDEX_BASE = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]{0,200})?")
INDEX_TIMEOUT = 10.0  # for the whole request: connecting, the headers and the body together
MAX_INDEX_BYTES = 64 * 1024 * 1024  # TensorFlow's document is ~1.6 MB; anything near this is not PyPI's

# package name -> the index's JSON document (PyPI's /pypi/<name>/json shape); raises OSError or ValueError.
IndexFetch = Callable[[str, float], Dict[str, Any]]


def index_url(name: str) -> str:
    """The URL of a distribution's JSON document: PyPI's, or under $KERAS_MATRIX_INDEX_URL (checked: a plain
    http(s) URL, else ValueError, which the resolver reports as the index's failure)."""
    base = os.environ.get(INDEX_VARIABLE)
    if not base:
        return INDEX_URL % name
    if not _INDEX_BASE.fullmatch(base):
        raise ValueError("$%s is not a plain http(s) URL such as http://127.0.0.1:8080/pypi" % INDEX_VARIABLE)
    return "%s/%s/json" % (base.rstrip("/"), name)


def _download(url: str, deadline: float, timeout: float, accept: str, limit: int) -> bytes:
    context = tls_context()  # the same bundle the builds get (corporate TLS interception)
    request = urllib.request.Request(url, headers={"Accept": accept})
    chunks: List[bytes] = []
    total = 0
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("the index did not finish its answer within %g s" % timeout)
            chunk = response.read1(1 << 16)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise ValueError("the index answered more than %d bytes" % limit)
            chunks.append(chunk)
        if response.length:  # the connection ended before the Content-Length it announced
            raise http.client.IncompleteRead(b"".join(chunks), response.length)
    return b"".join(chunks)


def fetch_index(name: str, timeout: float) -> Dict[str, Any]:
    """PyPI's JSON document for a distribution (fetch_json)."""
    return fetch_json(index_url(name), timeout)


def fetch_json(url: str, timeout: float, accept: str = "application/json",
               limit: int = MAX_INDEX_BYTES) -> Dict[str, Any]:
    """A JSON object from the index, over TLS checked against the host's CA bundle.

    `timeout` bounds the whole request, not each read: the download runs in a daemon thread that is left
    behind (it ends at its next read) when the index has not answered in full by then. TimeoutError then;
    ValueError for an answer that is too large, not JSON, nested too deeply or not an object; the index's
    error statuses as urllib.error.HTTPError."""
    deadline = time.monotonic() + timeout
    outcome: Dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["body"] = _download(url, deadline, timeout, accept, limit)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="index-download", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError("the index did not answer within %g s" % timeout)
    if "error" in outcome:
        raise outcome["error"]
    try:
        document = json.loads(outcome["body"].decode("utf-8"))
    except RecursionError:
        raise ValueError("the index answered JSON nested too deeply") from None
    if not isinstance(document, dict):
        raise ValueError("the index answered something other than a JSON object")
    return document
