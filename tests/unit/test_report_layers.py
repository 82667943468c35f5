"""The report package's shape: imports run one way (fields <- timing <- findings <- formats <- write), and status
names come from runner.model.records, never spelled out again in a report module."""

import ast
from pathlib import Path

import pytest

import runner.report

PACKAGE = Path(runner.report.__file__).parent
# Lower layers never import higher ones; a module may import its own layer only where listed.
LAYERS = {"fields": 0, "timing": 1, "precedence": 1, "conflicts": 1, "answers": 1, "rules": 2, "findings": 2,
          "chart": 3, "heatmap": 3, "table": 3, "junit": 3, "answer_text": 3, "explain": 3, "cell_view": 4,
          "diff": 4, "defaults": 4, "html": 5, "history": 5, "site": 6, "write": 6, "history_page": 6, "__init__": 7}


def report_imports(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("runner.report."):
            names.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith("runner.report."))
    return names


def test_every_module_of_the_package_has_a_layer():
    assert {p.stem for p in PACKAGE.glob("*.py")} == set(LAYERS)


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_imports_run_one_way(module):
    imported = report_imports(PACKAGE / ("%s.py" % module))
    upward = sorted(name for name in imported if LAYERS[name] >= LAYERS[module])
    assert upward == [], "%s imports %s from its own layer or above" % (module, upward)


def test_the_bottom_layer_reads_records_only():
    assert report_imports(PACKAGE / "fields.py") == set()


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.stem)
def test_status_names_are_not_spelled_out_again(path):
    # "ok" and "skipped" are also plain words (a JUnit <skipped>, a view's "ok" flag); these are only statuses.
    only_statuses = {"partial", "train_failed", "import_failed", "unsatisfiable", "build_failed"}
    constants = {node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert constants & only_statuses == set()
