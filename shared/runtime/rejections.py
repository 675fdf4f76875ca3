"""Input that can never be processed, parked on the KMS-encrypted rejection queue for an operator."""

from __future__ import annotations

from shared.runtime import aws


def reject_inbound(*, raw: str, reason: str, source: str) -> None:
    """Park an inbound event that can never be processed on the (KMS-encrypted) rejection queue.

    Nothing is stored in DynamoDB or sent; the raw event is kept for an operator, so nothing is lost.
    """
    from shared.runtime.observability import logger
    from shared.runtime.settings import RejectionSettings

    # Read each time, not from the cached core settings: rejections are rare, and the local stack runs
    # every function in one process, where only some of them declare REJECTED_QUEUE_URL.
    queue_url = RejectionSettings.from_env().rejected_queue_url
    if not queue_url:
        logger.error("no rejection queue configured; rejected event dropped", extra={"source": source})
        return
    aws.client("sqs").send_message(
        QueueUrl=queue_url,
        MessageBody=raw,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": reason[:256]},
            "source": {"DataType": "String", "StringValue": source},
        },
    )
