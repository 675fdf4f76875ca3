"""Genuine AWS-format events, as each event source would deliver them to a function."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ACCOUNT = "123456789012"
REGION = "us-east-1"


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def sns_timestamp(at: datetime | None = None) -> str:
    """An instant as SNS writes a notification's ``Timestamp``: 2026-11-24T15:30:00.123Z."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def two_way_sms_message(
    from_number: str, to_number: str, body: str, *, message_id: str | None = None
) -> dict[str, Any]:
    """The JSON AWS End User Messaging publishes to the two-way SMS topic."""
    return {
        "originationNumber": from_number,
        "destinationNumber": to_number,
        "messageKeyword": body.split(maxsplit=1)[0].upper() if body.split() else "",
        "messageBody": body,
        "inboundMessageId": message_id or str(uuid.uuid4()),
        "previousPublishedMessageId": str(uuid.uuid4()),
    }


def sns_event(
    topic_arn: str, message: str, *, message_id: str | None = None, timestamp: str | None = None
) -> dict:
    """An SNS-to-Lambda event with one record."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id or str(uuid.uuid4()),
                    "TopicArn": topic_arn,
                    "Subject": None,
                    "Message": message,
                    "Timestamp": timestamp or sns_timestamp(),
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
                    "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def http_api_event(
    method: str,
    path: str,
    *,
    route_key: str | None = None,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    path_parameters: dict[str, str] | None = None,
    iam_caller: str | None = None,
    host: str = "abc123.execute-api.us-east-1.amazonaws.com",
    stage: str = "$default",
    base64_body: bool | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, received at ``at`` (default: now)."""
    hdrs = {"host": host, "x-forwarded-proto": "https", "x-forwarded-port": "443", "user-agent": "local"}
    hdrs.update({k.lower(): v for k, v in (headers or {}).items()})
    raw = body.encode() if isinstance(body, str) else body
    # Media types are case-insensitive (RFC 9110 8.3.1): Application/JSON is JSON.
    content_type = hdrs.get("content-type", "").strip().lower()
    encode = (
        base64_body if base64_body is not None else not content_type.startswith(("application/json", "text/"))
    )
    received = (at or datetime.now(UTC)).astimezone(UTC)
    if raw and not encode and not _is_utf8(raw):
        encode = True  # bytes that are not text reach the function base64-encoded, whatever the header says
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method} {path}",
        "rawPath": path if stage == "$default" else f"/{stage}{path}",
        "rawQueryString": query,
        "headers": hdrs,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": host.split(".", maxsplit=1)[0],
            "domainName": host,
            "domainPrefix": host.split(".", maxsplit=1)[0],
            "http": {
                "method": method,
                "path": path if stage == "$default" else f"/{stage}{path}",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": hdrs["user-agent"],
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key or f"{method} {path}",
            "stage": stage,
            "time": received.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(received.timestamp() * 1000),
        },
        "isBase64Encoded": bool(raw) and encode,
    }
    if raw is not None:
        event["body"] = base64.b64encode(raw).decode() if event["isBase64Encoded"] else raw.decode()
    if query:
        from urllib.parse import parse_qsl

        event["queryStringParameters"] = dict(parse_qsl(query))
    if path_parameters:
        event["pathParameters"] = path_parameters
    if iam_caller:
        event["requestContext"]["authorizer"] = {
            "iam": {
                "accessKey": "AKIAEXAMPLE",
                "accountId": ACCOUNT,
                "callerId": "AIDAEXAMPLE",
                "principalOrgId": None,
                "userArn": iam_caller,
                "userId": "AIDAEXAMPLE",
                "cognitoIdentity": None,
            }
        }
    return event


def api_gateway_claims(payload: Mapping[str, Any]) -> dict[str, str]:
    """JWT claims as an HTTP API JWT authorizer hands them over: every value a string, an array
    flattened to ``"[a b]"`` (``cognito:groups`` becomes ``"[nursing admin]"``)."""
    shown: dict[str, str] = {}
    for key, value in payload.items():
        if isinstance(value, list | tuple):
            shown[key] = "[" + " ".join(str(item) for item in value) + "]"
        elif isinstance(value, bool):
            shown[key] = "true" if value else "false"
        else:
            shown[key] = str(value)
    return shown


def jwt_http_api_event(
    method: str,
    path: str,
    *,
    claims: Mapping[str, Any],
    scopes: Sequence[str] | None = ("aws.cognito.signin.user.admin",),
    **kwargs: Any,
) -> dict[str, Any]:
    """An HTTP API event for a route behind a JWT authorizer: ``claims`` (a token's payload, or claims
    already flattened) arrive as ``requestContext.authorizer.jwt.claims`` the way API Gateway shows them."""
    event = http_api_event(method, path, **kwargs)
    event["requestContext"]["authorizer"] = {
        "jwt": {"claims": api_gateway_claims(claims), "scopes": list(scopes) if scopes else None}
    }
    return event


