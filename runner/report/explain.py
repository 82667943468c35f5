"""`report --explain ID`: one finding as the evidence behind it. Its statement, then each line with the
cells it cites and, for every cell, the values of the record fields the finding read (its "fields").

Pure functions of a results document; values from containers pass through one_line.
"""

from __future__ import annotations

import json
from typing import Any, List, Mapping, Optional, Tuple

from runner.model.vocabulary import FindingLevel
from runner.report.fields import Doc, cell_label, error_text, field_values
from runner.report.findings import Finding, compute_findings
from runner.report.precedence import precedence_rows
from runner.util.text import one_line

VALUE_LIMIT = 300


def _value(value: Any) -> str:
    if isinstance(value, dict) and "type" in value and "message" in value:  # an error: not its traceback
        return error_text(value, VALUE_LIMIT)
    if isinstance(value, (dict, list)):
        return one_line(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str), VALUE_LIMIT)
    return one_line(value if isinstance(value, str) else json.dumps(value), VALUE_LIMIT)


PRECEDENCE = "precedence:"


def _precedence_finding(doc: Doc, question: str) -> Optional[Finding]:
    """'precedence:KERAS_HOME': the precedence table's rows for that question (a prefix of it, any case) as
    one finding, each row a line with its cells and the scenario fields it was read from."""
    rows = [r for r in precedence_rows(doc) if r["aspect"].lower().startswith(question.strip().lower())]
    if not question.strip() or not rows:
        return None
    items = [{"text": "%s | %s | %s" % (r["line"], r["aspect"], r["observed"]), "cells": r["cells"]} for r in rows]
    return {"id": PRECEDENCE + question, "level": FindingLevel.INFO.value, "items": items, "fields": rows[0]["fields"],
            "title": "How Keras picks its backend: %s (%d rows)" % (rows[0]["aspect"], len(rows))}


def explain_finding(doc: Doc, finding_id: str) -> Tuple[str, bool]:
    """(text, found): the finding with its lines, cells and fields; or a message listing the ids there are.
    'precedence:<question>' explains the rows of the precedence table for that question instead."""
    findings = compute_findings(doc)
    chosen = [f for f in findings if f["id"] == finding_id]
    if finding_id.startswith(PRECEDENCE):
        found = _precedence_finding(doc, finding_id[len(PRECEDENCE):])
        chosen = [found] if found is not None else []
    if not chosen:
        ids = ", ".join(f["id"] for f in findings) or "none"
        questions = sorted({r["aspect"] for r in precedence_rows(doc)}, key=str.lower)
        return ("no finding %r in these results; the findings are: %s%s\n" % (
            one_line(finding_id, 80), ids, "; and the precedence table's questions, as precedence:<question>: %s"
            % ", ".join(questions) if questions else "")), False
    finding = chosen[0]
    cells: Mapping[str, Mapping[str, Any]] = {str(c.get("cell_id")): c for c in doc.get("cells") or []
                                              if isinstance(c, dict)}
    lines: List[str] = ["%s [%s]: %s" % (finding["id"], finding["level"], finding["title"]),
                        "fields read: %s" % (", ".join(finding.get("fields") or []) or "none named"), ""]
    for number, item in enumerate(finding["items"], 1):
        lines.append("%d. %s" % (number, item["text"]))
        for cell_id in item["cells"]:
            cell = cells.get(cell_id) or {}
            lines.append("   - %s (%s)" % (cell_id, cell_label(cell)))
            for path in finding.get("fields") or []:
                for where, value in field_values(cell, path):
                    lines.append("       %s = %s" % (where, _value(value)))
    return "\n".join(lines) + "\n", True
