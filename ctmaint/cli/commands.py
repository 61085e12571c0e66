"""The command line: a thin Typer layer over the use cases (:mod:`ctmaint.usecases`).

This is the single error boundary: a :class:`CtmaintError` becomes one line on stderr and
its exit code; usage errors exit 2. Heavy libraries are imported by the services that
need them, so a cron tick with nothing to do starts fast.
"""

import os
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperCommand

from ctmaint.clock import resolve_now
from ctmaint.errors import CtmaintError, Input, UsageError
from ctmaint.model.text import plural
from ctmaint.model.times import parse_duration, parse_instant
from ctmaint.model.vocabulary import Impact
from ctmaint.usecases.workspace import Workspace

if TYPE_CHECKING:
    from ctmaint.model.windows import Window
    from ctmaint.sending.report import SendReport
    from ctmaint.usecases.send import ProgressStart

# No `from __future__ import annotations` here: Typer reads every command's annotations
# when the app starts, and evaluating them from strings on every run costs a cron tick
# more than the rest of its parsing. Each use case module (and what it imports) is imported
# inside its command, so a command loads only what it uses.

app = typer.Typer(
    help="Publish maintenance windows as calendars and feeds, and tell customers once.",
    epilog="Run `ctmaint COMMAND --help` for a command's options and examples.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)


class _Command(TyperCommand):
    """Usage lines in the usual notation: a required argument is WINDOW_ID, not {WINDOW_ID}."""

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return [piece.strip("{}") for piece in super().collect_usage_pieces(ctx)]


_Function = TypeVar("_Function", bound=Callable[..., Any])


class Format(StrEnum):
    table = "table"
    json = "json"


def _workspace(ctx: typer.Context) -> Workspace:
    """The command's workspace, made on first use from the global options."""
    root = ctx.find_root()
    if not isinstance(root.obj, Workspace):
        root.obj = root.obj()
    workspace = root.obj
    assert isinstance(workspace, Workspace)
    return workspace


def _source(ctx: typer.Context, name: str, option: str) -> str:
    """How a message names where a global value came from: the option, or its variable."""
    source = ctx.get_parameter_source(name)
    if source is not None and source.name == "ENVIRONMENT":
        return f"CTMAINT_{name.upper()}"
    return option


def _version(value: bool) -> None:
    if value:
        from ctmaint import __version__

        typer.echo(f"ctmaint {__version__}")
        raise typer.Exit()


def command(*examples: str, name: str | None = None) -> Callable[[_Function], _Function]:
    """Register a command whose help ends with ``examples``, kept as written (``\b``
    stops the framework from rewrapping them)."""
    epilog = "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in examples)
    return app.command(name, cls=_Command, epilog=epilog)


def _complete_window_ids(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of a window id: the ids of the published span at the real time
    (or --now), from the policy and state the command line names. Never fails: a shell
    completing a word gets nothing rather than an error."""
    root = ctx.find_root().params
    try:
        from ctmaint.usecases import reports

        now = resolve_now(root.get("now"), "--now")
        workspace = Workspace.locate(root.get("config"), root.get("state"), now, Path.cwd())
        try:
            ids = reports.window_ids(workspace)
        finally:
            workspace.close()
    except Exception:
        return []
    return [window_id for window_id in ids if window_id.startswith(incomplete)]


@app.callback()
def global_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="CTMAINT_CONFIG",
            metavar="FILE",
            help="Policy file; default ./ctmaint.toml if present, else the embedded policy.",
        ),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            envvar="CTMAINT_STATE",
            metavar="PATH|URL",
            help="State database: a SQLite file (default .ctmaint/state.db in the current "
            "folder), or a postgresql://user@host:port/db URL that several hosts share.",
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            envvar="CTMAINT_NOW",
            metavar="TIME",
            help="The clock, ISO 8601 with an offset (2026-12-18T22:00-07:00 or "
            "2026-12-19T05:00Z); default the real time.",
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
    # Made when a command first asks (see _workspace): `COMMAND --help` and `init` work
    # whatever the clock or state given, and a bad one is named where it came from.
    given = {name: _source(ctx, name, option) for name, option in
             (("now", "--now"), ("state", "--state"), ("config", "--config"))}  # fmt: skip

    def make() -> Workspace:
        clock = resolve_now(now, given["now"])
        workspace = Workspace.locate(config, state, clock, Path.cwd())
        ctx.call_on_close(workspace.close)
        return workspace

    ctx.obj = make


# Options several commands share.
Days = Annotated[int, typer.Option("--days", metavar="N", help="How many days ahead (1-3660).")]
Output = Annotated[
    Format, typer.Option("--format", help="table (for people) or json (everything, for scripts).")
]
ProductList = Annotated[
    list[str] | None,
    typer.Option(
        "--product",
        "--products",
        metavar="PRODUCT",
        help="A product id; repeat it, or give several with commas (teams,sip).",
    ),
]
By = Annotated[
    str | None,
    typer.Option("--by", metavar="NAME", help="Who makes the change; default the OS user."),
]
Start = Annotated[
    str, typer.Option("--start", metavar="TIME", help="The start, ISO 8601 with an offset.")
]
WindowId = Annotated[
    str,
    typer.Argument(
        metavar="WINDOW_ID",
        help="The window's id, as `ctmaint upcoming` lists it: monthly-2026-12-18.",
        autocompletion=_complete_window_ids,
        show_default=False,
    ),
]
Impacts = Annotated[
    Impact | None,
    typer.Option("--impact", help="How customers are affected; default the policy's."),
]
Summary = Annotated[str, typer.Option("--summary", metavar="TEXT", help="One line: what it is.")]
Description = Annotated[
    str, typer.Option("--description", metavar="TEXT", help="The work to be done.")
]
Justification = Annotated[
    str, typer.Option("--justification", metavar="TEXT", help="Why it is needed.")
]


@command("ctmaint init", "ctmaint init /srv/ctmaint --force   # overwrite both files")
def init(
    directory: Annotated[
        Path, typer.Argument(metavar="FOLDER", help="Folder to write into.")
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write ctmaint.toml and an example contacts.csv.

    ctmaint.toml is the shipped policy, with comments: edit it, then run `ctmaint check`.
    """
    from ctmaint.usecases import check as checking

    for path in checking.init(directory, force):
        typer.echo(f"wrote {path}")


@command("ctmaint check", "ctmaint --config /etc/ctmaint/ctmaint.toml check")
def check(ctx: typer.Context) -> None:
    """Validate the policy and contacts.csv.

    Every problem is listed with its file, key or line and its fix; exit 1 if any.
    """
    from ctmaint.usecases import check as checking

    report = checking.check(_workspace(ctx))
    for note in report.notes:
        typer.echo(note)
    for problem in report.problems:
        typer.echo(f"ctmaint: {problem}", err=True)
    if not report.ok:
        found = plural(len(report.problems), "problem")
        typer.echo(f"ctmaint: {found} found; nothing was changed", err=True)
        raise typer.Exit(1)
    typer.echo("ok")


@command(
    "ctmaint upcoming --days 30",
    "ctmaint upcoming --product connect --product teams --format json",
)
def upcoming(
    ctx: typer.Context,
    days: Days = 90,
    products: ProductList = None,
    output: Output = Format.table,
) -> None:
    """The windows from now on, those running now included."""
    from ctmaint.cli.listing import window_record, window_table
    from ctmaint.usecases import reports

    workspace = _workspace(ctx)
    chosen = _products(products)
    windows = reports.upcoming(workspace, days, chosen)
    policy = workspace.policy
    if output is Format.json:
        records = [window_record(w, policy.zone, workspace.now) for w in windows]
        typer.echo(_json(records, ensure_ascii=False))
    elif windows:
        label = policy.provider.zone_label
        typer.echo(window_table(windows, policy.zone, label, workspace.now, _width()))
    else:
        typer.echo(f"no windows in the next {plural(days, 'day')}")


@command(
    "ctmaint build",
    "ctmaint build --calendars /var/www/calendars --notices /var/www/notices",
)
def build(
    ctx: typer.Context,
    calendars: Annotated[
        Path,
        typer.Option("--calendars", metavar="FOLDER", help="Folder for the feeds."),
    ] = Path("calendars"),
    notices: Annotated[
        Path,
        typer.Option(
            "--notices", metavar="FOLDER", help="Folder for the status JSON and status page."
        ),
    ] = Path("notices"),
) -> None:
    """Write the feeds (iCalendar, RSS, Atom) and the status page."""
    from ctmaint.usecases import build as building

    result = building.build(_workspace(ctx), calendars, notices)
    for note in result.notes:
        typer.echo(f"ctmaint: {note}", err=True)
    removed = f", {len(result.removed)} removed" if result.removed else ""
    typer.echo(
        f"built {plural(result.windows, 'window')}: {plural(len(result.written), 'file')} "
        f"written, {result.unchanged} unchanged{removed}"
    )


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
    workspace = _workspace(ctx)
    from ctmaint.usecases import send as sending

    if dry_run and output is Format.json:
        from ctmaint.cli.listing import plan_record

        plan = sending.plan(workspace)
        typer.echo(_json(plan_record(plan)))
        if plan.nobody or workspace.contact_problems:  # as the run and the text dry run
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

    workspace = _workspace(ctx)
    planned = reports.planned_notices(workspace, days)
    zone = workspace.policy.zone
    if output is Format.json:
        typer.echo(_json([notice_record(p, zone) for p in planned]))
    elif planned:
        label = workspace.policy.provider.zone_label
        typer.echo(notice_table(planned, zone, label, _width()))
    else:
        typer.echo(f"no notices due in the next {plural(days, 'day')}")


@command("ctmaint history", "ctmaint history --format json")
def history(ctx: typer.Context, output: Output = Format.table) -> None:
    """What was sent, to how many, when, and what failed."""
    from ctmaint.cli.listing import change_record, change_table, history_record, history_table
    from ctmaint.usecases import reports

    workspace = _workspace(ctx)
    found = reports.history(workspace)
    zone = workspace.policy.zone
    if output is Format.json:
        document = {
            "notices": [history_record(e) for e in found.notices],
            "changes": [change_record(c, zone) for c in found.changes],
        }
        typer.echo(_json(document, ensure_ascii=False))
        return
    width = _width()
    typer.echo(
        history_table(found.notices, width) if found.notices else "nothing has been sent yet"
    )
    if found.changes:
        changes = change_table(found.changes, zone, width)
        typer.echo("\nchanges:\n" + changes)
        if "…" in changes:
            typer.echo("(a value cut with … is whole in `ctmaint history --format json`)")


def _end_of(begins: datetime, end: str | None, duration: str | None) -> datetime | timedelta:
    """The end `add` was given: --end, or the length --duration gives (exactly one)."""
    if (end is None) == (duration is None):
        raise UsageError("give exactly one of --end and --duration")
    if end is not None:
        return parse_instant(end, "--end")
    try:
        return parse_duration(str(duration))
    except ValueError as error:
        raise UsageError(f"--duration: {error}") from None


def _by(by: str | None) -> str:
    if by is not None:  # an empty one is refused with the other checks of the change
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


@command(
    "ctmaint add --start 2026-12-02T23:30-07:00 --duration 2h \\",
    '    --product teams,sip --impact DEGRADED --summary "Emergency SBC patch" \\',
    '    --description "Patch the SBCs." --justification "Fixes a security bug."',
)
def add(
    ctx: typer.Context,
    start: Start,
    products: ProductList,
    summary: Summary,
    description: Description,
    justification: Justification,
    end: Annotated[
        str | None,
        typer.Option("--end", metavar="TIME", help="The end, ISO 8601 with an offset."),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option("--duration", metavar="LENGTH", help="Instead of --end: 30m, 2h, 1h30m."),
    ] = None,
    impact: Impacts = None,
    urgent: Annotated[
        bool, typer.Option("--urgent", help="Allow work inside the hours to avoid.")
    ] = False,
    ended: Annotated[
        bool,
        typer.Option("--ended", help="Record work that has already ended (its end is past)."),
    ] = False,
    by: By = None,
) -> None:
    """Add unscheduled maintenance; prints its id.

    Customers using the products are told on the next `ctmaint send`: of work to come, then
    when it starts and completes; of work already under way, once, that it is in progress;
    of work already over (--ended), once, that it was performed.
    """
    from ctmaint.usecases import operate

    begins = parse_instant(start, "--start")
    work = operate.NewWork(
        start=begins,
        end=_end_of(begins, end, duration),
        products=_products(products),
        summary=summary,
        description=description,
        justification=justification,
        impact=impact,
        urgent=urgent,
        ended=ended,
    )
    window = operate.add(_workspace(ctx), work, _by(by))
    typer.echo(window.id)


@command(
    'ctmaint edit monthly-2026-12-18 --description "Core switch upgrade."',
    "ctmaint edit unscheduled-2026-12-02-1 --impact OUTAGE --product teams",
)
def edit(
    ctx: typer.Context,
    window_id: WindowId,
    summary: Annotated[
        str | None, typer.Option("--summary", metavar="TEXT", help="New one-line summary.")
    ] = None,
    description: Annotated[
        str | None,
        typer.Option("--description", metavar="TEXT", help="New description of the work."),
    ] = None,
    justification: Annotated[
        str | None,
        typer.Option("--justification", metavar="TEXT", help="New reason for the work."),
    ] = None,
    products: ProductList = None,
    impact: Annotated[
        Impact | None, typer.Option("--impact", help="New impact; default: keep it.")
    ] = None,
    by: By = None,
) -> None:
    """Change the details of one window.

    Nothing is sent at once: the next notice carries the new details and says what changed.
    """
    from ctmaint.usecases import operate

    chosen = None if products is None else _products(products)
    details = operate.NewDetails(summary, description, justification, chosen, impact)
    window = operate.edit(_workspace(ctx), window_id, details, _by(by))
    edited = ", ".join(details.given())
    typer.echo(f"{window.id}: edited {edited}; the next notice carries the change")


@command('ctmaint cancel connect-2026-12-08 --reason "Release postponed a sprint."')
def cancel(
    ctx: typer.Context,
    window_id: WindowId,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why; told to customers.")
    ],
    by: By = None,
) -> None:
    """Cancel one window; it stays in the feeds as CANCELLED."""
    from ctmaint.usecases import operate

    window = operate.cancel(_workspace(ctx), window_id, reason, _by(by))
    _told(window, "cancelled")


@command(
    "ctmaint reschedule monthly-2026-12-18 --start 2026-12-19T22:00-07:00",
    "ctmaint reschedule connect-2026-12-08 --start 2026-12-09T21:00-07:00 \\",
    "    --end 2026-12-09T22:30-07:00",
)
def reschedule(
    ctx: typer.Context,
    window_id: WindowId,
    start: Start,
    end: Annotated[
        str | None,
        typer.Option("--end", metavar="TIME", help="The new end; default: keep the length."),
    ] = None,
    by: By = None,
) -> None:
    """Move one window; it keeps its id."""
    from ctmaint.usecases import operate

    window = operate.reschedule(
        _workspace(ctx), window_id, parse_instant(start, "--start"), _time(end, "--end"), _by(by)
    )
    _told(window, f"moved to {window.start.isoformat()} - {window.end.isoformat()}")


@command("ctmaint extend unscheduled-2026-12-02-1 --until 2026-12-03T02:30-07:00")
def extend(
    ctx: typer.Context,
    window_id: WindowId,
    until: Annotated[
        str,
        typer.Option("--until", metavar="TIME", help="The new end, ISO 8601 with an offset."),
    ],
    by: By = None,
) -> None:
    """Lengthen one window, before or while it runs."""
    from ctmaint.usecases import operate

    window = operate.extend(_workspace(ctx), window_id, parse_instant(until, "--until"), _by(by))
    _told(window, f"now ends {window.end.isoformat()}")


@command(
    "ctmaint complete unscheduled-2026-12-02-1",
    "ctmaint complete unscheduled-2026-12-02-1 --at 2026-12-03T01:10-07:00",
)
def complete(
    ctx: typer.Context,
    window_id: WindowId,
    at: Annotated[
        str | None,
        typer.Option("--at", metavar="TIME", help="When it ended; default now."),
    ] = None,
    by: By = None,
) -> None:
    """End one window early.

    The completion notice goes out on the next `ctmaint send`.
    """
    from ctmaint.usecases import operate

    window = operate.complete(_workspace(ctx), window_id, _time(at, "--at"), _by(by))
    typer.echo(f"{window.id}: completed at {window.end.isoformat()}")


@command("ctmaint follow-up monthly-2026-12-18 --file release-notes.md", name="follow-up")
def follow_up(
    ctx: typer.Context,
    window_id: WindowId,
    file: Annotated[
        Path,
        typer.Option("--file", metavar="FILE", help="Markdown notes: what the work added."),
    ],
    by: By = None,
) -> None:
    """Send notes on what a window added to those told of it."""
    from ctmaint.usecases import operate

    notes = _read_notes(file)
    window = operate.follow_up(_workspace(ctx), window_id, notes, _by(by))
    _told(window, "follow-up recorded")


@command(
    "ctmaint --state .ctmaint/state.db migrate-state \\",
    "    --to postgresql://ctmaint@db.internal/ctmaint",
    name="migrate-state",
)
def migrate_state(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to", metavar="URL", help="The PostgreSQL URL to copy the SQLite state into."
        ),
    ],
) -> None:
    """Copy a SQLite state into an empty PostgreSQL database.

    Hosts that share that database then send each notice once between them.
    """
    from ctmaint.usecases import services

    counts = services.migrate_state(_workspace(ctx), to)
    nouns = {"changes": ("change", "changes"), "deliveries": ("delivery", "deliveries"),
             "posts": ("post", "posts"), "settings": ("setting", "settings")}  # fmt: skip
    copied = ", ".join(plural(n, *nouns[what]) for what, n in counts.items())
    typer.echo(f"copied {copied}; use --state {services.masked_state(to)} from now on")


