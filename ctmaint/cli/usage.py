"""Usage errors (a mistyped option, a missing one, a value of the wrong kind) in ctmaint's
own words: one sentence that names the option, says what it takes, and points to the
command's help. The CLI framework's own phrasing never reaches the user.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from typing import Any

import typer

_QUOTED = re.compile(r"'([^']*)' is not one of")
_DESCRIBED: dict[object, str] = {int: "a whole number", float: "a number"}


# The global options (given before the command), each with whether it takes a value; the
# app's callback declares the same (tests/cli/test_cli.py holds the two equal).
GLOBAL_OPTIONS = {
    "--config": True,
    "--state": True,
    "--now": True,
    "--debug": False,
    "--version": False,
}


def usage_sentence(error: typer.TyperException, argv: Sequence[str], named: str | None) -> str:
    """The sentence for the usage ``error`` (exit code 2), raised while parsing ``argv`` for
    the command ``named`` (if known); whatever the user typed is shown with control
    characters escaped. The kinds of usage error are told apart by what they carry, as
    Typer exports only their base classes."""
    ctx: Any = getattr(error, "ctx", None)
    command = ctx.command_path if ctx is not None else "ctmaint"
    if command == "ctmaint" and named:
        command = f"ctmaint {named}"
    help_hint = f"see `{command} --help`"
    option_name: str | None = getattr(error, "option_name", None)
    if option_name is not None and hasattr(error, "possibilities"):  # no such option
        option = _safe(option_name)
        if option.split("=")[0] in GLOBAL_OPTIONS:
            return (
                f"{option} is a global option: give it before the command "
                f"(ctmaint {option.split('=')[0]} ... {command.split()[-1]})"
            )
        near = _near(option_name, getattr(error, "possibilities", None) or ())
        return f"`{command}` has no option {option}{near}; {help_hint}"
    param: Any = getattr(error, "param", None)
    if isinstance(error, typer.BadParameter) and hasattr(error, "param_type"):  # missing
        what = _name(param) if param is not None else "an argument"
        about = getattr(param, "help", None) or ""
        about = f" ({about[:1].lower()}{about[1:].rstrip('.')})" if about else ""
        return f"`{command}` needs {what}{about}; {help_hint}"
    if isinstance(error, typer.BadParameter) and param is not None:
        return f"{_name(param)}: {_expected(error, argv)}; {help_hint}"
    if option_name is not None:  # an option used without its value
        return f"{_safe(option_name)} needs a value; {help_hint}"
    return _general(error.message, command, ctx, help_hint)


def _safe(text: str) -> str:
    """``text`` with control characters escaped, as it may be shown on a terminal."""
    if text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


def _name(param: Any) -> str:
    """An option by its long name, an argument by its metavar."""
    options = [o for o in getattr(param, "opts", ()) if o.startswith("--")]
    if getattr(param, "param_type_name", "") == "argument" or not options:
        return str(param.make_metavar(None) if param.metavar is None else param.metavar)
    return str(options[0])


def _expected(error: typer.BadParameter, argv: Sequence[str]) -> str:
    """What the option takes, and what was given when it can be told."""
    param = error.param
    given = _given(param, argv)
    envvar = getattr(param, "envvar", None)
    shown = f"'{_safe(given)}'" if given is not None else "the value given"
    if given is None and isinstance(envvar, str) and envvar in os.environ:
        shown = f"{envvar}='{_safe(os.environ[envvar])}'"
    descriptor = getattr(param, "type_descriptor", None)
    choices = getattr(descriptor, "choices", None)
    if choices:
        if given is None and (quoted := _QUOTED.search(error.message)):
            shown = f"'{quoted.group(1)}'"
        values = ", ".join(str(getattr(c, "value", c)) for c in choices)
        return f"{shown} is not one of {values}"
    kind = _DESCRIBED.get(getattr(descriptor, "annotation", str), "")
    if getattr(descriptor, "annotation", None) is bool:
        return f"{shown} is not true or false (1 or 0, yes or no)"
    if kind:
        return f"{shown} is not {kind}"
    return f"{shown} is not accepted here"


def _given(param: Any, argv: Sequence[str]) -> str | None:
    """The last value ``argv`` gives the option ``param``, if it can be found."""
    names = tuple(getattr(param, "opts", ()))
    found = None
    for index, token in enumerate(argv):
        if token in names and index + 1 < len(argv):
            found = argv[index + 1]
        elif token.startswith(tuple(f"{name}=" for name in names if name.startswith("--"))):
            found = token.split("=", 1)[1]
    return found


def _near(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def _general(message: str, command: str, ctx: Any, help_hint: str) -> str:
    """Errors the framework raises as plain usage errors: an unknown command, an argument
    too many."""
    if found := re.match(r"No such command '([^']*)'", message):
        name = found.group(1)
        commands = ctx.command.list_commands(ctx) if ctx is not None else []
        return f"'{_safe(name)}' is not a command{_near(name, commands)}; {help_hint}"
    if found := re.match(r"Got unexpected extra argument\S* \((.*)\)", message):
        extra = found.group(1)
        return f"`{command}` takes no argument '{_safe(extra)}' here; {help_hint}"
    if message.startswith("Missing command"):
        return f"give a command after the global options; {help_hint}"
    return f"{message.rstrip('.')}; {help_hint}"
