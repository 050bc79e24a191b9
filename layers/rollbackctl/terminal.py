"""Rich output of values from outside: data, never markup.

Rich parses console markup (``[bold]``, ``[/]``, ``[link=...]``) and emoji codes in every string it prints,
so an alarm named ``[/]`` crashes ``history`` (MarkupError) and one named ``[link=https://evil]x[/link]``
plants a terminal hyperlink. A ``rich.text.Text`` is never parsed: :func:`line` builds one from plain
strings and (string, style) pairs, so the style comes from our code and the characters from the data. Control
characters (ESC starts the terminal's own escape sequences, OSC 8 links included) become spaces first
(``plaintext``).

Use ``console.print(line(...))`` (or pass a :func:`line` as a table cell, a panel title, a rule) for anything that
carries a value; a string literal of our own may keep its markup.
"""

from __future__ import annotations

from rich.text import Text

from .plaintext import clean, clean_lines

Part = str | tuple[str, str]


def line(*parts: Part) -> Text:
    """One line of text: each part a plain string or a (string, style) pair; nothing in a string is markup."""
    text = Text()
    for part in parts:
        value, style = (part, "") if isinstance(part, str) else part
        text.append(clean(value), style=style or None)
    return text


def block(value: str, style: str = "") -> Text:
    """Multi-line text (a function's logs, a message body) shown as it was written, line breaks kept."""
    return Text(clean_lines(value), style=style)
