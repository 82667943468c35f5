"""The history store (runner/results/history.py), "since the last run" (runner/report/history.py), its page
(runner/report/history_page.py) and the `history` command: bounding, machine classes, headline wording, the
exit status and the Markdown summary agreeing, and clear errors for bad stores."""

import copy
import datetime
import json
from pathlib import Path

import pytest

from runner import cli
from runner.report.history import format_history, headline, since_last_run, timelines, trends
from runner.report.history_page import history_context, write_history_page
from runner.results.history import MIXED, add_run, compact_run, load_store, machine_class
from tests.unit.test_diff import sampled

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "results-run.json"
STEADY = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00, 1.01, 0.99, 1.00, 1.02]
SLOWER = [w * 1.4 for w in STEADY]
EPYC = {"host": {"cpu_model": "AMD EPYC", "cpus": 2, "os": "Linux-6.18.44-x86_64-with-glibc2.36"},
        "docker": {"memory_bytes": 25276063744, "os": "Debian GNU/Linux 12 (bookworm)"}, "git_sha": "abc"}
XEON = {"host": {"cpu_model": "Intel Xeon", "cpus": 4, "os": "Linux-6.1.0-x86_64-with-glibc2.36"},
        "docker": {"memory_bytes": 16 * 2 ** 30, "os": "Ubuntu 24.04"}, "git_sha": "abc"}


def cell(cell_id, status="ok", default="tensorflow", walls=STEADY, **extra):
    record = {"cell_id": cell_id, "status": status, "device": "cpu", "measure": "smoke",
              "versions": {"keras": "==3.15.0", "tensorflow": "==2.21.0"},
              "installed": {"keras": "3.15.0", "tensorflow": "2.21.0", "numpy": "2.1.0", "absl-py": "2"},
              "default_backend": {"backend": default, "error": None},
              "scenarios": [{"id": "env-jax", "log": "x" * 5000}], "build": {"log_tail": "y" * 5000}}
    if walls is not None:
        record["trainings"] = {"tensorflow": dict(sampled(walls), log_tail="z" * 5000)}
    record.update(extra)
    return record


def run(run_id, started, cells, machine=EPYC, versions=("3.15.0",)):
    return {"kind": "keras-matrix-results", "run_id": run_id, "started_at": started, "finished_at": started,
            "complete": True, "provenance": copy.deepcopy(machine),
            "matrix": {"path": "m.yaml", "cells_selected": [c["cell_id"] for c in cells],
                       "expansions": [{"axis": "keras", "range": ">=3.15,<3.16", "source": "index",
                                       "date": started[:10], "versions": list(versions)}]},
            "cells": cells}


def day(n):
    return (datetime.datetime(2026, 1, 5, 3, tzinfo=datetime.timezone.utc) + datetime.timedelta(days=n)).isoformat()


def docs(store):
    return [r.doc for r in load_store(store)]


# ---- the store ---------------------------------------------------------------------------------------------

def test_machine_class_comes_from_cpu_cores_memory_and_os():
    a, b = run("a", day(0), []), run("b", day(1), [])
    assert machine_class(a)[0] == machine_class(b)[0]
    for key, value in (("cpus", 4), ("cpu_model", "AMD EPYC 9654")):
        other = copy.deepcopy(a)
        other["provenance"]["host"][key] = value
        assert machine_class(other)[0] != machine_class(a)[0], key
    other = copy.deepcopy(a)
    other["provenance"]["docker"]["memory_bytes"] = 8 * 2 ** 30
    assert machine_class(other)[0] != machine_class(a)[0]
    other = copy.deepcopy(a)
    other["provenance"]["docker"]["os"] = "Ubuntu 24.04"
    assert machine_class(other)[0] != machine_class(a)[0]
    class_id, label, facts = machine_class(a)
    assert class_id.startswith("amd-epyc-2cpu-24gib-") and "/" not in class_id
    assert label == "AMD EPYC, 2 CPUs, 24 GiB, Debian GNU/Linux 12 (bookworm) x86_64" and facts["arch"] == "x86_64"
    merged = copy.deepcopy(a)
    merged["provenance"]["merged_from"] = [{"host": EPYC["host"]}, {"host": XEON["host"]}]
    assert machine_class(merged)[0] == MIXED


