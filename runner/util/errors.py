"""One error hierarchy; each class has its own exit code and a message a user can act on.

The CLI prints ``str(error)`` on one line (no traceback unless --debug) and exits with ``exit_code``.
"""


class RunnerError(Exception):
    """Base of every error a user can cause or fix."""

    exit_code = 1


class MatrixError(RunnerError):
    """The matrix file is unreadable or invalid (bad YAML, unknown key, bad version...)."""

    exit_code = 2

    def __init__(self, message: str, path: object = None, line: "int | None" = None, key: object = None) -> None:
        self.path = path
        self.line = line
        self.key = key
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += ":%d" % line
            where += ": "
        if key:
            where += "%s: " % key
        super().__init__(where + message)
        self.reason = message


class UsageError(RunnerError):
    """The command line asks for something that cannot be done (unknown cell, bad option)."""

    exit_code = 2


class EngineError(RunnerError):
    """The Docker engine is missing, unreachable or lacks a needed feature."""

    exit_code = 3


class DataError(RunnerError):
    """The reference data set could not be obtained or failed verification."""

    exit_code = 4


class ResultsError(RunnerError):
    """A results file is unreadable, malformed, foreign, or cannot be written."""

    exit_code = 5


class Interrupted(RunnerError):
    """The run was stopped by SIGINT/SIGTERM; finished cells are kept."""

    exit_code = 130
