"""A YAML loader that keeps line numbers and refuses what YAML silently accepts.

- Mappings become ``LineDict`` and sequences ``LineList``: both remember the line of each key/item, so
  validation errors can name ``file:line``.
- Duplicate keys are an error (plain YAML keeps the last one silently).
- Floats are not resolved: ``1.10`` stays the string ``"1.10"`` instead of becoming the number 1.1, which
  would silently change a version. Numbers that look like integers are still ints.
"""

import re

import yaml

from runner.errors import MatrixError


class LineDict(dict):
    """A dict that knows the 1-based line of itself and of each key."""

    line = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = {}

    def line_of(self, key):
        return self.lines.get(key, self.line)


class LineList(list):
    """A list that knows the 1-based line of itself and of each item."""

    line = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = []

    def line_of(self, index):
        if 0 <= index < len(self.lines):
            return self.lines[index]
        return self.line


class _Loader(yaml.SafeLoader):
    max_aliases = 200

    def compose_node(self, parent, index):
        # Aliases are handy (``<<: *defaults``) but a few nested ones can expand exponentially.
        if self.check_event(yaml.AliasEvent):
            self._aliases = getattr(self, "_aliases", 0) + 1
            if self._aliases > self.max_aliases:
                event = self.peek_event()
                raise MatrixError("too many YAML aliases (more than %d)" % self.max_aliases,
                                  line=event.start_mark.line + 1)
        return super().compose_node(parent, index)


# Drop the float resolver: versions such as 2.10 must keep their text.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise MatrixError("a mapping key must be a plain value", line=key_node.start_mark.line + 1)
        if key in result:
            raise MatrixError(
                "duplicate key %r (first on line %d)" % (key, result.lines[key]),
                line=key_node.start_mark.line + 1,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader, node):
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def load_yaml(text, path):
    """Parse YAML text; every failure becomes a MatrixError naming the file and line."""
    if _CONTROL.search(text):
        raise MatrixError("the file contains control characters; is it a text file?", path=path)
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except MatrixError as exc:
        raise MatrixError(exc.reason, path=path, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise MatrixError("invalid YAML: %s" % problem, path=path, line=line) from None
    except yaml.YAMLError as exc:
        raise MatrixError("invalid YAML: %s" % str(exc).splitlines()[0], path=path) from None
    except RecursionError:
        raise MatrixError("invalid YAML: nested too deeply", path=path) from None
    _check_expanded_size(data, path)
    return data


def _check_expanded_size(data, path, budget=100000):
    """Refuse documents whose aliases expand to a huge tree (a 'billion laughs' file)."""
    stack = [data]
    seen = 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen > budget:
            raise MatrixError("the document expands to more than %d values (aliases?)" % budget, path=path)
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
