"""A YAML loader that keeps line numbers and refuses what YAML silently accepts.

- Mappings become ``LineDict`` and sequences ``LineList``: both remember the line of each key/item, so
  validation errors can name ``file:line``.
- Duplicate keys are an error (plain YAML keeps the last one silently). Merge keys (``<<: *defaults``)
  work as YAML defines them: the mapping's own keys override merged ones, earlier merged mappings
  override later ones.
- Floats are not resolved: ``1.10`` stays the string ``"1.10"`` instead of becoming the number 1.1, which
  would silently change a version. Plain decimal integers are still ints; YAML 1.1's other integer forms
  (``010`` octal, ``0x1F``, ``2_0``, ``1:30`` base 60) are refused with a hint to quote them, since they
  would silently become another number.
- Work is bounded before it is done: aliases are counted as they are composed and merge-key expansion as
  it is flattened, so a "billion laughs" file fails in milliseconds, not after gigabytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import yaml
from yaml import MappingNode, Node, ScalarNode, SequenceNode

from runner.util.errors import MatrixError

MAX_ALIASES = 200
MAX_MERGED_ENTRIES = 20000  # key/value pairs copied by merge keys, all merges of a document together
MAX_NODES = 50000  # keys, values and collections as written (the parser is pure Python: ~2 s at the cap)
MAX_VALUES = 100000  # values in the constructed document, aliases expanded


class LineDict(Dict[Any, Any]):
    """A dict that knows the 1-based line of itself and of each key."""

    line: Optional[int] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: Dict[Any, int] = {}

    def line_of(self, key: Any) -> Optional[int]:
        return self.lines.get(key, self.line)


class LineList(List[Any]):
    """A list that knows the 1-based line of itself and of each item."""

    line: Optional[int] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: List[int] = []

    def line_of(self, index: int) -> Optional[int]:
        if 0 <= index < len(self.lines):
            return self.lines[index]
        return self.line


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")


class _Loader(yaml.SafeLoader):
    _aliases = 0
    _merged = 0

    _nodes = 0

    def _line_ahead(self) -> int:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        return int(event.start_mark.line) + 1

    def compose_node(self, parent: Optional[Node], index: Any) -> Optional[Node]:
        self._nodes += 1
        if self._nodes > MAX_NODES:  # fail while parsing, before building a tree to count
            raise MatrixError("the document has more than %d keys and values" % MAX_NODES,
                              line=self._line_ahead())
        # Aliases are handy (``<<: *defaults``) but a few nested ones can expand exponentially.
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise MatrixError("too many YAML aliases (more than %d)" % MAX_ALIASES,
                                  line=self._line_ahead())
        return super().compose_node(parent, index)

    def flatten_mapping(self, node: MappingNode) -> None:
        """Resolve ``<<`` keys in place, as YAML's merge type defines, keeping each key once.

        PyYAML keeps every merged copy (so nested merges grow exponentially and a valid override looks
        like a duplicate key); here a merged key is dropped when the mapping, or an earlier merged
        mapping, already has it, and every copied pair counts against MAX_MERGED_ENTRIES."""
        own: List[Tuple[Node, Node]] = []
        sources: List[MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                if key_node.tag == "tag:yaml.org,2002:value":
                    key_node.tag = "tag:yaml.org,2002:str"
                own.append((key_node, value_node))
                continue
            if isinstance(value_node, MappingNode):
                sources.append(value_node)
            elif isinstance(value_node, SequenceNode) and all(isinstance(n, MappingNode) for n in value_node.value):
                sources.extend(value_node.value)
            else:
                raise MatrixError("'<<' (merge) needs a mapping or a list of mappings", line=_line(value_node))
        if not sources:
            node.value = own
            return
        seen = {_identity(k) for k, _ in own}
        merged: List[Tuple[Node, Node]] = []
        for source in sources:
            self.flatten_mapping(source)
            self._merged += len(source.value)
            if self._merged > MAX_MERGED_ENTRIES:
                raise MatrixError("YAML merge keys ('<<') expand to more than %d entries" % MAX_MERGED_ENTRIES,
                                  line=_line(node))
            for key_node, value_node in source.value:
                identity = _identity(key_node)
                if identity not in seen:
                    seen.add(identity)
                    merged.append((key_node, value_node))
        node.value = merged + own


def _identity(key_node: Node) -> Union[Tuple[str, str], int]:
    if isinstance(key_node, ScalarNode):
        return (str(key_node.tag), str(key_node.value))
    return id(key_node)  # not a plain key: construction refuses it


# Drop the float resolver: versions such as 2.10 must keep their text.
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_int(loader: _Loader, node: ScalarNode) -> int:
    text = str(node.value)
    if not _PLAIN_INT.fullmatch(text):
        raise MatrixError("%s is a YAML 1.1 integer form that silently becomes %s; quote it ('%s') if it is "
                          "a version or name, or write the number in plain decimal"
                          % (text, _yaml11_value(text), text), line=_line(node))
    if len(text) > 30:
        raise MatrixError("the number %s... is too long" % text[:20], line=_line(node))
    return int(text)


def _yaml11_value(text: str) -> str:
    try:
        return str(yaml.SafeLoader.construct_yaml_int(yaml.SafeLoader(""), ScalarNode("", text)))
    except (ValueError, IndexError):
        return "another number"


def _construct_mapping(loader: _Loader, node: MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = _line(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise MatrixError("a mapping key must be a plain value", line=_line(key_node)) from None
        if key in result:
            raise MatrixError("duplicate key %r (first on line %d)" % (key, result.lines[key]), line=_line(key_node))
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = _line(key_node)
    return result


def _construct_sequence(loader: _Loader, node: SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = _line(node)
    result.lines = [_line(child) for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def load_yaml(text: str, path: Union[str, Path, None]) -> Any:
    """Parse YAML text; every failure becomes a MatrixError naming the file and line."""
    if _CONTROL.search(text):
        raise MatrixError("the file contains control characters; is it a text file?", path=path)
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
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


def _check_expanded_size(data: Any, path: Union[str, Path, None], budget: int = MAX_VALUES) -> None:
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
