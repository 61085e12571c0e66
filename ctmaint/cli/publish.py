"""Commands that set up, check and publish: init, check, upcoming, build."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ctmaint.model.text import plural

if TYPE_CHECKING:
    pass

# No `from __future__ import annotations` here: Typer reads every command's annotations
# when the app starts, and evaluating them from strings on every run costs a cron tick
# more than the rest of its parsing. Each use case module (and what it imports) is imported
# inside its command, so a command loads only what it uses.

from ctmaint.cli.app import (
    Days,
    Format,
    Output,
    ProductList,
    as_json,
    command,
    product_ids,
    table_width,
    workspace_of,
)


@command("ctmaint init", "ctmaint init /srv/ctmaint --force   # overwrite both files")
def init(
    directory: Annotated[
        Path, typer.Argument(metavar="FOLDER", help="Folder to write into.")
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write ctmaint.toml, contacts.csv and subscriptions.csv.

    ctmaint.toml is the shipped policy, with comments: edit it, then run `ctmaint check`.
    subscriptions.csv (owner-only) has its example rows commented out.
    """
    from ctmaint.usecases import check as checking

    for path in checking.init(directory, force):
        typer.echo(f"wrote {path}")


@command("ctmaint check", "ctmaint --config /etc/ctmaint/ctmaint.toml check")
def check(ctx: typer.Context) -> None:
    """Validate the policy, contacts.csv and subscriptions.csv.

    Every problem is listed with its file, key or line and its fix; exit 1 if any.
    """
    from ctmaint.usecases import check as checking

    report = checking.check(workspace_of(ctx))
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

    workspace = workspace_of(ctx)
    chosen = product_ids(products)
    windows = reports.upcoming(workspace, days, chosen)
    policy = workspace.policy
    if output is Format.json:
        records = [window_record(w, policy.zone, workspace.now) for w in windows]
        typer.echo(as_json(records, ensure_ascii=False))
    elif windows:
        label = policy.provider.zone_label
        typer.echo(window_table(windows, policy.zone, label, workspace.now, table_width()))
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

    result = building.build(workspace_of(ctx), calendars, notices)
    for note in result.notes:
        typer.echo(f"ctmaint: {note}", err=True)
    removed = f", {len(result.removed)} removed" if result.removed else ""
    typer.echo(
        f"built {plural(result.windows, 'window')}: {plural(len(result.written), 'file')} "
        f"written, {result.unchanged} unchanged{removed}"
    )
