"""The on-call pager: one SNS Publish to OnCallTopic (KMS-encrypted) per escalation attempt.

The message holds no PHI: the department, the conversation's random id, a link to it in the staff app, a
fixed triage category word and the attempt number. Never the number, a name or the patient's text.
"""

from __future__ import annotations

import json
from typing import Any


class SnsOnCallPager:
    def __init__(self, sns_client: Any, topic_arn: str) -> None:
        self._sns = sns_client
        self._topic_arn = topic_arn

    def page(
        self, *, department: str, conversation_id: str, link: str, category: str | None, attempt: int
    ) -> None:
        message = {
            "type": "urgent_patient_text",
            "department": department,
            "conversation_id": conversation_id,
            "link": link,
            "category": category,
            "attempt": attempt,
        }
        subject = "Urgent patient text" if attempt == 1 else f"Urgent patient text (reminder {attempt})"
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=f"{subject} - {department}"[:100],
            Message=json.dumps(message),
            MessageAttributes={
                "department": {"DataType": "String", "StringValue": department},
                "attempt": {"DataType": "Number", "StringValue": str(attempt)},
            },
        )


class SnsAdminNotifier:
    """Tells the admins (OnCallTopic) about a break-glass access: ids only, never the reason or any PHI."""

    def __init__(self, sns_client: Any, topic_arn: str) -> None:
        self._sns = sns_client
        self._topic_arn = topic_arn

    def break_glass(self, *, conversation_id: str, department: str, user_id: str, username: str) -> None:
        message = {
            "type": "break_glass",
            "department": department,
            "conversation_id": conversation_id,
            "user_id": user_id,
            "username": username,
        }
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=f"Break-glass access - {department}"[:100],
            Message=json.dumps(message),
            MessageAttributes={"type": {"DataType": "String", "StringValue": "break_glass"}},
        )
