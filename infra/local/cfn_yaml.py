"""Read a CloudFormation / SAM template as plain data.

``load_template`` turns the YAML short-form tags (``!Ref``, ``!GetAtt``, ``!Sub``, ``!If``, ...) into the
long JSON form CloudFormation itself uses (``{"Ref": ...}``, ``{"Fn::GetAtt": [resource, attribute]}``,
``{"Fn::Sub": ...}``), so code that reads the template (the template tests, the local sandbox) only ever
sees one form. YAML anchors and aliases work; each alias becomes an independent copy, so changing one
place in the result never changes another. Like CloudFormation, it keeps dates as strings and rejects a
key that appears twice in one mapping instead of silently keeping the last value.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Short tags whose long form has no "Fn::" prefix; every other tag !X becomes {"Fn::X": ...}.
_UNPREFIXED = frozenset({"Ref", "Condition"})


class _TemplateLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation tags and refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _value in node.value:
            # Keys brought in by a YAML merge (<<: *anchor) may legitimately be overridden.
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found the key {key_node.value!r} twice; CloudFormation rejects duplicate keys",
                    key_node.start_mark,
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


# CloudFormation reads 2010-09-09 as a string, not a date (a date would not survive json.dumps either).
_TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = tag_suffix if tag_suffix in _UNPREFIXED else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if key == "Fn::GetAtt" and "." in value:
            # !GetAtt Resource.Attribute.Sub -> ["Resource", "Attribute.Sub"], as CloudFormation splits it.
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        if not isinstance(node, yaml.MappingNode):  # the composer only makes scalar, sequence, mapping
            raise TypeError(f"unexpected YAML node {type(node).__name__}")
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


_TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def _unshare(value: Any) -> Any:
    """Copy dicts and lists so that YAML aliases do not share one object."""
    if isinstance(value, dict):
        return {key: _unshare(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshare(item) for item in value]
    return value


def load_template(path: str | Path) -> dict[str, Any]:
    """Load the template at ``path`` (YAML or JSON) with every intrinsic function in long form.

    Raises ``yaml.YAMLError`` (with line and column) for malformed YAML or a duplicate key, and
    ``ValueError`` when the document is not a mapping.
    """
    path = Path(path)
    data: Any
    with path.open(encoding="utf-8") as stream:
        if path.suffix == ".json":
            data = json.load(stream)
        else:
            loader = _TemplateLoader(stream)  # errors then name the file, not "<unicode string>"
            try:
                data = loader.get_single_data()
            finally:
                loader.dispose()
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a CloudFormation template (a mapping at the top level)")
    result: dict[str, Any] = _unshare(data)
    return result
