"""The command line: a thin Typer layer over :mod:`ctmaint.services`.

This is the single error boundary: a :class:`CtmaintError` becomes one line on stderr and
its exit code; usage errors exit 2. Heavy libraries are imported by the services that
need them, so a cron tick with nothing to do starts fast.
"""

import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from ctmaint import quiet
from ctmaint.clock import resolve_now
from ctmaint.errors import CtmaintError, UsageError
from ctmaint.times import parse_duration, parse_instant
from ctmaint.vocabulary import Impact
from ctmaint.workspace import Workspace

if TYPE_CHECKING:
    from ctmaint.schedule import Window
    from ctmaint.services import ProgressStart

# No `from __future__ import annotations` here: Typer reads every command's annotations
# when the app starts, and evaluating them from strings on every run costs a cron tick
# more than the rest of its parsing. The core (ctmaint.services and what it imports) is
# imported inside each command, so a tick with nothing due loads none of it.

app = typer.Typer(
    help="Publish maintenance windows as calendars and feeds, and tell customers once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


class Format(StrEnum):
    table = "table"
    json = "json"


def _workspace(ctx: typer.Context) -> Workspace:
    workspace = ctx.obj
    assert isinstance(workspace, Workspace)
    return workspace


def _version(value: bool) -> None:
    if value:
        from ctmaint import __version__

        typer.echo(f"ctmaint {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="CTMAINT_CONFIG",
            help="Policy file; default ./ctmaint.toml if present, else the embedded policy.",
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            envvar="CTMAINT_STATE",
            help="State database: a SQLite file (default .ctmaint/state.db in the current "
            "folder), or a postgresql://user@host:port/db URL that several hosts share.",
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            envvar="CTMAINT_NOW",
            help="The clock, ISO 8601 with offset (2026-12-18T22:00-07:00); default the real time.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_version
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            envvar="CTMAINT_DEBUG",
            help="On an unexpected error, show where it happened (a Python traceback).",
        ),
    ] = False,
) -> None:
    """Global options; every command obeys --now."""
    workspace = Workspace.locate(config, state, resolve_now(now, "--now"), Path.cwd())
    ctx.obj = workspace
    ctx.call_on_close(workspace.close)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to write into.")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write ctmaint.toml (the shipped policy) and an example contacts.csv."""
    from ctmaint import services

    for path in services.init(directory, force):
        typer.echo(f"wrote {path}")


@app.command()
def check(ctx: typer.Context) -> None:
    """Validate the policy and contacts.csv; report every problem with its fix."""
    from ctmaint import services

    report = services.check(_workspace(ctx))
    for note in report.notes:
        typer.echo(note)
    for problem in report.problems:
        typer.echo(f"ctmaint: {problem}", err=True)
    if not report.ok:
        count = len(report.problems)
        found = "1 problem" if count == 1 else f"{count} problems"
        typer.echo(f"ctmaint: {found} found; nothing was changed", err=True)
        raise typer.Exit(1)
    typer.echo("ok")


