"""shared/runtime/api.py: Powertools' resolver keeps ClinicText's parser, IAM check, path parameters and
error shape (without it a validation failure is Powertools' 422 and the body is read by json.loads)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from pydantic import BaseModel, ConfigDict

from infra.local import events
from shared.runtime.api import ClinicResolver

CALLER = "arn:aws:iam::123456789012:user/frontdesk"


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    count: int


app = ClinicResolver(what="test")


@app.post("/items/<number>")
def post_item(number: Annotated[int, Path()], item: Annotated[Item, Body()]) -> dict[str, Any]:
    return {"number": number, "count": item.count, "caller": app.context["caller"]}


def call(body: str, *, path: str = "/items/7", params: dict[str, str] | None = None, **kw: Any) -> Any:
    event = events.http_api_event(
        "POST",
        path,
        route_key="POST /items/{number}",
        body=body,
        headers={"content-type": kw.pop("content_type", "application/json")},
        iam_caller=kw.pop("iam", CALLER),
        path_parameters=params if params is not None else {"number": path.rsplit("/", 1)[1]},
        base64_body=False,
    )
    answer = app.resolve(event, None)  # type: ignore[arg-type]
    return answer["statusCode"], json.loads(answer["body"]), answer["headers"]


def test_a_valid_request_reaches_the_route_with_the_caller() -> None:
    status, body, headers = call('{"count": 3}')
    assert (status, body) == (200, {"number": 7, "count": 3, "caller": CALLER})
    assert headers["Cache-Control"] == "no-store"


def test_a_validation_failure_is_our_400_naming_the_field_not_powertools_422() -> None:
    status, body, _ = call('{"count": 3}', path="/items/seven")
    assert status == 400 and body["error"]["field"] == "number" and "seven" not in json.dumps(body)


def test_the_body_goes_through_the_one_parser_and_strict_json_mode() -> None:
    # json.loads keeps the last of two equal keys and reads NaN; python-mode validation would coerce "3".
    for text, field in [
        ('{"count": 1, "count": 2}', "count"),
        ('{"count": NaN}', "body"),
        ('{"count": "3"}', "count"),
    ]:
        status, body, _ = call(text)
        assert status == 400 and body["error"]["field"] == field, (text, body)


def test_media_type_and_size_are_checked_before_validation() -> None:
    assert call('{"count": 3}', content_type="Application/JSON")[0] == 200  # case-insensitive
    status, body, _ = call('{"count": 3}', content_type="text/plain")
    assert status == 415 and body["error"]["field"] == "content-type"
    status, body, _ = call('{"count": 3, "pad": "' + "x" * 70_000 + '"}')
    assert status == 413 and body["error"]["field"] == "body"


def test_no_iam_context_is_403_before_the_body_is_read() -> None:
    status, body, _ = call("{not json", iam=None)
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_path_parameters_are_api_gateways_not_the_raw_path() -> None:
    status, body, _ = call('{"count": 3}', path="/items/7", params={"number": "8"})
    assert status == 200 and body["number"] == 8


def test_a_route_the_function_does_not_serve_is_our_404() -> None:
    event = events.http_api_event("GET", "/nothing", iam_caller=CALLER)
    answer = app.resolve(event, None)  # type: ignore[arg-type]
    assert answer["statusCode"] == 404 and json.loads(answer["body"])["error"]["code"] == "not_found"
