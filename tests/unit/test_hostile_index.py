"""Hostile package-index answers (issue 29, class 3), from a fake index on 127.0.0.1: however it answers
(nested 100,000 levels, trickled a byte at a time, cut, redirected, not JSON), the request ends within
its timeout for the whole request, and the range is expanded from the kept list instead, saying why.

The fake index serves PyPI's JSON API at http://127.0.0.1:PORT/pypi/<name>/json; each test says what
the next answers are. Nothing here leaves 127.0.0.1.
"""

import http.server
import json
import socket
import threading
import time

import pytest

from runner.matrix.pypi_json import INDEX_VARIABLE, fetch_index, index_url
from runner.matrix.releases import Resolver
from tests.unit.test_hostile import invoke, snapshot

RANGE_MATRIX = ('version: 1\ngroups:\n  - name: g\n    matrix:\n      era: py311\n'
                '      keras: {releases: ">=3.0,<3.2"}\n      tensorflow: "2.16.2"\n')


def document(*versions):
    return json.dumps({"info": {"name": "keras"}, "releases": {v: [{"yanked": False}] for v in versions}}).encode()


class FakeIndex(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = lambda handler: handler.send_body(document("3.0.0", "3.1.0"))
        self.stop = threading.Event()
        self.asked = []

    @property
    def base(self):
        return "http://127.0.0.1:%d/pypi" % self.server_address[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.asked.append(self.path)
        try:
            self.server.answer(self)
        except OSError:
            pass  # the client gave up: what the slow answers are for

    def log_message(self, *args):
        pass

    def send_body(self, body, status=200, content_type="application/json", length=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def trickle(self, data, interval=0.2):
        """Write one byte at a time until done, the client leaves, or the test ends."""
        for byte in data:
            if self.server.stop.wait(interval):
                return
            self.wfile.write(bytes([byte]))
            self.wfile.flush()


@pytest.fixture
def index(monkeypatch):
    server = FakeIndex()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv(INDEX_VARIABLE, server.base)
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()


def expand(timeout=1.0):
    """The expansion of keras >=3.0,<3.2 with the index asked under a short timeout, and how long it took."""
    started = time.monotonic()
    expansion = Resolver(timeout=timeout).expand("keras", ">=3.0,<3.2")
    return expansion, time.monotonic() - started


def test_the_fake_index_is_asked_and_its_answer_used(index):
    expansion, _ = expand()
    assert expansion.source == "index" and expansion.versions == ("3.0.0", "3.1.0")
    assert index.asked == ["/pypi/keras/json"]


def deep(handler):
    handler.send_body(b'{"releases": ' + b"[" * 100000 + b"]" * 100000 + b"}")


def trickled_body(handler):
    body = document("3.0.0")
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.flush()
    handler.trickle(body)


def trickled_headers(handler):
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    handler.trickle(b"X-Slow: " + b"a" * 10000 + b"\r\n")


def silent(handler):
    handler.server.stop.wait(30)


def cut(handler):
    handler.send_body(document("3.0.0")[:20], length=5000)


def redirect_to_file(handler):
    handler.send_response(302)
    handler.send_header("Location", "file:///etc/passwd")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def server_error(handler):
    handler.send_body(b"\x1b]0;owned\x07 oops", status=500)


ANSWERS = [
    ("nested-100000-levels", deep, "nested too deeply"),
    ("nested-array-only", lambda h: h.send_body(b"[" * 100000), "ValueError"),
    ("trickled-body", trickled_body, "TimeoutError"),
    ("trickled-headers", trickled_headers, "TimeoutError"),
    ("silent", silent, "TimeoutError"),
    ("cut-short", cut, "IncompleteRead"),
    ("not-json", lambda h: h.send_body(b"<html>hello</html>"), "JSONDecodeError"),
    ("not-utf8", lambda h: h.send_body(b'{"releases": {"\xff": []}}'), "UnicodeDecodeError"),
    ("json-array", lambda h: h.send_body(b"[]"), "other than a JSON object"),
    ("no-releases", lambda h: h.send_body(b'{"info": {}}'), "no 'releases'"),
    ("releases-a-list", lambda h: h.send_body(b'{"releases": [1, 2]}'), "no 'releases'"),
    ("nan", lambda h: h.send_body(b'{"releases": NaN}'), "no 'releases'"),
    ("huge-integer", lambda h: h.send_body(b'{"releases": {"3.0.0": [' + b"9" * 5000 + b"]}}"), "ValueError"),
    ("http-500-with-controls", server_error, "HTTPError"),
    ("redirect-to-file", redirect_to_file, "HTTPError"),
    ("empty-body", lambda h: h.send_body(b""), "JSONDecodeError"),
]


@pytest.mark.parametrize("name,answer,error", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_a_hostile_answer_falls_back_to_the_kept_list_within_the_timeout(index, name, answer, error):
    index.answer = answer
    expansion, took = expand(timeout=1.0)
    assert expansion.source == "list" and error in expansion.index_error
    assert "\x1b" not in expansion.index_error and "\x07" not in expansion.index_error
    assert "3.0.0" in expansion.versions
    assert took < 3, "took %.1f s" % took


def test_the_timeout_bounds_the_whole_request_not_each_read(index):
    """Before: a byte every 3 s held plan as long as the server trickled (the timeout was per read)."""
    index.answer = trickled_body
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        fetch_index("keras", 0.8)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("versions,kept", [
    (["3.0.0", "9" * 5000, "3.1.0"], ("3.0.0", "3.1.0")),
    (["3.0.0", "===3.0.5", "3.1.0"], ("3.0.0", "3.1.0")),
    (["3.0.0", "1" * 31 + ".0", "3.1.0"], ("3.0.0", "3.1.0")),
    (["3.0.0", "not a version", "3.1.0rc1"], ("3.0.0",)),
])
def test_releases_the_runner_cannot_pin_are_left_out_of_the_index_answer(index, versions, kept):
    index.answer = lambda handler: handler.send_body(document(*versions))
    expansion, _ = expand()
    assert expansion.source == "index" and expansion.versions == kept


@pytest.mark.parametrize("value", ["file:///etc/passwd", "http://127.0.0.1/x\n", "ftp://127.0.0.1/",
                                   "http://exa mple/", "javascript:alert(1)", "http://127.0.0.1:99999999/",
                                   "\u202ehttp://127.0.0.1/", "http://user:pw@127.0.0.1/"])
def test_a_hostile_index_variable_is_the_indexs_failure_and_the_list_is_used(monkeypatch, value):
    monkeypatch.setenv(INDEX_VARIABLE, value)
    with pytest.raises(ValueError, match=INDEX_VARIABLE):
        index_url("keras")
    expansion, _ = expand()
    assert expansion.source == "list" and INDEX_VARIABLE in expansion.index_error


def test_an_unreachable_fake_index_is_refused_at_once(monkeypatch):
    with socket.socket() as taken:  # a port with nothing listening
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
    monkeypatch.setenv(INDEX_VARIABLE, "http://127.0.0.1:%d/pypi" % port)
    expansion, took = expand()
    assert expansion.source == "list" and "URLError" in expansion.index_error and took < 3


@pytest.mark.parametrize("answer", [deep, cut, server_error, lambda h: h.send_body(b"[]")],
                         ids=["deep", "cut", "500", "array"])
def test_plan_expands_from_the_list_whatever_the_index_answers(world, capsys, index, answer):
    index.answer = answer
    (world / "in" / "x.yaml").write_text(RANGE_MATRIX)
    before = snapshot(world)
    assert invoke(["plan", "in/x.yaml", "--format", "ids"]) == 0
    out, err = capsys.readouterr()
    assert "keras3.1.1-tf2.16.2-py311-cpu" in out.split()  # from the kept list: the fake index has no 3.1.1
    assert "Traceback" not in err and "internal error" not in err
    assert snapshot(world) == before


def test_plan_uses_the_fake_index_when_it_answers(world, capsys, index):
    (world / "in" / "x.yaml").write_text(RANGE_MATRIX)
    assert invoke(["plan", "in/x.yaml", "--format", "ids"]) == 0
    assert capsys.readouterr().out.split() == ["keras3.0.0-tf2.16.2-py311-cpu", "keras3.1.0-tf2.16.2-py311-cpu"]