def test_a_stored_run_is_compact_and_keeps_what_the_history_shows():
    entry = compact_run(run("r1", day(0), [cell("c1")]))
    text = json.dumps(entry)
    assert "xxxx" not in text and "yyyy" not in text and "zzzz" not in text  # no logs, no scenarios
    stored = entry["cells"][0]
    assert stored["installed"] == {"keras": "3.15.0", "tensorflow": "2.21.0"}  # the axes, not the whole set
    assert stored["default_backend"]["backend"] == "tensorflow"
    assert stored["trainings"]["tensorflow"]["samples"][1] == {"wall": STEADY[0], "warmup": False}
    assert len(text) < 2500


def test_adding_the_same_run_twice_keeps_one_file(tmp_path):
    doc = run("r1", day(0), [cell("c1")])
    first, _ = add_run(doc, tmp_path)
    second, _ = add_run(doc, tmp_path)
    assert first == second and len(list(tmp_path.glob("*/*.json"))) == 1
    assert first.name == "20260105T030000Z-abc-r1.json"


def test_the_store_keeps_the_newest_runs_and_one_per_week_beyond_per_machine_class(tmp_path):
    for n in range(60):  # two runs a day for 30 days on one machine
        add_run(run("e%02d" % n, day(n / 2), [cell("c1")]), tmp_path, keep=5, weeks=2)
    add_run(run("x", day(0), [cell("c1")], machine=XEON), tmp_path, keep=5, weeks=2)
    runs = load_store(tmp_path)
    epyc = [r for r in runs if r.machine_class != machine_class(run("x", day(0), [], machine=XEON))[0]]
    names = [r.run_id for r in epyc]
    assert names[-5:] == ["e55", "e56", "e57", "e58", "e59"]
    older = epyc[:-5]
    assert len(older) == 2  # one per ISO week, for the two weeks before the newest five
    weeks = {datetime.datetime.fromisoformat(r.started).isocalendar()[:2] for r in older}
    newest_weeks = {datetime.datetime.fromisoformat(r.started).isocalendar()[:2] for r in epyc[-5:]}
    assert len(weeks) == 2 and not weeks & newest_weeks
    assert any(r.run_id == "x" for r in runs)  # another class is bounded on its own, never by this one


# ---- since the last run ------------------------------------------------------------------------------------

def test_the_headline_names_the_release_that_appeared_on_the_index(tmp_path):
    add_run(run("r1", day(0), [cell("c1")]), tmp_path)
    add_run(run("r2", day(1), [cell("c1"), cell("c2")], versions=("3.15.0", "3.15.1")), tmp_path)
    since = since_last_run(docs(tmp_path))
    assert since is not None and not since.regressed
    assert since.appeared == [{"axis": "keras", "range": ">=3.15,<3.16", "where": "", "versions": ["3.15.1"]}]
    text = headline(since)
    assert text.startswith("No regression in r2 (2026-01-06 03:00, abc) since the last run, r1 (2026-01-05 03:00, abc)")
    assert "new on the index: keras 3.15.1" in text and "1 cell added" in text
    assert "no significant slowdown on this machine class" in text


def test_a_broken_cell_or_a_changed_default_is_a_regression_and_the_headline_says_why(tmp_path):
    add_run(run("r1", day(0), [cell("c1"), cell("c2")]), tmp_path)
    add_run(run("r2", day(1), [cell("c1", status="train_failed", walls=None), cell("c2", default="jax")]),
            tmp_path)
    since = since_last_run(docs(tmp_path))
    assert since is not None and since.regressed
    text = headline(since)
    assert text.startswith("REGRESSION in r2")
    assert "1 cell broke (c1)" in text and "1 default backend changed (c2)" in text
    assert "no new release on the index" in text


def test_the_first_run_and_an_empty_store_say_so():
    assert headline(since_last_run([])) == "The history is empty: nothing to compare."
    only = compact_run(run("r1", day(0), [cell("c1")]))
    assert headline(since_last_run([only])).startswith("The history holds one run, r1 (2026-01-05 03:00, abc)")


