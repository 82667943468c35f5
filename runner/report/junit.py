"""Stage: report. JUnit XML (junit.xml): one testsuite per cell, one testcase per backend of the cell.

CI systems show these as tests: a backend that trained passes, one that failed is a failure with its error
and log tail, a skipped cell's backends are skipped. ElementTree escapes markup but writes characters XML
1.0 cannot carry as they are, so every value passes through xml_text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any, List, Optional, Tuple

from runner.model.records import OK_STATUSES, ExpectationVerdict, Status, TrainingStatus
from runner.model.vocabulary import MeasureMode
from runner.report import timing
from runner.report.fields import (
    Cell,
    Doc,
    cell_backends,
    default_summary,
    device_summary,
    error_text,
    expectation_of,
    expectation_reason,
    expected_outcome,
    known_status,
    python_summary,
)
from runner.report.timing import is_smoke, training_summary
from runner.util.text import clip, one_line

JUNIT_TEXT_LIMIT = 20000  # characters of a failure's body (log tails are already bounded at the source)

_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any, limit: int = JUNIT_TEXT_LIMIT) -> str:
    """Text XML 1.0 can carry (ElementTree escapes markup but writes forbidden characters as they are)."""
    return _XML_INVALID.sub("\ufffd", clip(value, limit))


Case = Tuple[str, str, Optional[str], Optional[str], Optional[float], Optional[str]]


def _testcases(cell: Cell) -> List[Case]:
    """(name, outcome pass|failure|skipped, message, body, seconds, output) per backend of the cell."""
    status = cell.get("status")
    trainings = cell.get("trainings") or {}
    reason = cell.get("reason") or status
    names = cell_backends(cell) or ["keras"]
    cases: List[Case] = []
    for name in names:
        training = trainings.get(name)
        if training is not None:
            seconds = training.get("seconds")
            out = "default backend: %s; %s" % (default_summary(cell), training_summary(training, is_smoke(cell)))
            if training.get("status") == TrainingStatus.OK:
                cases.append((name, "pass", None, None, seconds, out))
            elif training.get("status") == TrainingStatus.SKIPPED:
                cases.append((name, "skipped", one_line(reason, 500), None, seconds, None))
            else:
                body = "stage: %s\n%s\n\n%s" % (training.get("stage"), error_text(training.get("error"), 2000),
                                                training.get("log_tail") or "")
                message = "%s: %s" % (training.get("status"),
                                      error_text(training.get("error"), 500) or training.get("stage"))
                cases.append((name, "failure", message, body, seconds, out))
        elif status == Status.SKIPPED:
            cases.append((name, "skipped", one_line(reason, 500), None, None, None))
        elif known_status(status) in OK_STATUSES and name == "keras":
            cases.append((name, "pass", None, None, cell.get("seconds"), "default backend: %s" % default_summary(cell)))
        else:
            # Never trained: the cell failed before (build, install, probe) or ran out of time.
            build = cell.get("build") or {}
            error = error_text((cell.get("default_backend") or {}).get("error"), 2000)
            body = "%s\n\n%s" % (error, build.get("log_tail") or "") if error else (build.get("log_tail") or "")
            cases.append((name, "failure", "%s: %s" % (status, one_line(reason, 500)), body, None, None))
    return cases


def _with_expectation(cell: Cell, cases: List[Case]) -> List[Case]:
    """pytest's mapping: an expected failure is a skipped testcase with the declared reason; an unexpected
    pass is a failure ('declared broken: <reason>, but it worked'). Per-backend declarations touch only
    their backends' testcases."""
    verdict = cell.get("expectation_verdict")
    if verdict == ExpectationVerdict.OBSERVED:  # a sweep declares no outcome: a failure is a finding, not a red test
        reason = expectation_reason(cell) or "no outcome declared"
        return [(name, "skipped", "observed, no outcome declared (%s): %s" % (reason, message), None, seconds, output)
                if outcome == "failure" else (name, outcome, message, body, seconds, output)
                for name, outcome, message, body, seconds, output in cases]
    if verdict not in (ExpectationVerdict.EXPECTED_FAILURE, ExpectationVerdict.UNEXPECTED_PASS):
        return cases
    declared = expectation_of(cell).get("trainings")
    scope = set(declared) if isinstance(declared, dict) and declared else None
    reason = expectation_reason(cell) or "no reason given"
    out: List[Case] = []
    for name, outcome, message, body, seconds, output in cases:
        if scope is None or name in scope:
            if verdict == ExpectationVerdict.EXPECTED_FAILURE and outcome == "failure":
                outcome, message, body = "skipped", "expected failure: %s (%s)" % (reason, message), None
            elif verdict == ExpectationVerdict.UNEXPECTED_PASS and outcome == "pass":
                outcome, message = "failure", "declared broken: %s, but it worked" % reason
                body = "expected %s; got %s" % (expected_outcome(cell), cell.get("status"))
        out.append((name, outcome, message, body, seconds, output))
    return out


