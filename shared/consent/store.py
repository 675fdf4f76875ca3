"""The consent ledger: append-only events plus the current state per number, in ConsentTable.

Items (pk is the phone number's blind index, never the number):
  pk=<phone_hmac> sk=STATE                      current state, version, encrypted number
  pk=<phone_hmac> sk=EVENT#<at>#<event_id>      one ledger event (never updated or deleted)

An opt-out is recorded whatever state the ledger is in. A STATE item that cannot be read back (a
timestamp an older release wrote for year 1, a status ClinicText never writes, a missing or garbage
version) reads as :attr:`ConsentStatus.UNREADABLE`: nothing is sent to that number (the sender's claim
checks :func:`sendable_condition`), a lookup says so, and recording an opt-out replaces the item with a
good opted-out state, conditional on the item still being the one that was read, so concurrent writers
still cannot clobber each other. An opt-in over an unreadable state is refused unless it is the
patient's own keyword (START from their phone is the newest and clearest consent there is); a clinic
system's opt-in could predate an opt-out the item no longer shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from shared.core.clock import CLOCK_SKEW, EARLIEST, iso, parse_iso
from shared.core.errors import ConcurrentChange, Conflict
from shared.core.metrics import Counter, NullCounter
from shared.core.models import (
    Channel,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    ConsentStatus,
)
from shared.crypto.ports import PhiCipher
from shared.runtime.observability import logger

STATE_SK = "STATE"
MAX_ATTEMPTS = 4
BATCH_GET_LIMIT = 100  # DynamoDB's BatchGetItem takes at most 100 keys
BATCH_GET_ATTEMPTS = 3  # one request, then at most two rounds for keys DynamoDB left unprocessed
# Every state ClinicText writes sets these; a writer that replaced the item changed at least one of them.
_IDENTITY = ("status", "version", "updated_at", "last_event_id")
_ISO_LENGTH = len("2026-11-24T15:30:00.000000Z")  # iso() always writes this many characters
_WRITTEN_STATUSES = (ConsentStatus.OPTED_IN, ConsentStatus.OPTED_OUT)


class UnreadableItem(ValueError):
    """A ledger item that does not read back; ``field`` names the attribute (never its value)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"consent item attribute {field!r} cannot be read")
        self.field = field


def state_record_ref(phone_hmac: str) -> str:
    return f"consent#{phone_hmac}"


def sendable_condition() -> dict[str, Any]:
    """The ``ConditionCheck`` a send makes on the number's STATE item: no item, or a readable opted-in state.

    Fails closed: a status ClinicText never writes, a version that is not a number or a timestamp not in
    :func:`iso`'s form blocks the text, like an opt-out does.
    """
    return {
        "ConditionExpression": "attribute_not_exists(pk) OR (#consent_status = :consent_opted_in "
        "AND attribute_type(#consent_version, :consent_number) "
        "AND size(#consent_updated_at) = :consent_iso_length)",
        "ExpressionAttributeNames": {
            "#consent_status": "status",
            "#consent_version": "version",
            "#consent_updated_at": "updated_at",
        },
        "ExpressionAttributeValues": {
            ":consent_opted_in": ConsentStatus.OPTED_IN.value,
            ":consent_number": "N",
            ":consent_iso_length": _ISO_LENGTH,
        },
    }


def sendable_state_item(item: Mapping[str, Any] | None) -> bool:
    """:func:`sendable_condition` evaluated on an item already read (None: no item): a batch read lets the
    sender leave an opted-out number out before its claim, which checks the condition again."""
    if not item:
        return True
    version, updated_at = item.get("version"), item.get("updated_at")
    return (
        item.get("status") == ConsentStatus.OPTED_IN.value
        and isinstance(version, Decimal | int)
        and not isinstance(version, bool)
        and isinstance(updated_at, str)
        and len(updated_at.encode()) == _ISO_LENGTH
    )


def _instant(item: dict[str, Any], name: str, *, required: bool = False) -> datetime | None:
    value = item.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise UnreadableItem(name)
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise UnreadableItem(name) from exc


def _enum(item: dict[str, Any], name: str, kind: type[Any], *, required: bool = True) -> Any:
    value = item.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise UnreadableItem(name)
    try:
        return kind(value)
    except ValueError as exc:
        raise UnreadableItem(name) from exc


def _version(item: dict[str, Any]) -> int:
    value = item.get("version")
    if not isinstance(value, Decimal) or value != value.to_integral_value() or value < 1:
        raise UnreadableItem("version")
    return int(value)


def _state_from_item(phone_hmac: str, item: dict[str, Any] | None) -> ConsentState:
    """The state an item holds; raises :class:`UnreadableItem` when any attribute does not read back."""
    if not item:
        return ConsentState(phone_hmac=phone_hmac, status=ConsentStatus.UNKNOWN)
    status = _enum(item, "status", ConsentStatus)
    if status not in _WRITTEN_STATUSES:
        raise UnreadableItem("status")
    return ConsentState(
        phone_hmac=phone_hmac,
        status=status,
        updated_at=_instant(item, "updated_at", required=True),
        last_event_id=_text(item, "last_event_id"),
        last_source=_enum(item, "last_source", ConsentSource, required=False),
        carrier_readmitted_at=_instant(item, "carrier_readmitted_at"),
        version=_version(item),
    )


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    if value is not None and not isinstance(value, str):
        raise UnreadableItem(name)
    return value


