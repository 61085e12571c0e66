from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from freezegun import freeze_time

from ctmaint.model.policy import embedded_policy_text
from tests.conftest import CliRunner, calendar_toml, policy_toml

NOW = "2030-06-01T12:00:00-06:00"  # far from today, so nothing passes by coincidence
CTMAINT = Path(sys.executable).parent / "ctmaint"
CONTRACT_FIELDS = {
    "id", "calendar", "title", "start", "end", "start_utc", "end_utc", "products", "impact",
    "status", "summary", "description", "justification",
}  # fmt: skip


def test_upcoming_json_has_the_contract_fields(run_cli: CliRunner) -> None:
    result = run_cli("--now", NOW, "upcoming", "--days", "30", "--format", "json")
    assert result.code == 0, result.err
    records = json.loads(result.out)
    assert [r["id"] for r in records if r["calendar"] == "monthly"] == ["monthly-2030-06-21"]
    monthly = next(r for r in records if r["calendar"] == "monthly")
    assert set(monthly) >= CONTRACT_FIELDS
    assert monthly["start"] == "2030-06-21T22:00:00-06:00"
    assert monthly["end"] == "2030-06-22T04:00:00-06:00"
    assert monthly["start_utc"] == "2030-06-22T04:00:00Z"
    assert monthly["end_utc"] == "2030-06-22T10:00:00Z"
    assert monthly["status"] == "scheduled"
    assert isinstance(monthly["products"], list)
    assert "connect" in monthly["products"]
    assert all(r["start_utc"].endswith("Z") and r["end_utc"].endswith("Z") for r in records)


