"""Issue 11 §4: SnapStart where someone waits for the answer, and every caller going through the alias."""

from __future__ import annotations

import re

import pytest

from tests.template.cfn import FUNCTIONS, RESOURCES, events, function_props, props, references

SNAPSTART = {"ApplyOn": "PublishedVersions"}
SYNCHRONOUS_EVENTS = ("HttpApi", "Api")
SNAPSTART_FUNCTIONS = [name for name in FUNCTIONS if function_props(name).get("SnapStart")]


def _python_version(runtime: str) -> tuple[int, int]:
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    assert match, f"not a Python runtime: {runtime!r}"
    return int(match[1]), int(match[2])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_runs_python_3_12(name: str) -> None:
    """One runtime for all: the smoke test imports every build with 3.12, and SnapStart needs 3.12+."""
    assert function_props(name)["Runtime"] == "python3.12"


def test_the_http_api_functions_are_the_snapstart_ones() -> None:
    synchronous = sorted(name for name in FUNCTIONS if events(name, *SYNCHRONOUS_EVENTS))
    assert synchronous, "the template has no HTTP API function: this test checks nothing"
    assert sorted(SNAPSTART_FUNCTIONS) == synchronous


@pytest.mark.parametrize("name", SNAPSTART_FUNCTIONS)
def test_snapstart_is_on_a_published_version_behind_an_alias(name: str) -> None:
    own = function_props(name)
    assert own["SnapStart"] == SNAPSTART
    assert own.get("AutoPublishAlias"), "SnapStart applies to published versions: set AutoPublishAlias"
    assert _python_version(own["Runtime"]) >= (3, 12)


@pytest.mark.parametrize("name", SNAPSTART_FUNCTIONS)
def test_nothing_invokes_a_snapstart_function_by_its_unpublished_arn(name: str) -> None:
    """SAM points the function's own events at the alias; anything else naming the function's ARN (a
    schedule target, a permission, a subscription) would invoke $LATEST, which is never snapshotted."""
    callers = [
        other for other in RESOURCES if other != name and ("GetAtt", name) in set(references(props(other)))
    ]
    assert callers == []
