"""The SNS adapters behind the outbound ports: Publish to a phone number, and the account opt-out list."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from shared.core.errors import SendOutcomeUnknown, SendRejected, SendThrottled

_THROTTLE_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException"}
_REJECT_CODES = {"InvalidParameter", "InvalidParameterValue", "OptedOut", "EndpointDisabled"}


class SnsSmsSender:
    """SNS ``Publish`` to a phone number, as a Transactional SMS from the configured origination number."""

    def __init__(self, sns_client: Any, *, default_origination: str = "") -> None:
        self._sns = sns_client
        self._default_origination = default_origination

    def send(self, to_e164: str, body: str, *, origination: str | None = None) -> str:
        attributes: dict[str, Any] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
        }
        number = origination or self._default_origination
        if number:
            attributes["AWS.MM.SMS.OriginationNumber"] = {"DataType": "String", "StringValue": number}
        try:
            response = self._sns.publish(PhoneNumber=to_e164, Message=body, MessageAttributes=attributes)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _THROTTLE_CODES:
                raise SendThrottled(code) from exc
            if code in _REJECT_CODES:
                raise SendRejected(code) from exc
            raise SendOutcomeUnknown(code or "ClientError") from exc
        except (ReadTimeoutError, ConnectionError) as exc:
            raise SendOutcomeUnknown(type(exc).__name__) from exc
        return str(response["MessageId"])


class SnsOptOutList:
    """SNS's account-level SMS opt-out list. AWS re-admits a number at most once every 30 days."""

    def __init__(self, sns_client: Any) -> None:
        self._sns = sns_client

    def is_opted_out(self, e164: str) -> bool:
        response = self._sns.check_if_phone_number_is_opted_out(phoneNumber=e164)
        return bool(response.get("isOptedOut"))

    def readmit(self, e164: str) -> None:
        try:
            self._sns.opt_in_phone_number(phoneNumber=e164)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _THROTTLE_CODES:
                raise SendThrottled(code) from exc
            raise SendRejected(code or "ClientError") from exc
