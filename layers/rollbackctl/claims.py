"""Exactly one action per deployment.

EventBridge delivers at least once (and retries for up to 24 hours); alarms re-fire; several alarms can
guard one deployment. Every execution claims two keys, and only the first claimant of both acts:

- the trigger: the alarm and the timestamp of its transition (or the deployment / execution id of a
  deployment event) -- a redelivery, with the same or a new event id, is the same trigger;
- the deployment: the target and the version that arrived on it.

Claims are Powertools idempotency records (DynamoDB, conditional writes). The claimant is the workflow
execution, so a Step Functions retry of the same execution still owns its claims. The target's lock and the rate
cap are in ``locks``.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from .locks import CLAIM_TTL_SECONDS, Holder

IN_PROGRESS_RETRIES = 3


class Claims:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table
        persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
        config = IdempotencyConfig(
            event_key_jmespath="key", raise_on_no_idempotency_key=True, expires_after_seconds=CLAIM_TTL_SECONDS
        )
        self.config = config

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="claim", persistence_store=persistence, config=config, key_prefix="rollbackctl-claim"
        )
        def _claim(claim: dict[str, str]) -> dict[str, str]:
            return {"owner": claim["owner"], "incident_id": claim["incident_id"]}

        self._claim = _claim

    def register_lambda_context(self, context: Any) -> None:
        """So an in-progress claim expires with the invocation (Powertools' guard for crashed workers)."""
        self.config.register_lambda_context(context)

    def claim(self, key: str, owner: str, incident_id: str) -> Holder | None:
        """None when ``owner`` holds the key (now or from an earlier try); else who does."""
        for attempt in range(IN_PROGRESS_RETRIES + 1):
            try:
                first = self._claim(claim={"key": key, "owner": owner, "incident_id": incident_id})
                break
            except IdempotencyAlreadyInProgressError:
                # The other claimant is between its two writes (milliseconds): ask again to learn its incident.
                if attempt == IN_PROGRESS_RETRIES:
                    return Holder("another execution", "(being claimed right now)")
                time.sleep(0.05 * (attempt + 1))
        return None if first["owner"] == owner else Holder(first["owner"], first["incident_id"])
