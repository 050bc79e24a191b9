"""Values from outside (alarm names, state reasons, build messages) as readable plain text.

Whatever a producer put in a value, a reader sees it as text on one line: control characters (a newline, a
carriage return, ESC and the terminal sequences it starts, NUL, DEL, the C1 range) and the bidirectional
overrides that reorder what is displayed (Trojan Source) become a space. Nothing else changes: no escaping,
so a value reads the same as it came. The channels that have markup (Slack mrkdwn, Rich) escape on top of this.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls; the bidi embeddings, overrides, isolates and marks (Unicode TR9).
_UNREADABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNREADABLE_BUT_LINES = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: object) -> str:
    """One line of readable text."""
    return _UNREADABLE.sub(" ", str(value))


def clean_lines(value: object) -> str:
    """Readable text that keeps its line breaks (a multi-line message shown as it was written)."""
    return _UNREADABLE_BUT_LINES.sub(" ", str(value).replace("\r\n", "\n"))
