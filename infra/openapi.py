"""docs/openapi.yaml, generated from the HTTP functions' resolvers (their pydantic models and route metadata).

``python -m infra.openapi`` (``make openapi``) writes the file; ``python -m infra.openapi --check`` exits 1
when the committed file differs from what the code describes. Every function of template.yaml with
HttpApi events must serve exactly those routes, so the document and the template cannot drift apart
(tests/template/test_openapi.py runs both checks).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO / "docs" / "openapi.yaml"
TITLE = "ClinicText HTTP API"
VERSION = "0.1.0"
DESCRIPTION = (
    "Generated from the HTTP functions' Powertools resolvers by `make openapi` (infra/openapi.py); do not "
    "edit by hand. The routes are those template.yaml declares on ClinicApi (tests/template/test_openapi.py "
    "keeps the three in step). Every route but the Twilio webhook needs SigV4 (IAM); phone numbers travel in "
    'bodies, never in URLs. Errors are JSON {"error": {"code", "message", "field"}} naming the field, never '
    "its value. Every JSON body is read by one parser (shared/runtime/http.py) with the same rules on every "
    "route: a JSON Content-Type is required (415 otherwise; media types are matched case-insensitively, with "
    "an optional charset=utf-8); a body over 64 KiB (5 MiB for /appointments) is 413; nesting deeper than 32 "
    "levels (64 for FHIR), a number written with more than 32 characters or overflowing to infinity, NaN or "
    "Infinity, a key that appears twice in one object, an unpaired surrogate escape, or a top level that is "
    'not an object is 400. Types are strict: "limit": "5", "include_body": "yes" and "send_confirmation": 1 '
    "are 400, never coerced. Refused requests store and send nothing."
)
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "sigv4": {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "AWS Signature Version 4 (execute-api), checked by API Gateway's IAM authorizer.",
    },
    "staffJwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "A Cognito access token of StaffUserPool issued to StaffAppClient (scope "
            "aws.cognito.signin.user.admin), checked by API Gateway's StaffJwt authorizer and again by the "
            'function. A refused token is 401 {"message":"Unauthorized"}.'
        ),
    },
    "twilioSignature": {
        "type": "apiKey",
        "name": "X-Twilio-Signature",
        "in": "header",
        "description": "HMAC-SHA1 of the URL and the sorted POST parameters with the account's auth token.",
    },
}
METHODS = ("get", "put", "post", "delete", "patch")
# Answers Powertools describes on every validated route that ClinicText never gives: a request that fails
# validation is our 400 (shared/runtime/api.py), and a 500 for an answer that breaks its own model is a bug
# of ours, not part of the contract. Their schemas go with them.
NEVER_ANSWERED = ("422", "500")
POWERTOOLS_ERROR_SCHEMAS = {"HTTPValidationError", "ValidationError", "ResponseValidationError"}


def http_functions() -> dict[str, list[tuple[str, str]]]:
    """Handler module -> [(METHOD, path)] of its HttpApi events, from template.yaml."""
    from infra.local.cfn_yaml import load_template  # the loader the local stack builds from

    template = load_template(REPO / "template.yaml")
    found: dict[str, list[tuple[str, str]]] = {}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        routes = [
            (str(event["Properties"]["Method"]).upper(), str(event["Properties"]["Path"]))
            for event in (props.get("Events") or {}).values()
            if event.get("Type") == "HttpApi"
        ]
        if routes:
            module = str(props["Handler"]).rsplit(".", 1)[0]
            found[module] = sorted(routes)
    return found


def _template_path(rule: str) -> str:
    """Powertools' ``/appointments/<id>`` as API Gateway's ``/appointments/{id}``."""
    return re.sub(r"<(\w+)>", r"{\1}", rule)


def _schema_of(module_name: str) -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme
    from pydantic import TypeAdapter

    app = importlib.import_module(module_name).app
    schemes = {name: TypeAdapter(SecurityScheme).validate_python(s) for name, s in SECURITY_SCHEMES.items()}
    schema = app.get_openapi_schema(title=TITLE, version=VERSION, security_schemes=schemes)
    document: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    return document


def generate() -> dict[str, Any]:
    """The one document: every HTTP function's paths and component schemas, checked against template.yaml."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    problems: list[str] = []
    for module_name, declared in sorted(http_functions().items()):
        document = _schema_of(module_name)
        served = sorted(
            (method.upper(), path)
            for path, item in document.get("paths", {}).items()
            for method in item
            if method in METHODS
        )
        if served != declared:
            problems.append(f"{module_name} serves {served}, template.yaml routes {declared} to it")
        for path, item in document.get("paths", {}).items():
            for method in METHODS:
                for status in NEVER_ANSWERED:
                    item.get(method, {}).get("responses", {}).pop(status, None)
            if path in paths:
                problems.append(f"{path} is served by two functions")
            paths[path] = item
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if name in POWERTOOLS_ERROR_SCHEMAS:
                continue
            if name in schemas and schemas[name] != schema:
                problems.append(f"two different schemas are both named {name}")
            schemas[name] = schema
    if problems:
        raise SystemExit("the HTTP functions and template.yaml disagree:\n" + "\n".join(problems))
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "paths": {path: paths[path] for path in sorted(paths)},
        "components": {
            "schemas": {name: schemas[name] for name in sorted(schemas)},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def render(document: dict[str, Any]) -> str:
    header = "# Generated by `make openapi` (python -m infra.openapi) from the HTTP functions; do not edit.\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/openapi.yaml is out of date")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        if SPEC_PATH.read_text(encoding="utf-8") != text:
            print(f"{SPEC_PATH.relative_to(REPO)} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    SPEC_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SPEC_PATH.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
