"""boto3 clients, created lazily and once per container, with retry behaviour chosen per service."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

_STANDARD = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
# SNS throttling is handled by our own pacing and retry (a blind SDK retry of Publish could double-send
# after an ambiguous failure), so SNS gets no SDK-level retries of its own.
_SNS = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=3, read_timeout=10)


@functools.cache
def client(service: str) -> Any:
    config = _SNS if service == "sns" else _STANDARD
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


@functools.cache
def table(name: str) -> Any:
    return boto3.session.Session().resource("dynamodb", config=_STANDARD).Table(name)


def reset() -> None:
    """Forget cached clients (tests switch endpoints and mocks between cases)."""
    client.cache_clear()
    table.cache_clear()
