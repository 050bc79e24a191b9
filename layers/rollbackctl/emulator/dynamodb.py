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
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend

_LOCK = threading.RLock()
_originals: dict[str, Callable[..., Any]] = {}


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
        setattr(DynamoDBBackend, name, _atomic(member))


def uninstall() -> None:
    """Plain moto again (the concurrency test shows what goes wrong without this module)."""
    for name, member in _originals.items():
        setattr(DynamoDBBackend, name, member)
    _originals.clear()