def test_timings_are_compared_only_within_one_machine_class(tmp_path):
    add_run(run("r1", day(0), [cell("c1", walls=STEADY)]), tmp_path)
    add_run(run("r2", day(1), [cell("c1", walls=STEADY)], machine=XEON), tmp_path)
    add_run(run("r3", day(2), [cell("c1", walls=SLOWER)], machine=XEON), tmp_path)
    since = since_last_run(docs(tmp_path))
    assert since is not None and since.timing_base is not None and since.timing_base["run_id"] == "r2"
    assert [e["cell_id"] for e in since.diff["slower"]] == ["c1"] and since.regressed
    assert "1 training significantly slower on the same machine class (c1 tensorflow)" in headline(since)
    # r4 on the EPYC again: slower than the XEON run, but the only run of its class to compare with is r1
    add_run(run("r4", day(3), [cell("c1", walls=STEADY)]), tmp_path)
    since = since_last_run(docs(tmp_path))
    assert since is not None and since.timing_base["run_id"] == "r1" and since.diff["slower"] == []
    assert since.diff["faster"] == []  # r3 (XEON, slower) is never the timing baseline of an EPYC run
    groups = trends(docs(tmp_path))
    assert len(groups) == 2 and all(len(s["points"]) == 2 for g in groups for s in g["series"])


def test_a_first_run_on_a_new_machine_class_says_timings_were_not_compared(tmp_path):
    add_run(run("r1", day(0), [cell("c1")]), tmp_path)
    add_run(run("r2", day(1), [cell("c1", walls=SLOWER)], machine=XEON), tmp_path)
    since = since_last_run(docs(tmp_path))
    assert since is not None and not since.regressed
    assert "timings not compared (no earlier run on this machine class)" in headline(since)


def test_the_markdown_summary_and_the_verdict_agree(tmp_path):
    add_run(run("r1", day(0), [cell("c1")]), tmp_path)
    add_run(run("r2", day(1), [cell("c1", status="build_failed", walls=None)]), tmp_path)
    runs = docs(tmp_path)
    markdown = format_history(runs, since_last_run(runs), "markdown")
    assert markdown.startswith("### \u274c keras-matrix since the last run\n\nREGRESSION in r2")
    assert "**Broken (1)**" in markdown and "c1: ok -> build\\_failed" in markdown


# ---- the command ---------------------------------------------------------------------------------------------

def _results(tmp_path, name, doc):
    base = json.loads(FIXTURE.read_text())
    base.update(run_id=doc["run_id"], started_at=doc["started_at"], cells=[
        c for c in base["cells"] if c["cell_id"] in doc["keep"]])
    base["matrix"]["cells_selected"] = [c["cell_id"] for c in base["cells"]]
    for c in base["cells"]:
        c.update(doc.get("patch", {}))
    path = tmp_path / name
    path.write_text(json.dumps(base))
    return path


