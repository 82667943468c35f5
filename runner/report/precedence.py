"""How Keras picks its backend, per Keras major line, from the cells' scenario records: the precedence
observed (KERAS_BACKEND, keras.json, the built-in default), what a stale keras.json does, KERAS_HOME, an
unwritable HOME, the runtime switch and which Keras tf.keras is. Every row names the cells that showed it;
where cells of one line disagree, each answer is its own row. A line is only the Keras major version: which
releases share an answer is what the records show (the rows' cells), never a table of minor lines.

A setting is "honoured" when a scenario's answer can only come from it: the backend it named, where that
differs from the built-in default, or an error naming that backend (Keras read the setting and then failed
to import what it named: "Unable to import backend : jax", "No module named 'theano'"). An answer equal to
the default, or an error that names something else (the same one the default raised), shows nothing.

Longer than our usual module on purpose: it lists every question the table answers, how each answer is
read from the scenario records and which record fields it reads (ASPECT_FIELDS), in one place.

Pure functions of a results document. Rows are plain text (untrusted values pass through one_line); the
Markdown and HTML formats escape them as they escape every other table.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypedDict

from runner.report.fields import Cell, Doc, error_text, keras_line, keras_version, version_key
from runner.util.text import one_line

LINES = ("0.x", "1.x", "2.x", "3.x")
HEADERS = ("Keras line", "Question", "Observed", "Cells")
NAME_LIMIT = 40
Scenario = Mapping[str, Any]


class PrecedenceRow(TypedDict):
    line: str
    aspect: str
    observed: str
    cells: List[str]
    fields: List[str]  # the record fields the answer was read from (fields.field_values paths)


def line_of(version: Optional[str]) -> Optional[str]:
    """'2.3.1' -> '2.x'; '0.3.0' -> '0.x'; None for what is no Keras release (or a major not in LINES)."""
    minor = keras_line(version)
    try:
        major = int((minor or "").split(".")[0])
    except ValueError:
        return None
    line = "%d.x" % major
    return line if line in LINES else None


def scenarios_of(cell: Cell) -> Dict[str, Scenario]:
    """id -> scenario record (records written before scenarios existed have none)."""
    found = cell.get("scenarios")
    if not isinstance(found, list):
        return {}
    # A scenario the probe ran out of time for (error type not_run / timeout, the probe's words, never a
    # Keras exception's module.Class) answers nothing: it must not read as "keras.json not honoured".
    unanswered = ("not_run", "timeout", "crash")  # not our vocabulary: the probe's error types
    return {str(s["id"]): s for s in found if isinstance(s, dict) and isinstance(s.get("id"), str)
            and (s.get("error") or {}).get("type") not in unanswered}


def name(value: Any) -> str:
    return one_line(value, NAME_LIMIT)


# The probe's scratch HOME (/tmp/scenarios-XXXXXX/home-XXXXXX) differs in every process: named as $HOME so
# that cells which raised the same error give one row.
_SCRATCH_HOME = re.compile(r"/tmp/scenarios-[A-Za-z0-9_]+/home-[A-Za-z0-9_]+")


def answer(scenario: Scenario) -> str:
    """'jax', or 'raised ValueError: ...' (the exact exception, one line; the scratch HOME named $HOME)."""
    if scenario.get("error"):
        return "raised " + _SCRATCH_HOME.sub("$HOME", error_text(scenario.get("error")))
    if scenario.get("backend") is None:
        return "no answer"
    return name(scenario.get("backend"))


def names_backend(scenario: Scenario, backend: Optional[str], default: Optional[Scenario] = None) -> bool:
    """Whether the scenario raised an error that names `backend` ("Unable to import backend : jax", "No module
    named 'theano'"), other than the very error the default raised: Keras read the setting naming it."""
    error = scenario.get("error")
    if not backend or not isinstance(error, dict) or not error:
        return False
    if default is not None and default.get("error") and error_text(default.get("error")) == error_text(error):
        return False
    pattern = r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(str(backend))
    return re.search(pattern, str(error.get("message") or "")) is not None


def _planted(scenario: Scenario) -> Optional[str]:
    before = scenario.get("keras_json_before")
    return name(before.get("backend")) if isinstance(before, dict) and before.get("backend") else None


def _env_answers(found: Mapping[str, Scenario]) -> Dict[str, Any]:
    """KERAS_BACKEND value ('missing-jax' for one not installed) -> what backend() said, where it answered."""
    return {k[len("env-"):]: s.get("backend") for k, s in found.items()
            if k.startswith("env-") and k != "env-vs-json" and not s.get("error")}


def constant_backend(found: Mapping[str, Scenario]) -> Optional[str]:
    """The backend a Keras reported whatever KERAS_BACKEND named (Keras 2.4-2.15: no choice), else None."""
    if found.get("default") is None:
        return None
    answers = _env_answers(found)
    constant = set(answers.values())
    if len(constant) == 1 and any(target.replace("missing-", "") != backend for target, backend in answers.items()):
        return name(constant.pop())
    return None


def precedence(found: Mapping[str, Scenario]) -> Optional[str]:
    """The order observed in one cell, e.g. 'KERAS_BACKEND > keras.json > built-in default (tensorflow)'."""
    default = found.get("default")
    env = {k[len("env-"):]: s for k, s in found.items() if k.startswith("env-") and k != "env-vs-json"}
    if default is None or not env:
        return None
    default_text = "built-in default (%s)" % answer(default)
    answers = _env_answers(found)
    constant = constant_backend(found)
    if constant is not None:
        return "no choice: backend() is always %s, whatever KERAS_BACKEND says" % constant
    if not answers:
        named = sorted(k for k, s in env.items() if names_backend(s, (s.get("env") or {}).get("KERAS_BACKEND"),
                                                                 default))
        if named:  # the variable was read: the import of what it named failed
            return "KERAS_BACKEND honoured, then raised (%s); %s" % (
                "; ".join("KERAS_BACKEND=%s: %s" % (name((env[k].get("env") or {}).get("KERAS_BACKEND")),
                                                     answer(env[k])) for k in named), default_text)
        return "KERAS_BACKEND: every value raised; %s" % default_text
    # keras.json naming a backend that cannot be imported through KERAS_BACKEND either (Keras 3's numpy
    # without scipy) fails for that reason, not because keras.json was ignored: only working ones count.
    json_answers = {k[len("json-"):]: s for k, s in found.items() if k.startswith("json-") and
                    answers.get(k[len("json-"):]) == k[len("json-"):]}
    env_honoured = all(backend == target for target, backend in answers.items() if not target.startswith("missing-"))
    json_honoured = bool(json_answers) and all(not s.get("error") and s.get("backend") == target
                                               for target, s in json_answers.items())
    both = found.get("env-vs-json")
    if both is None or not (env_honoured and json_honoured):
        honoured = [what for what, ok in (("KERAS_BACKEND", env_honoured), ("keras.json", json_honoured)) if ok]
        ignored = [what for what, ok in (("KERAS_BACKEND", env_honoured), ("keras.json", json_honoured)) if not ok]
        return " > ".join(honoured + [default_text]) + ("; not honoured: " + ", ".join(ignored) if ignored else "")
    named_env = name((both.get("env") or {}).get("KERAS_BACKEND"))
    if _planted(both) not in answers:  # one backend installed: "KERAS_BACKEND wins" and "keras.json is
        # ignored" look the same, so say what was asked and answered, not an order
        return "KERAS_BACKEND=%s with keras.json naming %s (not installed): %s; %s" % (
            named_env, _planted(both), answer(both), default_text)
    if both.get("error"):
        return "KERAS_BACKEND with keras.json: %s; %s" % (answer(both), default_text)
    if name(both.get("backend")) == named_env:
        return "KERAS_BACKEND > keras.json > " + default_text
    if name(both.get("backend")) == _planted(both):
        return "keras.json > KERAS_BACKEND > " + default_text
    return "neither KERAS_BACKEND nor keras.json (%s); %s" % (answer(both), default_text)


def rows_without_evidence(rows: Sequence[PrecedenceRow], doc: Doc) -> List[PrecedenceRow]:
    """Rows that cite no cell, or a cell the document does not hold or that has no scenario records, or
    that belongs to another Keras line: every row must be traceable to cells that showed it."""
    cells = {c.get("cell_id"): c for c in doc.get("cells") or []}

    def behind(cell_id: str, row: PrecedenceRow) -> bool:
        cell = cells.get(cell_id)
        if row["aspect"] == R_ASPECT and (cell is None or not r_scenarios_of(cell)):
            return False  # an R row needs the cell's R records, not only its Python ones
        return cell is not None and bool(scenarios_of(cell)) and line_of(keras_version(cell)) == row["line"]
    return [row for row in rows if not row["cells"] or not all(behind(c, row) for c in row["cells"])]


def _with_json(scenario: Optional[Scenario], what: str) -> Optional[str]:
    if scenario is None:
        return None
    kept = "rewritten" if scenario.get("keras_json_written") else "left as it was"
    return "%s; %s %s" % (answer(scenario), what, kept)


def _missing(found: Mapping[str, Scenario]) -> Optional[str]:
    for key, scenario in sorted(found.items()):
        if key.startswith("env-missing-"):
            return "KERAS_BACKEND=%s: %s" % (name(key[len("env-missing-"):]), answer(scenario))
    return None


def _keras_home(found: Mapping[str, Scenario]) -> Optional[str]:
    scenario = found.get("keras-home")
    if scenario is None:
        return None
    planted = _planted(scenario)
    default = found.get("default")
    if default is not None and not default.get("error") and planted == name(default.get("backend")):
        # The file names what Keras picks anyway: the answer cannot tell whether KERAS_HOME was read.
        return "not shown (its keras.json names the built-in default, %s): %s" % (planted, answer(scenario))
    if scenario.get("error"):
        if names_backend(scenario, planted, default):  # it read the file, then failed to import what it named
            return "honoured, then raised (its keras.json names %s): %s" % (planted, answer(scenario))
        return "not shown (raised before answering; its keras.json names %s): %s" % (planted, answer(scenario))
    honoured = "honoured" if name(scenario.get("backend")) == planted else "not honoured"
    return "%s (its keras.json names %s): %s" % (honoured, planted, answer(scenario))


def _readonly(found: Mapping[str, Scenario]) -> Optional[str]:
    scenario = found.get("readonly-home")
    if scenario is None or scenario.get("home_writable"):  # as root the HOME stayed writable: not measured
        return None
    where = scenario.get("keras_json_path")
    return "%s; keras.json %s" % (answer(scenario), "written to " + name(where) if where else "not written")


def _switch(found: Mapping[str, Scenario]) -> Optional[str]:
    scenario = found.get("runtime-switch")
    if scenario is None:
        return None
    if not scenario.get("switch_function"):
        error = scenario.get("error") or {}
        if error.get("type") == "none":  # the probe's word: this Keras has no switch function at all
            return "none: %s" % one_line(error.get("message"), 200)
        return "none: " + answer(scenario)
    return "%s(%s) after importing with %s: %s" % (
        name(scenario.get("switch_function")), name(scenario.get("switch_to")),
        name(scenario.get("backend_before_switch")), answer(scenario))


def _tf_keras_text(record: Any) -> Optional[str]:
    if not isinstance(record, dict):
        return None
    if record.get("error"):
        return "raised " + error_text(record.get("error"))
    return "%s %s (tf.keras is %s)" % (name(record.get("package")), name(record.get("version") or "(no __version__)"),
                                       name(record.get("module")))


def _tf_keras(cell: Cell) -> Optional[str]:
    record = cell.get("tf_keras")
    if not isinstance(record, dict):
        return None
    text = "TensorFlow %s: %s" % (name(record.get("tensorflow")), _tf_keras_text(record.get("default")))
    legacy = _tf_keras_text(record.get("legacy"))
    if legacy:
        installed = record.get("tf_keras_installed")
        text += "; with TF_USE_LEGACY_KERAS=1 (%s): %s" % (
            "tf-keras %s installed" % name(installed) if installed else "tf-keras not installed", legacy)
    return text


R_ASPECT = "R (reticulate)"


def r_scenarios_of(cell: Cell) -> Dict[str, Scenario]:
    """id -> the R probe's scenario records (runner/probe/r_probe.R); empty for cells without R."""
    r = cell.get("r")
    found = r.get("scenarios") if isinstance(r, dict) else None
    if not isinstance(found, list):
        return {}
    return {str(s["id"]): s for s in found if isinstance(s, dict) and isinstance(s.get("id"), str)}


def _r_answer(scenario: Scenario) -> str:
    """'tensorflow', 'jax (keras$config$backend(): jax)' or 'raised ...' (with the step that raised)."""
    error = scenario.get("error")
    if isinstance(error, dict) and error:
        stage = error.get("stage")
        return "raised " + error_text(error) + (" (at %s)" % name(stage) if stage else "")
    text = answer(scenario)
    config = scenario.get("config_backend")
    if config is not None and name(config) != text:
        text += " (keras$config$backend(): %s)" % name(config)
    return text


def _r(cell: Cell) -> Optional[str]:
    """What R asked through reticulate in the cell, e.g. "keras$backend$backend() via reticulate: tensorflow;
    with Sys.setenv(KERAS_BACKEND='jax') first: jax"; the R packages' own functions and the CRAN part."""
    found = r_scenarios_of(cell)
    found_r = cell.get("r")
    r: Mapping[str, Any] = found_r if isinstance(found_r, dict) else {}
    parts = []
    default = found.get("r-default")
    if default is not None:
        parts.append("keras$backend$backend() via reticulate: %s" % _r_answer(default))
    for key in sorted(k for k in found if k.startswith("r-env-")):
        parts.append("with Sys.setenv(KERAS_BACKEND='%s') first: %s" % (name(key[len("r-env-"):]),
                                                                     _r_answer(found[key])))
    calls = (default or {}).get("r_functions")
    for call, said in sorted(calls.items()) if isinstance(calls, dict) else ():
        if isinstance(said, dict):
            parts.append("%s: %s" % (name(call), "raised " + error_text(said["error"]) if said.get("error")
                                     else name(said.get("value"))))
    cran = r.get("cran")
    if isinstance(cran, dict) and cran.get("status"):
        requested = ", ".join(name(p) for p in cran.get("requested") or [])
        parts.append("CRAN %s: %s%s" % (requested, name(cran.get("status")),
                                        " (%s)" % one_line(cran.get("reason"), 200) if cran.get("reason") else ""))
    if not parts:
        return None
    versions = "R %s, reticulate %s: " % (name(r.get("r_version") or "?"), name(r.get("reticulate_version") or "?"))
    return versions + "; ".join(parts)


ASPECTS: Sequence[Tuple[str, Callable[[Cell, Mapping[str, Scenario]], Optional[str]]]] = (
    ("precedence", lambda cell, found: precedence(found)),
    ("KERAS_BACKEND naming a backend not installed", lambda cell, found: _missing(found)),
    ("stale keras.json (Keras 1.0: theano, image_dim_ordering th)",
     lambda cell, found: _with_json(found.get("stale-json"), "the file")),
    ("KERAS_HOME", lambda cell, found: _keras_home(found)),
    ("unwritable HOME", lambda cell, found: _readonly(found)),
    ("runtime switch", lambda cell, found: _switch(found)),
    ("tf.keras", lambda cell, found: _tf_keras(cell)),
    (R_ASPECT, lambda cell, found: _r(cell)),
)


_ERROR = ["backend", "error.type", "error.message"]
ASPECT_FIELDS: Mapping[str, List[str]] = {
    "precedence": ["scenarios[default].%s" % f for f in _ERROR] + ["scenarios[env-*].env"]
    + ["scenarios[env-*].%s" % f for f in _ERROR] + ["scenarios[json-*].keras_json_before.backend"]
    + ["scenarios[json-*].%s" % f for f in _ERROR],
    "KERAS_BACKEND naming a backend not installed": ["scenarios[env-missing-*].env"]
    + ["scenarios[env-missing-*].%s" % f for f in _ERROR],
    "stale keras.json (Keras 1.0: theano, image_dim_ordering th)": ["scenarios[stale-json].keras_json_before"]
    + ["scenarios[stale-json].%s" % f for f in _ERROR] + ["scenarios[stale-json].keras_json_written"],
    "KERAS_HOME": ["scenarios[default].%s" % f for f in _ERROR] + ["scenarios[keras-home].keras_json_before.backend"]
    + ["scenarios[keras-home].%s" % f for f in _ERROR],
    "unwritable HOME": ["scenarios[readonly-home].home_writable", "scenarios[readonly-home].keras_json_path"]
    + ["scenarios[readonly-home].%s" % f for f in _ERROR],
    "runtime switch": ["scenarios[runtime-switch].switch_function", "scenarios[runtime-switch].switch_to",
                       "scenarios[runtime-switch].backend_before_switch"]
    + ["scenarios[runtime-switch].%s" % f for f in _ERROR],
    "tf.keras": ["tf_keras"],
    R_ASPECT: ["r.r_version", "r.reticulate_version", "r.scenarios", "r.cran"],
}


def precedence_rows(doc: Doc) -> List[PrecedenceRow]:
    """One row per Keras line, question and distinct answer, citing the cells that gave it, lines in
    release order. Cells without scenario records give no row."""
    grouped: Dict[Tuple[str, str, str], List[str]] = {}
    first: Dict[Tuple[str, str, str], Any] = {}
    for cell in doc.get("cells") or []:
        found = scenarios_of(cell)
        line = line_of(keras_version(cell))
        if not found or line is None or not isinstance(cell.get("cell_id"), str):
            continue
        for aspect, observe in ASPECTS:
            observed = observe(cell, found)
            if observed:
                key = (line, aspect, observed)
                grouped.setdefault(key, []).append(cell["cell_id"])
                first[key] = min(first.get(key, version_key(keras_version(cell))), version_key(keras_version(cell)))
    aspect_order = [aspect for aspect, _ in ASPECTS]
    # In release order inside a line and question: the first release that showed an answer leads.
    keys = sorted(grouped, key=lambda k: (LINES.index(k[0]), aspect_order.index(k[1]), first[k], k[2]))
    return [PrecedenceRow(line=k[0], aspect=k[1], observed=k[2], cells=sorted(grouped[k]),
                          fields=list(ASPECT_FIELDS.get(k[1], []))) for k in keys]


def release_runs(versions: Sequence[str], measured: Sequence[str]) -> str:
    """'2.0.5-2.1.6, 2.2.3-2.3.1': the versions as runs of consecutive releases among those measured (in
    version order), so a row never reads as a range its records do not fill."""
    order = sorted(set(measured) | set(versions), key=version_key)
    index = {v: i for i, v in enumerate(order)}
    runs: List[List[str]] = []
    for version in sorted(set(versions), key=version_key):
        if runs and index[version] == index[runs[-1][-1]] + 1:
            runs[-1].append(version)
        else:
            runs.append([version])
    return ", ".join(run[0] if len(run) == 1 else "%s-%s" % (run[0], run[-1]) for run in runs)


def table_rows(rows: Sequence[PrecedenceRow]) -> Tuple[Tuple[str, ...], List[List[str]]]:
    """(headers, rows of plain text) for the Markdown and HTML tables; the caller escapes for its format."""
    return HEADERS, [[row["line"], row["aspect"], row["observed"], ", ".join(row["cells"])] for row in rows]
