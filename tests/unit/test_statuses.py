"""A cell's status and one-line reason follow from what was measured, as the README's status table says."""

import pytest

from runner.model.outcomes import cell_status, device_used, error_reason
from runner.model.records import Status

IMPORT_ERROR = {"type": "ImportError", "message": "No module named tensorflow\nmore lines"}


@pytest.mark.parametrize("trainings,default,expected", [
    ({}, {"error": IMPORT_ERROR}, Status.IMPORT_FAILED),
    ({}, {"backend": "tensorflow", "error": None}, Status.OK),
    ({"a": {"status": "failed", "stage": "import"}, "b": {"status": "failed", "stage": "import"}}, {},
     Status.IMPORT_FAILED),
    ({"a": {"status": "failed", "stage": "import"}, "b": {"status": "failed", "stage": "train"}}, {},
     Status.TRAIN_FAILED),
    ({"a": {"status": "failed", "stage": "train"}}, {}, Status.TRAIN_FAILED),
    ({"a": {"status": "timeout", "stage": "train"}, "b": {"status": "failed", "stage": "import"}}, {}, Status.TIMEOUT),
    ({"a": {"status": "ok"}, "b": {"status": "failed", "stage": "train"}}, {}, Status.PARTIAL),
    ({"a": {"status": "ok"}, "b": {"status": "timeout", "stage": "train"}}, {}, Status.PARTIAL),
    ({"a": {"status": "ok"}, "b": {"status": "ok"}}, {"error": IMPORT_ERROR}, Status.OK),
])
def test_status_taxonomy(trainings, default, expected):
    status, _ = cell_status(trainings, default)
    assert status is expected
    assert status.value == expected.value  # what the record stores: the plain string


def test_the_reason_names_the_first_failed_backend_and_the_first_line_of_its_error():
    trainings = {"tensorflow": {"status": "ok"},
                 "theano": {"status": "failed", "stage": "train", "error": IMPORT_ERROR},
                 "cntk": {"status": "failed", "stage": "import"}}
    assert cell_status(trainings, {}) == (Status.PARTIAL, "theano: ImportError: No module named tensorflow")
    # No error reported: the stage it failed in stands in.
    assert cell_status({"cntk": {"status": "failed", "stage": "import"}}, {})[1] == "cntk: import"
    assert cell_status({}, {"error": IMPORT_ERROR})[1] == "ImportError: No module named tensorflow"
    assert cell_status({"a": {"status": "ok"}}, {}) == (Status.OK, None)


def test_a_reason_is_one_clipped_line():
    reason = error_reason({"type": "ValueError", "message": "x" * 1000 + "\nsecond"})
    assert reason is not None and len(reason) == 300 and "\n" not in reason and reason.startswith("ValueError: xx")
    assert error_reason(None) is None and error_reason({}) is None


@pytest.mark.parametrize("devices,expected", [
    ([{"gpu": True}, {"gpu": True}], "gpu"),
    ([{"gpu": False}, {"devices": ["CPU"]}], "cpu"),
    ([{"gpu": True}, {"gpu": False}], "mixed"),
    ([None, None], None),
    ([{"gpu": True}, None], "gpu"),  # a training that did not say is not counted
])
def test_device_used(devices, expected):
    trainings = {"b%d" % i: {"status": "ok", "device": device} for i, device in enumerate(devices)}
    assert device_used(trainings) == expected
