"""Every enumerated word is one type (runner/model/records.py and runner/model/vocabulary.py): outside
runner/model/ no module spells a status, verdict, measure mode, device, progress mode or finding level as a
bare string. A word used as a record key (a dict key, a subscript, `.get("gpu")`) is a field name, not the
value, and is allowed; so is a line that says why the word is someone else's (`# not our vocabulary: ...`)."""

import ast
from pathlib import Path
from typing import List

import pytest

import runner
from runner.model import records, vocabulary

PACKAGE = Path(runner.__file__).resolve().parent
ENUMS = [records.Status, records.TrainingStatus, records.BuildStatus, records.Stability, records.ExpectationVerdict,
         vocabulary.MeasureMode, vocabulary.Device, vocabulary.Installer, vocabulary.ProgressMode,
         vocabulary.FindingLevel, vocabulary.TimeEstimator, vocabulary.BatchClock]
# Words that are also plain English or a key in every record: their bare use cannot be told from a field name.
# "pip" is also an axis (a cell's extra requirements) and the name of a program.
AMBIGUOUS = {"ok", "error", "failed", "timeout", "skipped", "json", "full", "probe", "built", "cached", "pip"}
ALL_WORDS = {member.value for kind in ENUMS for member in kind}
WORDS = ALL_WORDS - AMBIGUOUS


def _compared(tree: ast.AST) -> set:
    """ids of constants compared with something (`status == "ok"`, `x in ("ok", "partial")`): there even a
    plain-English word is a value of the vocabulary."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left] + list(node.comparators)
            for op, (left, right) in zip(node.ops, zip(sides, sides[1:])):
                if isinstance(op, (ast.In, ast.NotIn)):  # a word in a literal collection; `"x" in d` is a key test
                    if isinstance(right, (ast.Tuple, ast.List, ast.Set)):
                        ids.update(id(e) for e in right.elts if isinstance(e, ast.Constant))
                else:
                    ids.update(id(side) for side in (left, right) if isinstance(side, ast.Constant))
    return ids


def _field_names(tree: ast.AST) -> set:
    """ids of constants used as keys: dict keys, subscripts, the first argument of .get/.setdefault/.pop."""
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript):
            keys.add(id(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                and node.func.attr in ("get", "setdefault", "pop"):
            keys.add(id(node.args[0]))
    return keys


def bare_words(path: Path) -> List[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    keys, compared = _field_names(tree), _compared(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in keys:
            continue
        if (node.value in WORDS or (node.value in ALL_WORDS and id(node) in compared)) \
                and "# not our vocabulary" not in lines[node.lineno - 1]:
            found.append("%s:%d: %r" % (path.relative_to(PACKAGE.parent), node.lineno, node.value))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if not {"model", "probe"} & set(p.relative_to(PACKAGE).parts))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_enumerated_word_is_spelled_out_again(path):
    assert bare_words(path) == []


def test_the_check_sees_a_bare_word_and_lets_a_field_name_be(tmp_path):
    module = PACKAGE / "_vocabulary_probe_example.py"
    try:
        module.write_text('a = cell.device == "gpu"\nb = record["gpu"]\nc = record.get("unstable")\n'
                          'd = {"smoke": 1}\ne = "gpu"  # not our vocabulary: Docker\'s capability name\n'
                          'f = status in ("ok", "x")\ng = "ok, thanks"\nh = "ok"\ni = "ok" in record\n')
        assert bare_words(module) == ["runner/_vocabulary_probe_example.py:1: 'gpu'",
                                      "runner/_vocabulary_probe_example.py:6: 'ok'"]
    finally:
        module.unlink()
