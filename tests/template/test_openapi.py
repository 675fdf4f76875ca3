"""docs/openapi.yaml describes exactly the HTTP routes template.yaml declares, and is a valid OpenAPI 3."""

from __future__ import annotations

import yaml
from openapi_spec_validator import validate

from tests.template.cfn import FUNCTIONS, REPO, events

SPEC = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
METHODS = {"get", "put", "post", "delete", "patch"}


# The template's authorizer of a route -> the spec's security scheme for it (NONE: the Twilio webhook,
# which checks its own signature, or the patient's secure-message page under /s, which asks for the date
# of birth on file and declares no scheme).
SCHEMES = {"AWS_IAM": "sigv4", "StaffJwt": "staffJwt", "NONE": "twilioSignature"}


def _scheme(auth: str, path: str) -> str:
    if auth == "NONE" and (path == "/s" or path.startswith("/s/")):
        return ""
    return SCHEMES[auth]


def template_routes() -> dict[tuple[str, str], str]:
    """(METHOD, path) -> the spec's scheme for its authorizer, for every HttpApi event in the template."""
    routes = {}
    for function in FUNCTIONS:
        for event in events(function, "HttpApi").values():
            props = event["Properties"]
            auth = (props.get("Auth") or {}).get("Authorizer", "AWS_IAM")
            routes[(props["Method"].upper(), props["Path"])] = _scheme(auth, props["Path"])
    return routes


def spec_routes() -> dict[tuple[str, str], str]:
    routes = {}
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                security = operation.get("security", SPEC.get("security", []))
                names = sorted({name for requirement in security for name in requirement})
                routes[(method.upper(), path)] = names[0] if len(names) == 1 else ",".join(names)
    return routes


def test_the_spec_is_valid_openapi() -> None:
    validate(SPEC)


def test_the_spec_lists_every_route_of_the_template_and_no_other() -> None:
    declared, described = template_routes(), spec_routes()
    assert declared, "the template declares no HttpApi routes"
    assert set(described) == set(declared), {
        "missing from the spec": sorted(set(declared) - set(described)),
        "not in the template": sorted(set(described) - set(declared)),
    }


def test_the_spec_and_the_template_agree_on_each_routes_authorizer() -> None:
    declared, described = template_routes(), spec_routes()
    assert {r: declared[r] for r in declared} == {r: described[r] for r in declared}


def test_the_committed_spec_is_the_one_the_resolvers_generate() -> None:
    """docs/openapi.yaml is written by `make openapi` from the functions' Powertools resolvers; an edit to a
    route, a model or the file by hand without regenerating fails here."""
    from infra.openapi import SPEC_PATH, generate, render

    assert SPEC_PATH.read_text(encoding="utf-8") == render(generate()), "run `make openapi`"


def test_the_generator_refuses_a_function_serving_other_routes_than_the_template(monkeypatch) -> None:
    import pytest

    from infra import openapi

    declared = openapi.http_functions()
    consent = "functions.consent_api.handler"
    assert (("POST", "/consent")) in declared[consent]
    monkeypatch.setattr(
        openapi, "http_functions", lambda: {**declared, consent: [*declared[consent], ("GET", "/consent")]}
    )
    with pytest.raises(SystemExit, match="consent_api"):
        openapi.generate()


def test_no_route_answers_with_powertools_validation_shape() -> None:
    """Validation failures are our 400 {"error": ...}, never Powertools' 422: the spec says so too."""
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                assert "422" not in operation["responses"], method
                if method == "get" and (path == "/s" or path.startswith("/s/")):
                    continue  # the patient page and its two static files read no input
                assert "400" in operation["responses"], method
