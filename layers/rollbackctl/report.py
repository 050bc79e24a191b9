"""Human output for incidents (Rich), shared by the CLI commands and the demo."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .model import Incident, parse_time, short_target, short_version
from .notify import where
from .operations import Status
from .terminal import Part, line

STYLE = {"rolled_back": "green", "dry_run": "cyan", "refused": "yellow", "failed": "bold red", "ignored": "dim"}


def _offset(start: str, when: str | None) -> str:
    if not when:
        return ""
    delta = (parse_time(when) - parse_time(start)).total_seconds() * 1000
    return f"+{delta:,.0f} ms"


def timeline(incident: Incident) -> Table:
    """What fired, what was decided, what changed, who was told; offsets from the alarm. Every cell is a
    ``terminal.line``: names, reasons and messages are printed as the text they are, never as markup."""
    t = incident.trigger
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="dim", justify="right")
    table.add_column()
    start = t.time
    table.add_row(_offset(start, t.time) or "+0 ms", line(f"{t.kind} ", (t.name, "bold"), f" -> {t.state or '?'}"))
    table.add_row(_offset(start, incident.started_at), "workflow started (triage)")
    style = STYLE.get(incident.action or "failed", "")
    table.add_row("", line("decision: ", (str(incident.action), style), f" - {incident.reason}"))
    for step in incident.steps:  # a change that takes time: when it started, before when it read back as done
        if step["step"] == "restore" and step["status"] == "started":
            table.add_row(_offset(start, step.get("at")), line(("rollback started", "cyan"), f": {step['detail']}"))
    if incident.restored_at:
        table.add_row(
            _offset(start, incident.restored_at),
            line(
                ("traffic restored", "green"),
                f": {short_target(incident.target)} {short_version(incident.from_version)} -> "
                f"{short_version(incident.to_version)} ({incident.time_to_restore_ms} ms after the workflow started)",
            ),
        )
    for step in incident.steps:
        if step["step"] != "restore":
            table.add_row(_offset(start, step.get("at")), line(f"{step['step']}: {step['status']} - {step['detail']}"))
    if incident.diagnosis.summary:
        diagnosis = incident.diagnosis
        table.add_row("", line(("why", "bold"), f": [{diagnosis.category}] {diagnosis.summary}"))
        table.add_row("", line(("fix", "bold"), f": {diagnosis.remediation}"))
    for more in incident.joined:
        table.add_row(
            _offset(start, more.get("time")), line(f"{more.get('kind')} ", (str(more.get("name")), "bold"), " joined")
        )
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
                line(
                    (f"verified: {verification.get('status')}", style),
                    f" after a {verification.get('bake_seconds')} s bake ({alarms})",
                ),
            )
        channels: list[Part] = []
        for n in notes:
            channels += [", "] if channels else []
            channels.append(str(n["channel"]))
            if n.get("status", "sent") != "sent":
                channels.append((f" failed: {n.get('error', '')}", "red"))
        what = "on-call notified" if kind == "incident" else f"follow-up ({kind}) sent"
        table.add_row(_offset(start, notes[0].get("sent_at")), line(f"{what}: ", *channels))
    return table


def print_incident(console: Console, incident: Incident, title: str | Text | None = None) -> None:
    style = STYLE.get(incident.action or "failed", "")
    console.print(
        Panel(
            timeline(incident),
            title=title or line(f"{incident.incident_id} ({where(incident)})"),
            subtitle=line((str(incident.action), style)),
            title_align="left",
        )
    )


def history_table(incidents: list[Incident]) -> Table:
    table = Table(title="Incidents, newest first")
    for column in ("started", "incident", "where", "trigger", "target", "action", "versions", "restore"):
        table.add_column(column)
    for i in incidents:
        versions = f"{i.from_version} -> {i.to_version}" if i.from_version else ""
        restore = f"{i.time_to_restore_ms} ms" if i.time_to_restore_ms is not None else ""
        style = STYLE.get(i.action or "failed", "")
        table.add_row(
            line(i.started_at),
            line(i.incident_id),
            line(f"{i.trigger.account or '-'}/{i.trigger.region or '-'}"),
            line(i.trigger.name),
            line(short_target(i.target)),
            line((str(i.action), style)),
            line(versions),
            line(restore),
        )
    return table


def status_tables(found: Status) -> list[Table | Text]:
    """``status`` for people: the guarded targets, the blocked stages, the controls."""
    guarded = Table(title=line(f"Guarded by rollbackctl in {found.where}"))
    for column in ("kind", "target", "alarms", "serving", "known-good", "a rollback now", "mode"):
        guarded.add_column(column)
    for g in found.targets:
        serving = g.note or (g.serving if g.serving is not None else "mid-change")
        mode_style = {"enforce": "green", "dry-run": "cyan", "off": "dim"}.get(g.mode, "")
        guarded.add_row(
            line(g.kind),
            line((g.name, "bold")),
            line(", ".join(g.alarms) or "none (known from the ledger)"),
            line(short_version(serving)),
            line((short_version(g.known_good), "green") if g.known_good else ("none", "yellow")),
            line((g.rollback_now, "yellow" if g.rollback_now.startswith("refused") else "")),
            line((g.mode, mode_style)),
        )
    out: list[Table | Text] = [guarded]
    if found.blocked:
        blocked = Table(title="Pipeline stages rollbackctl blocked")
        for column in ("pipeline", "stage", "incident", "reason"):
            blocked.add_column(column)
        for b in found.blocked:
            blocked.add_row(line(b["pipeline"]), line(b["stage"]), line(str(b["incident_id"])), line(b["reason"]))
        out.append(blocked)
    else:
        out.append(line("no pipeline stage is blocked by rollbackctl"))
    switch = found.kill_switch
    on = switch["value"] != "off"
    out.append(
        line("kill switch: ", (switch["value"], "bold red" if on else "green"), f" ({switch['set'] or 'never set'})")
    )
    for name, cap in found.rate_cap.items():
        out.append(
            line(f"rate cap ({name}): {cap['used']} of {cap['cap']} rollbacks in this {cap['window_seconds']} s window")
        )
    out += [line((note, "yellow")) for note in found.notes]
    return out
