"""Slack mrkdwn, for the direct Slack message (Block Kit) and AWS Chatbot's ``client-markdown`` (rendered in the
chat platform's own markdown: Slack's). Every value from outside is data, never markup.

Slack's rules (api.slack.com/reference/surfaces/formatting, "Escaping text"): ``&``, ``<`` and ``>`` are its
control characters and are sent as ``&amp;``, ``&lt;``, ``&gt;``; nothing else is entity-encoded. So a value
can carry no ``<!channel>``, no ``<@U123>``, no ``<!date…>`` and no disguised link ``<https://evil|x>``: they
arrive as the text they are. Slack defines no escape for the formatting characters, so:

- a value is one line (``plaintext.clean``): it cannot start a line, hence no ``&gt;`` quote and no code block
  of its own; one that starts with ``>`` gets a soft hyphen first, since it follows a label's line break;
- ``*``, ``_``, ``~`` and a backtick where they could open a span (at the start, or after anything but a letter
  or digit) become look-alikes (U+2217, U+FF3F, U+223C, U+02CB); inside a word (``checkout_live_errors``) they
  stay as they are, and there Slack formats nothing;
- ``@channel``, ``@here``, ``@everyone`` get a word joiner after the ``@``, and every mrkdwn text object is
  ``verbatim`` (no automatic parsing of mentions, channel names or URLs), so plain text never pings anyone.

A link is ``<URL|label>``: the URL is percent-quoted (no space, ``<``, ``>`` or ``|`` survives) and the label
loses ``|``, ``<`` and ``>``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from .plaintext import clean

_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_LOOK_ALIKE = {"*": "\u2217", "_": "\uff3f", "~": "\u223c", "`": "\u02cb"}
_OPENER = re.compile(r"(?<![0-9A-Za-z])[*_~`]")
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone|group)\b)", re.IGNORECASE)
# What a URL keeps unquoted: RFC 3986's reserved and unreserved characters (and % of what is already quoted).
_URL_SAFE = ":/?#[]@!$&'()*+,;=%"


def text(value: object) -> str:
    """A value from outside, shown as itself in mrkdwn."""
    escaped = clean(value).translate(_ENTITIES)
    escaped = _OPENER.sub(lambda m: _LOOK_ALIKE[m.group()], escaped)
    escaped = _BROADCAST.sub("@\u2060", escaped)
    return "\u00ad" + escaped if escaped.startswith("&gt;") else escaped


def url(value: str) -> str:
    """A URL inside ``<...>``: percent-quoted, then ``&`` sent as ``&amp;`` as everywhere else."""
    return quote(clean(value).strip(), safe=_URL_SAFE).replace("&", "&amp;")


def link(target: str, label: str) -> str:
    """``<URL|label>`` that shows ``label`` and opens ``target``, and nothing else."""
    shown = text(re.sub(r"[|<>]", "", clean(label))).strip() or "link"
    return f"<{url(target)}|{shown}>"


def section_text(body: str, limit: int = 2900) -> dict[str, object]:
    """A Block Kit mrkdwn text object. ``body`` is markup already built from :func:`text` values; verbatim so
    Slack parses nothing automatically (mentions, channel names, bare URLs)."""
    return {"type": "mrkdwn", "text": cut(body, limit), "verbatim": True}


def cut(body: str, limit: int) -> str:
    """At most ``limit`` characters, never ending inside an entity or a link (a half ``&am`` or ``<https://``
    would break the rest of the message)."""
    if len(body) <= limit:
        return body
    cut = body[:limit]
    amp, open_ = cut.rfind("&"), cut.rfind("<")
    if amp > cut.rfind(";"):
        cut = cut[:amp]
    if open_ > cut.rfind(">"):
        cut = cut[:open_]
    return cut


def shown(body: str) -> str:
    """Roughly what Slack shows for ``body``: the three entities back to their characters (for a terminal that
    prints it as data, e.g. the demo's echo of what Slack received)."""
    return body.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