def test_upcoming_table_shows_local_time_with_abbreviation_and_utc(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for every column on one line
    result = run_cli("--now", "2030-12-01T00:00:00Z", "upcoming", "--days", "31")
    assert result.code == 0, result.err
    line = next(line for line in result.out.splitlines() if line.startswith("monthly-"))
    assert "Fri 2030-12-20 22:00 MST" in line
    assert "Sat 04:00 MST" in line  # the end: its date only if it is days later
    assert "2030-12-21 05:00" in line  # under START (UTC)
    assert "START (MT)" in result.out.splitlines()[0]


def test_upcoming_filters_by_product_and_days(run_cli: CliRunner) -> None:
    result = run_cli("--now", NOW, "upcoming", "--product", "connect", "--format", "json")
    records = json.loads(result.out)
    assert {r["calendar"] for r in records} == {"monthly", "connect"}
    days = json.loads(run_cli("--now", NOW, "upcoming", "--days", "1", "--format", "json").out)
    assert days == []


def test_now_comes_from_the_environment(
    run_cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTMAINT_NOW", "2031-01-01T00:00:00-07:00")
    records = json.loads(run_cli("upcoming", "--days", "20", "--format", "json").out)
    assert records[0]["id"] == "skype-cert-2031-01-03"


@freeze_time("2032-03-01T12:00:00Z")
def test_without_now_the_real_clock_is_used(run_cli: CliRunner) -> None:
    records = json.loads(run_cli("upcoming", "--days", "7", "--format", "json").out)
    assert [r["id"] for r in records] == ["connect-2032-03-02", "skype-cert-2032-03-05"]


def test_a_running_window_is_listed_as_in_progress(run_cli: CliRunner) -> None:
    result = run_cli("--now", "2030-06-22T01:00:00-06:00", "upcoming", "--format", "json")
    first = json.loads(result.out)[0]
    assert (first["id"], first["status"]) == ("monthly-2030-06-21", "in-progress")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(
            ["--now", "2030-06-01T12:00", "upcoming"], 2, "has no UTC offset", id="naive_now"
        ),
        pytest.param(["--now", "soon", "upcoming"], 2, "is not an ISO 8601 time", id="bad_now"),
        pytest.param(
            ["upcoming", "--product", "fax"],
            2,
            "'fax' is not a product of this policy; known: teams",
            id="product",
        ),
        pytest.param(["upcoming", "--days", "0"], 2, "", id="days_zero"),
        pytest.param(["upcoming", "--format", "xml"], 2, "", id="bad_format"),
        pytest.param(["--config", "missing.toml", "upcoming"], 1, "does not exist", id="config"),
    ],
)
def test_user_errors_are_one_line_without_traceback(
    run_cli: CliRunner, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    result = run_cli(*args)
    assert result.code == code
    assert "Traceback" not in result.err
    assert message in result.err
    assert not (tmp_path / ".ctmaint").exists()  # nothing was created


def test_reading_commands_create_no_state(run_cli: CliRunner, tmp_path: Path) -> None:
    """Only commands that write create the state database (and the send lock)."""
    for command in (["upcoming"], ["notices"], ["history"], ["send", "--dry-run"], ["check"]):
        assert run_cli("--now", NOW, *command).code == 0, command
    assert not (tmp_path / ".ctmaint").exists()
    other = tmp_path / "elsewhere.db"
    assert run_cli("--now", NOW, "--state", str(other), "upcoming").code == 0
    assert not other.exists()
    assert run_cli("--now", NOW, "--state", str(other), "send").code == 0
    assert other.is_file()


def test_init_writes_the_shipped_policy_and_refuses_to_overwrite(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    result = run_cli("init", "site")
    assert result.code == 0, result.err
    assert (tmp_path / "site" / "ctmaint.toml").read_text() == embedded_policy_text()
    assert (tmp_path / "site" / "contacts.csv").is_file()
    (tmp_path / "site" / "ctmaint.toml").write_text("edited")
    again = run_cli("init", "site")
    assert again.code == 1
    assert "already exists" in again.err
    assert (tmp_path / "site" / "ctmaint.toml").read_text() == "edited"
    assert run_cli("init", "site", "--force").code == 0
    assert (tmp_path / "site" / "ctmaint.toml").read_text() == embedded_policy_text()


def test_check_passes_on_what_init_writes(run_cli: CliRunner) -> None:
    run_cli("init")
    result = run_cli("--now", NOW, "check")
    assert result.code == 0, result.err
    assert "3 contacts, 2 receive maintenance notices" in result.out
    assert (
        "calendar monthly: cron 0 22 * * 5#3 (America/Denver), 6h; next Fri 2030-06-21 22:00 MDT"
        in (result.out)
    )
    assert (
        "calendar connect: every 3 weeks from 2026-01-06 21:00 (America/Denver), 2h" in result.out
    )


def test_check_reports_every_problem_and_changes_nothing(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "ctmaint.toml").write_text(
        policy_toml(calendar_toml(cron="0 25 * * *", colour="red"), zone="Mars/Base")
    )
    (tmp_path / "contacts.csv").write_text(
        "organization,account,name,title,email,phone,roles,products,timezone\n"
        "Acme,,Ann,,ann-at-acme,,maintenance;boss,fax,\n"
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli("--now", NOW, "check")
    assert result.code == 1
    for expected in (
        "ctmaint.toml: provider.timezone: 'Mars/Base' is not an IANA time zone",
        "ctmaint.toml: calendars.nightly.cron: '0 25 * * *' is not a cron expression",
        "ctmaint.toml: calendars.nightly.colour: unknown key",
        "contacts.csv: line 2: 'ann-at-acme' is not an email address",
        "contacts.csv: line 2: role 'boss' is unknown",
        "contacts.csv: line 2: product 'fax' is unknown",
        "6 problems found",
    ):
        assert expected in result.err
    assert "Traceback" not in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_other_commands_name_the_first_problem_and_point_to_check(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "ctmaint.toml").write_text(policy_toml(calendar_toml(cron="x", duration="0m")))
    result = run_cli("--now", NOW, "upcoming")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert "(and 1 more; run `ctmaint check` to see all)" in result.err


def test_every_command_has_help_and_is_in_the_readme(run_cli: CliRunner) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    from ctmaint.cli.main import app

    names = [c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands]
    assert names
    for name in names:
        result = run_cli(name, "--help")
        assert result.code == 0
        assert "Usage" in result.out
        assert f"ctmaint {name}" in readme, name


def test_the_installed_command_runs_as_a_subprocess(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTMAINT_")}
    done = subprocess.run(
        [str(CTMAINT), "--now", NOW, "upcoming", "--days", "14", "--format", "json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [r["id"] for r in json.loads(done.stdout)][:2] == [
        "skype-cert-2030-06-07",
        "connect-2030-06-11",
    ]
    module = subprocess.run(
        [sys.executable, "-m", "ctmaint", "--now", "2030-06-01T12:00", "upcoming"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert module.returncode == 2
    assert module.stderr.strip().startswith("ctmaint: --now")
    assert "Traceback" not in module.stderr


def test_the_readme_starts_with_the_two_commands_and_make_has_them() -> None:
    root = Path(__file__).parents[2]
    readme = (root / "README.md").read_text()
    first_block = readme.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]
    makefile = (root / "Makefile").read_text()
    assert "\nrun:" in makefile
    assert "\ntest:" in makefile


def test_version(run_cli: CliRunner) -> None:
    from ctmaint import __version__

    result = run_cli("--version")
    assert (result.code, result.out.strip()) == (0, f"ctmaint {__version__}")


def test_check_reports_rule_expansion_and_contacts_problems_together(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "ctmaint.toml").write_text(policy_toml(calendar_toml(cron="0 1,13 * * *")))
    (tmp_path / "contacts.csv").write_text(
        "organization,account,name,title,email,phone,roles,products,timezone\n"
        "Acme,,Ann,,ann-at-acme,,maintenance,voice,\n"
    )
    result = run_cli("--now", NOW, "check")
    assert result.code == 1
    assert "calendars.nightly: the rule starts two windows on" in result.err
    assert "contacts.csv: line 2: 'ann-at-acme' is not an email address" in result.err
    assert "2 problems found" in result.err


def test_make_install_puts_ctmaint_where_the_path_finds_it(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    bindir = tmp_path / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTMAINT_", "MAKE"))}
    done = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/bin/ctmaint", "install", f"BINDIR={bindir}"],
        cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "is not on your PATH" in done.stdout
    linked = bindir / "ctmaint"
    assert linked.resolve() == (root / ".venv" / "bin" / "ctmaint").resolve()
    on_path = env | {"PATH": f"{bindir}:{env['PATH']}"}
    version = subprocess.run(
        ["ctmaint", "--version"], env=on_path, capture_output=True, text=True, timeout=60,
        check=False, cwd=tmp_path,
    )  # fmt: skip
    assert version.stdout.startswith("ctmaint ")


def test_every_input_an_error_can_name_has_its_option() -> None:
    """Errors name their input as a typed field (errors.Input); the CLI knows the option of
    each, and every such option is one a command really has."""
    import typer

    from ctmaint.cli.app import OPTIONS
    from ctmaint.cli.main import app
    from ctmaint.errors import Input

    assert set(OPTIONS) == set(Input)
    group = typer.main.get_command(app)
    declared = {
        option
        for command in getattr(group, "commands", {}).values()
        for param in command.params
        for option in param.opts
    } | {option for param in group.params for option in param.opts}
    assert set(OPTIONS.values()) <= declared, set(OPTIONS.values()) - declared


def test_the_global_options_are_named_in_one_place() -> None:
    """usage.GLOBAL_OPTIONS (what the error messages and the command finder know) is what
    the app's callback declares: the same long options, the same ones taking a value."""
    import typer

    from ctmaint.cli.main import app
    from ctmaint.cli.usage import GLOBAL_OPTIONS

    declared = {
        option: not param.is_flag
        for param in typer.main.get_command(app).params
        for option in param.opts
        if option.startswith("--") and getattr(param, "is_flag", None) is not None
    }
    typers_own = {"--install-completion", "--show-completion"}  # add_completion=True
    assert {k: v for k, v in declared.items() if k not in typers_own} == GLOBAL_OPTIONS
