"""README front matter read through PyYAML's node tree, so every error can name the README
line of the offending key and scalars can keep their written text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from podium.errors import ConfigError

MAX_FRONT_MATTER = 64 * 1024


@dataclass
class FrontMatter:
    present: bool
    data: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    start_line: int = 1
    key_lines: dict[str, int] = field(default_factory=dict)


def _normalise(text: str) -> str:
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _key_near(lines: list[str], index: int) -> str | None:
    """The top-level key written at or above line ``index`` (for YAML syntax errors)."""
    for line in reversed(lines[: index + 1]):
        match = re.match(r"^([A-Za-z_][\w-]*)\s*:", line)
        if match:
            return match.group(1)
    return None


def _check_nodes(root: yaml.Node, offset: int) -> None:
    """Refuse repeated keys, and aliases: Spaces configs never need them, and `*a` lets a few
    lines expand into millions of values (or into a value that contains itself)."""
    visited: set[int] = set()

    def visit(node: yaml.Node, top_key: str | None, line: int) -> None:
        # An alias yields the anchored node again, whose mark is the anchor's: report the
        # line of the key that holds the alias instead.
        if id(node) in visited:
            raise ConfigError("YAML aliases ('*name') are not supported", field=top_key,
                              line=line,
                              hint="write the value out instead of referring to an anchor")
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[object] = set()
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                name = top_key or (key if isinstance(key, str) else None)
                if key is not None and key in keys:
                    raise ConfigError(
                        f"duplicate key '{key}'", field=name,
                        line=key_node.start_mark.line + offset,
                        hint="write each key once; remove or merge the repeated line",
                    )
                keys.add(key)
                key_line = key_node.start_mark.line + offset
                visit(key_node, name, key_line)
                visit(value_node, name, key_line)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                visit(item, top_key, line)

    visit(root, None, root.start_mark.line + offset)


def _fence(lines: list[str]) -> tuple[int, int] | None:
    """The 0-based lines of the opening '---' (after blank lines) and of the closing
    '---' or '...'; None without front matter."""
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first >= len(lines) or lines[first].rstrip() != "---":
        return None
    for end in range(first + 1, len(lines)):
        if lines[end].rstrip() in ("---", "..."):
            return first, end
    raise ConfigError(
        "the front matter opened with '---' is never closed", line=first + 1,
        hint="add a line with only '---' after the last setting",
    )


def _key_lines(node: yaml.MappingNode, offset: int) -> dict[str, int]:
    """Each top-level key's README line; keys must be plain names."""
    key_lines: dict[str, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
            raise ConfigError(
                f"key {key_node.value!r} is not a name", field=str(key_node.value),
                line=key_node.start_mark.line + offset,
                hint="keys are names such as sdk or app_file",
            )
        key_lines[key_node.value] = key_node.start_mark.line + offset
    return key_lines


def _keep_written_text(
    node: yaml.MappingNode, data: dict[str, Any], text_fields: frozenset[str],
) -> None:
    """Scalars written for text fields keep their written text: `4.10` stays "4.10"."""
    for key_node, value_node in node.value:
        value = data.get(key_node.value)
        if (
            key_node.value in text_fields
            and isinstance(value_node, yaml.ScalarNode)
            and value is not None
            and not isinstance(value, str)
        ):
            data[key_node.value] = value_node.value


def read_front_matter(text: str, text_fields: frozenset[str] = frozenset()) -> FrontMatter:
    """Split README text into its YAML front matter (as data, with each top-level key's
    README line) and the body. ``text_fields`` keep their written text (`4.10` stays
    "4.10" instead of the float 4.1)."""
    text = _normalise(text)
    lines = text.split("\n")
    fence = _fence(lines)
    if fence is None:
        return FrontMatter(present=False, body=text)
    first, end = fence
    start = first + 1  # 1-based README line of the opening '---'
    yaml_lines = lines[first + 1 : end]
    source = "\n".join(yaml_lines)
    if len(source) > MAX_FRONT_MATTER:
        raise ConfigError(f"the front matter is larger than {MAX_FRONT_MATTER} bytes", line=start)
    offset = start + 1  # YAML marks are 0-based lines of the text after '---'
    body = "\n".join(lines[end + 1 :])
    loader = yaml.SafeLoader(source)
    try:
        node = loader.get_single_node()
        if node is None:
            return FrontMatter(present=True, body=body, start_line=start)
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError(
                "the front matter must be a mapping of 'key: value' lines",
                line=node.start_mark.line + offset,
                hint="write settings as key: value, e.g. sdk: gradio",
            )
        _check_nodes(node, offset)
        key_lines = _key_lines(node, offset)
        data = loader.construct_document(node)
        _keep_written_text(node, data, text_fields)
    except yaml.MarkedYAMLError as exc:
        # The context mark is where the broken construct starts (an unclosed bracket or
        # quote): that is the line to fix, even when the parser noticed it lines later.
        mark = exc.context_mark or exc.problem_mark
        index = mark.line if mark else 0
        problem = f"{exc.context}: {exc.problem}" if exc.context else exc.problem
        raise ConfigError(
            f"invalid YAML: {problem or exc}",
            field=_key_near(yaml_lines, min(index, len(yaml_lines) - 1)),
            line=index + offset,
            hint="check indentation and quote values containing ':' or '#'",
        ) from exc
    except RecursionError:
        raise ConfigError("the front matter is nested too deeply", line=start) from None
    finally:
        loader.dispose()
    return FrontMatter(True, data, body, start, key_lines)