def test_history_add_and_show_exit_with_the_verdict(tmp_path, capsys):
    store, summary = tmp_path / "store", tmp_path / "summary.md"
    keep = ["keras1.0.8-tf1.0.1-theano1.0.5-py27-cpu"]
    one = _results(tmp_path, "one.json", {"run_id": "one", "started_at": day(0), "keep": keep})
    two = _results(tmp_path, "two.json", {"run_id": "two", "started_at": day(1), "keep": keep,
                                          "patch": {"status": "import_failed", "trainings": {}}})
    assert cli.main(["history", "add", str(one), "--store", str(store)]) == 0
    assert cli.main(["history", "show", "--store", str(store), "--fail-on-regression"]) == 0
    assert "holds one run" in capsys.readouterr().out
    assert cli.main(["history", "add", str(two), "--store", str(store)]) == 0
    assert cli.main(["history", "show", "--store", str(store)]) == 0  # without the flag: report only
    code = cli.main(["history", "show", "--store", str(store), "--markdown", str(summary), "--fail-on-regression"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.startswith("REGRESSION in two") and "history: regression since the last run: 1 cell broke" in err
    assert summary.read_text().startswith("### \u274c")


@pytest.mark.parametrize("setup, argv, code, message", [
    (None, ["show", "--store", "{t}/none"], 5, "no history store at"),
    ("file", ["add", "{r}", "--store", "{t}/file"], 2, "is not a directory"),
    ("corrupt", ["show", "--store", "{t}/store"], 5, "is unreadable or not JSON"),
    ("foreign", ["show", "--store", "{t}/store"], 5, "is not a keras-matrix history run"),
    ("future", ["show", "--store", "{t}/store"], 5, "update keras-matrix"),
    ("ok", ["show", "--store", "{t}/store", "--markdown", "{t}"], 5, "cannot write --markdown"),
    (None, ["add", "{t}/missing.json", "--store", "{t}/store"], 5, "no such results file"),
])
def test_bad_stores_and_files_get_one_clear_line(tmp_path, capsys, setup, argv, code, message):
    results = _results(tmp_path, "r.json", {"run_id": "r", "started_at": day(0),
                                            "keep": ["keras1.0.8-tf1.0.1-theano1.0.5-py27-cpu"]})
    (tmp_path / "file").write_text("x")
    if setup in ("corrupt", "foreign", "future", "ok"):
        path, _ = add_run(json.loads(results.read_text()), tmp_path / "store")
        if setup == "corrupt":
            path.write_text("{not json")
        elif setup == "foreign":
            path.write_text('{"kind": "something else"}')
        elif setup == "future":
            doc = json.loads(path.read_text())
            doc["history_version"] = 99
            path.write_text(json.dumps(doc))
    args = [a.format(t=tmp_path, r=results) for a in argv]
    assert cli.main(["history"] + args) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ---- the page and the site ---------------------------------------------------------------------------------

def test_the_history_page_shows_changes_trends_per_class_and_escapes(tmp_path):
    evil = "c<script>alert(1)</script>"
    add_run(run("r1", day(0), [cell(evil)]), tmp_path / "s")
    add_run(run("r2", day(1), [cell(evil, status="train_failed", walls=None, reason="tensorflow: oom <killed>")]),
            tmp_path / "s")
    add_run(run("r3", day(2), [cell(evil)]), tmp_path / "s")
    runs = docs(tmp_path / "s")
    context = history_context(runs, since_last_run(runs))
    (row,) = context["grid"]
    assert [e["changed"] for e in row["row"]] == [False, True, True]
    assert row["row"][1]["state"] == "train_failed, default tensorflow"
    assert row["row"][1]["reason"] == "tensorflow: oom <killed>"  # shown on hover, escaped
    (group,) = context["trends"]
    assert [p["seconds"] for p in group["series"][0]["points"]] == [1.0, 1.0]
    html = write_history_page(runs, since_last_run(runs), tmp_path).read_text()
    assert "<script>alert" not in html and "c&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<polyline points=" in html and "1 cell fixed" in html
    assert 'title="tensorflow: oom &lt;killed&gt;"' in html


def test_the_site_opens_with_what_changed_since_the_last_run(tmp_path):
    store = tmp_path / "store"
    add_run(run("r1", day(0), [cell("c1")]), store)
    add_run(run("r2", day(1), [cell("c1"), cell("c2")], versions=("3.15.0", "3.15.1")), store)
    out = tmp_path / "site"
    assert cli.main(["site", str(FIXTURE), "--history", str(store), "-o", str(out)]) == 0
    index = (out / "index.html").read_text()
    body = index[index.index("</header>"):]
    first = body[:body.index('<main class="first">')]
    assert "No regression in r2" in first and "new on the index: keras 3.15.1" in first
    assert 'href="history.html"' in first and (out / "history.html").is_file()
    assert cli.main(["site", str(FIXTURE), "-o", str(tmp_path / "plain")]) == 0  # no store: no banner
    assert 'id="since"' not in (tmp_path / "plain" / "index.html").read_text()


# ---- what docs/history.md and reports/history/README.md say, checked against the published files -----------

def test_the_published_history_names_the_added_release_and_shows_the_break_and_its_fix():
    runs = docs(ROOT / "reports" / "history" / "store")
    assert len(runs) >= 3 and len({r["machine"]["class"] for r in runs}) == 1
    since = since_last_run(runs)
    assert since is not None and "new on the index: keras 3.15.1" in headline(since)
    lines = {t["cell_id"]: t for t in timelines(runs)}
    states = [s["state"].split(",")[0] for s in lines["keras3.15.0-tf2.21.0-py311-cpu"]["segments"]]
    assert states == ["ok", "train_failed", "ok"]
    lowmem = [r for r in runs if r["matrix"]["path"].endswith("matrix-lowmem.yaml")]
    assert [r["run_id"] for r in lowmem] == ["h2"] and lowmem[0]["cells"][0]["status"] == "train_failed"
    assert "killed by its memory limit" in lowmem[0]["cells"][0]["reason"]
    (group,) = trends(runs)
    assert len(group["series"][0]["points"]) >= 3  # a same-machine trend over three runs


@pytest.mark.parametrize("name", [".", "every-release", "cross-products"])
def test_a_stored_run_is_a_tenth_of_its_results_or_less(name):
    """docs/history.md: under 1.2 kB per cell, under a tenth of the run's results.json."""
    path = ROOT / "reports" / name / "results.json"
    doc = json.loads(path.read_text())
    size = len(json.dumps(compact_run(doc), sort_keys=True, separators=(",", ":")))
    assert size < 1200 * len(doc["cells"]) and size < path.stat().st_size / 10
