"""Where the tool's own files are: templates and eras (dockerfiles/), the in-container scripts
(runner/probe/), schemas and the report template (runner/resources/), and the default cache.

Every module asks here instead of walking up from its own file, so a non-editable install can locate
them the same way as a source checkout.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent  # a source checkout (git clone, editable install)


def templates_dir() -> Path:
    """dockerfiles/: the Jinja2 templates, their macros and eras.yaml."""
    return SOURCE_ROOT / "dockerfiles"


def eras_file() -> Path:
    return templates_dir() / "eras.yaml"


def probe_dir() -> Path:
    """The scripts mounted read-only into probe and training containers."""
    return PACKAGE_DIR / "probe"


def resources_dir() -> Path:
    """Schemas and the HTML report template."""
    return PACKAGE_DIR / "resources"


def default_cache_dir() -> Path:
    """MNIST and the results cache."""
    return SOURCE_ROOT / ".cache"


def default_generated_dir() -> Path:
    """Where run and render write each cell's Dockerfile."""
    return templates_dir() / "generated"