@app.command()
def upcoming(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", help="How many days ahead.")] = 90,
    product: Annotated[
        str | None, typer.Option("--product", help="Only windows affecting this product id.")
    ] = None,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """The windows from now on (those running now included)."""
    from ctmaint import services
    from ctmaint.render.listing import window_record, window_table

    workspace = _workspace(ctx)
    windows = services.upcoming(workspace, days, product)
    policy = workspace.policy
    if output is Format.json:
        records = [window_record(w, policy.zone, workspace.now) for w in windows]
        typer.echo(json.dumps(records, indent=2, ensure_ascii=False))
    elif windows:
        typer.echo(window_table(windows, policy.zone, policy.provider.zone_label, workspace.now))
    else:
        typer.echo(f"no windows in the next {days} days")


@app.command()
def build(
    ctx: typer.Context,
    calendars: Annotated[Path, typer.Option("--calendars", help="Folder for the feeds.")] = Path(
        "calendars"
    ),
    notices: Annotated[Path, typer.Option("--notices", help="Folder for the status JSON.")] = Path(
        "notices"
    ),
) -> None:
    """Write the iCalendar, RSS and Atom feeds and the status page's JSON."""
    from ctmaint import services

    result = services.build(_workspace(ctx), calendars, notices)
    typer.echo(
        f"built {result.windows} windows: {len(result.written)} files written, "
        f"{result.unchanged} unchanged"
    )


class TransportName(StrEnum):
    outbox = "outbox"
    sendgrid = "sendgrid"


@app.command()
def send(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be sent; change nothing.")
    ] = False,
    output: Annotated[
        Format, typer.Option("--format", help="With --dry-run: table or json.")
    ] = Format.table,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="With --dry-run: name every recipient, not the first three."
        ),
    ] = False,
    transport: Annotated[
        TransportName | None,
        typer.Option("--transport", help="outbox or sendgrid; default the policy's choice."),
    ] = None,
    notices: Annotated[Path, typer.Option("--notices", help="Folder for status posts.")] = Path(
        "notices"
    ),
    outbox: Annotated[
        Path | None,
        typer.Option(
            "--outbox",
            help="Folder of the outbox transport; default beside a SQLite state, or "
            ".ctmaint/outbox in the current folder for a PostgreSQL state.",
        ),
    ] = None,
) -> None:
    """The cron entry point: send every due notice once, write its status-page post."""
    workspace = _workspace(ctx)
    name = transport.value if transport else None
    if not dry_run:
        tick = workspace.send_tick(name, notices, outbox)
        line = tick and quiet.recall(tick, workspace.now)
        if line:  # nothing can be due yet, and nothing changed: what the full run would say
            typer.echo(line)
            return
    from ctmaint import services
    from ctmaint.render.listing import plan_record

    if dry_run and output is Format.json:
        typer.echo(json.dumps(plan_record(services.plan_send(workspace)), indent=2))
        return
    with _progress_bar() as progress:
        report = services.send(workspace, name, notices, dry_run, progress, outbox, verbose)
    if report.stopped:
        typer.echo(
            f"ctmaint: {report.stopped}; {report.pending} deliveries left for the next run",
            err=True,
        )
    for action in report.actions:
        typer.echo(action)
    for notice_id, count in report.expired:
        typer.echo(
            f"ctmaint: expired: {notice_id} ({count} recipients) came due while ctmaint send "
            "was not running and is past its grace period; it was not sent",
            err=True,
        )
    for problem in _collapse(report.left_out):
        typer.echo(f"ctmaint: left out until fixed: {problem}", err=True)
    for failure in _collapse(report.failures):
        typer.echo(f"ctmaint: failed: {failure}", err=True)
    if not report.stopped:  # when the provider is down, the line above says it all
        for line in _collapse(report.deferred):
            typer.echo(f"ctmaint: left for the next run: {line}", err=True)
    prefix = "dry run: would have " if dry_run else ""
    typer.echo(f"{prefix}{report.summary()}")
    if report.failed or report.left_out:
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


