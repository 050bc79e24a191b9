"""One message per incident: what fired, what changed from which version to which, and why.

Channels: the SNS topic (plain text for a phone, with ``severity``/``action``/``target``/``kind`` attributes
to filter on), the Chatbot topic (AWS Chatbot's custom-notification JSON), and Slack directly when a webhook
secret is configured (Block Kit). The verify step's follow-ups (recovered, still alarming) go the same way.

Names, reasons and build messages come from outside: the SNS text shows them as they are, one line each
(``plaintext``); Slack and Chatbot get them through ``mrkdwn.text``, so they are data, never markup.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from . import kinds, mrkdwn, slack_actions
from .aws import AWS_ERRORS, Clients, error_code
from .config import NotifySettings, Settings
from .model import Incident, iso, short_target, short_version, utcnow
from .plaintext import clean
from .slack import SlackError, SlackWebhook

HEADLINE = {
    "rolled_back": "ROLLED BACK",
    "dry_run": "DRY RUN",
    "refused": "REFUSED",
    "failed": "FAILED",
    "ignored": "IGNORED",
}
SEVERITY = {"rolled_back": "high", "dry_run": "info", "refused": "critical", "failed": "critical", "ignored": "info"}
# Ignored incidents (OK transitions, unguarded alarms, malformed events) are recorded, not paged, unless the
# stack says otherwise (NotifyIgnored).
NOTIFY_ACTIONS = ("rolled_back", "dry_run", "refused", "failed")
# What a message is about: the incident itself, or the verify step's follow-up after the bake.
Kind = Literal["incident", "recovered", "escalated", "unverified"]
FOLLOW_UP_HEADLINE = {"recovered": "RECOVERED", "escalated": "STILL ALARMING", "unverified": "NOT VERIFIED"}
FOLLOW_UP_SEVERITY = {"recovered": "info", "escalated": "critical", "unverified": "high"}
SUBJECT_LIMIT = 99


def _ascii(text: str, limit: int) -> str:
    text = clean(text).encode("ascii", "replace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _versions(incident: Incident) -> str:
    if incident.from_version and incident.to_version:
        return f"{short_version(incident.from_version)} -> {short_version(incident.to_version)}"
    return ""


def subject(incident: Incident, kind: Kind = "incident") -> str:
    """Printable ASCII, under 100 characters (SNS), naming the service and the action."""
    if kind == "incident":
        versions = _versions(incident)
        text = f"[rollbackctl] {HEADLINE[incident.action or 'failed']}: {short_target(incident.target)}"
        return _ascii(text + (f" {versions}" if versions else ""), SUBJECT_LIMIT)
    tail = {
        "recovered": f"back to OK on {short_version(incident.to_version)}",
        "escalated": "the rollback did not fix it",
        "unverified": "recovery could not be confirmed",
    }[kind]
    return _ascii(f"[rollbackctl] {FOLLOW_UP_HEADLINE[kind]}: {short_target(incident.target)} {tail}", SUBJECT_LIMIT)


def severity(incident: Incident, kind: Kind = "incident") -> str:
    return SEVERITY[incident.action or "failed"] if kind == "incident" else FOLLOW_UP_SEVERITY[kind]


def fired(incident: Incident) -> list[str]:
    """What fired: the trigger, then every trigger that joined the incident."""
    t = incident.trigger
    out = [f"{t.kind} {t.name} -> {t.state or '?'} at {t.time}"]
    out += [f"{j.get('kind', '?')} {j.get('name', '?')} at {j.get('time', '?')}" for j in incident.joined]
    return out


def alarms_of(incident: Incident) -> list[str]:
    """The alarms that fired for this incident (what the verify step checks)."""
    names = [incident.trigger.name] if incident.trigger.kind == "alarm" else []
    names += [j["name"] for j in incident.joined if j.get("kind") == "alarm" and j.get("name")]
    return list(dict.fromkeys(names))


def where(incident: Incident) -> str:
    """The account and region it happened in (one controller serves an organization)."""
    target = kinds.parse(incident.target) if incident.target else None
    account = incident.trigger.account or (target.account if target else "")
    region = incident.trigger.region or (target.region if target else "")
    return f"account {account or '-'}, {region or '-'}"


def _verification_line(incident: Incident) -> str:
    v = incident.verification or {}
    states = ", ".join(f"{name} {state}" for name, state in sorted((v.get("alarms") or {}).items())) or "no alarm"
    return f"{states}, {v.get('bake_seconds', '?')} s after the rollback (checked {v.get('checked_at', '?')})"


def body(incident: Incident, kind: Kind = "incident") -> str:
    """Plain text a human reads on a phone: the headline first, one fact per line."""
    if kind != "incident":
        return _follow_up_body(incident, kind)
    t = incident.trigger
    what = fired(incident)
    lines = [f"{HEADLINE[incident.action or 'failed']}: {short_target(incident.target)}", "", f"What fired: {what[0]}"]
    lines += [f"  also:     {more}" for more in what[1:]]
    if t.reason:
        lines.append(f"  {t.reason[:500]}")
    lines += [
        f"Target:     {incident.target or '-'}",
        f"Where:      {where(incident)}",
        f"Versions:   {short_version(incident.from_version)} -> {short_version(incident.to_version)}",
        f"Action:     {incident.action} ({incident.mode})",
        f"Why:        {incident.reason}",
    ]
    if incident.restored_at:
        lines.append(
            f"Restored:   {incident.restored_at} ({incident.time_to_restore_ms} ms after the workflow started)"
        )
    if incident.pipeline:
        lines.append(
            f"Pipeline:   {incident.pipeline.name}"
            f"{'/' + incident.pipeline.stage if incident.pipeline.stage else ''} ({incident.pipeline.source})"
        )
    for step in incident.steps:
        lines.append(f"  - {step['step']}: {step['status']} - {step['detail']}")
    if incident.diagnosis.summary:
        lines += [
            f"Diagnosis:  [{incident.diagnosis.category}] {incident.diagnosis.summary}",
            f"Fix:        {incident.diagnosis.remediation}",
        ]
    lines += ["", f"Incident {incident.incident_id}: rollbackctl history --json"]
    return "\n".join(clean(line) for line in lines)


def _follow_up_headline(incident: Incident, kind: Kind) -> str:
    target, good = short_target(incident.target), short_version(incident.to_version)
    bad = short_version(incident.from_version)
    return {
        "recovered": f"RECOVERED: {target} is healthy on {good} after the rollback from {bad}. Incident closed.",
        "escalated": (
            f"STILL ALARMING: rolling {target} back from {bad} to {good} did not fix it. The deployment may not be "
            "the cause: a human needs to look now."
        ),
        "unverified": (
            f"NOT VERIFIED: {target} was rolled back from {bad} to {good}, but whether it recovered could not be "
            "confirmed: check the alarms yourself."
        ),
    }[kind]


def _follow_up_body(incident: Incident, kind: Kind) -> str:
    lines = [
        _follow_up_headline(incident, kind),
        "",
        f"Alarms:     {_verification_line(incident)}",
        f"Where:      {where(incident)}",
        f"Restored:   {incident.restored_at or '-'}",
    ]
    if kind == "escalated" and incident.diagnosis.summary:
        lines.append(f"Diagnosis:  [{incident.diagnosis.category}] {incident.diagnosis.summary}")
    if (incident.verification or {}).get("error"):
        lines.append(f"Error:      {incident.verification['error']}")  # type: ignore[index]
    lines += ["", f"Incident {incident.incident_id}: rollbackctl history --json"]
    return "\n".join(clean(line) for line in lines)


def links(incident: Incident) -> list[tuple[str, str]]:
    """Console links for the alarm, the target and the pipeline (what on-call opens next)."""
    target = kinds.parse(incident.target) if incident.target else None
    region = incident.trigger.region or (target.region if target else "") or "us-east-1"
    console = f"https://{region}.console.aws.amazon.com"
    out: list[tuple[str, str]] = []
    for name in alarms_of(incident)[:3]:
        out.append((f"Alarm {name}", f"{console}/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(name)}"))
    if target is not None:
        out.append(kinds.of(target).link(target, f"https://{target.region}.console.aws.amazon.com"))
    if incident.pipeline:
        out.append(
            (
                f"Pipeline {incident.pipeline.name}",
                f"{console}/codesuite/codepipeline/pipelines/{quote(incident.pipeline.name)}/view?region={region}",
            )
        )
    return out


def chatbot_message(incident: Incident, kind: Kind = "incident") -> dict[str, Any]:
    """AWS Chatbot (Amazon Q Developer in chat applications) custom notification: a Slack channel wired to the
    Chatbot topic gets a rich message, and no webhook secret lives in this stack. Follow-ups thread under the
    incident (``threadId``). ``client-markdown`` is rendered in the chat platform's markdown, so the title,
    description, next steps and keywords are mrkdwn: every value in them goes through ``mrkdwn.text``."""
    text = mrkdwn.text
    if kind == "incident":
        description = [
            f"*What fired:* {text(' / '.join(fired(incident)))}",
            f"*Where:* {text(where(incident))}",
            f"*Why:* {text(incident.reason)}",
        ]
        if incident.from_version and incident.to_version:
            description.insert(1, f"*Versions:* {text(_versions(incident))}")
        if incident.time_to_restore_ms is not None:
            description.append(f"*Time to restore:* {incident.time_to_restore_ms} ms")
        if incident.diagnosis.summary:
            description.append(f"*Diagnosis:* {text(f'[{incident.diagnosis.category}] {incident.diagnosis.summary}')}")
        next_steps = [text(incident.diagnosis.remediation)] if incident.diagnosis.remediation else []
    else:
        description = [
            text(_follow_up_headline(incident, kind)),
            f"*Alarms:* {text(_verification_line(incident))}",
            f"*Where:* {text(where(incident))}",
        ]
        next_steps = ["Page the owning team: the rollback did not fix it."] if kind == "escalated" else []
    next_steps += [mrkdwn.link(url, label) for label, url in links(incident)]
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{incident.incident_id}:{kind}",
        "content": {
            "textType": "client-markdown",
            "title": text(subject(incident, kind).removeprefix("[rollbackctl] ")),
            "description": mrkdwn.cut("\n".join(description), 3500),
            "nextSteps": [mrkdwn.cut(step, 1000) for step in next_steps[:5]],
            "keywords": [
                text(k) for k in (severity(incident, kind), incident.action or "failed", short_target(incident.target))
            ],
        },
        "metadata": {
            "threadId": incident.incident_id,
            "summary": text(subject(incident, kind)),
            "eventType": f"rollbackctl.{kind}",
            "relatedResources": [r for r in (incident.target, incident.trigger.id) if r],
            "additionalContext": {"incident_id": incident.incident_id, "severity": severity(incident, kind)},
        },
    }


def slack_payload(incident: Incident, kind: Kind = "incident", with_buttons: bool = False) -> dict[str, Any]:
    """Block Kit: a header, the facts as fields, the diagnosis and its fix, links, and (``with_buttons``: the stack
    has its Slack actions URL) the buttons the incident offers now. Labels are our markup; every value goes through
    ``mrkdwn.text`` (and every text object is verbatim: Slack parses nothing of its own)."""
    text, section = mrkdwn.text, mrkdwn.section_text
    header = {"type": "header", "text": {"type": "plain_text", "text": subject(incident, kind)[14:150]}}
    if kind == "incident":
        restore = f"{incident.time_to_restore_ms} ms" if incident.time_to_restore_ms is not None else "-"
        fields = [
            section(f"*Alarm*\n{text(' / '.join(fired(incident)))}", 1900),
            section(f"*Target*\n{text(short_target(incident.target))}\n{text(where(incident))}"),
            section(f"*From -&gt; to*\n{text(_versions(incident) or '-')}"),
            section(f"*Action*\n{text(f'{incident.action} ({incident.mode})')}"),
            section(f"*Time to restore*\n{restore}"),
            section(f"*Severity*\n{text(severity(incident, kind))}"),
        ]
        blocks: list[dict[str, Any]] = [header, {"type": "section", "fields": fields}]
        blocks.append({"type": "section", "text": section(f"*Why*\n{text(incident.reason)}")})
        if incident.diagnosis.summary:
            blocks.append(
                {
                    "type": "section",
                    "text": section(
                        f"*Diagnosis* {text(f'[{incident.diagnosis.category}]')}\n{text(incident.diagnosis.summary)}\n"
                        f"*Fix*\n{text(incident.diagnosis.remediation)}"
                    ),
                }
            )
    else:
        blocks = [
            header,
            {"type": "section", "text": section(text(_follow_up_headline(incident, kind)))},
            {"type": "section", "text": section(f"*Alarms*\n{text(_verification_line(incident))}")},
            {"type": "section", "text": section(f"*Where*\n{text(where(incident))}")},
        ]
    link_text = " | ".join(mrkdwn.link(url, label) for label, url in links(incident))
    context = f"Incident {text(incident.incident_id)}" + (f" | {link_text}" if link_text else "")
    blocks.append({"type": "context", "elements": [section(context, 2900)]})
    actions = slack_actions.buttons(incident, kind) if with_buttons else None
    if actions is not None:
        blocks.append(actions)
    # The message's own text is mrkdwn too (the notification and the fallback show it).
    return {"text": text(subject(incident, kind)), "blocks": blocks}


class Notifier:
    """Every channel, one message per incident and per follow-up. SNS is the page: its failure fails the step
    (and Step Functions retries it). Chatbot and Slack are best effort: a failure is recorded, never raised."""

    def __init__(self, clients: Clients, settings: Settings, channels: NotifySettings) -> None:
        self.clients, self.settings, self.channels = clients, settings, channels
        self.slack = (
            SlackWebhook(
                clients.secretsmanager,
                channels.slack_webhook_secret_id,
                hosts=channels.slack_allowed_hosts,
                loopback=channels.slack_loopback,
            )
            if channels.slack_webhook_secret_id
            else None
        )

    def wants(self, incident: Incident) -> bool:
        action = incident.action or "failed"
        return action in NOTIFY_ACTIONS or (action == "ignored" and self.channels.notify_ignored)

    def send(self, incident: Incident, kind: Kind = "incident", now: Callable[[], datetime] = utcnow) -> None:
        done = {
            (n.get("channel"), n.get("kind", "incident")) for n in incident.notifications if n.get("status") != "failed"
        }
        if ("sns", kind) not in done:
            response = self.clients.sns.publish(
                TopicArn=self.settings.topic_arn,
                Subject=subject(incident, kind),
                Message=body(incident, kind),
                MessageAttributes={
                    "severity": {"DataType": "String", "StringValue": severity(incident, kind)},
                    "action": {
                        "DataType": "String",
                        "StringValue": incident.action or "failed" if kind == "incident" else kind,
                    },
                    "target": {"DataType": "String", "StringValue": incident.target or "none"},
                    "kind": {"DataType": "String", "StringValue": kind},
                },
            )
            self._record(incident, "sns", kind, now, message_id=response["MessageId"])
        if ("chatbot", kind) not in done:
            try:
                response = self.clients.sns.publish(
                    TopicArn=self.channels.chatbot_topic_arn, Message=json.dumps(chatbot_message(incident, kind))
                )
                self._record(incident, "chatbot", kind, now, message_id=response["MessageId"])
            except AWS_ERRORS as exc:
                self._record(incident, "chatbot", kind, now, error=f"{type(exc).__name__}: {error_code(exc)}")
        if self.slack is not None and ("slack", kind) not in done:
            try:
                self.slack.post(slack_payload(incident, kind, self.channels.slack_buttons))
                self._record(incident, "slack", kind, now)
            except SlackError as exc:
                self._record(incident, "slack", kind, now, error=str(exc))

    @staticmethod
    def _record(
        incident: Incident,
        channel: str,
        kind: Kind,
        now: Callable[[], datetime],
        message_id: str = "",
        error: str = "",
    ) -> None:
        entry: dict[str, Any] = {"channel": channel, "kind": kind, "status": "failed" if error else "sent"}
        entry.update({"message_id": message_id} if message_id else {})
        entry.update({"error": error} if error else {})
        entry["sent_at"] = iso(now())
        incident.notifications.append(entry)
