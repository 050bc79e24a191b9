"""DynamoDB's atomicity, which moto lacks under concurrency.

DynamoDB applies each write atomically: a conditional write's condition is evaluated and the write applied as
one step ("Condition expressions": "the write succeeds only if the condition ... evaluates to true"), and a
transaction is all-or-nothing and isolated from other writes (Amazon DynamoDB Developer Guide, "Amazon DynamoDB
Transactions: How it works", Isolation levels: serializable between TransactWriteItems and every other write).
moto evaluates and applies without a lock, so two threads can both pass a condition (the rate cap lets one more
through), and TransactWriteItems deep-copies whole tables to undo a cancelled transaction: a copy taken while
another thread writes crashes ("dictionary changed size during iteration"), and the undo puts back the table as
it was, erasing every other thread's writes in between.

The emulator serialises every operation of moto's DynamoDB backend (one re-entrant lock for all tables, all
accounts and regions): each request then sees and leaves the tables as DynamoDB would, one atomic step at a time.
The lock is held only while moto applies the request, never across calls.

Under that lock a cancelled transaction needs to undo only its own items, so the emulator keeps those before moto
applies it and puts them back if it is cancelled, instead of moto's copy of every table it names. A transaction
names at most 100 distinct items (Developer Guide, "Amazon DynamoDB Transactions: How it works", TransactWriteItems
API) and DynamoDB sizes its work by them ("Capacity management for transactions": two underlying reads or writes
per item); moto's copy grew with the table instead: a ledger of a few hundred incidents made each TransactWriteItems
take tens of ms, the largest single cost on the emulated restore path.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import moto.dynamodb.models as moto_dynamodb
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table

_LOCK = threading.RLock()
_originals: dict[str, Callable[..., Any]] = {}


class _TablesNotCopied:
    """``copy`` as moto's DynamoDB backend sees it: a table is not deep-copied (``_undoable`` keeps the items a
    transaction touches instead); everything else is copied as before."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


@dataclass
class _Kept:
    """What a transaction may change, as it was: its items (None: absent) and the tables' stream records."""

    items: list[tuple[Table, DynamoType, DynamoType | None, Item | None]] = field(default_factory=list)
    streams: dict[int, tuple[Any, list[Any]]] = field(default_factory=dict)

    def keep(self, backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        for entry in transact_items:
            for op_type, op in entry.items():
                table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
                key = (op.get("Item") if op_type == "Put" else op.get("Key")) if table is not None else None
                if table is None or not isinstance(key, dict) or table.hash_key_attr not in key:
                    continue  # an action moto refuses: it changes no item, so there is none to keep
                if table.range_key_attr is not None and table.range_key_attr not in key:
                    continue
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                item = table.get_item(hash_value, range_value)
                self.items.append((table, hash_value, range_value, copy.deepcopy(item)))
                if table.stream_shard is not None:
                    self.streams.setdefault(id(table), (table.stream_shard, list(table.stream_shard.items)))

    def put_back(self) -> None:
        for table, hash_value, range_value, item in reversed(self.items):  # the first copy of a key is its original
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            elif item is None:
                table.items.get(hash_value, {}).pop(range_value, None)
            else:
                table.items[hash_value][range_value] = item
        for shard, records in self.streams.values():
            shard.items = records


def _undoable(method: Callable[..., Any]) -> Callable[..., Any]:
    """TransactWriteItems that undoes a cancelled transaction by putting back its own items."""

    @functools.wraps(method)
    def transact(self: DynamoDBBackend, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        kept = _Kept()
        kept.keep(self, transact_items)
        try:
            return method(self, transact_items, *args, **kwargs)
        except BaseException:
            kept.put_back()
            raise

    return transact


def _atomic(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def one_step(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(*args, **kwargs)

    return one_step


def install() -> None:
    for name, member in list(vars(DynamoDBBackend).items()):
        if name.startswith("_") or not callable(member) or name in _originals:
            continue
        _originals[name] = member
        setattr(DynamoDBBackend, name, _atomic(_undoable(member) if name == "transact_write_items" else member))
    moto_dynamodb.copy = _TablesNotCopied()  # type: ignore[assignment]


def uninstall() -> None:
    """Plain moto again (the concurrency test shows what goes wrong without this module)."""
    for name, member in _originals.items():
        setattr(DynamoDBBackend, name, member)
    _originals.clear()
    moto_dynamodb.copy = copy