@app.command()
def notices(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", help="How many days ahead.")] = 30,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """Planned notices: due time, stage, recipients count, state."""
    from ctmaint import services
    from ctmaint.render.listing import notice_record, notice_table

    workspace = _workspace(ctx)
    planned = services.planned_notices(workspace, days)
    zone = workspace.policy.zone
    if output is Format.json:
        typer.echo(json.dumps([notice_record(p, zone) for p in planned], indent=2))
    elif planned:
        typer.echo(notice_table(planned, zone, workspace.policy.provider.zone_label))
    else:
        typer.echo(f"no notices due in the next {days} days")


@app.command()
def history(
    ctx: typer.Context,
    output: Annotated[Format, typer.Option("--format", help="table or json.")] = Format.table,
) -> None:
    """What was sent, to how many, when, and what failed."""
    from ctmaint import services
    from ctmaint.render.listing import change_record, change_table, history_record, history_table

    workspace = _workspace(ctx)
    found = services.history(workspace)
    zone = workspace.policy.zone
    if output is Format.json:
        document = {
            "notices": [history_record(e) for e in found.notices],
            "changes": [change_record(c, zone) for c in found.changes],
        }
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    typer.echo(history_table(found.notices) if found.notices else "nothing has been sent yet")
    if found.changes:
        typer.echo("\nchanges:\n" + change_table(found.changes, zone))


By = Annotated[str | None, typer.Option("--by", help="Who makes the change; default the OS user.")]
Start = Annotated[str, typer.Option("--start", help="ISO 8601 with offset.")]
WindowId = Annotated[str, typer.Argument(metavar="ID", help="The window id.")]


def _by(by: str | None) -> str:
    if by:
        return by
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _time(text: str | None, option: str) -> datetime | None:
    return None if text is None else parse_instant(text, option)


def _told(window: "Window", what: str) -> None:
    typer.echo(f"{window.id}: {what}; customers already told are told on the next `ctmaint send`")


Impacts = Annotated[
    Impact | None,
    typer.Option(
        "--impact",
        help="NO-IMPACT, REDUCED-REDUNDANCY, DEGRADED or OUTAGE; default the policy's.",
    ),
]


@app.command()
def add(
    ctx: typer.Context,
    start: Start,
    products: Annotated[str, typer.Option("--products", help="Product ids, comma-separated.")],
    summary: Annotated[str, typer.Option("--summary", help="One line: what this is.")],
    description: Annotated[str, typer.Option("--description", help="The work to be done.")],
    justification: Annotated[str, typer.Option("--justification", help="Why it is needed.")],
    end: Annotated[str | None, typer.Option("--end", help="ISO 8601 with offset.")] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Instead of --end: 30m, 2h, 1h30m.")
    ] = None,
    impact: Impacts = None,
    urgent: Annotated[
        bool, typer.Option("--urgent", help="Allow work inside the hours to avoid.")
    ] = False,
    by: By = None,
) -> None:
    """Add unscheduled maintenance; prints its id. Customers are told on the next send."""
    from ctmaint import services
    from ctmaint.changes import Add
    from ctmaint.schedule import elapsed_end

    workspace = _workspace(ctx)
    begins = parse_instant(start, "--start")
    if (end is None) == (duration is None):
        raise UsageError("give exactly one of --end and --duration")
    if duration is not None:
        try:
            ends = elapsed_end(begins, parse_duration(duration))
        except ValueError as error:
            raise UsageError(f"--duration: {error}") from None
    else:
        ends = parse_instant(str(end), "--end")
    work = Add(
        start=begins,
        end=ends,
        products=_list(products),
        impact=impact or workspace.policy.unscheduled.impact,
        summary=summary,
        description=description,
        justification=justification,
        urgent=urgent,
    )
    typer.echo(services.add(workspace, work, _by(by)).id)


@app.command()
def edit(
    ctx: typer.Context,
    window_id: WindowId,
    summary: Annotated[str | None, typer.Option("--summary", help="New one-line summary.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="New description of the work.")
    ] = None,
    justification: Annotated[
        str | None, typer.Option("--justification", help="New reason for the work.")
    ] = None,
    products: Annotated[
        str | None, typer.Option("--products", help="New product ids, comma-separated.")
    ] = None,
    impact: Impacts = None,
    by: By = None,
) -> None:
    """Change the details of one window; the next notice carries them."""
    from ctmaint import services

    window = services.edit(
        _workspace(ctx), window_id, _by(by), summary=summary, description=description,
        justification=justification, products=None if products is None else _list(products),
        impact=impact,
    )  # fmt: skip
    given = {"summary": summary, "description": description, "justification": justification,
             "products": products, "impact": impact}  # fmt: skip
    edited = ", ".join(name for name, value in given.items() if value is not None)
    typer.echo(f"{window.id}: edited {edited}; the next notice carries the change")


@app.command()
def cancel(
    ctx: typer.Context,
    window_id: WindowId,
    reason: Annotated[str, typer.Option("--reason", help="Told to customers.")],
    by: By = None,
) -> None:
    """Cancel one window; it stays in the feeds as CANCELLED."""
    from ctmaint import services

    window = services.cancel(_workspace(ctx), window_id, reason, _by(by))
    _told(window, "cancelled")


@app.command()
def reschedule(
    ctx: typer.Context,
    window_id: WindowId,
    start: Start,
    end: Annotated[str | None, typer.Option("--end", help="Default: keep the duration.")] = None,
    by: By = None,
) -> None:
    """Move one window; it keeps its id."""
    from ctmaint import services

    window = services.reschedule(
        _workspace(ctx), window_id, parse_instant(start, "--start"), _time(end, "--end"), _by(by)
    )
    _told(window, f"moved to {window.start.isoformat()} - {window.end.isoformat()}")


@app.command()
def extend(
    ctx: typer.Context,
    window_id: WindowId,
    until: Annotated[str, typer.Option("--until", help="The new end, ISO 8601 with offset.")],
    by: By = None,
) -> None:
    """Lengthen one window, before or while it runs."""
    from ctmaint import services

    window = services.extend(_workspace(ctx), window_id, parse_instant(until, "--until"), _by(by))
    _told(window, f"now ends {window.end.isoformat()}")


@app.command()
def complete(
    ctx: typer.Context,
    window_id: WindowId,
    at: Annotated[str | None, typer.Option("--at", help="When it ended; default now.")] = None,
    by: By = None,
) -> None:
    """End one window early; the completion notice goes out on the next send."""
    from ctmaint import services

    window = services.complete(_workspace(ctx), window_id, _time(at, "--at"), _by(by))
    typer.echo(f"{window.id}: completed at {window.end.isoformat()}")


@app.command("follow-up")
def follow_up(
    ctx: typer.Context,
    window_id: WindowId,
    file: Annotated[Path, typer.Option("--file", help="Markdown notes: what the work added.")],
    by: By = None,
) -> None:
    """After a window, send the note on what it added to those told of it."""
    from ctmaint import services

    try:
        notes = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--file {file} cannot be read as UTF-8 text ({error})") from None
    window = services.follow_up(_workspace(ctx), window_id, notes, _by(by))
    _told(window, "follow-up recorded")


@app.command("migrate-state")
def migrate_state(
    ctx: typer.Context,
    to: Annotated[
        str, typer.Option("--to", help="The PostgreSQL URL to copy the SQLite state into.")
    ],
) -> None:
    """Copy a SQLite state (--state) into an empty PostgreSQL database, to share it."""
    from ctmaint import services

    counts = services.migrate_state(_workspace(ctx), to)
    copied = ", ".join(f"{n} {what}" for what, n in counts.items())
    typer.echo(f"copied {copied}; use --state {services.masked_state(to)} from now on")


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def main() -> None:
    """Console entry point: run the app; turn every error into one line and an exit code.

    Errors a user can fix are :class:`CtmaintError`; a damaged state database or a failing
    disk are reported as such; anything else is a bug, reported in one sentence too, with
    the stack only under --debug (or CTMAINT_DEBUG=1).
    """
    debug = "--debug" in sys.argv[1:] or os.environ.get("CTMAINT_DEBUG") == "1"
    try:
        app()
    except CtmaintError as error:
        flag = OPTIONS.get(error.subject or "")
        _fail(f"{error}" + (f" ({flag})" if flag else ""), error.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted; a `send` that was interrupted resumes safely on the next run", 130)
    except sqlite3.DatabaseError as error:
        if debug:
            raise
        _fail(
            f"the state database cannot be read ({error}); it may be damaged: restore it from "
            "your backup",
            1,
        )
    except OSError as error:
        if debug:
            raise
        where = f"{error.filename}: " if error.filename else ""
        _fail(f"{where}{error.strerror or error}", 1)
    except Exception as error:
        if debug:
            raise
        _fail(
            f"unexpected error ({type(error).__name__}); this is a bug in ctmaint: run the "
            "command again with --debug to see where, and report it",
            1,
        )


def _fail(message: str, code: int) -> NoReturn:
    print(f"ctmaint: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(code)


# What the core calls an input (CtmaintError.subject) -> the option that gives it.
OPTIONS = {
    "reason": "--reason",
    "summary": "--summary",
    "description": "--description",
    "justification": "--justification",
    "products": "--products",
    "product": "--product",
    "start": "--start",
    "end": "--end",
    "until": "--until",
    "at": "--at",
    "urgent": "--urgent",
    "author": "--by",
    "notes": "--file",
    "days": "--days",
    "transport": "--transport",
    "force": "--force",
    "state": "--state",
}
