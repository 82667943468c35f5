"""The history on the real engine: two real runs of a 2-cell matrix (a Keras release range on TensorFlow 2.21,
smoke measure, the e2e modern cell's image), with a local package index that lacks Keras 3.15.1 on the first
run and has it on the second, as the index changes between two scheduled runs. Each run goes into a history
store; `history show` must name the release that appeared, the site must open with it, and the timings must
be compared within the one machine class both runs ran on.

Nothing here knows how a cell turns out: the assertions are on what the store and the records say."""

import http.server
import json
import os
import threading

import pytest

from runner.matrix.releases import read_list
from runner.results.history import machine_class
from tests.integration.conftest import run_cli

MATRIX = """version: 1
defaults:
  measure: smoke
  scenarios: false
  timeout_minutes: 25
  limits: {memory: 6g, cpus: 1, pids: 4096}
  expect: {status: any, reason: "a history run records what it finds"}
groups:
  - name: k315
    matrix:
      era: py311
      keras: {releases: ">=3.15,<3.16"}
      tensorflow: ["2.21.0"]
"""
NEW = "3.15.1"


class _Index(http.server.BaseHTTPRequestHandler):
    """PyPI's JSON document for keras, from the kept list, with or without the newest release."""

    with_new = False

    def do_GET(self):
        versions = [str(v) for v in read_list("keras")[0] if type(self).with_new or str(v) != NEW]
        body = json.dumps({"info": {"name": "keras"}, "releases": {
            v: [{"filename": "keras-%s.tar.gz" % v, "yanked": False}] for v in versions}}).encode()
        self.send_response(200 if self.path.endswith("/keras/json") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def history(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp("history")
    (root / "matrix.yaml").write_text(MATRIX)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    env = dict(os.environ, KERAS_MATRIX_INDEX_URL="http://127.0.0.1:%d/pypi" % server.server_address[1])
    store = root / "store"
    runs = {}
    try:
        for run_id, with_new in (("one", False), ("two", True)):
            _Index.with_new = with_new
            runs[run_id] = run_cli("run", root / "matrix.yaml", "--results-dir", root, "--run-id", run_id, "--rerun",
                                   env=env, timeout=1800)
            assert runs[run_id].returncode == 0, runs[run_id].stderr[-3000:]
            added = run_cli("history", "add", root / run_id / "results.json", "--store", store)
            assert added.returncode == 0, added.stderr[-2000:]
    finally:
        server.shutdown()
        server.server_close()
    summary = root / "summary.md"
    show = run_cli("history", "show", "--store", store, "--markdown", summary, "--fail-on-regression")
    site = run_cli("site", root / "two" / "results.json", "--history", store, "-o", root / "site")
    return root, store, show, site


def _doc(root, run_id):
    return json.loads((root / run_id / "results.json").read_text())


def test_each_run_resolved_the_range_from_the_index_it_saw(history):
    root, _, _, _ = history
    one, two = _doc(root, "one"), _doc(root, "two")
    (first,), (second,) = one["matrix"]["expansions"], two["matrix"]["expansions"]
    assert first["source"] == second["source"] == "index"
    assert NEW not in first["versions"] and NEW in second["versions"]
    assert len(two["cells"]) == len(one["cells"]) + 1


def test_the_store_keeps_one_compact_file_per_run_in_the_machine_class_of_the_host(history):
    root, store, _, _ = history
    files = sorted(store.glob("*/*.json"))
    assert [f.name.rsplit("-", 1)[-1] for f in files] == ["one.json", "two.json"]
    (folder,) = {f.parent.name for f in files}
    assert folder == machine_class(_doc(root, "two"))[0]
    for path in files:
        stored = json.loads(path.read_text())
        assert path.stat().st_size < 20000 and "log_tail" not in path.read_text()
        assert path.name.startswith(stored["started_at"][:10].replace("-", ""))
        assert stored["git_sha"] == _doc(root, stored["run_id"])["provenance"]["git_sha"]


def test_since_the_last_run_names_the_new_release_and_agrees_with_its_exit_status(history):
    root, _, show, _ = history
    headline = show.stdout.splitlines()[0]
    assert "new on the index: keras %s" % NEW in headline and "1 cell added" in headline
    regressed = headline.startswith("REGRESSION")
    assert show.returncode == (1 if regressed else 0), show.stderr[-2000:]
    markdown = (root / "summary.md").read_text()
    assert markdown.startswith("### %s keras-matrix since the last run" % ("\u274c" if regressed else "\u2705"))
    # both runs on this machine: the timings were compared, with the run before
    assert "compared with one (" in show.stdout


def test_the_site_opens_with_the_change_and_has_the_history_page(history):
    root, _, _, site = history
    assert site.returncode == 0, site.stderr[-2000:]
    index = (root / "site" / "index.html").read_text()
    banner = index[index.index("</header>"):index.index('<main class="first">')]
    assert "new on the index: keras %s" % NEW in banner and 'href="history.html"' in banner
    page = (root / "site" / "history.html").read_text()
    for cell in _doc(root, "two")["cells"]:
        assert cell["cell_id"] in page
    assert "<polyline points=" in page or "No run of one machine class trained anything yet." in page
