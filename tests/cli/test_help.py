"""The command line as a new operator meets it: help for everything, with examples that
parse, nothing cut at 80 columns, errors in ctmaint's own words, tables that fit."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from ctmaint.cli.main import app
from tests.conftest import CliRunner

CTMAINT = Path(sys.executable).parent / "ctmaint"
COMMAND = typer.main.get_command(app)
NAMES = sorted(COMMAND.commands)  # type: ignore[attr-defined]
FRAMEWORK_PHRASES = (
    "Invalid value", "Input should be", "Value error", "Missing option", "Missing argument",
    "No such option", "No such command", "Got unexpected", "requires an argument", "Error:",
    "Usage:", "Try '", "(s)",
)  # fmt: skip


def subcommand(name: str) -> Any:
    return COMMAND.commands[name]  # type: ignore[attr-defined]


def examples(help_text: str) -> list[list[str]]:
    """The example command lines at the end of a help text, continuation lines joined and
    comments dropped, split as a shell would."""
    block = help_text.split("Examples:", 1)[1]
    joined = re.sub(r"\\\n\s*", " ", block)
    lines = [line.split("  #")[0].strip() for line in joined.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("ctmaint")]


@pytest.mark.parametrize("name", NAMES)
def test_every_command_and_option_has_help_and_examples(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    command = subcommand(name)
    assert command.help, name
    for param in command.params:
        if param.name == "help" or param.hidden:
            continue
        assert getattr(param, "help", None), f"{name} {param.name} has no help"
    result = run_cli(name, "--help")
    assert result.code == 0, result.err
    lines = result.out.rstrip().splitlines()
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    assert "Examples:" in result.out
    tail = result.out.rsplit("Examples:", 1)[1]
    assert "--" not in tail.split("ctmaint", 1)[0], "the examples end the help"
    found = examples(result.out)
    assert 1 <= len(found) <= 2, found
    for args in found:  # each example parses: its options exist and its values are accepted
        assert_parses(args)


GLOBAL_VALUES = {"--config", "--state", "--now"}


def assert_parses(args: list[str]) -> None:
    """``args`` (after ``ctmaint``) name real global options, a real command, and options
    and values that command accepts; nothing is run."""
    index = 0
    while args[index].startswith("--"):
        assert args[index] in GLOBAL_VALUES, args[index]
        index += 2
    name, rest = args[index], args[index + 1 :]
    subcommand(name).make_context(name, rest)


def test_the_command_list_is_not_cut_at_80_columns(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = run_cli("--help").out
    assert "..." not in out.split("Commands:", 1)[1]
    assert all(len(line) <= 80 for line in out.splitlines())
    for name in NAMES:
        assert re.search(rf"^  {re.escape(name)}\s+\S", out, re.M), name


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("init",)])
def test_window_ids_show_as_window_id_and_choices_are_listed(run_cli: CliRunner, name: str) -> None:
    out = run_cli(name, "--help").out
    command = subcommand(name)
    for param in command.params:
        if param.name == "window_id":
            assert f"Usage: ctmaint {name} [OPTIONS] WINDOW_ID" in out
        choices = getattr(getattr(param, "type_descriptor", None), "choices", None)
        for choice in choices or ():
            assert str(getattr(choice, "value", choice)) in out, (name, param.name)


def test_products_are_spelled_one_way_everywhere(run_cli: CliRunner) -> None:
    for name in ("upcoming", "add", "edit"):
        params = [p for p in subcommand(name).params if p.name == "products"]
        assert len(params) == 1, name
        assert set(params[0].opts) == {"--product", "--products"}, name
        assert params[0].multiple, name


def test_products_are_accepted_repeated_and_as_comma_lists(run_cli: CliRunner) -> None:
    now = ("--now", "2030-06-01T12:00:00-06:00")
    repeated = run_cli(*now, "upcoming", "--product", "connect", "--product", "teams")
    listed = run_cli(*now, "upcoming", "--products", "connect,teams")
    assert repeated.code == listed.code == 0
    assert repeated.out == listed.out
    assert "connect-2030-06-11" in repeated.out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["upcoming", "--days", "x"],
         "--days: 'x' is not a whole number; see `ctmaint upcoming --help`"),
        (["upcoming", "--days=soon"], "--days: 'soon' is not a whole number"),
        (["upcoming", "--format", "xml"], "--format: 'xml' is not one of table, json"),
        (["add", "--impact", "BAD"],
         "--impact: 'BAD' is not one of NO-IMPACT, REDUCED-REDUNDANCY, DEGRADED, OUTAGE"),
        (["send", "--transport", "smtp"], "--transport: 'smtp' is not one of outbox, sendgrid"),
        (["add"], "`ctmaint add` needs --start (the start, ISO 8601 with an offset)"),
        (["edit"], "`ctmaint edit` needs WINDOW_ID (the window's id"),
        (["upcoming", "--day", "3"],
         "`ctmaint upcoming` has no option --day (did you mean --days?)"),
        (["upcoming", "--bogus"], "`ctmaint upcoming` has no option --bogus; see"),
        (["upcomin"], "'upcomin' is not a command (did you mean upcoming?); see `ctmaint --help`"),
        (["upcoming", "extra"], "`ctmaint upcoming` takes no argument 'extra' here"),
        (["upcoming", "--days"], "--days needs a value"),
        (["upcoming", "--days", "0"], "the number of days must be 1 to 3660, not 0 (--days)"),
        (["upcoming", "--now", "2030-06-01T00:00Z"],
         "--now is a global option: give it before the command (ctmaint --now ... upcoming)"),
        (["--now", "2030-06-01T00:00Z"], "give a command after the global options"),
        (["upcoming", "--format"], "--format needs a value; see `ctmaint upcoming --help`"),
        (["send", "--format", "json"], "--format json describes a dry run: give it with --dry-run"),
        (["send", "--verbose"], "--verbose describes a dry run"),
        (["--state", "mysql://u:secret@db/x", "history"],
         "'mysql://...' is not a state ctmaint can use"),
        (["upcoming", "--days", "\x1b[31m"], "--days: '\\x1b[31m' is not a whole number"),
        (["follow-up", "monthly-2030-06-21", "--file", "missing.md"],
         "--file missing.md cannot be read (No such file or directory)"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_sentence_in_ctmaints_words(
    run_cli: CliRunner, args: list[str], expected: str
) -> None:
    result = run_cli(*args)
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith("ctmaint: ")
    assert expected in result.err
    assert "secret" not in result.err
    assert "\x1b" not in result.err  # what was typed is shown escaped
    for phrase in FRAMEWORK_PHRASES:
        assert phrase not in result.err, phrase


def test_every_hint_in_an_error_is_itself_accepted(run_cli: CliRunner) -> None:
    """A message that shows how to write a value shows one that works."""
    for given in ("2026-12-18", "2026-12-18T22:00", "yesterday"):
        err = run_cli("--now", given, "upcoming").err
        hints = re.findall(r"\d{4}-\d\d-\d\dT[\d:]+(?:Z|[+-]\d\d:\d\d)", err)
        assert hints, err
        for hint in hints:
            assert run_cli("--now", hint, "upcoming", "--days", "1").code == 0, hint
    err = run_cli("upcoming", "--day", "3").err
    suggested = re.search(r"did you mean (--\w+)", err)
    assert suggested
    assert run_cli("upcoming", suggested.group(1), "3").code == 0


def test_counts_are_singular_or_plural(run_cli: CliRunner) -> None:
    one = run_cli("--now", "2030-06-01T12:00:00-06:00", "upcoming", "--days", "1")
    assert one.out.strip() == "no windows in the next 1 day"
    many = run_cli("--now", "2030-06-01T12:00:00-06:00", "notices", "--days", "2")
    assert many.out.strip() == "no notices due in the next 2 days"


def test_completion_can_be_installed_for_each_shell(run_cli: CliRunner) -> None:
    out = run_cli("--help").out
    assert "--install-completion" in out
    assert "--show-completion" in out


@pytest.mark.parametrize(
    ("shell", "env"),
    [
        ("bash", {"COMP_WORDS": "ctmaint cancel month", "COMP_CWORD": "2"}),
        ("zsh", {"_TYPER_COMPLETE_ARGS": "ctmaint cancel month"}),
        ("fish", {"_TYPER_COMPLETE_ARGS": "ctmaint cancel month",
                  "_TYPER_COMPLETE_FISH_ACTION": "get-args"}),
    ],
)  # fmt: skip
def test_window_ids_are_completed_from_the_schedule(
    tmp_path: Path, shell: str, env: dict[str, str]
) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CTMAINT_")}
    done = subprocess.run(
        [str(CTMAINT)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env=base | env | {"_CTMAINT_COMPLETE": f"complete_{shell}",
                          "CTMAINT_NOW": "2026-12-01T00:00:00Z"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "monthly-2026-12-18" in done.stdout
    assert "connect-" not in done.stdout  # only ids that start with what was typed
    assert not (tmp_path / ".ctmaint").exists()  # completing creates no state


def test_a_completion_that_cannot_read_the_policy_offers_nothing_and_says_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "ctmaint.toml").write_text("this is not toml [")
    base = {k: v for k, v in os.environ.items() if not k.startswith("CTMAINT_")}
    done = subprocess.run(
        [str(CTMAINT)], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env=base | {"_CTMAINT_COMPLETE": "complete_bash", "COMP_WORDS": "ctmaint cancel m",
                    "COMP_CWORD": "2"},
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "", "")


def test_plural_picks_the_form_by_count() -> None:
    from ctmaint.model.text import plural

    assert [plural(n, "day") for n in (0, 1, 2)] == ["0 days", "1 day", "2 days"]
    assert plural(1, "delivery", "deliveries") == "1 delivery"
    assert plural(3, "delivery", "deliveries") == "3 deliveries"


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["send"], "send"),
        (["--now", "send", "upcoming"], "upcoming"),  # a global option's value is not it
        (["--debug", "--state", "s.db", "follow-up", "x"], "follow-up"),
        (["--now=2030-06-01T00:00Z", "history"], "history"),
        (["--help"], None),
    ],
)
def test_the_command_run_is_the_one_named(args: list[str], name: str | None) -> None:
    from ctmaint.cli.app import _command_name

    assert _command_name(args) == name


def test_running_one_command_leaves_every_command_registered(run_cli: CliRunner) -> None:
    before = list(app.registered_commands)
    assert run_cli("--now", "2030-06-01T00:00:00Z", "upcoming", "--days", "1").code == 0
    assert run_cli("upcoming", "--bogus").code == 2
    assert app.registered_commands == before
    assert len(before) == len(NAMES)


def test_values_from_the_environment_are_named_by_their_variable(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTMAINT_NOW", "garbage")
    result = run_cli("upcoming")
    assert (result.code, result.err.count("\n")) == (2, 1)
    assert result.err.startswith("ctmaint: CTMAINT_NOW 'garbage' is not an ISO 8601 time")
    assert run_cli("upcoming", "--help").code == 0  # help needs no clock
    monkeypatch.setenv("CTMAINT_NOW", "2030-06-01T00:00:00Z")
    monkeypatch.setenv("CTMAINT_DEBUG", "maybe")
    result = run_cli("upcoming", "--days", "1")
    assert "CTMAINT_DEBUG='maybe' is not true or false" in result.err


def test_a_follow_up_file_must_be_utf8_and_loses_its_byte_order_mark(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "latin1.md").write_bytes("Caf\xe9".encode("latin-1"))
    result = run_cli("follow-up", "monthly-2030-06-21", "--file", "latin1.md")
    assert result.code == 2
    assert "--file latin1.md is not UTF-8 text (byte 3); save it as UTF-8" in result.err
    assert "codec" not in result.err


def test_bidi_controls_count_as_control_characters() -> None:
    from ctmaint.model.text import bad_character

    assert bad_character("a\u202eevil") == "contains a control character ('\\u202e')"
    assert bad_character("caf\u00e9 \u2014 \U0001f600") is None


def test_a_policy_path_that_is_a_folder_is_named_as_one(run_cli: CliRunner) -> None:
    result = run_cli("--config", "", "upcoming")  # an empty path is the current folder
    assert result.code == 1
    assert result.err == "ctmaint: .: is a folder; give the policy file in it\n"


def test_the_hint_to_shorten_a_window_is_one_that_works(run_cli: CliRunner) -> None:
    now = ("--now", "2030-06-14T09:00:00-06:00")
    window = "skype-cert-2030-06-21"  # not started: it cannot be completed, only moved
    refused = run_cli(*now, "extend", window, "--until", "2030-06-21T00:15:00-06:00")
    assert "to end it earlier, reschedule it with the new end" in refused.err
    moved = run_cli(*now, "reschedule", window, "--start", "2030-06-21T00:00:00-06:00",
                    "--end", "2030-06-21T00:15:00-06:00")  # fmt: skip
    assert moved.code == 0, moved.err


def test_history_says_where_a_cut_value_is_whole(run_cli: CliRunner) -> None:
    now = ("--now", "2030-06-14T09:00:00-06:00")
    reason = "A reason long enough to be cut in the table of changes, surely."
    assert run_cli(*now, "cancel", "monthly-2030-06-21", "--reason", reason).code == 0
    out = run_cli(*now, "history").out
    assert "…" in out
    assert "(a value cut with … is whole in `ctmaint history --format json`)" in out


def test_build_refuses_one_folder_for_feeds_and_status_files(run_cli: CliRunner) -> None:
    result = run_cli("build", "--calendars", "site", "--notices", "site")
    assert result.code == 2
    assert "the feeds and the status files would share site: give two folders" in result.err
