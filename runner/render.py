"""Stage 2: render one Dockerfile per cell from the Jinja2 templates in dockerfiles/.

One Jinja environment with StrictUndefined (a missing value is an error, never an empty string) and
only deterministic inputs, so the same matrix gives byte-identical Dockerfiles.
"""

import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

import jinja2

from runner.util.errors import MatrixError, RunnerError
from runner.util.fileio import atomic_write_text, read_capped
from runner.util.paths import templates_dir

if TYPE_CHECKING:
    from runner.matrix.cells import Cell
    from runner.matrix.eras import Base

TEMPLATE_DIR = templates_dir()


def bootstrap_tag(base: "Base") -> str:
    """The local tag a registry-free base gets (see runner/run/bases.py)."""
    return "keras-matrix/base:%s-%s" % (base.suite, base.variant)


def default_base_image(base: "Base") -> str:
    """What FROM uses unless the build passes another BASE_IMAGE (the registry image when there is one)."""
    return base.image or bootstrap_tag(base)


def _environment(template_dir: Union[str, Path]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Dockerfiles, not HTML; every value is validated and shell-quoted instead
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["shell_quote"] = lambda value: shlex.quote(str(value))
    return env


_ENV: Dict[str, jinja2.Environment] = {}


def environment(template_dir: Union[str, Path] = TEMPLATE_DIR) -> jinja2.Environment:
    key = str(template_dir)
    if key not in _ENV:
        _ENV[key] = _environment(template_dir)
    return _ENV[key]


def render_cell(cell: "Cell", template_dir: Union[str, Path] = TEMPLATE_DIR) -> str:
    """The Dockerfile text for one cell."""
    installed = {axis for axis, _ in cell.requirements}
    context = {
        "cell": cell,
        "template": cell.era.template,
        "base_image": default_base_image(cell.base),
        "symlinks": [(link, target) for when, link, target in cell.era.symlinks if when in installed],
        # An as_of cell meets sdists wheels now replace (PyYAML 3.12 in 2017): the era's build tools go first.
        "build_tools": [p for p in cell.era.preinstall if re.match(r"(setuptools|wheel)\b", p, re.I)]
        if cell.as_of else [],
    }
    try:
        template = environment(template_dir).get_template("%s.Dockerfile.j2" % cell.era.template)
        text = template.render(**context)
    except jinja2.TemplateNotFound as exc:
        raise MatrixError("cell %s: template %s not found in %s" % (cell.id, exc.name, template_dir)) from None
    except jinja2.TemplateError as exc:
        raise RunnerError("cell %s: template %s failed: %s" % (cell.id, cell.era.template, exc)) from exc
    # Collapse runs of blank lines left by optional blocks: tidy and still deterministic.
    lines: List[str] = []
    for line in text.splitlines():
        if line.strip() or (lines and lines[-1].strip()):
            lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"


def write_cell(cell: Any, out_dir: Union[str, Path], text: Optional[str] = None) -> Path:
    """Write dockerfiles/generated/<cell id>/Dockerfile (only when it changed); return its path.

    Atomic through runner.util.fileio (a random temp name, never a fixed one a symlink could be planted at);
    a directory made here is removed again if the write does not happen (Ctrl-C, full disk)."""
    text = text if text is not None else render_cell(cell)
    directory = Path(out_dir) / str(cell.id)
    path = directory / "Dockerfile"
    if os.path.islink(directory):  # a link planted at a cell's directory would carry the write elsewhere
        raise RunnerError("%s is a symbolic link; refusing to write through it. Remove it or use another --out."
                          % directory)
    created = not os.path.lexists(directory)
    written = False
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() or not path.is_file() or read_capped(path, 1 << 20, "Dockerfile") != text.encode():
            atomic_write_text(path, text)
        written = True
    except OSError as exc:
        raise RunnerError("cannot write %s: %s. Try another --out directory." % (path, exc.strerror or exc)) from exc
    finally:
        if created and not written:
            try:
                directory.rmdir()
            except OSError:
                pass
    return path
