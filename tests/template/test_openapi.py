"""docs/openapi.yaml describes exactly the HTTP routes template.yaml declares, and is a valid OpenAPI 3."""

from __future__ import annotations

import yaml
from openapi_spec_validator import validate

from tests.template.cfn import FUNCTIONS, REPO, events

SPEC = yaml.safe_load((REPO / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
METHODS = {"get", "put", "post", "delete", "patch"}


# The template's authorizer of a route -> the spec's security scheme for it (NONE: the Twilio webhook,
# which checks its own signature).
SCHEMES = {"AWS_IAM": "sigv4", "StaffJwt": "staffJwt", "NONE": "twilioSignature"}


def template_routes() -> dict[tuple[str, str], str]:
    """(METHOD, path) -> the spec's scheme for its authorizer, for every HttpApi event in the template."""
    routes = {}
    for function in FUNCTIONS:
        for event in events(function, "HttpApi").values():
            props = event["Properties"]
            auth = (props.get("Auth") or {}).get("Authorizer", "AWS_IAM")
            routes[(props["Method"].upper(), props["Path"])] = SCHEMES[auth]
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
