"""DynamoDB is atomic per request in the emulator, as in AWS (emulator/dynamodb.py).

Plain moto fails both: threads taking a capped slot with a conditional ADD get more slots than the cap, and a
cancelled TransactWriteItems crashes or puts a whole table back, erasing other threads' writes.
"""

from __future__ import annotations

import threading
from typing import Any

from rollbackctl.emulator import Emulator
from tests.emulator.conftest import hash_key_table

TABLE = "atomic"


def table(aws: Any) -> Any:
    return hash_key_table(aws, TABLE)


def take_slots(ddb: Any, key: str, cap: int, threads: int) -> int:
    """``threads`` callers at once each take one of ``cap`` slots with a conditional ADD; how many got one."""
    taken: list[bool] = []
    start = threading.Barrier(threads)

    def take() -> None:
        start.wait()
        try:
            ddb.update_item(
                TableName=TABLE,
                Key={"id": {"S": key}},
                UpdateExpression="ADD #n :one",
                ConditionExpression="attribute_not_exists(#n) OR #n < :cap",
                ExpressionAttributeNames={"#n": "count"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": str(cap)}},
            )
            taken.append(True)
        except ddb.exceptions.ConditionalCheckFailedException:
            pass

    workers = [threading.Thread(target=take) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(taken)


def test_a_conditional_add_never_lets_more_through_than_its_cap() -> None:
    cap, threads, trials = 3, 12, 30
    with Emulator() as aws:
        ddb = table(aws)
        over = []
        for trial in range(trials):
            taken = take_slots(ddb, f"rate#{trial}", cap, threads)
            if taken != cap:
                over.append(taken)
        assert over == []


def test_a_cancelled_transaction_loses_no_other_write() -> None:
    with Emulator() as aws:
        ddb = table(aws)
        ddb.put_item(TableName=TABLE, Item={"id": {"S": "held"}})
        errors: list[BaseException] = []
        done = threading.Event()

        def writer() -> None:
            try:
                for n in range(300):
                    ddb.put_item(TableName=TABLE, Item={"id": {"S": f"item-{n}"}})
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        def cancelled_transactions() -> None:
            while not done.is_set():
                try:
                    ddb.transact_write_items(
                        TransactItems=[
                            {"Put": {"TableName": TABLE, "Item": {"id": {"S": "other"}}}},
                            {
                                "Put": {
                                    "TableName": TABLE,
                                    "Item": {"id": {"S": "held"}},
                                    "ConditionExpression": "attribute_not_exists(id)",
                                }
                            },
                        ]
                    )
                except ddb.exceptions.TransactionCanceledException:
                    pass
                except BaseException as exc:
                    errors.append(exc)
                    return

        workers = [threading.Thread(target=writer), threading.Thread(target=cancelled_transactions)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        keys = {i["id"]["S"] for page in ddb.get_paginator("scan").paginate(TableName=TABLE) for i in page["Items"]}
        assert {f"item-{n}" for n in range(300)} <= keys
        assert "other" not in keys  # the cancelled transaction wrote nothing
