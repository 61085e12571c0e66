"""Commands about notices: send (the cron job), notices, history."""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ctmaint.errors import UsageError
from ctmaint.model.text import plural

if TYPE_CHECKING:
    from ctmaint.sending.report import SendReport
    from ctmaint.usecases.send import ProgressStart

# No `from __future__ import annotations` here: Typer reads every command's annotations
# when the app starts, and evaluating them from strings on every run costs a cron tick
# more than the rest of its parsing. Each use case module (and what it imports) is imported
# inside its command, so a command loads only what it uses.

from ctmaint.cli.app import Days, Format, Output, as_json, command, table_width, workspace_of


class TransportName(StrEnum):
    outbox = "outbox"
    sendgrid = "sendgrid"


@command(
    "ctmaint send                      # from cron, every five minutes",
    "ctmaint send --dry-run --format json",
)
def send(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be sent; change nothing.")
    ] = False,
    output: Annotated[
        Format, typer.Option("--format", help="With --dry-run: table, or json (the whole plan).")
    ] = Format.table,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="With --dry-run: name every recipient, not the first three."
        ),
    ] = False,
    transport: Annotated[
        TransportName | None,
        typer.Option("--transport", help="How email leaves; default the policy's choice."),
    ] = None,
    notices: Annotated[
        Path,
        typer.Option("--notices", metavar="FOLDER", help="Folder for the status-page posts."),
    ] = Path("notices"),
    outbox: Annotated[
        Path | None,
        typer.Option(
            "--outbox",
            metavar="FOLDER",
            help="Folder of the outbox transport; default beside a SQLite state, or "
            ".ctmaint/outbox in the current folder for a PostgreSQL state.",
        ),
    ] = None,
) -> None:
    """Send every due notice once and post it: the cron job."""
    if not dry_run and (output is Format.json or verbose):
        given = "--format json" if output is Format.json else "--verbose"
        raise UsageError(f"{given} describes a dry run: give it with --dry-run")
    workspace = workspace_of(ctx)
    from ctmaint.usecases import send as sending

    if dry_run and output is Format.json:
        from ctmaint.cli.listing import plan_record

        plan = sending.plan(workspace)
        typer.echo(as_json(plan_record(plan)))
        if plan.nobody or workspace.contact_problems or workspace.subscription_problems:
            raise typer.Exit(1)
        return
    if dry_run:
        report = sending.preview(workspace, every_recipient=verbose)
    else:
        name = transport.value if transport else None
        request = sending.SendRequest(name, notices, outbox)
        with _progress_bar() as progress:
            report = sending.run(workspace, request, progress)
    _show_send_report(report, dry_run, workspace.policy.contacts_path)


def _show_send_report(report: "SendReport", dry_run: bool, contacts: Path) -> None:
    """What a send (or its dry run) did, as `send` prints it: the actions on stdout, each
    problem on stderr, the summary last; exit 1 if anything failed or reached no one."""
    if report.stopped:
        left = plural(report.pending, "delivery", "deliveries")
        typer.echo(f"ctmaint: {report.stopped}; {left} left for the next run", err=True)
    for action in report.actions:
        typer.echo(action)
    expired = [
        f"{notice_id} ({plural(count, 'recipient')}) {grace}; it was not sent"
        for notice_id, count, grace in report.expired
    ]
    problems = [
        *(f"expired: {line}" for line in _collapse(expired, keep=20)),
        *(f"left out until fixed: {problem}" for problem in _collapse(report.left_out)),
    ]
    if report.left_out_rows:
        problems.append(
            f"contacts left out: {report.left_out_rows} of {report.contact_rows} in {contacts}, "
            "told nothing until their rows are fixed"
        )
    problems += [f"no recipients: {line}" for line in _collapse(report.nobody)]
    problems += [f"hosts disagree: {line}" for line in _collapse(report.disagree)]
    problems += [f"left pending: {line}" for line in _collapse(report.waiting)]
    problems += [f"failed: {failure}" for failure in _collapse(report.failures)]
    if not report.stopped:  # when the provider is down, the line above says it all
        problems += [f"left for the next run: {line}" for line in _collapse(report.deferred)]
    for line in problems:
        typer.echo(f"ctmaint: {line}", err=True)
    prefix = "dry run: would have " if dry_run else ""
    typer.echo(f"{prefix}{report.summary()}")
    if report.failed or report.left_out or report.nobody:
        raise typer.Exit(1)


@contextmanager
def _progress_bar() -> Iterator["ProgressStart | None"]:
    """A progress bar on stderr when it is a terminal (a person watching); nothing under
    cron. rich is imported only then."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as bar:

        def start(total: int) -> Callable[[int], None]:
            task = bar.add_task("sending", total=total)
            return lambda handled: bar.advance(task, handled)

        yield start


def _collapse(lines: list[str], keep: int = 5) -> list[str]:
    """At most ``keep`` lines, then a count: a 10,000-recipient outage is not 10,000 lines."""
    return lines if len(lines) <= keep else [*lines[:keep], f"... and {len(lines) - keep} more"]


@command("ctmaint notices --days 14", "ctmaint notices --format json")
def notices(ctx: typer.Context, days: Days = 30, output: Output = Format.table) -> None:
    """Planned notices: due time, stage, recipients, state."""
    from ctmaint.cli.listing import notice_record, notice_table
    from ctmaint.usecases import reports

    workspace = workspace_of(ctx)
    planned = reports.planned_notices(workspace, days)
    zone = workspace.policy.zone
    if output is Format.json:
        typer.echo(as_json([notice_record(p, zone) for p in planned]))
    elif planned:
        label = workspace.policy.provider.zone_label
        typer.echo(notice_table(planned, zone, label, table_width()))
    else:
        typer.echo(f"no notices due in the next {plural(days, 'day')}")


@command("ctmaint history", "ctmaint history --format json")
def history(ctx: typer.Context, output: Output = Format.table) -> None:
    """What was sent, to how many, when, and what failed."""
    from ctmaint.cli.listing import change_record, change_table, history_record, history_table
    from ctmaint.usecases import reports

    workspace = workspace_of(ctx)
    found = reports.history(workspace)
    zone = workspace.policy.zone
    if output is Format.json:
        document = {
            "notices": [history_record(e) for e in found.notices],
            "changes": [change_record(c, zone) for c in found.changes],
        }
        typer.echo(as_json(document, ensure_ascii=False))
        return
    width = table_width()
    typer.echo(
        history_table(found.notices, width) if found.notices else "nothing has been sent yet"
    )
    if found.changes:
        changes = change_table(found.changes, zone, width)
        typer.echo("\nchanges:\n" + changes)
        if "…" in changes:
            typer.echo("(a value cut with … is whole in `ctmaint history --format json`)")
