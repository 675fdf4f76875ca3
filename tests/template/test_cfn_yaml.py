"""infra.local.cfn_yaml.load_template: short-form tags become CloudFormation's long JSON form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra.local.cfn_yaml import load_template


def _load(tmp_path: Path, text: str) -> dict[str, object]:
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return load_template(path)


def test_short_tags_become_long_form(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        """
A: !Ref Table
B: !GetAtt Table.Arn
C: !GetAtt Db.Endpoint.Address
D: !GetAtt [Table, StreamArn]
E: !Sub "${Table.Arn}/index/*"
F: !Sub ["${Name}-x", {Name: !Ref AWS::StackName}]
G: !If [HasSecret, !Ref Secret, !Ref AWS::NoValue]
H: !Not [!Equals [!Ref Param, ""]]
I: !Join [",", [a, b]]
J: !Select [0, !GetAZs ""]
K: !Condition HasSecret
L: !FindInMap [M, !Ref AWS::Region, Key]
M: !Base64 text
""",
    )
    assert loaded == {
        "A": {"Ref": "Table"},
        "B": {"Fn::GetAtt": ["Table", "Arn"]},
        "C": {"Fn::GetAtt": ["Db", "Endpoint.Address"]},
        "D": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "E": {"Fn::Sub": "${Table.Arn}/index/*"},
        "F": {"Fn::Sub": ["${Name}-x", {"Name": {"Ref": "AWS::StackName"}}]},
        "G": {"Fn::If": ["HasSecret", {"Ref": "Secret"}, {"Ref": "AWS::NoValue"}]},
        "H": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Param"}, ""]}]},
        "I": {"Fn::Join": [",", ["a", "b"]]},
        "J": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
        "K": {"Condition": "HasSecret"},
        "L": {"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "Key"]},
        "M": {"Fn::Base64": "text"},
    }


def test_aliases_are_independent_copies_and_merges_work(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        """
First: &statement {Action: [sqs:SendMessage], Resource: !GetAtt Queue.Arn}
Second: *statement
Merged:
  <<: *statement
  Resource: "*"
""",
    )
    assert loaded["Second"] == loaded["First"]
    second = loaded["Second"]
    assert isinstance(second, dict)
    second["Action"].append("sqs:DeleteMessage")
    assert loaded["First"] == {"Action": ["sqs:SendMessage"], "Resource": {"Fn::GetAtt": ["Queue", "Arn"]}}
    assert loaded["Merged"] == {"Action": ["sqs:SendMessage"], "Resource": "*"}


def test_dates_stay_strings_so_the_result_is_json(tmp_path: Path) -> None:
    loaded = _load(tmp_path, "AWSTemplateFormatVersion: 2010-09-09\nResources: {}\n")
    assert loaded["AWSTemplateFormatVersion"] == "2010-09-09"
    json.dumps(loaded)


def test_duplicate_keys_are_an_error_naming_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(yaml.YAMLError, match=r"found the key 'Queue' twice") as raised:
        _load(tmp_path, "Resources:\n  Queue: {Type: AWS::SQS::Queue}\n  Queue: {Type: AWS::SNS::Topic}\n")
    assert "template.yaml" in str(raised.value) and "line 3" in str(raised.value)


def test_a_document_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mapping at the top level"):
        _load(tmp_path, "- just a list\n")


def test_json_templates_load_too(tmp_path: Path) -> None:
    path = tmp_path / "template.json"
    path.write_text('{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}', encoding="utf-8")
    assert load_template(str(path)) == {"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}


def test_the_project_template_loads() -> None:
    template = load_template(Path(__file__).resolve().parents[2] / "template.yaml")
    json.dumps(template)  # plain data throughout: no YAML-specific objects left
    assert template["Resources"]["DataKey"]["Type"] == "AWS::KMS::Key"
