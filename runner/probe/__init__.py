"""Scripts that run inside cell containers (Python 2.7 and 3.x). They are mounted read-only, never imported
by the runner; the runner only parses the one JSON line each prints after ``MARKER``."""

MARKER = "@@KERAS_MATRIX_RESULT@@"
