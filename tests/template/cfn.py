"""Reading template.yaml for the template tests: resources by type, SAM Globals, intrinsic targets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra.local.cfn_yaml import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"
TEMPLATE: dict[str, Any] = load_template(TEMPLATE_PATH)
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE.get("Parameters") or {}
CONDITIONS: dict[str, Any] = TEMPLATE.get("Conditions") or {}
DATA_KEY = "DataKey"
NO_VALUE = {"Ref": "AWS::NoValue"}
_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


def of_type(*types: str) -> list[str]:
    return sorted(name for name, resource in RESOURCES.items() if resource["Type"] in types)


def props(name: str) -> dict[str, Any]:
    return RESOURCES[name].get("Properties") or {}


FUNCTIONS = of_type("AWS::Serverless::Function", "AWS::Lambda::Function")


def function_props(name: str) -> dict[str, Any]:
    """A function's properties with SAM Globals applied: the function's value wins, except that
    environment variables are merged, as SAM does."""
    own = props(name)
    if RESOURCES[name]["Type"] != "AWS::Serverless::Function":
        return own
    defaults = (TEMPLATE.get("Globals") or {}).get("Function") or {}
    merged = {**defaults, **own}
    merged["Environment"] = {
        "Variables": {
            **((defaults.get("Environment") or {}).get("Variables") or {}),
            **((own.get("Environment") or {}).get("Variables") or {}),
        }
    }
    return merged


def events(name: str, *types: str) -> dict[str, dict[str, Any]]:
    return {
        event_name: event
        for event_name, event in (props(name).get("Events") or {}).items()
        if not types or event["Type"] in types
    }


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def target(value: Any) -> str | None:
    """The logical id a Ref or Fn::GetAtt points at (None for anything else)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            getatt = value["Fn::GetAtt"]
            return str(getatt[0] if isinstance(getatt, list) else getatt.split(".")[0])
    return None


def is_data_key(value: Any) -> bool:
    return target(value) == DATA_KEY


def branches(item: Any) -> list[Any]:
    """Every value an Fn::If may produce (both branches, recursively), without AWS::NoValue."""
    if isinstance(item, dict) and "Fn::If" in item:
        _condition, if_true, if_false = item["Fn::If"]
        return branches(if_true) + branches(if_false)
    if item == NO_VALUE:
        return []
    return [item]


def references(value: Any) -> Iterator[tuple[str, str]]:
    """(kind, name) for every Ref, Fn::GetAtt, ${...} in Fn::Sub and Fn::If condition in ``value``."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                yield "Ref", str(inner)
            elif key == "Fn::GetAtt":
                yield "GetAtt", str(target(value))
            elif key == "Fn::Sub":
                text, local = (inner[0], inner[1]) if isinstance(inner, list) else (inner, {})
                for variable in _SUB_VARIABLE.findall(text):
                    name = variable.split(".")[0]
                    if name not in local:
                        yield ("GetAtt" if "." in variable else "Ref"), name
                yield from references(local)
            elif key == "Fn::If":
                yield "Condition", str(inner[0])
                yield from references(inner[1:])
            else:
                yield from references(inner)


def statements_of_document(owner: str, document: Any) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for statement in as_list(document.get("Statement") or []):
        for branch in branches(statement):
            found.append((owner, branch))
    return found


def function_statements(name: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for policy in as_list(function_props(name).get("Policies") or []):
        for document in branches(policy):
            if not (isinstance(document, dict) and "Statement" in document):
                raise AssertionError(
                    f"{name}: policy {document!r} is a managed policy or SAM policy template; write "
                    "inline statements so the template tests can check least privilege"
                )
            found += statements_of_document(name, document)
    return found


def role_statements(name: str) -> list[tuple[str, dict[str, Any]]]:
    properties = props(name)
    documents = [p["PolicyDocument"] for p in properties.get("Policies") or []]
    if "PolicyDocument" in properties:
        documents.append(properties["PolicyDocument"])
    found = []
    for document in documents:
        found += statements_of_document(name, document)
    return found


def identity_statements() -> list[tuple[str, dict[str, Any]]]:
    """Every IAM statement granted to a principal in this stack: function policies and IAM roles."""
    found = []
    for name in FUNCTIONS:
        found += function_statements(name)
    for name in of_type("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        found += role_statements(name)
    return found


def allows(statements: list[tuple[str, dict[str, Any]]], action: str, resource: str) -> bool:
    """Whether an Allow statement grants ``action`` on the resource with logical id ``resource``."""
    return any(
        statement.get("Effect") == "Allow"
        and action in as_list(statement.get("Action"))
        and resource in {target(r) for r in as_list(statement.get("Resource"))}
        for _owner, statement in statements
    )