def _event_from_item(phone_hmac: str, item: dict[str, Any]) -> ConsentEvent:
    event_id = _text(item, "event_id")
    if not event_id:
        raise UnreadableItem("event_id")
    return ConsentEvent(
        event_id=event_id,
        phone_hmac=phone_hmac,
        action=_enum(item, "action", ConsentAction),
        at=_instant(item, "at", required=True),
        recorded_at=_instant(item, "recorded_at", required=True),
        channel=_enum(item, "channel", Channel),
        source=_enum(item, "source", ConsentSource),
        keyword=_text(item, "keyword"),
        reference=_text(item, "reference"),
        carrier_sync=_text(item, "carrier_sync"),
    )


def _plausible(at: datetime, recorded_at: datetime) -> bool:
    return EARLIEST <= at <= recorded_at + CLOCK_SKEW


def _unchanged_condition(raw: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition that holds while the STATE item is still the (unreadable) one in ``raw``.

    Every state :meth:`DynamoConsentLedger.record` writes sets each identity attribute to a string or a
    number and a new ``last_event_id``, so comparing those (or their absence, or their odd type) is
    enough to notice that another writer replaced the item meanwhile.
    """
    serializer = TypeSerializer()
    parts, names, values = ["attribute_exists(pk)"], {}, {}
    for n, attribute in enumerate(_IDENTITY):
        names[f"#i{n}"] = attribute
        value = raw.get(attribute)
        if attribute not in raw:
            parts.append(f"attribute_not_exists(#i{n})")
        elif isinstance(value, str | Decimal | bytes | bool) and value != "":
            parts.append(f"#i{n} = :i{n}")
            values[f":i{n}"] = value
        else:  # null, empty, a map, a list or a set: no writer of ours writes that type
            parts.append(f"attribute_type(#i{n}, :i{n})")
            values[f":i{n}"] = next(iter(serializer.serialize(value)))
    return " AND ".join(parts), names, values


class DynamoConsentLedger:
    def __init__(
        self,
        table: Any,
        cipher: PhiCipher,
        *,
        counter: Counter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._table = table
        self._client = table.meta.client
        self._cipher = cipher
        self._counter = counter or NullCounter()
        self._sleep = sleep

    def sendable_check(self, phone_hmac: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self._table.name,
                "Key": {"pk": phone_hmac, "sk": STATE_SK},
                # Fails closed: opted out, or a state that does not read back, blocks it.
                **sendable_condition(),
            }
        }

    def state_key(self, phone_hmac: str) -> tuple[str, dict[str, Any]]:
        return self._table.name, {"pk": phone_hmac, "sk": STATE_SK}

    def sendable_item(self, phone_hmac: str, item: Mapping[str, Any] | None) -> bool:
        return sendable_state_item(item)

    def sealed_phone(self, phone_hmac: str, item: Mapping[str, Any] | None) -> tuple[str, Any] | None:
        if not item or not item.get("phone_ct"):
            return None
        return state_record_ref(phone_hmac), item["phone_ct"]

    def _parse(self, phone_hmac: str, item: dict[str, Any] | None) -> ConsentState:
        try:
            return _state_from_item(phone_hmac, item)
        except UnreadableItem as exc:
            self._counter.count("ConsentStateUnreadable")
            logger.warning(
                "consent state unreadable; sending to this number is blocked until it is repaired",
                extra={"phone_hmac": phone_hmac, "field": exc.field},
            )
            return ConsentState(phone_hmac=phone_hmac, status=ConsentStatus.UNREADABLE)

    def _read(self, phone_hmac: str) -> tuple[ConsentState, dict[str, Any] | None]:
        item = self._table.get_item(Key={"pk": phone_hmac, "sk": STATE_SK}, ConsistentRead=True).get("Item")
        return self._parse(phone_hmac, item), item

    def state(self, phone_hmac: str) -> ConsentState:
        return self._read(phone_hmac)[0]

    def states(self, phone_hmacs: Iterable[str]) -> dict[str, ConsentState]:
        """Many numbers' states in one consistent ``BatchGetItem`` per :data:`BATCH_GET_LIMIT` numbers
        (a list page of up to 100 is one request). Keys DynamoDB leaves unprocessed (throttling) are
        asked again after a short back-off, each round counted (``ConsentBatchUnprocessed``); a key still
        unprocessed after :data:`BATCH_GET_ATTEMPTS` reads as UNREADABLE (never as a state it may not
        have), as does an item that does not read back."""
        numbers = list(dict.fromkeys(phone_hmacs))  # DynamoDB refuses a request naming a key twice
        found: dict[str, dict[str, Any]] = {}
        unread: set[str] = set()
        name = self._table.name
        for start in range(0, len(numbers), BATCH_GET_LIMIT):
            keys = [{"pk": h, "sk": STATE_SK} for h in numbers[start : start + BATCH_GET_LIMIT]]
            request: dict[str, Any] = {name: {"Keys": keys, "ConsistentRead": True}}
            for attempt in range(BATCH_GET_ATTEMPTS):
                response = self._client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(name, []):
                    found[str(item.get("pk"))] = dict(item)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._counter.count("ConsentBatchUnprocessed", len(request.get(name, {}).get("Keys", [])))
                if attempt + 1 < BATCH_GET_ATTEMPTS:
                    self._sleep(0.05 * 2**attempt)
            else:
                unread.update(str(key.get("pk")) for key in request.get(name, {}).get("Keys", []))
        return {
            h: ConsentState(phone_hmac=h, status=ConsentStatus.UNREADABLE)
            if h in unread
            else self._parse(h, found.get(h))
            for h in numbers
        }

    def record(self, event: ConsentEvent, phone_e164: str) -> ConsentState:
        """Append ``event`` and move the current state, atomically.

        An event older than the current state (texts can arrive out of order) is appended to the
        history but does not overturn the newer state, with one exception: an opt-out is never
        outranked by a state stamped after the event was recorded, nor lost for an implausible time
        of its own. Over an unreadable state an opt-out (and the patient's own START) replaces it.
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
        opt_out = event.action is ConsentAction.OPT_OUT
        append_event = True
        for _ in range(MAX_ATTEMPTS):
            current, raw = self._read(event.phone_hmac)
            unreadable = current.status is ConsentStatus.UNREADABLE
            if unreadable and not (opt_out or event.source is ConsentSource.KEYWORD):
                raise Conflict(
                    "this number's consent record cannot be read, so an opt-in cannot be checked against "
                    "it and nothing was recorded; ask the patient to text START from their phone, or ask "
                    "an operator to repair the record (an alarm has been raised)"
                )
            items: list[dict[str, Any]] = []
            if append_event:
                items.append(
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": event_item,
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
            newer = (
                unreadable
                or current.updated_at is None
                or event.at >= current.updated_at
                or (opt_out and not _plausible(current.updated_at, event.recorded_at))
                or (opt_out and not _plausible(event.at, event.recorded_at))
            )
            new_state = current
            if newer:
                new_state, put_state = self._next_state(event, phone_e164, current, raw)
                items.append({"Put": put_state})
            if not items:
                return current
            try:
                self._client.transact_write_items(TransactItems=items)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                    reasons = exc.response.get("CancellationReasons", [])
                    if append_event and reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                        # The very same event id was recorded already: recording is idempotent. If the
                        # state has become unreadable since, this event still repairs it.
                        if unreadable:
                            append_event = False
                            continue
                        return self.state(event.phone_hmac)
                    continue  # someone moved the state under us: read again and retry
                raise
            if unreadable:
                self._counter.count("ConsentStateRepaired")
                logger.warning(
                    "unreadable consent state replaced",
                    extra={
                        "phone_hmac": event.phone_hmac,
                        "event_id": event.event_id,
                        "status": new_state.status.value,
                    },
                )
            return new_state
        raise ConcurrentChange("consent state changed concurrently too many times; retry the request")

    def _next_state(
        self, event: ConsentEvent, phone_e164: str, current: ConsentState, raw: dict[str, Any] | None
    ) -> tuple[ConsentState, dict[str, Any]]:
        unreadable = current.status is ConsentStatus.UNREADABLE
        version = current.version + 1
        if unreadable and raw is not None:
            raw_version = raw.get("version")
            readable_number = isinstance(raw_version, Decimal) and raw_version.is_finite()
            version = max(int(raw_version), 0) + 1 if readable_number else 1  # type: ignore[arg-type]
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
            version=version,
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
            "phone_ct": self._cipher.encrypt(state_record_ref(event.phone_hmac), {"phone": phone_e164}),
        }
        if new_state.carrier_readmitted_at is not None:
            state_item["carrier_readmitted_at"] = iso(new_state.carrier_readmitted_at)
        put: dict[str, Any] = {"TableName": self._table.name, "Item": state_item}
        if unreadable and raw is not None:
            condition, names, values = _unchanged_condition(raw)
            put |= {"ConditionExpression": condition, "ExpressionAttributeNames": names}
            if values:
                put["ExpressionAttributeValues"] = values
        elif current.version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :expected"
            put["ExpressionAttributeValues"] = {":expected": current.version}
        return new_state, put

    def events(self, phone_hmac: str) -> list[ConsentEvent]:
        history: list[ConsentEvent] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": phone_hmac, ":prefix": "EVENT#"},
        }
        while True:
            response = self._table.query(**query)
            for item in response.get("Items", []):
                try:
                    history.append(_event_from_item(phone_hmac, item))
                except UnreadableItem as exc:
                    self._counter.count("ConsentEventUnreadable")
                    logger.warning(
                        "consent event unreadable; left out of the history",
                        extra={"phone_hmac": phone_hmac, "field": exc.field},
                    )
            if "LastEvaluatedKey" not in response:
                return sorted(history, key=lambda e: (e.at, e.recorded_at, e.event_id))
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
