"""The template store and the reply book, built once per container."""

from __future__ import annotations

from typing import Any

from shared.runtime import aws
from shared.runtime.wiring import cached, core_settings
from shared.templates.replies import ReplyBook


@cached
def reply_book() -> ReplyBook:
    settings = core_settings()
    return ReplyBook(settings.clinic_name, settings.support_contact, settings.clinic_phone)


@cached
def template_store() -> Any:
    from shared.templates.store import DynamoTemplateStore

    return DynamoTemplateStore(aws.table(core_settings().control_table))
