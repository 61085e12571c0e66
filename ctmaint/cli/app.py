"""The command line: a thin Typer layer over the use cases (:mod:`ctmaint.usecases`).

This is the single error boundary: a :class:`CtmaintError` becomes one line on stderr and
its exit code; usage errors exit 2. Heavy libraries are imported by the use cases that
need them, so a cron tick with nothing to do starts fast.
"""

import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from typer.core import TyperCommand

from ctmaint.cli.usage import GLOBAL_OPTIONS
from ctmaint.clock import resolve_now
from ctmaint.errors import CtmaintError, Input
from ctmaint.model.vocabulary import Impact
from ctmaint.usecases.workspace import Workspace

if TYPE_CHECKING:
    pass

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


def workspace_of(ctx: typer.Context) -> Workspace:
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
    # Made when a command first asks (see workspace_of): `COMMAND --help` and `init` work
    # whatever the clock or state given, and a bad one is named where it came from.
    when = _source(ctx, "now", "--now")

    def make() -> Workspace:
        workspace = Workspace.locate(config, state, resolve_now(now, when), Path.cwd())
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


def as_json(data: object, ensure_ascii: bool = True) -> str:
    import json  # not on the path of a cron tick

    return json.dumps(data, indent=2, ensure_ascii=ensure_ascii)


def product_ids(given: list[str] | None) -> tuple[str, ...]:
    """Product ids from repeated options and comma lists alike, in order, once each."""
    found = (part.strip() for text in given or () for part in text.split(","))
    return tuple(dict.fromkeys(part for part in found if part))


def table_width() -> int:
    """Columns for a table: the terminal's (or $COLUMNS), else 100 (a file, a pipe, cron)."""
    return max(40, shutil.get_terminal_size((100, 24)).columns)


def run() -> None:
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
    valued = {option for option, takes_value in GLOBAL_OPTIONS.items() if takes_value}
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
