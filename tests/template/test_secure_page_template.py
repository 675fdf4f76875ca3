"""template.yaml's patient page (SecurePageFunction): no authorizer, so its form routes carry their own,
tighter throttling than the API's default route settings (each try is an audit record)."""

from __future__ import annotations

from tests.template.cfn import props


def _events() -> dict[str, dict]:
    return {name: event["Properties"] for name, event in props("SecurePageFunction")["Events"].items()}


def test_the_patient_page_routes_need_no_login() -> None:
    assert all(event["Auth"] == {"Authorizer": "NONE"} for event in _events().values())


def test_every_form_post_is_throttled_below_the_api_default() -> None:
    default = props("ClinicApi")["DefaultRouteSettings"]
    posts = {name: event for name, event in _events().items() if event["Method"] == "POST"}
    assert {event["Path"] for event in posts.values()} == {"/s", "/s/answer"}
    for name, event in posts.items():
        limits = event.get("RouteSettings")
        assert limits, f"{name} has no RouteSettings: only the API default applies"
        assert limits["ThrottlingRateLimit"] < default["ThrottlingRateLimit"], name
        assert limits["ThrottlingBurstLimit"] < default["ThrottlingBurstLimit"], name
