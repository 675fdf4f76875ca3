"""Pacing outbound texts to the origination number's throughput, across every concurrent sender.

Carriers meter an origination number in message *parts* per second (DOMAIN: short code 100, toll-free 3,
10DLC as registered), and all parts of a multi-part text go out together. The rule kept here is exact:
**in every one-second window, wherever it starts, the texts released hold at most ``rate`` parts**, with
a guard band (:data:`GUARD`, 5%) so that up to 50 ms of jitter between a sender's slot and SNS accepting
its text cannot push a window over either.

Every sender Lambda books its send time on one shared schedule, a single ControlTable item holding the
*theoretical arrival time* ``tat`` of the generic cell rate algorithm, in integer microseconds since the
epoch. With ``d = (1 + GUARD) / rate`` the time one part takes, a text of ``p`` parts books the interval
of ``2p - 1`` parts' time ``[slot - (p-1)d, slot + p*d)`` and is released at ``slot``: the ``p - 1``
parts' time before it keeps the texts booked just before it out of its window, the ``p`` after keep the
ones after it out. Bookings never overlap, so any one-second window holds at most ``rate`` parts. One-part
texts (every reminder) are spaced exactly ``d`` apart and reach ``rate / (1 + GUARD)`` (95%); multi-part
texts reach less (two-part texts two thirds of that), the price of exactness without coordination.

A booking is one atomic ``UpdateItem``, with no read, so throughput is not limited by round trips:

* busy: ``SET tat = tat + :booked`` on condition ``tat BETWEEN :earliest AND :horizon``; the slot follows
  from the new ``tat`` (``UPDATED_NEW``);
* idle (``tat`` older than the text's lead time, or absent): ``SET tat = :now + :after`` on condition
  ``tat < :earliest``; the slot is now.

There is no burst credit after an idle spell. A sender whose wait would exceed ``max_wait`` books nothing
and is told to come back later (:class:`PacerBusy`), so a Lambda never sleeps through its own timeout.

The clock is the machine's wall clock (``time.time``), not the domain clock: all senders must agree on it,
and Lambda hosts are NTP-synchronised.
"""

from __future__ import annotations

import hashlib

# DOMAIN: message parts per second by origination type; 10DLC is 1 per number unless registered higher.
DEFAULT_RATES: dict[str, float] = {"ShortCode": 100.0, "TollFree": 3.0, "TenDLC": 1.0}
MICROS = 1_000_000
# Slots are spaced for a rate 5% below the configured one, so that jitter of up to 50 ms between a slot and
# the moment SNS accepts the text cannot put more than the configured parts in any one-second window.
GUARD = 0.05
# A sender released later than this after its slot books another one (must stay below GUARD seconds).
LATE_TOLERANCE = 0.03


def pacer_key(origination_type: str, origination_number: str) -> str:
    """The schedule's key: one per origination number. The clinic's own number is not PHI, but no phone
    number of any kind goes into a key, so it is named by a digest (an identifier, not a secret)."""
    digest = hashlib.sha256(origination_number.encode()).hexdigest()[:16] if origination_number else "default"
    return f"{origination_type}#{digest}"


class PacerBusy(Exception):
    """The schedule is booked further ahead than a sender may wait; try again later."""

    def __init__(self, wait_seconds: float) -> None:
        super().__init__(f"send schedule booked {wait_seconds:.1f} s ahead")
        self.wait_seconds = wait_seconds
