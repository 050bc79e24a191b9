"""Fixtures for the emulator's own tests: the embedded AWS over HTTP, as ``local-aws`` serves it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def http_aws() -> Iterator[Any]:
    """The embedded AWS on a free port on 127.0.0.1 (``local-aws``'s defaults), reached by plain boto3."""
    from rollbackctl.emulator import Emulator, free_port

    with Emulator(port=free_port()) as emulator:
        yield emulator


def hash_key_table(aws: Any, name: str) -> Any:
    """A DynamoDB table keyed by ``id`` (as the controller's claims table is), in the emulator; its client."""
    client = aws.client("dynamodb")
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return client
