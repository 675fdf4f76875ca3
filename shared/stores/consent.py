"""The consent ledger: append-only events plus the current state per number, in ConsentTable.

Items (pk is the phone number's blind index, never the number):
  pk=<phone_hmac> sk=STATE                      current state, version, encrypted number
  pk=<phone_hmac> sk=EVENT#<at>#<event_id>      one ledger event (never updated or deleted)
"""

from __future__ import annotations

from typing import Any, Protocol

from botocore.exceptions import ClientError

from shared.clock import iso, parse_iso
from shared.crypto import PhiCipher
from shared.errors import Conflict
from shared.models import ConsentAction, ConsentEvent, ConsentSource, ConsentState, ConsentStatus

STATE_SK = "STATE"
MAX_ATTEMPTS = 4


class ConsentLedger(Protocol):
    def state(self, phone_hmac: str) -> ConsentState: ...

    def record(self, event: ConsentEvent, phone_e164: str) -> ConsentState: ...

    def events(self, phone_hmac: str) -> list[ConsentEvent]: ...


def state_record_ref(phone_hmac: str) -> str:
    return f"consent#{phone_hmac}"


def _state_from_item(phone_hmac: str, item: dict[str, Any] | None) -> ConsentState:
    if not item:
        return ConsentState(phone_hmac=phone_hmac, status=ConsentStatus.UNKNOWN)
    return ConsentState(
        phone_hmac=phone_hmac,
        status=ConsentStatus(item["status"]),
        updated_at=parse_iso(item["updated_at"]) if item.get("updated_at") else None,
        last_event_id=item.get("last_event_id"),
        last_source=ConsentSource(item["last_source"]) if item.get("last_source") else None,
        carrier_readmitted_at=parse_iso(item["carrier_readmitted_at"])
        if item.get("carrier_readmitted_at")
        else None,
        version=int(item.get("version", 0)),
    )


class DynamoConsentLedger:
    def __init__(self, table: Any, cipher: PhiCipher) -> None:
        self._table = table
        self._client = table.meta.client
        self._cipher = cipher

    def state(self, phone_hmac: str) -> ConsentState:
        item = self._table.get_item(Key={"pk": phone_hmac, "sk": STATE_SK}, ConsistentRead=True).get("Item")
        return _state_from_item(phone_hmac, item)

    def record(self, event: ConsentEvent, phone_e164: str) -> ConsentState:
        """Append ``event`` and move the current state, atomically.

        An event older than the current state (texts can arrive out of order) is appended to the
        history but does not overturn the newer state.
        """
        event_item = {
            "pk": event.phone_hmac,
            "sk": f"EVENT#{iso(event.at)}#{event.event_id}",
            "record_type": "consent_event",
            "event_id": event.event_id,
            "action": event.action.value,
            "at": iso(event.at),
            "recorded_at": iso(event.recorded_at),
            "channel": event.channel.value,
            "source": event.source.value,
        }
        for optional in ("keyword", "reference", "carrier_sync"):
            value = getattr(event, optional)
            if value is not None:
                event_item[optional] = value
        for _ in range(MAX_ATTEMPTS):
            current = self.state(event.phone_hmac)
            newer = current.updated_at is None or event.at >= current.updated_at
            items: list[dict[str, Any]] = [
                {
                    "Put": {
                        "TableName": self._table.name,
                        "Item": event_item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
            new_state = current
            if newer:
                new_state = ConsentState(
                    phone_hmac=event.phone_hmac,
                    status=ConsentStatus.OPTED_IN
                    if event.action is ConsentAction.OPT_IN
                    else ConsentStatus.OPTED_OUT,
                    updated_at=event.at,
                    last_event_id=event.event_id,
                    last_source=event.source,
                    carrier_readmitted_at=event.recorded_at
                    if event.carrier_sync == "readmitted"
                    else current.carrier_readmitted_at,
                    version=current.version + 1,
                )
                state_item: dict[str, Any] = {
                    "pk": event.phone_hmac,
                    "sk": STATE_SK,
                    "record_type": "consent_state",
                    "status": new_state.status.value,
                    "updated_at": iso(event.at),
                    "last_event_id": event.event_id,
                    "last_source": event.source.value,
                    "version": new_state.version,
                    "phone_ct": self._cipher.encrypt(
                        state_record_ref(event.phone_hmac), {"phone": phone_e164}
                    ),
                }
                if new_state.carrier_readmitted_at is not None:
                    state_item["carrier_readmitted_at"] = iso(new_state.carrier_readmitted_at)
                condition = "attribute_not_exists(pk)" if current.version == 0 else "version = :expected"
                put_state: dict[str, Any] = {
                    "TableName": self._table.name,
                    "Item": state_item,
                    "ConditionExpression": condition,
                }
                if current.version:
                    put_state["ExpressionAttributeValues"] = {":expected": current.version}
                items.append({"Put": put_state})
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                    reasons = exc.response.get("CancellationReasons", [])
                    if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                        # The very same event id was recorded already: recording is idempotent.
                        return self.state(event.phone_hmac)
                    continue  # someone moved the state under us: read again and retry
                raise
            return new_state
        raise Conflict("consent state changed concurrently too many times; retry the request")

    def events(self, phone_hmac: str) -> list[ConsentEvent]:
        response = self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": phone_hmac, ":prefix": "EVENT#"},
        )
        return [
            ConsentEvent(
                event_id=item["event_id"],
                phone_hmac=phone_hmac,
                action=ConsentAction(item["action"]),
                at=parse_iso(item["at"]),
                recorded_at=parse_iso(item["recorded_at"]),
                channel=item["channel"],
                source=ConsentSource(item["source"]),
                keyword=item.get("keyword"),
                reference=item.get("reference"),
                carrier_sync=item.get("carrier_sync"),
            )
            for item in response.get("Items", [])
        ]
