"""The operator's commands: add, edit, cancel, reschedule, extend, complete, follow-up,
and migrate-state."""

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ctmaint.errors import UsageError
from ctmaint.model.text import plural
from ctmaint.model.times import parse_duration, parse_instant
from ctmaint.model.vocabulary import Impact

if TYPE_CHECKING:
    from ctmaint.model.windows import Window

# No `from __future__ import annotations` here: Typer reads every command's annotations
# when the app starts, and evaluating them from strings on every run costs a cron tick
# more than the rest of its parsing. Each use case module (and what it imports) is imported
# inside its command, so a command loads only what it uses.

from ctmaint.cli.app import (
    By,
    Description,
    Impacts,
    Justification,
    ProductList,
    Start,
    Summary,
    WindowId,
    command,
    product_ids,
    workspace_of,
)


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
        products=product_ids(products),
        summary=summary,
        description=description,
        justification=justification,
        impact=impact,
        urgent=urgent,
        ended=ended,
    )
    window = operate.add(workspace_of(ctx), work, _by(by))
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

    chosen = None if products is None else product_ids(products)
    details = operate.NewDetails(summary, description, justification, chosen, impact)
    window = operate.edit(workspace_of(ctx), window_id, details, _by(by))
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

    window = operate.cancel(workspace_of(ctx), window_id, reason, _by(by))
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
        workspace_of(ctx), window_id, parse_instant(start, "--start"), _time(end, "--end"), _by(by)
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

    window = operate.extend(workspace_of(ctx), window_id, parse_instant(until, "--until"), _by(by))
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

    window = operate.complete(workspace_of(ctx), window_id, _time(at, "--at"), _by(by))
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
    window = operate.follow_up(workspace_of(ctx), window_id, notes, _by(by))
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
    from ctmaint.usecases import migrate_state as moving

    counts = moving.migrate_state(workspace_of(ctx), to)
    nouns = {
        "changes": ("change", "changes"),
        "deliveries": ("delivery", "deliveries"),
        "posts": ("post", "posts"),
        "settings": ("setting", "settings"),
    }
    copied = ", ".join(plural(n, *nouns[what]) for what, n in counts.items())
    typer.echo(f"copied {copied}; use --state {moving.masked_state(to)} from now on")


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
