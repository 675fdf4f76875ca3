"""Issue 11 §4: what a SnapStart function's init parses of botocore's data, its first invocation does not
parse again, and the init resolves no credentials (nothing unique to a container goes into the snapshot)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.runtime import aws


@pytest.fixture
def fresh_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "preload-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "preload-test")
    aws.reset()
    yield
    aws.reset()


def _files_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loader = aws.botocore_session().get_component("data_loader")
    read: list[str] = []
    original = loader.file_loader.load_file

    def load_file(path: str) -> Any:
        data = original(path)
        if data is not None:  # botocore also looks for optional files (``*.sdk-extras``) that are absent
            read.append(path)
        return data

    monkeypatch.setattr(loader.file_loader, "load_file", load_file)
    return read


def test_clients_made_after_preload_parse_no_botocore_data(
    fresh_session: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.preload("dynamodb", "kms", "sns")
    read = _files_read(monkeypatch)
    aws.client("kms")
    aws.client("sns")
    aws.table("consent")
    aws.client("dynamodb")
    assert read == []


def test_without_preload_the_first_clients_parse_it(
    fresh_session: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: the same clients, not preloaded, read botocore's files."""
    read = _files_read(monkeypatch)
    aws.client("kms")
    aws.table("consent")
    assert read


def test_preload_resolves_no_credentials(fresh_session: None, monkeypatch: pytest.MonkeyPatch) -> None:
    session = aws.botocore_session()
    resolved: list[bool] = []
    original = session.get_credentials
    monkeypatch.setattr(session, "get_credentials", lambda: resolved.append(True) or original())
    aws.preload("dynamodb", "kms", "sns")
    assert resolved == []
