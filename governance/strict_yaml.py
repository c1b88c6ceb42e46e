"""Reading a YAML config strictly: UTF-8 only, and no key twice in one mapping.

Plain YAML keeps the last of two equal keys without a word, so a second ``fairness:`` under
``policy:`` would loosen a bound while the first, the one a reviewer reads, still shows the old one.
Here keys are compared as YAML resolves them (``yes`` and ``true`` are the same key), at every depth,
in block and flow style. Merge keys (``<<: *anchor``) keep their meaning: explicit keys override
merged ones, which is what merging is for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from govflow.errors import ConfigError

MAX_VALUES = 100_000  # after aliases are expanded: far above any real config, far below a "billion laughs"
TOO_MANY = ("the YAML expands to more than {limit:,} values through its aliases (*name); write the values out, "
            "or use fewer aliases")
CYCLE = "an alias (*name) at line {line} refers to a structure that contains it; write the value out"
DUPLICATE = ("duplicate key '{key}' {where} at lines {first} and {second}: each key may appear once "
             "(YAML would silently keep the last one); merge them into one")


def read_text(file: Path) -> str:
    """The file's text (UTF-8, with or without a byte order mark), or a `ConfigError` saying why not."""
    if file.is_dir():
        raise ConfigError(f"config file {file} is a folder, not a file; pass -c PATH/TO/govflow.yaml")
    try:
        data = file.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read config file {file}: {e.strerror or e}; check the path and its permissions") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{file}: not UTF-8 text (byte 0x{data[e.start]:02x} at line {line}); "
                          "save the file as UTF-8") from None


def load_yaml(file: Path) -> Any:
    """Parse a YAML file, refusing duplicate keys and text that is not UTF-8 (`ConfigError`)."""
    text = read_text(file)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, {}, set())
        _check_duplicates(node, loader, "", set())
        return loader.construct_document(node)
    except RecursionError:
        raise ConfigError(f"{file}: nested too deeply to be a config; check the brackets") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{file}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    except _Refused as e:
        raise ConfigError(f"{file}: {e}") from None
    finally:
        loader.dispose()


class _Refused(Exception):
    pass


def _check_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """How many values `node` stands for once its aliases are expanded (each shared node counted once)."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        raise _Refused(CYCLE.format(line=node.start_mark.line + 1))
    open_nodes.add(id(node))
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_check_size(item, sizes, open_nodes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_check_size(k, sizes, open_nodes) + _check_size(v, sizes, open_nodes) for k, v in node.value)
    open_nodes.discard(id(node))
    if size > MAX_VALUES:
        raise _Refused(TOO_MANY.format(limit=MAX_VALUES))
    sizes[id(node)] = size
    return size


def _check_duplicates(node: yaml.Node, loader: yaml.SafeLoader, path: str, seen: set[int]) -> None:
    if id(node) in seen:  # an alias to a node already checked (or a recursive structure)
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(item, loader, f"{path}[{i}]", seen)
    elif isinstance(node, yaml.MappingNode):
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = _key(loader, key_node)
            shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else key
            line = key_node.start_mark.line + 1
            if key in lines:
                where = f"in {path}" if path else "at the top level"
                raise _Refused(DUPLICATE.format(key=shown, where=where, first=lines[key], second=line))
            lines[key] = line
            child = f"{path}.{shown}" if path else str(shown)
            _check_duplicates(value_node, loader, child, seen)


def _key(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:merge":
        return "<<"
    key = loader.construct_object(node, deep=True)
    try:
        hash(key)
    except TypeError:
        return repr(key)  # construction will refuse it with its own message
    return key
