"""Where the tool's own files are: templates and eras (dockerfiles/), the in-container scripts
(runner/probe/), schemas and the report template (runner/resources/), and where a run writes its cache and
rendered Dockerfiles.

Every module asks here instead of walking up from its own file, so a non-editable install finds its files
the same way as a source checkout:

- In a source checkout (a git clone, an editable install) the top-level ``dockerfiles/`` is used, so an
  edit there takes effect at once.
- In an installed wheel the same files are package data: pyproject.toml maps the top-level
  ``dockerfiles/`` to the package ``runner.dockerfiles`` (without ``dockerfiles/generated/``), so they sit
  beside the code in site-packages.

The cache and the rendered Dockerfiles belong to the run, not to the tool: they go in the current working
directory, beside ``results/`` (see default_cache_dir and default_generated_dir).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Optional

from runner.util.errors import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # runner/ (this file is runner/util/paths.py)
SOURCE_ROOT = PACKAGE_DIR.parent  # the checkout when runner/ is a source tree; site-packages when installed

CACHE_DIR_VARIABLE = "KERAS_MATRIX_CACHE_DIR"


def source_checkout() -> Optional[Path]:
    """The source checkout this runner/ belongs to, or None for an installed package.

    A checkout has its pyproject.toml and dockerfiles/eras.yaml beside runner/; site-packages has neither.
    """
    if (SOURCE_ROOT / "pyproject.toml").is_file() and (SOURCE_ROOT / "dockerfiles" / "eras.yaml").is_file():
        return SOURCE_ROOT
    return None


def _package_path(name: str) -> Path:
    """A directory shipped inside the runner package, as a real path (Jinja2 and bind mounts need one;
    the package is always installed as plain files, never run from a zip)."""
    return Path(str(resources.files("runner") / name))


def templates_dir() -> Path:
    """dockerfiles/: the Jinja2 templates, their macros and eras.yaml.

    The checkout's copy when there is one (the place people edit), else the installed package data.
    """
    checkout = source_checkout()
    if checkout is not None:
        return checkout / "dockerfiles"
    return _package_path("dockerfiles")


def eras_file() -> Path:
    return templates_dir() / "eras.yaml"


def probe_dir() -> Path:
    """The scripts mounted read-only into probe and training containers."""
    return _package_path("probe")


def resources_dir() -> Path:
    """Schemas and the HTML report template."""
    return _package_path("resources")


def default_cache_dir() -> Path:
    """MNIST and the results cache: $KERAS_MATRIX_CACHE_DIR when set, else .cache in the working directory.

    Beside results/, not beside the code: site-packages is no place to write, and several checkouts or
    installs then share nothing by accident. It is resolved against the working directory because
    docker-compose mounts the checkout at the same path on the host and in the runner's container, so a
    cache path the runner hands to the engine as a bind mount names the same directory on the host.

    An unusable value ('~no-such-user/x', a NUL byte, a loop of links) is a UsageError naming the variable,
    raised only by the commands that use the cache (the parsers do not ask for it).
    """
    configured = os.environ.get(CACHE_DIR_VARIABLE)
    if configured:
        try:
            return Path(configured).expanduser().resolve()
        except (RuntimeError, OSError, ValueError) as exc:  # no such user's home; ELOOP; embedded NUL
            raise UsageError("$%s=%r cannot be used as the cache directory (%s); set it to a directory path"
                             % (CACHE_DIR_VARIABLE, configured[:200], exc)) from None
    return Path.cwd() / ".cache"


def default_generated_dir() -> Path:
    """Where run and render write each cell's Dockerfile: dockerfiles/generated in the working directory.

    The same rule as the cache and results/ (the run's outputs live where the run is started), and the
    same directory `render --out` has always defaulted to. Run from a checkout's root, as the README and
    docker-compose do, it is the checkout's dockerfiles/generated/, which .gitignore already ignores; from
    anywhere else it never writes into site-packages or into a checkout the user did not start from.
    """
    return Path.cwd() / "dockerfiles" / "generated"
