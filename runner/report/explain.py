"""`report --explain ID`: one finding as the evidence behind it. Its statement, then each line with the
cells it cites and, for every cell, the values of the record fields the finding read (its "fields").

Pure functions of a results document; values from containers pass through one_line.
"""

from __future__ import annotations

import json
from typing import Any, List, Mapping, Tuple

from runner.report.fields import Doc, cell_label, error_text, field_values
from runner.report.findings import compute_findings
from runner.util.text import one_line

VALUE_LIMIT = 300


def _value(value: Any) -> str:
    if isinstance(value, dict) and "type" in value and "message" in value:  # an error: not its traceback
        return error_text(value, VALUE_LIMIT)
    if isinstance(value, (dict, list)):
        return one_line(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str), VALUE_LIMIT)
    return one_line(value if isinstance(value, str) else json.dumps(value), VALUE_LIMIT)


def explain_finding(doc: Doc, finding_id: str) -> Tuple[str, bool]:
    """(text, found): the finding with its lines, cells and fields; or a message listing the ids there are."""
    findings = compute_findings(doc)
    chosen = [f for f in findings if f["id"] == finding_id]
    if not chosen:
        ids = ", ".join(f["id"] for f in findings) or "none"
        return "no finding %r in these results; the findings are: %s\n" % (one_line(finding_id, 80), ids), False
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