def twilio_webhook_event(
    auth_token: str,
    *,
    from_number: str,
    to_number: str,
    body: str,
    message_sid: str | None = None,
    host: str = "abc123.execute-api.us-east-1.amazonaws.com",
    stage: str = "$default",
    path: str = "/webhooks/twilio",
    query: str = "",
    signed_url: str | None = None,
    extra: dict[str, str] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """A Twilio Messaging webhook as it reaches the function, signed the way Twilio signs it."""
    sid = message_sid or "SM" + uuid.uuid4().hex
    params = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to_number,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": from_number,
        "ApiVersion": "2010-04-01",
        **(extra or {}),
    }
    full_path = path if stage == "$default" else f"/{stage}{path}"
    url = signed_url or f"https://{host}{full_path}" + (f"?{query}" if query else "")
    signature = RequestValidator(auth_token).compute_signature(url, params)
    return http_api_event(
        "POST",
        path,
        route_key="POST /webhooks/twilio",
        body=urlencode(params),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
            "i-twilio-idempotency-token": str(uuid.uuid4()),
        },
        host=host,
        stage=stage,
        query=query,
        at=at,
    )


def sqs_event(queue_arn: str, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An SQS-to-Lambda batch. ``messages`` items carry ``MessageId``, ``ReceiptHandle``, ``Body``."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": str(
                        m.get("Attributes", {}).get("ApproximateReceiveCount", "1")
                    ),
                    "SentTimestamp": str(
                        m.get("Attributes", {}).get("SentTimestamp", int(time.time() * 1000))
                    ),
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                },
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def scheduler_event(
    schedule_input: str, *, scheduled_time: datetime, schedule_arn: str, attempt: int = 1
) -> Any:
    """What EventBridge Scheduler delivers: the target Input with its context attributes filled in."""
    text = (
        schedule_input.replace(
            "<aws.scheduler.scheduled-time>", scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
        .replace("<aws.scheduler.schedule-arn>", schedule_arn)
        .replace("<aws.scheduler.attempt-number>", str(attempt))
    )
    return json.loads(text)


# What SNS writes as providerResponse, by outcome (as seen in SNS's SMS delivery logs).
CARRIER_RESPONSES = {
    "delivered": ("SUCCESS", "Message has been accepted by phone carrier"),
    "unreachable": ("FAILURE", "Phone is currently unreachable/unavailable"),
    "opted_out": ("FAILURE", "Phone number is opted out"),
    "blocked": ("FAILURE", "Phone carrier has blocked this message"),
    "unknown": ("FAILURE", "Unknown error attempting to reach phone"),
}


def sns_delivery_log(
    message_id: str,
    destination: str,
    outcome: str = "delivered",
    *,
    at: datetime | None = None,
    parts: int = 1,
    price_usd: float = 0.00581,
) -> dict[str, Any]:
    """One SNS SMS delivery-status log line (DirectPublishToPhoneNumber[/Failure]), in SNS's format."""
    status, response = CARRIER_RESPONSES[outcome]
    when = (at or datetime.now(UTC)).astimezone(UTC)
    delivery: dict[str, Any] = {
        "numberOfMessageParts": parts,
        "destination": destination,
        "priceInUSD": price_usd if status == "SUCCESS" else 0.0,
        "smsType": "Transactional",
        "providerResponse": response,
        "dwellTimeMs": 412,
        "dwellTimeMsUntilDeviceAck": 1532,
    }
    if status == "SUCCESS":
        delivery.update({"phoneCarrier": "Example Wireless", "mcc": 310, "mnc": 260})
    else:
        delivery.update({"mcc": 0, "mnc": 0})
    return {
        "notification": {"messageId": message_id, "timestamp": when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]},
        "delivery": delivery,
        "status": status,
    }


def delivery_log_group(outcome: str, *, region: str = REGION, account: str = ACCOUNT) -> str:
    """The log group SNS writes a delivery report to: failures go to the ``/Failure`` group."""
    base = f"sns/{region}/{account}/DirectPublishToPhoneNumber"
    return base if CARRIER_RESPONSES[outcome][0] == "SUCCESS" else f"{base}/Failure"


def cloudwatch_logs_event(
    log_group: str,
    lines: Sequence[str],
    *,
    log_stream: str = "2026/11/23/[$LATEST]sandbox",
    filter_name: str = "DeliveryStatus",
    timestamps: Sequence[int] | None = None,
    first_id: int = 0,
) -> dict[str, Any]:
    """What a CloudWatch Logs subscription filter delivers to Lambda: gzip, then base64, of the batch."""
    import gzip

    now_ms = int(time.time() * 1000)
    data = {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": [filter_name],
        "logEvents": [
            {
                "id": f"{first_id + index:056d}",
                "timestamp": (timestamps[index] if timestamps else now_ms),
                "message": line,
            }
            for index, line in enumerate(lines)
        ],
    }
    packed = gzip.compress(json.dumps(data).encode(), mtime=0)
    return {"awslogs": {"data": base64.b64encode(packed).decode()}}


def dumps(event: Any) -> str:
    return json.dumps(event, indent=2)
