"""Era and base data: how a stack of a time is installed (Python, base image, template, Debian packages,
pip pins, package names per device, library shims), read from ``dockerfiles/eras.yaml`` and a matrix's own
``eras:`` and ``bases:``. Part of stage 1 (runner/matrix/load.py); every value is validated here before it can
reach a Dockerfile, with ``file:line: key: reason`` errors.
"""

import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from runner.matrix.yamlload import LineDict
from runner.model.vocabulary import Installer, words
from runner.util.errors import MatrixError
from runner.util.paths import templates_dir
from runner.util.validate import version_text_problem

TEMPLATE_DIR = templates_dir()
APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]{0,100}$")
_ABS_PATH = re.compile(r"^(/[A-Za-z0-9._+-]+)+$")
_MIRROR = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")
_IMAGE_REF = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class Base:
    """Where a cell's operating system comes from: a registry image, a debootstrap recipe, or both."""

    name: str
    image: Optional[str] = None
    suite: Optional[str] = None
    mirror: str = DEFAULT_MIRROR
    variant: str = "minbase"


@dataclass(frozen=True)
class Era:
    name: str
    python: str
    template: str
    base: str
    apt: Tuple[str, ...] = ()
    pip_bootstrap: Optional[str] = None
    installer: Installer = Installer.PIP  # what installs the packages; uv only for Python 3
    uv_version: Optional[str] = None      # the uv release fetched from PyPI when the installer is uv
    preinstall: Tuple[str, ...] = ()
    constraints: Tuple[str, ...] = ()
    packages: Tuple[Tuple[str, str], ...] = ()  # (axis, pip name)
    symlinks: Tuple[Tuple[str, str, str], ...] = ()  # (when-axis, link, target)
    description: str = ""


def requirement(text: Any, path: object, line: Optional[int], key: str, name_only: bool = False) -> str:
    if not isinstance(text, str) or not text or text != text.strip():
        raise MatrixError("expected a pip requirement such as 'numpy<1.17', got %r" % (text,), path, line, key)
    problem = version_text_problem(text)
    if problem:
        raise MatrixError("%r is refused: %s" % (text[:80], problem), path, line, key)
    try:
        req = Requirement(text)
    except InvalidRequirement:
        raise MatrixError("%r is not a valid pip requirement (PEP 508)" % text, path, line, key) from None
    if req.url or req.marker:
        raise MatrixError("%r: URLs and environment markers are not allowed here" % text, path, line, key)
    if name_only and str(req.specifier):
        raise MatrixError("%r: give the package name only; versions come from the matrix" % text, path, line, key)
    return str(req)


def parse_bases(raw: Any, path: object) -> Dict[str, Base]:
    bases = {}
    for name, spec in (raw or {}).items():
        line = raw.line_of(name)
        image = spec.get("image")
        if image is not None and not _IMAGE_REF.fullmatch(image):
            raise MatrixError("%r is not a valid image reference" % image, path, spec.line_of("image"),
                              "bases.%s.image" % name)
        boot = spec.get("bootstrap") or {}
        mirror = boot.get("mirror", DEFAULT_MIRROR)
        if not _MIRROR.fullmatch(mirror):
            raise MatrixError("%r is not a plain http(s) mirror URL" % mirror, path, line,
                              "bases.%s.bootstrap.mirror" % name)
        if image is None and not boot:
            raise MatrixError("a base needs an 'image', a 'bootstrap', or both", path, line, "bases.%s" % name)
        bases[name] = Base(name=name, image=image, suite=boot.get("suite"), mirror=mirror,
                           variant=boot.get("variant", "minbase"))
    return bases


