"""Every measured figure and release boundary README.md and docs/*.md state, recomputed from the published
results: a sentence that the records do not produce fails here.

Each claim is a pattern over the prose (whitespace collapsed, so line breaks do not matter) and a function
that recomputes what the pattern captured. A pattern that no longer matches anything is fine (the text
moved or was dropped); a matched claim that disagrees with the results is not. The known wrong phrasings of
issue #28 are listed too, so they cannot come back.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

import pytest

from runner.model.records import canonical_name
from runner.report import timing
from runner.report.fields import cell_backends, keras_version, version_key
from runner.report.findings import compute_findings
from runner.report.precedence import precedence_rows, release_runs

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "theano": "Theano", "cntk": "CNTK", "numpy": "NumPy",
         "openvino": "OpenVINO", "torch": "PyTorch"}


def documents() -> List[Tuple[str, str]]:
    """(name, prose with whitespace collapsed) of README.md and every docs/*.md."""
    paths = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("**/*.md"))
    return [(str(p.relative_to(ROOT)), " ".join(p.read_text(encoding="utf-8").split())) for p in paths if p.is_file()]


@lru_cache(maxsize=None)
def results(name: str) -> Dict[str, Any]:
    return json.loads((REPORTS / name / "results.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def findings(name: str) -> Dict[str, Dict[str, Any]]:
    return {f["id"]: f for f in compute_findings(results(name))}


# ---- what the published results produce ------------------------------------------------------------------

def sweep_rows(aspect: str) -> List[Dict[str, Any]]:
    return [dict(row) for row in precedence_rows(results("every-release")) if row["aspect"] == aspect]


def sweep_versions() -> List[str]:
    return sorted({keras_version(c) or "" for c in results("every-release")["cells"]} - {""}, key=version_key)


def releases_where(aspect: str, test: Callable[[str], bool]) -> List[str]:
    versions = {c["cell_id"]: keras_version(c) for c in results("every-release")["cells"]}
    return sorted({str(versions[c]) for row in sweep_rows(aspect) if test(row["observed"]) for c in row["cells"]},
                  key=version_key)


def runs(versions: Sequence[str]) -> str:
    """The releases as runs of consecutive measured releases of the sweep: '2.6.0-2.15.0, 3.0.0-3.0.4'."""
    return release_runs(list(versions), sweep_versions())


def said_runs(text: str) -> str:
    """'Keras 0.3.3-2.1.6, 2.2.3-2.3.1 and 3.0.0-3.15.1' -> '0.3.3-2.1.6, 2.2.3-2.3.1, 3.0.0-3.15.1'."""
    return ", ".join(re.findall(r"\d+\.\d+\.\d+(?:-\d+\.\d+\.\d+)?", text))


def matrix_trainings() -> List[Tuple[Dict[str, Any], str, Dict[str, Any]]]:
    return [(cell, name, training) for cell in results(".")["cells"]
            for name, training in (cell.get("trainings") or {}).items() if timing.seconds(training) is not None]


# ---- the claims ------------------------------------------------------------------------------------------

def check_stable_figure(match: re.Match[str]) -> None:
    """"Keras 3.15.1's JAX training in the TensorFlow + JAX cell: 0.559 s, 95% 0.544-0.572 s"."""
    version, backend, stack, seconds, low, high = match.groups()
    wanted = {b for b, word in NAMES.items() if re.search(r"\b%s\b" % word, stack)}
    stable = [(c, n, t) for c, n, t in matrix_trainings() if not timing.is_shaky(t)]
    found = [(c, n, t) for c, n, t in stable if keras_version(c) == version and NAMES.get(n) == backend
             and set(cell_backends(c)) == wanted]
    assert found, "no stable %s training of Keras %s in a %s cell; stable: %s" % (
        backend, version, stack, [(c["cell_id"], n) for c, n, _ in stable])
    [(_, _, training)] = found
    assert "%.3f" % timing.seconds(training) == seconds
    assert ["%.3f" % v for v in timing.interval(training) or []] == [low, high]


def check_stable_alone(match: re.Match[str]) -> None:
    """"Keras 3.15.1 with JAX alone: 0.559 s": a stable training in a cell with that backend only."""
    version, stack, seconds = match.groups()
    wanted = {b for b, word in NAMES.items() if re.search(r"\b%s\b" % word, stack)}
    found = [t for c, n, t in matrix_trainings() if not timing.is_shaky(t) and keras_version(c) == version
             and set(cell_backends(c)) == wanted and {n} == wanted]
    assert found and any("%.3f" % (timing.seconds(t) or 0) == seconds for t in found), \
        "no stable training of Keras %s with %s alone" % (version, stack)


def check_training_count(match: re.Match[str]) -> None:
    assert int(match.group(1)) == len(matrix_trainings())


def check_verdict_count(match: re.Match[str]) -> None:
    number, word = int(match.group(1)), match.group(2)
    verdicts = [timing.verdict(t) for _, _, t in matrix_trainings()]
    assert verdicts.count(word) == number, (word, verdicts.count(word))


def check_bench_orderings(match: re.Match[str]) -> None:
    """The bench's orderings: a pair whose trainings were not both stable in every rerun is no claim."""
    bench = json.loads((ROOT / "bench" / "reproducibility.json").read_text(encoding="utf-8"))["reruns"]
    assert int(match.group(1)) == len(bench["orderings"])
    for pair in bench["orderings"]:
        cell, names = pair.split(": ")
        verdicts = [bench["trainings"]["%s %s" % (cell, n)]["verdicts"] for n in names.split(" vs ")]
        assert any(a != "stable" or b != "stable" for a, b in zip(*verdicts)), pair


def check_first_release(match: re.Match[str]) -> None:
    """"`theano` from Keras 0.3.1": the finding's first release for KERAS_BACKEND=theano."""
    backend, version = match.group(1), match.group(2)
    title = findings("every-release")["backend-accepted-%s" % backend]["title"]
    assert ("first gives %s at Keras %s " % (backend, version)) in title, title


def check_every_release_but(match: re.Match[str]) -> None:
    backend, version = match.group(1), match.group(2)
    title = findings("every-release")["backend-accepted-%s" % backend]["title"]
    assert title.endswith("but not in Keras %s" % version), title


def check_ignored_again(match: re.Match[str]) -> None:
    backend, stated = match.group(1), match.group(2)
    title = findings("every-release")["backend-accepted-%s" % backend]["title"]
    assert title.endswith("but not in Keras %s" % stated), title


def check_order_shown(match: re.Match[str]) -> None:
    shown = releases_where("precedence", lambda o: o.startswith("KERAS_BACKEND > keras.json > "))
    assert said_runs(match.group(1)) == runs(shown)


def check_no_choice(match: re.Match[str]) -> None:
    no_choice = releases_where("precedence", lambda o: o.startswith("no choice"))
    assert said_runs(match.group(1)) in runs(no_choice).split(", "), runs(no_choice)


def check_reads_then_raises(match: re.Match[str]) -> None:
    read = releases_where("precedence", lambda o: o.startswith("KERAS_BACKEND honoured, then raised"))
    assert said_runs(match.group(1).replace(" and ", ", ")) == runs(read)


def check_keras_home_from(match: re.Match[str]) -> None:
    honoured = releases_where("KERAS_HOME", lambda o: o.startswith("honoured"))
    not_honoured = releases_where("KERAS_HOME", lambda o: o.startswith("not honoured"))
    assert honoured and honoured[0] == match.group(1), honoured[:3]
    assert all(version_key(v) < version_key(match.group(1)) for v in not_honoured)


def check_keras_home_raised(match: re.Match[str]) -> None:
    raised = releases_where("KERAS_HOME", lambda o: o.startswith("honoured, then raised"))
    assert said_runs(match.group(1).replace(" and ", ", ")) == runs(raised)


def check_unwritable_none(match: re.Match[str]) -> None:
    none = [v for v in releases_where("unwritable HOME", lambda o: o.endswith("keras.json not written"))
            if v.startswith("2.")]
    assert said_runs(match.group(1).replace(" and ", ", ")) == runs(none)


def check_import_errors(match: re.Match[str]) -> None:
    """"69 fail at `import keras` (24 with `AttributeError: ...`, ..., 1 with a circular import ...)": the Keras 2
    x TensorFlow pairs of the cross products (the Keras 3 x torch ones have a sentence of their own)."""
    finding = findings("cross-products")["import-errors"]
    keras2 = [c for c in finding["cells"] if c.startswith("keras2.")]
    assert int(match.group(1)) == len(keras2)
    stated = re.findall(r"(\d+) with (?:a )?`?([^`,;]+)`?", match.group(2))
    counted = [(len([c for c in item["cells"] if c.startswith("keras2.")]), item["text"].split(": ", 1)[1])
               for item in finding["items"]]
    assert sum(int(n) for n, _ in stated) == len(keras2), stated
    for number, text in stated:
        words = text.replace("a circular import in ", "circular import").strip()
        matching = [n for n, key in counted if words in key or (words.startswith("circular") and "circular" in key)]
        assert matching and int(number) == sum(matching), (number, text, counted)


def check_pep503(match: re.Match[str]) -> None:
    """Names "in PEP 503 form": true of the records as the reports read them; where published records still
    hold another spelling, the sentence must say so."""
    raw = {name for folder in (".", "every-release", "cross-products") for cell in results(folder)["cells"]
           for name in cell.get("installed") or {} if canonical_name(name) != name}
    assert not raw or "older records" in match.group(0), sorted(raw)[:5]


def statuses(folder: str) -> Dict[str, int]:
    found: Dict[str, int] = {}
    for cell in results(folder)["cells"]:
        found[str(cell.get("status"))] = found.get(str(cell.get("status")), 0) + 1
    return found


def stated_counts(text: str) -> Dict[str, int]:
    """"39 `ok`, 2 `partial` and 3 `import_failed`" -> {"ok": 39, "partial": 2, "import_failed": 3}."""
    return {word: int(n) for n, word in re.findall(r"(\d+) `(\w+)`", text)}


def check_outcome(match: re.Match[str]) -> None:
    """"[`reports/every-release/`](...) ... 104 cells ... Outcome: 92 `ok`, 10 `import_failed`, 2 `timeout`"."""
    folder = match.group(1).strip("/") or "."
    stated = stated_counts(re.sub(r"\([^)]*\)", "", match.group(2)))  # "(all five declared ...)" is no count
    assert stated == statuses(folder), (folder, stated, statuses(folder))
    cells = re.search(r"(\d+) cells", match.group(0))
    assert cells is None or int(cells.group(1)) == len(results(folder)["cells"]), (folder, cells.group(0))


def check_cross_counts(match: re.Match[str]) -> None:
    assert int(match.group(1)) == len(results("cross-products")["cells"])
    assert stated_counts(match.group(2)) == statuses("cross-products")


def check_default_range(match: re.Match[str]) -> None:
    """A row of the default-backend table: every measured release in the range reported that default in
    some cell ('none': in none of its cells)."""
    first, last, said = match.group(1), match.group(2) or match.group(1), match.group(3)
    by_version: Dict[str, set] = {}
    for cell in results("every-release")["cells"]:
        backend = (cell.get("default_backend") or {}).get("backend")
        by_version.setdefault(str(keras_version(cell)), set()).add(backend)
    inside = [v for v in by_version if version_key(first) <= version_key(v) <= version_key(last)]
    assert inside, "no release measured in %s-%s" % (first, last)
    for version in inside:
        if said == "none":
            assert by_version[version] == {None}, (version, by_version[version])
        else:
            assert said.strip("`") in by_version[version], (version, by_version[version])


def check_default_first(match: re.Match[str]) -> None:
    first, after = match.group(1), match.group(2)
    finding = findings("every-release").get("default-backend-change-%s-%s" % (after, first))
    assert finding is not None and "at Keras %s (the release after %s)" % (first, after) in finding["title"]


def off_minor_pairs() -> List[Dict[str, Any]]:
    from runner.report.fields import keras_line, spec_version
    return [c for c in results("cross-products")["cells"] if str(keras_version(c)).startswith("2.")
            and keras_line(keras_version(c)) != keras_line(spec_version(c["versions"]["tensorflow"]))]


def check_off_minor(match: re.Match[str]) -> None:
    pairs = off_minor_pairs()
    assert int(match.group(2)) == len(pairs)
    assert int(match.group(1)) == sum(1 for c in pairs if c.get("status") in ("ok", "partial"))


def check_off_minor_train_failed(match: re.Match[str]) -> None:
    assert int(match.group(1)) == sum(1 for c in off_minor_pairs() if c.get("status") == "train_failed")


def accuracy_range(test: Callable[[str, set, str], bool]) -> str:
    """'96.9-97.3': the test accuracy of every training that finished in the matrix's cells the test picks
    (Keras version, the cell's backends, the training's backend)."""
    found = [t["test_accuracy"] for c in results(".")["cells"] for n, t in (c.get("trainings") or {}).items()
             if t.get("status") == "ok" and test(str(keras_version(c)), set(cell_backends(c)), n)]
    return "%.1f-%.1f" % (100 * min(found), 100 * max(found))


def check_accuracies(match: re.Match[str]) -> None:
    """"Does my stack work?": the accuracy ranges of the three groups it names."""
    multi = accuracy_range(lambda v, cell, n: version_key("1.0") <= version_key(v) < version_key("2.4")
                           and len(cell) > 1)
    tf_only = accuracy_range(lambda v, cell, n: version_key("2.6") <= version_key(v) < version_key("3")
                             and cell == {"tensorflow"})
    keras3 = accuracy_range(lambda v, cell, n: version_key("3") <= version_key(v) and n in ("tensorflow", "jax"))
    assert match.groups() == tuple(multi.split("-") + tf_only.split("-") + keras3.split("-")), (multi, tf_only, keras3)


def keras3_cross() -> List[Tuple[str, str, Dict[str, Any]]]:
    """(Keras minor, JAX version, cell) of the cross products' Keras 3 x TensorFlow (+JAX) cells (the Keras 3 x
    torch cells have neither)."""
    from runner.report.fields import keras_line, spec_version
    return [(str(keras_line(keras_version(c))), str(spec_version(c["versions"].get("jax"))), c)
            for c in results("cross-products")["cells"] if str(keras_version(c)).startswith("3.")
            and c["versions"].get("tensorflow")]


def jax_status(cell: Dict[str, Any]) -> Any:
    return ((cell.get("trainings") or {}).get("jax") or {}).get("status")


def in_minors(minor: str, first: str, last: str) -> bool:
    return version_key(first) <= version_key(minor) <= version_key(last)


def check_jax_and_later(match: re.Match[str]) -> None:
    first, last, jax = match.groups()
    picked = [(j, c) for m, j, c in keras3_cross() if in_minors(m, first, last)]
    assert picked and all((jax_status(c) == "ok") == (version_key(j) < version_key(jax)) for j, c in picked)


def check_jax_one(match: re.Match[str]) -> None:
    first, last, jax = match.groups()
    picked = [(j, c) for m, j, c in keras3_cross() if in_minors(m, first, last)]
    assert picked and all((jax_status(c) == "ok") == (j != jax) for j, c in picked)


def check_jax_every(match: re.Match[str]) -> None:
    one, two, low, high = match.groups()
    jaxes = sorted({j for _, j, _ in keras3_cross()}, key=version_key)
    assert (jaxes[0], jaxes[-1]) == (low, high)
    assert all(jax_status(c) == "ok" for m, _, c in keras3_cross() if m in (one, two))


def check_keras3_tf_all(match: re.Match[str]) -> None:
    cells = [c for _, _, c in keras3_cross()]
    trained = [c for c in cells if ((c.get("trainings") or {}).get("tensorflow") or {}).get("status") == "ok"]
    assert int(match.group(1)) == len(cells) == len(trained)


def check_keras3_pip_check(match: re.Match[str]) -> None:
    assert int(match.group(1)) == sum(1 for _, _, c in keras3_cross() if (c.get("pip_check") or {}).get("problems"))


def check_quick_profile(match: re.Match[str]) -> None:
    """'the quick profile's two cells measured in 373 s with their images built, and their images are 5.1 GB'."""
    import yaml

    quick = yaml.safe_load((ROOT / "matrix.yaml").read_text())["profiles"]["quick"]
    cells = [c for c in results("")["cells"] if c["cell_id"] in quick]
    assert len(cells) == len(quick) == 2 and not any(c.get("cached") for c in cells)
    # "with their images built": measure_seconds is the containers' time, never the build's
    assert int(match.group(1)) == round(sum(c["measure_seconds"] for c in cells))
    assert match.group(2) == "%.1f" % (sum(c["build"]["image_size"] for c in cells) / 1e9)


def check_torch_alone(match: re.Match[str]) -> None:
    """"Keras 3.15.1 with torch 2.15.0 alone ...: `import keras` raised `ModuleNotFoundError: No module named
    'tensorflow'` ... torch trained to 97.0% test accuracy ...; the image is 6.1 GB"."""
    keras, torch, error, accuracy, size = match.groups()
    [cell] = [c for c in results(".")["cells"] if keras_version(c) == keras and set(cell_backends(c)) == {"torch"}
              and (c.get("installed") or {}).get("torch") == torch]
    default = cell["default_backend"]
    assert default["backend"] is None and "%s: %s" % (default["error"]["type"].split(".")[-1],
                                                       default["error"]["message"]) == error
    training = cell["trainings"]["torch"]
    assert training["status"] == "ok" and "%.1f" % (100 * training["test_accuracy"]) == accuracy
    assert training["device"] == {"devices": ["cpu"], "gpu": False}
    assert not (cell.get("pip_check") or {}).get("problems")
    assert "%.1f" % (cell["build"]["image_size"] / 1e9) == size


def torch_cross() -> List[Tuple[str, str, Dict[str, Any]]]:
    """(Keras minor, torch version, cell) of the cross products' Keras 3 x torch cells."""
    from runner.report.fields import keras_line, spec_version
    return [(str(keras_line(keras_version(c))), str(spec_version(c["versions"]["torch"])), c)
            for c in results("cross-products")["cells"] if c["versions"].get("torch")]


def torch_error(cell: Dict[str, Any]) -> str:
    error = cell["trainings"]["torch"].get("error") or {}
    return "%s: %s" % (str(error.get("type", "")).split(".")[-1], error.get("message", ""))


def check_torch_cross(match: re.Match[str]) -> None:
    """The Keras 3 x torch bullet: every pair's default, pip check, and which pairs fail how or train."""
    pairs, packaging_last, old_torch, first_ok, compile_last, import_first, ok_pairs, low, high = match.groups()
    cells = torch_cross()
    assert int(pairs) == len(cells) and int(ok_pairs) == sum(c["status"] == "ok" for _, _, c in cells)
    assert all(c["default_backend"]["error"]["message"] == "No module named 'tensorflow'" for _, _, c in cells)
    assert all(not (c.get("pip_check") or {}).get("problems") for _, _, c in cells)
    for minor, torch, cell in cells:
        if version_key(minor) <= version_key(packaging_last):
            assert cell["status"] == "import_failed" and torch_error(cell) == \
                "ModuleNotFoundError: No module named 'packaging'", cell["cell_id"]
        elif torch == old_torch:
            log = cell["trainings"]["torch"].get("log_tail") or ""
            assert "compiled using NumPy 1.x" in log and cell["installed"]["numpy"] == "2.4.6", cell["cell_id"]
            if version_key(minor) <= version_key(compile_last):
                assert cell["status"] == "train_failed" and "len() of unsized object" in torch_error(cell)
            else:
                assert version_key(minor) >= version_key(import_first) and cell["status"] == "import_failed"
                assert "register_pytree_node() got an unexpected keyword argument" in torch_error(cell)
        else:
            assert version_key(minor) >= version_key(first_ok) and cell["status"] == "ok", cell["cell_id"]
    found = [100 * c["trainings"]["torch"]["test_accuracy"] for _, _, c in cells if c["status"] == "ok"]
    assert ("%.1f" % min(found), "%.1f" % max(found)) == (low, high)


CLAIMS: List[Tuple[str, Callable[[re.Match[str]], None]]] = [
    (r"Keras 3\.0-3\.15 x torch 2\.2\.2, 2\.7\.1 and 2\.15\.0\*\* \((\d+) pairs.*?Keras 3\.0-(3\.\d+) fail with every "
     r"torch at import.*?torch (\d+\.\d+\.\d+) fails with every Keras (3\.\d+)-3\.15.*?Keras 3\.\d+-(3\.\d+) then fail "
     r"at `model\.compile`.*?and (3\.\d+)-3\.15 at import.*?trained with torch 2\.7\.1 and 2\.15\.0 \((\d+) pairs, "
     r"(\d+\.\d)-(\d+\.\d)% after the smoke training\)", check_torch_cross),
    (r"Keras (\d+\.\d+\.\d+) with torch (\d+\.\d+\.\d+) alone.{0,120}?`import keras` raised `([^`]+)`.{0,200}? "
     r"torch trained to (\d+\.\d)% test accuracy on the CPU; `pip check` was clean; the image is (\d+\.\d) GB",
     check_torch_alone),
    (r"quick profile's two cells measured in (\d+) s with their images built, and their images are (\d+\.\d) GB",
     check_quick_profile),
    (r"Keras (3\.\d+)-(3\.\d+) fail with JAX (\d+\.\d+\.\d+) and later", check_jax_and_later),
    (r"Keras (3\.\d+)-(3\.\d+) fail with JAX (\d+\.\d+\.\d+) \(", check_jax_one),
    (r"Keras (3\.\d+) and (3\.\d+) trained with every JAX measured \((\d+\.\d+\.\d+)-(\d+\.\d+\.\d+)\)",
     check_jax_every),
    (r"the TensorFlow backend trained in all (\d+)", check_keras3_tf_all),
    (r"in (\d+) pairs, yet an older Keras 3 trained", check_keras3_pip_check),
    (r"Every multi-backend cell of Keras 1\.0-2\.3 .{0,120}? to (\d+\.\d)-(\d+\.\d)% test accuracy; so did every "
     r"TensorFlow-only cell of Keras 2\.6-2\.15 \((\d+\.\d)-(\d+\.\d)%\) and every Keras 3\.0-3\.15 cell on "
     r"TensorFlow and JAX \((\d+\.\d)-(\d+\.\d)%\)", check_accuracies),
    (r"\[`reports/((?:[\w-]+/)?)`\]\((?:\.\./)?reports/[^)]*\).{0,700}?Outcome: "
     r"((?:\d+ `\w+`(?: \([^)]*\))?(?:, | and )?)+)",
     check_outcome),
    (r"(\d+) cells, \d{4}-\d\d-\d\d: ((?:\d+ `\w+`(?:, |,? and )?)+)", check_cross_counts),
    (r"\| \**(\d+\.\d+\.\d+)\**(?: - (\d+\.\d+\.\d+))? \| (`\w+`|none)", check_default_range),
    (r"(\d+\.\d+\.\d+) is the first release with that default\** \(the release after (\d+\.\d+\.\d+)",
     check_default_first),
    (r"(\d+) of those (\d+) pairs still import and train", check_off_minor),
    (r"and (\d+) import but fail to train", check_off_minor_train_failed),
    (r"Keras (\d+\.\d+\.\d+)'s (\w+) training in the ([\w +]+?) cell[:,] (\d+\.\d+) s(?: per steady epoch)?, "
     r"95% (\d+\.\d+)-(\d+\.\d+) s", check_stable_figure),
    (r"Keras (\d+\.\d+\.\d+) with ([\w +]+?) alone[:,] (\d+\.\d+) s", check_stable_alone),
    (r"[Oo]f (\d+) trainings that finished", check_training_count),
    (r"Of (\d+) finished trainings", check_training_count),
    (r"\*\*(\d+) (?:is|are) `(stable)`\*\*", check_verdict_count),
    (r"(\d+) are `(contended)`", check_verdict_count),
    (r"and (\d+) `(unstable)` \(the interval", check_verdict_count),
    (r"each of the (\d+) compared pairs was `contended` or `unstable`", check_bench_orderings),
    (r"`(\w+)` from (?:Keras )?(\d+\.\d+\.\d+)\b", check_first_release),
    (r"`(\w+)` in every Keras 3 release but (\d+\.\d+\.\d+)", check_every_release_but),
    (r"`(\w+)` from \d+\.\d+\.\d+ \(ignored again in (\d+\.\d+\.\d+-\d+\.\d+\.\d+)\)", check_ignored_again),
    (r"where the records show the order \(Keras ([^)]*)\)", check_order_shown),
    (r"Keras (\d+\.\d+\.\d+-\d+\.\d+\.\d+) has no choice", check_no_choice),
    (r"Keras ((?:\d+\.\d+\.\d+(?:-\d+\.\d+\.\d+)?(?:, | and ))+\d+\.\d+\.\d+(?:-\d+\.\d+\.\d+)?) read `KERAS_BACKEND` "
     r"and then "
     r"raise", check_reads_then_raises),
    (r"`KERAS_HOME` is honoured from Keras (\d+\.\d+\.\d+) on", check_keras_home_from),
    (r"; ((?:\d+\.\d+\.\d+(?:-\d+\.\d+\.\d+)?(?:, | and ))+\d+\.\d+\.\d+(?:-\d+\.\d+\.\d+)?) read it and then raise "
     r"on the backend",
     check_keras_home_raised),
    (r"((?:\d+\.\d+\.\d+(?:-\d+\.\d+\.\d+)?(?:, | and ))*\d+\.\d+\.\d+(?:-\d+\.\d+\.\d+)?) write none",
     check_unwritable_none),
    (r"(\d+) fail at `import keras` \((.*?)\) and", check_import_errors),
    (r"names in PEP 503 form[^)]*", check_pep503),
]

# Issue #28's wrong sentences: the records do not produce them.
WITHDRAWN = [
    r"Keras 3\.15\.1 with JAX alone[:,] 0\.559",
    r"`theano` from Keras 0\.3\.0",
    r"2\.4-2\.15 (?:has no choice|ignore|write none)",
    r"2\.2\.0-2\.2\.2 could not be asked",
    r"honoured from Keras 2\.2\.3",
    r"the rest with other missing TensorFlow internals",
    r"No claimed ordering flipped\*\* \(target met\)",
    r"so the report shows no figure for them",
    r"`numpy` and `openvino` in the Keras 3\.8 and 3\.15 cells",
    r"\bquick\b.{0,80}\bfew minutes",  # #25: the quick profile took ~6 min of measuring, plus ~5 GB of images cold
]


@pytest.mark.parametrize("pattern, check", CLAIMS, ids=[c[1].__name__ + str(i) for i, c in enumerate(CLAIMS)])
def test_each_stated_figure_is_what_the_published_results_produce(pattern: str, check: Any) -> None:
    for name, text in documents():
        for match in re.finditer(pattern, text):
            try:
                check(match)
            except AssertionError as exc:
                raise AssertionError("%s states %r, which the published results do not produce: %s"
                                     % (name, match.group(0)[:200], exc)) from None


def test_the_claims_the_readme_makes_are_checked() -> None:
    """The checks above run on something: each of these claims is stated somewhere in README.md or docs/."""
    text = " ".join(t for _, t in documents())
    unmatched = [check.__name__ for pattern, check in CLAIMS if not re.search(pattern, text)
                 and check is not check_stable_alone]  # a figure for a one-backend cell: none is stable now
    assert not unmatched, "no sentence matches these claims any more (update the patterns): %s" % unmatched


@pytest.mark.parametrize("pattern", WITHDRAWN)
def test_withdrawn_claims_stay_withdrawn(pattern: str) -> None:
    matrix = " ".join((ROOT / "matrix.yaml").read_text(encoding="utf-8").split())  # its comments, too
    for name, text in documents() + [("matrix.yaml", matrix)]:
        assert not re.search(pattern, text), "%s states a claim the published results contradict: %s" % (
            name, pattern)