def _read_notes(file: Path) -> str:
    """The notes file's text (a UTF-8 byte-order mark dropped), or one sentence on why not."""
    from ctmaint.errors import os_reason

    if not str(file).strip():
        raise UsageError("--file is empty; give the notes file")
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"--file {file} is not UTF-8 text (byte {error.start}); save it as UTF-8"
        ) from None
    except OSError as error:
        raise UsageError(f"--file {file} cannot be read ({os_reason(error)})") from None


def _json(data: object, ensure_ascii: bool = True) -> str:
    import json  # not on the path of a cron tick

    return json.dumps(data, indent=2, ensure_ascii=ensure_ascii)


def _products(given: list[str] | None) -> tuple[str, ...]:
    """Product ids from repeated options and comma lists alike, in order, once each."""
    found = (part.strip() for text in given or () for part in text.split(","))
    return tuple(dict.fromkeys(part for part in found if part))


def _width() -> int:
    """Columns for a table: the terminal's (or $COLUMNS), else 100 (a file, a pipe, cron)."""
    return max(40, shutil.get_terminal_size((100, 24)).columns)


def main() -> None:
    """Console entry point: run the app; turn every error into one line and an exit code.

    Errors a user can fix are :class:`CtmaintError`; a damaged state database or a failing
    disk are reported as such; anything else is a bug, reported in one sentence too, with
    the stack only under --debug (or CTMAINT_DEBUG=1).
    """
    from_env = os.environ.get("CTMAINT_DEBUG", "").strip().lower()
    debug = "--debug" in sys.argv[1:] or from_env in ("1", "true", "t", "yes", "y", "on")
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as error:
        if getattr(error, "exit_code", 1) != 2:  # the framework's own, not a usage error
            _fail(error.message, 1)
        if not sys.argv[1:]:  # no arguments at all: the help, as no_args_is_help asks
            typer.echo(error.message)
            sys.exit(2)
        from ctmaint.cli.usage import usage_sentence

        named = _command_name(sys.argv[1:])
        known = named in {_name_of(c) for c in app.registered_commands}
        _fail(usage_sentence(error, sys.argv[1:], named if known else None), 2)
    except (KeyboardInterrupt, typer.Abort):
        _fail(_interrupted(), 130)
    except CtmaintError as error:
        flag = OPTIONS[error.about] if error.about else None
        _fail(f"{error}" + (f" ({flag})" if flag else ""), error.exit_code)
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
    if code == 130:  # the framework turns Ctrl-C into this exit code
        _fail(_interrupted(), 130)
    sys.exit(code if isinstance(code, int) else 0)


