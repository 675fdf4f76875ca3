"""Secure messages, built once per container (the staff API sends them; the patient page opens them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.core.clock import SystemClock
from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings
from shared.secure.settings import SecureSettings

if TYPE_CHECKING:
    from shared.secure.service import SecureMessages


@cached
def secure_settings() -> SecureSettings:
    return SecureSettings.from_env()


def _build(*, sends: bool) -> SecureMessages:
    from shared.appointments.wiring import birth_dates
    from shared.audit.wiring import audit_log
    from shared.crypto.wiring import cipher, secure_answer_key, secure_link_key, secure_session_key
    from shared.inbox.wiring import conversation_store, staff_reply_sender
    from shared.messaging.wiring import message_log
    from shared.outbound.wiring import transactions
    from shared.secure.domain import withheld
    from shared.secure.service import SecureMessages
    from shared.secure.store import DynamoSecureLinks

    settings = secure_settings()
    return SecureMessages(
        links=DynamoSecureLinks(aws.table(settings.conversations_table), cipher(), transactions()),
        conversations=conversation_store(),
        birth_dates=birth_dates(),
        audit=audit_log(),
        messages=message_log(),
        clock=SystemClock(),
        token_key=secure_link_key(),
        session_key=secure_session_key(),
        answer_mac_key=secure_answer_key(),
        page_url=settings.secure_page_url,
        clinic_name=core_settings().clinic_name,
        send_text=staff_reply_sender(logged_body=withheld) if sends else None,
        ttl=settings.ttl,
    )


@cached
def secure_messages() -> SecureMessages:
    """The staff side: sends through the outbound pipeline."""
    return _build(sends=True)


@cached
def secure_page() -> SecureMessages:
    """The patient page: checks, shows and takes answers; sends no text."""
    return _build(sends=False)
