"""Human output for incidents (Rich), shared by the CLI commands and the demo."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from .model import Incident, parse_time, short_target, short_version

STYLE = {"rolled_back": "green", "dry_run": "cyan", "refused": "yellow", "failed": "bold red", "ignored": "dim"}


def _offset(start: str, when: str | None) -> str:
    if not when:
        return ""
    delta = (parse_time(when) - parse_time(start)).total_seconds() * 1000
    return f"+{delta:,.0f} ms"


def timeline(incident: Incident) -> Table:
    """What fired, what was decided, what changed, who was told; offsets from the alarm."""
    t = incident.trigger
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="dim", justify="right")
    table.add_column()
    start = t.time
    table.add_row(_offset(start, t.time) or "+0 ms", f"{t.kind} [bold]{t.name}[/] -> {t.state or '?'}")
    table.add_row(_offset(start, incident.started_at), "workflow started (triage)")
    style = STYLE.get(incident.action or "failed", "")
    table.add_row("", f"decision: [{style}]{incident.action}[/] - {incident.reason}")
    if incident.restored_at:
        table.add_row(
            _offset(start, incident.restored_at),
            f"[green]traffic restored[/]: {short_target(incident.target)} {short_version(incident.from_version)} -> "
            f"{short_version(incident.to_version)} ({incident.time_to_restore_ms} ms after the workflow started)",
        )
    for step in incident.steps:
        if step["step"] != "restore":
            table.add_row(_offset(start, step.get("at")), f"{step['step']}: {step['status']} - {step['detail']}")
    if incident.diagnosis.summary:
        table.add_row("", f"[bold]why[/]: [{incident.diagnosis.category}] {incident.diagnosis.summary}")
        table.add_row("", f"[bold]fix[/]: {incident.diagnosis.remediation}")
    for more in incident.joined:
        table.add_row(_offset(start, more.get("time")), f"{more.get('kind')} [bold]{more.get('name')}[/] joined")
    verification = incident.verification or {}
    for kind in ("incident", "recovered", "escalated", "unverified"):
        notes = [n for n in incident.notifications if n.get("kind", "incident") == kind]
        if not notes:
            continue
        if kind != "incident":
            style = {"recovered": "green", "escalated": "bold red"}.get(kind, "yellow")
            alarms = ", ".join(f"{a} {s}" for a, s in sorted((verification.get("alarms") or {}).items()))
            table.add_row(
                _offset(start, verification.get("checked_at")),
                f"[{style}]verified: {verification.get('status')}[/] after a {verification.get('bake_seconds')} s "
                f"bake ({alarms})",
            )
        channels = ", ".join(
            n["channel"] + ("" if n.get("status", "sent") == "sent" else f" [red]failed: {n.get('error', '')}[/]")
            for n in notes
        )
        what = "on-call notified" if kind == "incident" else f"follow-up ({kind}) sent"
        table.add_row(_offset(start, notes[0].get("sent_at")), f"{what}: {channels}")
    return table


def print_incident(console: Console, incident: Incident, title: str | None = None) -> None:
    style = STYLE.get(incident.action or "failed", "")
    console.print(
        Panel(
            timeline(incident),
            title=title or incident.incident_id,
            subtitle=f"[{style}]{incident.action}[/]",
            title_align="left",
        )
    )


def history_table(incidents: list[Incident]) -> Table:
    table = Table(title="Incidents, newest first")
    for column in ("started", "incident", "trigger", "target", "action", "versions", "restore"):
        table.add_column(column)
    for i in incidents:
        versions = f"{i.from_version} -> {i.to_version}" if i.from_version else ""
        restore = f"{i.time_to_restore_ms} ms" if i.time_to_restore_ms is not None else ""
        style = STYLE.get(i.action or "failed", "")
        table.add_row(
            i.started_at,
            i.incident_id,
            i.trigger.name,
            short_target(i.target),
            f"[{style}]{i.action}[/]",
            versions,
            restore,
        )
    return table
