"""Per-patient frequency caps on automated texts (DOMAIN: FCC healthcare exemption, <= 1 a day, <= 3 a week).

Windows are rolling (the last 24 hours, the last 7 days), which is never looser than calendar days in any
time zone. Only automated texts count and are capped: replies to a patient's own text (STOP/HELP
confirmations, acknowledgements) are not. The patient is the phone number (its blind index): the caps
protect the person who holds the phone, however many appointments or family members share it.

The record of recent automated texts lives in one ControlTable item per number
(``pk = cap#<phone_hmac>``), as a map of claim token -> ISO time, with a version number. The sender
writes it inside its claim transaction on condition that the version is the one it read, so two senders
can never both take the last allowance. A text counts from the moment it is claimed; a claim released
because the provider throttled the Publish gives its allowance back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.core.clock import iso, parse_iso

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class FrequencyCaps:
    per_day: int = 1
    per_week: int = 3

    def __post_init__(self) -> None:
        if self.per_day < 1 or self.per_week < 1:
            raise ValueError("frequency caps must allow at least one text")
        if self.per_week < self.per_day:
            raise ValueError("the weekly cap cannot be smaller than the daily cap")

    def allows(self, sent: Iterable[datetime], at: datetime) -> bool:
        times = list(sent)
        day = sum(1 for t in times if at - DAY < t <= at)
        week = sum(1 for t in times if at - WEEK < t <= at)
        return day < self.per_day and week < self.per_week

    def next_allowed(self, sent: Iterable[datetime], at: datetime) -> datetime:
        """``at`` if one more automated text is allowed then, else the first later instant it is.

        A window's count only drops when an earlier text leaves it, so the answer is ``at`` or the
        moment some text turns exactly one day or one week old.
        """
        times = sorted(sent)
        if self.allows(times, at):
            return at
        candidates = sorted({t + span for t in times for span in (DAY, WEEK) if t + span > at})
        for candidate in candidates:
            if self.allows(times, candidate):
                return candidate
        raise AssertionError("unreachable: a week after the last text every window is empty")


@dataclass
class CapRecord:
    """One number's recent automated texts, as read from the ControlTable."""

    phone_hmac: str
    version: int = 0
    sends: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def key(phone_hmac: str) -> dict[str, str]:
        return {"pk": f"cap#{phone_hmac}", "sk": "automated"}

    @classmethod
    def read(cls, control: Any, phone_hmac: str) -> CapRecord:
        item = control.get_item(Key=cls.key(phone_hmac), ConsistentRead=True).get("Item")
        if not item:
            return cls(phone_hmac)
        return cls(
            phone_hmac, int(item.get("version", 0)), {str(k): str(v) for k, v in item["sends"].items()}
        )

    def times(self) -> list[datetime]:
        return [parse_iso(value) for value in self.sends.values()]

    def claim_put(self, table_name: str, token: str, now: datetime) -> dict[str, Any]:
        """The transaction item recording one more text (older than a week pruned), on this version."""
        recent = {k: v for k, v in self.sends.items() if now - parse_iso(v) < WEEK}
        recent[token] = iso(now)
        condition = "attribute_not_exists(pk)" if self.version == 0 else "version = :v"
        put: dict[str, Any] = {
            "TableName": table_name,
            "Item": {
                **self.key(self.phone_hmac),
                "version": self.version + 1,
                "sends": recent,
                # TTL: nothing in it matters once its newest text is a week old.
                "expires_at": int((now + WEEK + DAY).timestamp()),
            },
            "ConditionExpression": condition,
        }
        if self.version:
            put["ExpressionAttributeValues"] = {":v": self.version}
        return {"Put": put}

    @classmethod
    def release_update(cls, table_name: str, phone_hmac: str, token: str) -> dict[str, Any]:
        """The transaction item giving a released claim's allowance back."""
        return {
            "Update": {
                "TableName": table_name,
                "Key": cls.key(phone_hmac),
                "UpdateExpression": "REMOVE sends.#t SET version = version + :one",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#t": token},
                "ExpressionAttributeValues": {":one": 1},
            }
        }