def _timing_properties(case: ET.Element, cell: Cell, name: str) -> None:
    """A finished training's time as the other formats show it (timing.headline: figure, interval and any
    flag with its cause; 'trained (smoke)' for a smoke cell), and its flag on its own for a CI filter."""
    training = (cell.get("trainings") or {}).get(name)
    if not isinstance(training, dict) or timing.seconds(training) is None:
        return
    smoke = is_smoke(cell)
    props = ET.SubElement(case, "properties")
    ET.SubElement(props, "property", name="timing", value=xml_text(timing.headline(training, smoke), 500))
    flag = MeasureMode.SMOKE.value if smoke else (timing.verdict(training) or "")
    if flag:
        ET.SubElement(props, "property", name="timing_verdict", value=xml_text(flag, 40))


def junit_xml(doc: Doc) -> str:
    """JUnit XML: one testsuite per cell, one testcase per backend of the cell (or 'keras' when it has none)."""
    prov = doc.get("provenance") or {}
    root = ET.Element("testsuites", name="keras-matrix %s" % xml_text(doc.get("run_id"), 200))
    totals: Counter[str] = Counter()
    for cell in doc.get("cells") or []:
        cell_id = xml_text(cell.get("cell_id"), 200)
        cases = _with_expectation(cell, _testcases(cell))
        counts = Counter(c[1] for c in cases)
        suite = ET.SubElement(root, "testsuite", name=cell_id, tests=str(len(cases)),
                              failures=str(counts["failure"]), errors="0", skipped=str(counts["skipped"]),
                              time="%.3f" % float(cell.get("seconds") or 0))
        if cell.get("started_at"):
            suite.set("timestamp", xml_text(cell["started_at"], 64))
        props = ET.SubElement(suite, "properties")
        for key, value in (("status", cell.get("status")), ("reason", cell.get("reason")),
                           ("expectation", cell.get("expectation_verdict")),
                           ("default_backend", default_summary(cell)), ("python", python_summary(cell)),
                           ("device", device_summary(cell)), ("runner_version", prov.get("runner_version")),
                           ("git_sha", prov.get("git_sha"))):
            if value is not None:
                ET.SubElement(props, "property", name=key, value=xml_text(one_line(value, 500), 500))
        for name, outcome, message, body, seconds, output in cases:
            case = ET.SubElement(suite, "testcase", classname=cell_id, name=xml_text(name, 100),
                                 time="%.3f" % float(seconds or 0))
            _timing_properties(case, cell, name)
            if outcome == "failure":
                failure = ET.SubElement(case, "failure", message=xml_text(message, 1000),
                                        type=xml_text(cell.get("status"), 40))
                failure.text = xml_text(body)
            elif outcome == "skipped":  # not our vocabulary: JUnit's <skipped>
                ET.SubElement(case, "skipped", message=xml_text(message, 1000))
            if output:
                ET.SubElement(case, "system-out").text = xml_text(output, 2000)
        totals.update(tests=len(cases), failures=counts["failure"], skipped=counts["skipped"])
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", "0")
    root.set("skipped", str(totals["skipped"]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
