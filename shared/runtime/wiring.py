"""The wiring caches and the core settings. Each package's ``wiring`` registers its factories with
:func:`cached`, so a service is built once per container; tests call :func:`reset` between cases so each
gets fresh services (and, by default, fresh boto3 clients)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from shared.runtime import aws
from shared.runtime.settings import CoreSettings

_caches: list[Any] = []


def cached(factory: Callable[[], Any]) -> Any:
    wrapped = functools.cache(factory)
    _caches.append(wrapped)
    return wrapped


def reset(*, clients: bool = True) -> None:
    """Forget built services (and, unless ``clients`` is False, the boto3 clients too)."""
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

    for cache in _caches:
        cache.cache_clear()
    # Secrets (the Twilio token) are cached process-wide by Powertools, in providers that hold a client.
    if clients:
        parameters.clear_caches()  # the providers and their clients
        aws.reset()
    else:
        for provider in DEFAULT_PROVIDERS.values():
            provider.clear_cache()  # the values only: the provider's client is kept, like ours


def preload_clients(*services: str) -> None:
    """For a SnapStart function's init: parse botocore's data for the clients its first invocation
    makes, so the snapshot holds it (:func:`shared.runtime.aws.preload`; no client, no credentials)."""
    aws.preload(*services)


@cached
def core_settings() -> CoreSettings:
    return CoreSettings.from_env()
