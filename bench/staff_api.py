"""AWS requests per staff inbox API call (HTTP attempts, retries included), on moto in-process with the
stack built from template.yaml. Figures only, never pass/fail.

    python -m bench.staff_api

Each route is called as API Gateway would call it after the StaffJwt authorizer (real-shaped events from
infra.local.events.jwt_http_api_event), warm (the first call of each function builds its clients and is
not counted). Attempts are counted at botocore's ``Endpoint._do_get_response``, which runs once per HTTP
attempt, so an SDK retry counts twice; moto answers from its ``before-send`` hook inside it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)


@contextlib.contextmanager
def counting(attempts: Counter[str]) -> Iterator[None]:
    from botocore import endpoint

    target: Any = endpoint.Endpoint  # botocore's stubs do not declare this private method
    original = target._do_get_response

    def counted(self: Any, request: Any, operation_model: Any, context: Any) -> Any:
        attempts[f"{operation_model.service_model.service_name}:{operation_model.name}"] += 1
        return original(self, request, operation_model, context)

    target._do_get_response = counted
    try:
        yield
    finally:
        target._do_get_response = original


LISTED = 20


def main() -> int:
    from moto import mock_aws

    from infra.local.events import jwt_http_api_event
    from infra.local.stack import Stack
    from shared.runtime import wiring

    with mock_aws():
        wiring.reset()
        stack = Stack().provision()
        function = stack.functions["InboxApiFunction"]

        def claims(*groups: str) -> dict[str, Any]:
            now = int(time.time())
            return {
                "sub": "3f1c2a9e-0d4b-4c8e-9a51-7d2e6b0f1a23",
                "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{stack.ref('StaffUserPool')}",
                "client_id": stack.ref("StaffAppClient"),
                "token_use": "access",
                "username": "bench.staff",
                "cognito:groups": list(groups),
                "exp": now + 1800,
            }

        def call(who: tuple[str, ...], method: str, route: str, path: str, body: Any = None) -> int:
            params = {"department": path.rsplit("/", 1)[1]} if "{department}" in route else None
            event = jwt_http_api_event(
                method,
                path.partition("?")[0],
                claims=claims(*who),
                route_key=f"{method} {route}",
                path_parameters=params,
                query=path.partition("?")[2],
                body=json.dumps(body) if body is not None else None,
                headers={"content-type": "application/json"} if body is not None else None,
            )
            with contextlib.redirect_stdout(io.StringIO()):  # the function's JSON log lines
                return int(function.invoke(event)["statusCode"])

        settings = {"time_zone": "America/Chicago", "first_response_minutes": 45}
        canned = {"department": "nursing", "name": "Refill", "body": "Hi {first_name}, your refill is ready."}
        cases = [
            ("GET /inbox/me (nurse)", ("nursing",), "GET", "/inbox/me", "/inbox/me", None),
            (
                "GET department, never set",
                ("nursing",),
                "GET",
                "/inbox/departments/{department}",
                "/inbox/departments/nursing",
                None,
            ),
            (
                "PUT department (admin)",
                ("admin",),
                "PUT",
                "/inbox/departments/{department}",
                "/inbox/departments/nursing",
                settings,
            ),
            (
                "GET department, set",
                ("nursing",),
                "GET",
                "/inbox/departments/{department}",
                "/inbox/departments/nursing",
                None,
            ),
            (
                "GET other department (404)",
                ("nursing",),
                "GET",
                "/inbox/departments/{department}",
                "/inbox/departments/billing",
                None,
            ),
            (
                "POST canned response (admin)",
                ("admin",),
                "POST",
                "/inbox/canned-responses",
                "/inbox/canned-responses",
                canned,
            ),
            (
                "GET canned, one department",
                ("nursing",),
                "GET",
                "/inbox/canned-responses",
                "/inbox/canned-responses",
                None,
            ),
            (
                "GET canned, admin (3 departments)",
                ("admin",),
                "GET",
                "/inbox/canned-responses",
                "/inbox/canned-responses",
                None,
            ),
            (
                "GET /inbox/audit, first look (admin)",
                ("admin",),
                "GET",
                "/inbox/audit",
                "/inbox/audit?conversation_id=cv_bench",
                None,
            ),
            (
                "GET /inbox/audit, later look (admin)",
                ("admin",),
                "GET",
                "/inbox/audit",
                "/inbox/audit?conversation_id=cv_bench",
                None,
            ),
            (
                "GET /inbox/audit as a nurse (403)",
                ("nursing",),
                "GET",
                "/inbox/audit",
                "/inbox/audit?conversation_id=cv_bench",
                None,
            ),
        ]
        # Twenty patients text the default department, so the list below decrypts twenty contact payloads.
        from infra.local import events as local_events

        for i in range(LISTED):
            message = local_events.two_way_sms_message(
                f"+1206555{1000 + i:04d}", "+12065550100", "A question"
            )
            sns = local_events.sns_event(stack.ref("InboundSmsTopic"), json.dumps(message))
            with contextlib.redirect_stdout(io.StringIO()):
                stack.functions["InboundSmsFunction"].invoke(sns)
        desk = ("front-desk",)
        start = {"phone": "+12065559876", "department": "front-desk", "body": "Hello from the front desk"}
        cases += [
            (
                f"GET conversations ({LISTED} items)",
                desk,
                "GET",
                "/inbox/conversations",
                "/inbox/conversations",
                None,
            ),
            (
                f"GET conversations again ({LISTED})",
                desk,
                "GET",
                "/inbox/conversations",
                "/inbox/conversations",
                None,
            ),
            (
                "POST conversations (start, sends)",
                desk,
                "POST",
                "/inbox/conversations",
                "/inbox/conversations",
                start,
            ),
            ("GET /inbox/metrics (7 days)", desk, "GET", "/inbox/metrics", "/inbox/metrics", None),
            (
                "GET /inbox/metrics (admin, by day)",
                ("admin",),
                "GET",
                "/inbox/metrics",
                "/inbox/metrics?granularity=day",
                None,
            ),
        ]
        call(("admin",), "GET", "/inbox/me", "/inbox/me")  # cold start: builds the clients
        print(f"{'route':<40} {'status':>6} {'attempts':>8}  operations")
        for label, who, method, route, path, body in cases:
            attempts: Counter[str] = Counter()
            with counting(attempts):
                status = call(who, method, route, path, body)
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(attempts.items())) or "-"
            kms = sum(n for op, n in attempts.items() if op.startswith("kms"))
            print(f"{label:<40} {status:>6} {sum(attempts.values()):>8}  {ops}  (KMS {kms})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
