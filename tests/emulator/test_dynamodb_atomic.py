"""DynamoDB is atomic per request in the emulator, as in AWS (emulator/dynamodb.py).

Plain moto fails both: threads taking a capped slot with a conditional ADD get more slots than the cap, and a
cancelled TransactWriteItems crashes or puts a whole table back, erasing other threads' writes.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

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


COUNTER_ADD = {
    "Update": {
        "TableName": TABLE,
        "Key": {"id": {"S": "counter"}},
        "UpdateExpression": "ADD n :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
}


def test_a_cancelled_transaction_puts_back_what_it_changed_and_nothing_else() -> None:
    """An update and a put applied before the failing condition are undone; the items it did not name are not
    touched; a range-key table the same."""
    with Emulator() as aws:
        ddb = table(aws)
        ddb.create_table(
            TableName="ranged",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName=TABLE, Item={"id": {"S": "counter"}, "n": {"N": "1"}})
        ddb.put_item(TableName=TABLE, Item={"id": {"S": "bystander"}, "n": {"N": "7"}})
        ddb.put_item(TableName="ranged", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "old"}})
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(
                TransactItems=[
                    COUNTER_ADD,
                    {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "new"}}}},
                    {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
                    {"Delete": {"TableName": TABLE, "Key": {"id": {"S": "absent"}}}},
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": {"id": {"S": "bystander"}},
                            "ConditionExpression": "n = :zero",
                            "ExpressionAttributeValues": {":zero": {"N": "0"}},
                        }
                    },
                ]
            )
        assert ddb.get_item(TableName=TABLE, Key={"id": {"S": "counter"}})["Item"]["n"] == {"N": "1"}
        assert ddb.get_item(TableName=TABLE, Key={"id": {"S": "bystander"}})["Item"]["n"] == {"N": "7"}
        ranged = ddb.query(
            TableName="ranged",
            KeyConditionExpression="pk = :a",
            ExpressionAttributeValues={":a": {"S": "a"}},
        )["Items"]
        assert ranged == [{"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "old"}}]
        assert ddb.scan(TableName=TABLE)["Count"] == 2
        ddb.transact_write_items(  # and one that goes through is applied whole
            TransactItems=[
                COUNTER_ADD,
                {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
            ]
        )
        assert ddb.get_item(TableName=TABLE, Key={"id": {"S": "counter"}})["Item"]["n"] == {"N": "2"}
        assert ddb.scan(TableName="ranged")["Count"] == 2
