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
    """One number's recent automated texts (claim token -> ISO time), at the version they were read."""

    phone_hmac: str
    version: int = 0
    sends: dict[str, str] = field(default_factory=dict)

    def times(self) -> list[datetime]:
        return [parse_iso(value) for value in self.sends.values()]

    def recent(self, token: str, now: datetime) -> dict[str, str]:
        """The sends after one more text at ``now``: texts older than a week are pruned."""
        kept = {k: v for k, v in self.sends.items() if now - parse_iso(v) < WEEK}
        kept[token] = iso(now)
        return kept
