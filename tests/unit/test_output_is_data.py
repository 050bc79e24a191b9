"""Values from outside (alarm names, reasons, build messages) are data on every channel: Slack mrkdwn and Chatbot
escape them, SNS shows them as plain readable text, Rich prints them without parsing markup."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from rich.console import Console

from rollbackctl import mrkdwn, notify, report
from rollbackctl.plaintext import clean
from rollbackctl.terminal import block, line
from tests.unit.test_config_and_model import rolled_back

HOSTILE = "<!channel> <https://evil|x> [/] [link=https://evil]x[/link] @here *bold* _it_ ~s~ `code` &amp;"
CONSOLE_LINK = re.compile(r"<(https://us-east-1\.console\.aws\.amazon\.com/[^<>|\s]*)\|[^<>|]*>")


def hostile_incident() -> Any:
    incident = rolled_back()
    incident.trigger.name = f"checkout {HOSTILE}"
    incident.trigger.reason = f"Threshold Crossed\n> quoted {HOSTILE}\x1b]8;;https://evil\x1b\\x\x1b]8;;\x1b\\"
    incident.reason = f"alarm {HOSTILE} fired"
    incident.diagnosis.category, incident.diagnosis.summary = "build-test", f"The build failed: {HOSTILE}"
    incident.diagnosis.remediation = f"Open {HOSTILE}"
    incident.joined = [{"kind": "alarm", "name": f"latency {HOSTILE}", "time": "2026-11-20T09:15:02Z"}]
    incident.record_step("contain", "done", f"blocked {HOSTILE}")
    incident.notifications = [
        {
            "channel": "slack",
            "kind": "incident",
            "status": "failed",
            "error": f"[/] {HOSTILE}",
            "sent_at": "2026-11-20T09:15:03Z",
        }
    ]
    return incident


def assert_mrkdwn_is_data(text: str) -> None:
    assert "<!channel>" not in text and "<https://evil|x>" not in text and "@here" not in text
    rest = CONSOLE_LINK.sub("", text)
    assert "<" not in rest and ">" not in rest, text
    assert "\n&gt;" not in text, text  # no value begins a quote
    assert " *bold* " not in text and " `code` " not in text


def mrkdwn_texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" else []
        return own + [t for value in node.values() for t in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [t for value in node for t in mrkdwn_texts(value)]
    return []


def test_mrkdwn_text_escapes_slacks_control_characters_and_defuses_formatting() -> None:
    assert mrkdwn.text("a & b <!channel> <@U1> c > d") == "a &amp; b &lt;!channel&gt; &lt;@U1&gt; c &gt; d"
    assert mrkdwn.text("checkout_live_errors a*b") == "checkout_live_errors a*b"  # inside a word Slack formats nothing
    assert mrkdwn.text("*bold* _it_ ~s~ `c`") == "\u2217bold* \uff3fit_ \u223cs~ \u02cbc`"
    assert (
        mrkdwn.text("ping @channel and @Here, not ops@example")
        == "ping @\u2060channel and @\u2060Here, not ops@example"
    )
    assert mrkdwn.text("> quote") == "\u00ad&gt; quote"
    assert mrkdwn.text("one\ntwo\r\x1b[31mthree") == "one two  [31mthree"


def test_a_link_shows_its_label_and_opens_its_url_and_nothing_else() -> None:
    assert mrkdwn.link("https://x.example/a b|c>d<e", "lab|el <x> & y") == (
        "<https://x.example/a%20b%7Cc%3Ed%3Ce|label x &amp; y>"
    )
    assert mrkdwn.link("https://x.example/%20ok?region=us-east-1&a=b", "") == (
        "<https://x.example/%20ok?region=us-east-1&amp;a=b|link>"
    )


def test_a_cut_never_ends_inside_an_entity_or_a_link() -> None:
    assert mrkdwn.cut("ab &amp; c", 5) == "ab "
    assert mrkdwn.cut("ab <https://x.example|x> c", 10) == "ab "
    assert mrkdwn.section_text("*x*") == {"type": "mrkdwn", "text": "*x*", "verbatim": True}


@pytest.mark.parametrize("kind", ["incident", "escalated"])
def test_slack_and_chatbot_carry_hostile_values_as_data(kind: Any) -> None:
    incident = hostile_incident()
    incident.verification = {"status": "still_alarming", "bake_seconds": 1, "alarms": {incident.trigger.name: "ALARM"}}
    payload = notify.slack_payload(incident, kind)
    texts = [payload["text"], *mrkdwn_texts(payload["blocks"])]
    assert all(t.get("verbatim") is True for b in payload["blocks"][1:] for t in [b.get("text") or {"verbatim": True}])
    message = notify.chatbot_message(incident, kind)
    content = message["content"]
    texts += [content["title"], content["description"], *content["nextSteps"], *content["keywords"]]
    for text in [*texts, message["metadata"]["summary"]]:
        assert_mrkdwn_is_data(text)
    assert "&lt;!channel&gt; &lt;https://evil|x&gt;" in json.dumps(payload)
    assert "&amp;amp;" in json.dumps(payload)  # a literal "&amp;" is shown as typed, not as "&"
    assert any(CONSOLE_LINK.search(t) for t in texts)  # rollbackctl's own console links still work


def test_the_sns_body_is_plain_readable_text() -> None:
    body = notify.body(hostile_incident())
    assert HOSTILE in body  # not escaped: SNS is not markup
    assert "\x1b" not in body
    assert "\n> quoted" not in body and "Threshold Crossed > quoted" in body  # a value stays on its line
    assert notify.subject(hostile_incident()).isprintable()


def rich(render: Any) -> tuple[str, str]:
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=600, record=True)
    render(console)
    return console.file.getvalue(), console.export_text()  # type: ignore[attr-defined]


def test_rich_prints_hostile_values_without_parsing_them() -> None:
    incident = hostile_incident()
    for render in (
        lambda c: report.print_incident(c, incident),
        lambda c: c.print(report.history_table([incident])),
        lambda c: c.print(line(("bold", "bold"), incident.trigger.reason)),
        lambda c: c.print(block(f"{HOSTILE}\nsecond :smile: line")),
    ):
        terminal, plain = rich(render)
        assert "\x1b]8;" not in terminal  # no terminal hyperlink, from markup or from the value's own ESC
        assert "[/]" in plain and "[link=https://evil]x[/link]" in plain
    assert ":smile:" in rich(lambda c: c.print(block("a :smile: b")))[1]  # no emoji codes either


def test_clean_keeps_text_and_drops_what_a_reader_cannot_see() -> None:
    assert clean("naïve — ok ✓ 日本") == "naïve — ok ✓ 日本"
    assert clean("a\u202eb\u2066c\x00d\x7fe\x9bf") == "a b c d e f"