def _era_fields(name: str, raw: Any, path: object, inherit: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    key = "eras.%s" % name
    fields = dict(inherit or {})

    def line(k: str) -> Optional[int]:
        return raw.line_of(k) if isinstance(raw, LineDict) else None

    for k in ("python", "template", "base", "description"):
        if k in raw:
            fields[k] = raw[k]
    if "template" in raw and not (TEMPLATE_DIR / ("%s.Dockerfile.j2" % raw["template"])).is_file():
        known = sorted(p.name[: -len(".Dockerfile.j2")] for p in TEMPLATE_DIR.glob("*.Dockerfile.j2"))
        raise MatrixError("no template %r; templates are: %s" % (raw["template"], ", ".join(known)),
                          path, line("template"), key + ".template")
    if "apt" in raw:
        for index, pkg in enumerate(raw["apt"]):
            if not isinstance(pkg, str) or not APT_NAME.fullmatch(pkg):
                raise MatrixError("%r is not a Debian package name" % (pkg,), path, raw["apt"].line_of(index),
                                  key + ".apt")
        fields["apt"] = tuple(raw["apt"])
    if "pip_bootstrap" in raw:
        try:
            fields["pip_bootstrap"] = str(Version(raw["pip_bootstrap"]))
        except ValueError:  # InvalidVersion, or a number past int()'s 4300 digits
            raise MatrixError("%r is not a pip version" % raw["pip_bootstrap"], path, line("pip_bootstrap"),
                              key + ".pip_bootstrap") from None
    if "installer" in raw:
        if raw["installer"] not in words(Installer):
            raise MatrixError("%r is not an installer; give one of: %s" % (raw["installer"], ", ".join(
                words(Installer))), path, line("installer"), key + ".installer")
        fields["installer"] = Installer(raw["installer"])
    if "uv_version" in raw:
        try:
            fields["uv_version"] = str(Version(raw["uv_version"]))
        except (ValueError, TypeError):  # InvalidVersion, a number past int()'s 4300 digits, not a string
            raise MatrixError("%r is not a uv version such as '0.13.9'" % (raw["uv_version"],), path,
                              line("uv_version"), key + ".uv_version") from None
    for k in ("preinstall", "constraints"):
        if k in raw:
            fields[k] = tuple(requirement(r, path, raw[k].line_of(i), "%s.%s" % (key, k))
                              for i, r in enumerate(raw[k]))
    if "packages" in raw:
        packages = dict(fields.get("packages", ()))
        for axis, value in raw["packages"].items():
            packages[axis] = value  # str or {cpu, gpu}; resolved per device below
        fields["packages"] = packages
    if "symlinks" in raw:
        links = []
        for index, item in enumerate(raw["symlinks"]):
            for k in ("link", "target"):
                if not _ABS_PATH.fullmatch(item[k]) or "/../" in item[k] + "/":
                    raise MatrixError("%r is not a plain absolute path" % item[k], path, raw["symlinks"].line_of(index),
                                      "%s.symlinks[%d].%s" % (key, index, k))
            links.append((item["when"], item["link"], item["target"]))
        fields["symlinks"] = tuple(links)
    return fields


def _resolve_packages(packages: Any, device: str, path: object, key: str) -> Tuple[Tuple[str, str], ...]:
    out = []
    for axis, value in packages.items():
        name = value if isinstance(value, str) else value.get(device) or value.get("cpu")
        out.append((axis, requirement(name, path, getattr(packages, "line", None), "%s.packages.%s" % (key, axis),
                                       name_only=True)))
    return tuple(out)


def _check_installer(name: str, fields: Dict[str, Any], path: object, spec: Any) -> None:
    """uv serves Python 3 only, and is fetched by version: an era that asks for it says which."""
    if fields.get("installer") != Installer.UV:
        return
    line = spec.line_of("installer") if isinstance(spec, LineDict) and "installer" in spec else spec.line
    if str(fields.get("python", "")).startswith("2."):
        raise MatrixError("uv does not install packages for Python %s; give this era installer: pip"
                          % fields["python"], path, line, "eras.%s.installer" % name)
    if not fields.get("uv_version"):
        raise MatrixError("installer uv needs uv_version, the uv release to fetch from PyPI (e.g. '0.13.9')",
                          path, line, "eras.%s.uv_version" % name)


def parse_eras(raw: Any, path: object) -> Dict[str, Dict[str, Tuple[Era, object, Optional[int]]]]:
    """Era name -> {'cpu': Era, 'gpu': Era}."""
    eras: Dict[str, Dict[str, Tuple[Era, object, Optional[int]]]] = {}
    for name, spec in (raw or {}).items():
        common = _era_fields(name, spec, path)
        per_device = {"cpu": common}
        per_device["gpu"] = _era_fields(name, spec.get("gpu") or {}, path, inherit=common)
        eras[name] = {}
        for device, fields in per_device.items():
            fields = dict(fields)
            fields["packages"] = _resolve_packages(fields.get("packages", {}), device, path, "eras.%s" % name)
            _check_installer(name, fields, path, spec)
            eras[name][device] = (Era(name=name, **fields), path, spec.line)
    return eras
