"""The two ways deciding or changing can end short of a rollback, raised by the kinds and their mechanisms.

A leaf module (it imports nothing of the package), so kinds, mechanisms and steps can all raise and catch them.
"""

from __future__ import annotations


class Refusal(Exception):
    """The controller will not act, and says exactly why (no known-good, not restorable, ...). Never a guess."""


class RestoreIncomplete(RuntimeError):
    """The change returned, but reading the target back shows traffic is not where it should be."""
