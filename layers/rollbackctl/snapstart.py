"""SnapStart (template parameter SnapStart=on): what a function's init made is made again after a restore.

Lambda resumes every environment of a SnapStart version from one snapshot of its initialised state, so anything
init created that must be unique or fresh is shared by all of them (Lambda Developer Guide, "Handling uniqueness
with Lambda SnapStart"): here, the credentials resolved at init and the boto3 clients built on them. The managed
Python runtimes include ``snapshot_restore_py``, whose ``register_after_restore`` runs a function after each
restore ("Lambda SnapStart runtime hooks for Python"); anywhere else (tests, ``sam local``, the emulator) nothing
is ever restored and nothing is registered.
"""

from __future__ import annotations

from collections.abc import Callable


def after_restore(make_again: Callable[[], None]) -> bool:
    """Run ``make_again`` after every SnapStart restore; False where there is no SnapStart runtime."""
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]
    except ImportError:
        return False
    register_after_restore(make_again)
    return True