def _command_name(args: list[str]) -> str | None:
    """The first word of ``args`` that is not a global option or its value."""
    valued = {"--config", "--state", "--now"}
    words = iter(args)
    for word in words:
        if word in valued:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _name_of(command: Any) -> str:
    callback = command.callback
    return str(command.name or (callback.__name__.replace("_", "-") if callback else ""))


def _interrupted() -> str:
    if _command_name(sys.argv[1:]) == "send":
        return "interrupted; a `send` that was interrupted resumes safely on the next run"
    return "interrupted; nothing was changed unless the command had finished its change"


def _fail(message: str, code: int) -> NoReturn:
    print(f"ctmaint: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(code)


# The option that gives each input a use case is given (CtmaintError.about).
OPTIONS: dict[Input, str] = {
    Input.AT: "--at",
    Input.AUTHOR: "--by",
    Input.CALENDARS: "--calendars",
    Input.DAYS: "--days",
    Input.DESCRIPTION: "--description",
    Input.DURATION: "--duration",
    Input.END: "--end",
    Input.ENDED: "--ended",
    Input.FORCE: "--force",
    Input.JUSTIFICATION: "--justification",
    Input.NOTES: "--file",
    Input.PRODUCTS: "--product",
    Input.REASON: "--reason",
    Input.START: "--start",
    Input.STATE: "--state",
    Input.SUMMARY: "--summary",
    Input.TO: "--to",
    Input.TRANSPORT: "--transport",
    Input.UNTIL: "--until",
    Input.URGENT: "--urgent",
}
