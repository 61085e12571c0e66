"""Family 5, values: values that overflow, never match or cannot be read are refused in
one sentence (or, by `check`, as problems naming the file and the key or line), exit 1 for
a file and 2 for a command-line value, and change nothing. `check` reports the policy's
own problems without false problems in contacts.csv when the policy cannot be read."""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import pytest

from tests.faults.conftest import (
    CONTACTS,
    DUE,
    MONTHLY_TO,
    NEXT_LINE,
    QUIET,
    Site,
    csv_row,
    policy_text,
    set_keys,
    shipped_policy,
)

# name -> (table, key, TOML value): one key of the shipped policy set to a bad value
POLICY_VALUES = {
    "cron_never_matches": ("calendars.monthly", "cron", '"0 22 30 2 *"'),
    "cron_31_april": ("calendars.monthly", "cron", '"0 22 31 4 *"'),
    "days_ahead_3000000": ("publish", "days_ahead", "3000000"),
    "days_back_1000000": ("publish", "days_back", "1000000"),
    "days_ahead_int64_max": ("publish", "days_ahead", "9223372036854775807"),
    "days_back_negative": ("publish", "days_back", "-1"),
    "before_500000w": ("stages.week-before", "before", '"500000w"'),
    "at_25_00": ("stages.week-before", "at", '"25:00"'),
    "duration_999999w": ("calendars.monthly", "duration", '"999999w"'),
    "every_99999999w": ("calendars.connect", "every", '"99999999w"'),
    "anchor_year_1": ("calendars.connect", "anchor", '"0001-01-06T21:00"'),
    "anchor_year_9999": ("calendars.connect", "anchor", '"9999-01-05T21:00"'),
    "max_duration_99999999w": ("unscheduled", "max_duration", '"99999999w"'),
    "sendgrid_retries_1e9": ("sendgrid", "retries", "1000000000"),
    "sendgrid_timeout_inf": ("sendgrid", "timeout_seconds", "inf"),
    "sendgrid_timeout_nan": ("sendgrid", "timeout_seconds", "nan"),
}
# the values issue 11 names, also tried with the commands that expand the rules
NAMED = ["cron_never_matches", "days_ahead_3000000", "days_back_1000000", "before_500000w"]
EXPANDING = {
    "upcoming": ("--now", DUE, "upcoming"),
    "build": ("--now", DUE, "build"),
    "send": ("--now", DUE, "send"),
}


def bad_policy(site: Site, name: str) -> str:
    """Write the shipped policy with ``name``'s value; return the key's full name."""
    table, key, value = POLICY_VALUES[name]
    site.shipped()
    site.policy(set_keys(policy_text(), table, {key: value}))
    return f"{table}.{key}"


@pytest.mark.parametrize("name", POLICY_VALUES)
def test_check_names_the_key_of_a_value_out_of_bounds(site: Site, name: str) -> None:
    key = bad_policy(site, name)
    site.run("--now", DUE, "check", codes=(1,), unchanged=True, mentions=("ctmaint.toml", key))


@pytest.mark.parametrize("command", EXPANDING.values(), ids=EXPANDING.keys())
@pytest.mark.parametrize("name", NAMED)
def test_every_command_refuses_a_value_out_of_bounds(
    site: Site, name: str, command: tuple[str, ...]
) -> None:
    key = bad_policy(site, name)
    site.run(*command, codes=(1,), unchanged=True, max_lines=1, mentions=(key,))


NOW_VALUES = {
    "year_1": "0001-01-01T00:00+00:00",
    "year_9999": "9999-12-31T23:00Z",
    "empty": "",
    "blank": "  ",
}
NOW_COMMANDS = {"upcoming": ("upcoming",), "send": ("send",)}


@pytest.mark.parametrize("command", NOW_COMMANDS.values(), ids=NOW_COMMANDS.keys())
@pytest.mark.parametrize("now", NOW_VALUES.values(), ids=NOW_VALUES.keys())
def test_a_clock_out_of_range_or_empty_is_a_usage_error(
    site: Site, now: str, command: tuple[str, ...]
) -> None:
    site.shipped()
    site.run("--now", now, *command, codes=(2,), unchanged=True, max_lines=1,
             mentions=("--now",))  # fmt: skip


ADD = (
    "add", "--start", "2030-06-13T23:30:00-06:00", "--products", "teams", "--summary", "Patch",
    "--description", "Patch the SBCs.", "--justification", "Security.",
)  # fmt: skip
OPTION_VALUES = {
    "upcoming_days_3000000": ("upcoming", "--days", "3000000"),
    "upcoming_days_negative": ("upcoming", "--days", "-1"),
    "notices_days_3000000": ("notices", "--days", "3000000"),
    "add_duration_999999999d": (*ADD, "--duration", "999999999d"),
    "add_start_year_1": (*ADD[:2], "0001-01-01T00:00Z", *ADD[3:], "--duration", "2h"),
    "add_end_year_9999": (*ADD, "--end", "9999-12-31T23:00Z"),
    "reschedule_to_year_9999": ("reschedule", "monthly-2030-06-21", "--start",
                                "9999-12-31T20:00Z"),
    "extend_until_year_9999": ("extend", "monthly-2030-06-21", "--until", "9999-12-31T20:00Z"),
}  # fmt: skip


@pytest.mark.parametrize("args", OPTION_VALUES.values(), ids=OPTION_VALUES.keys())
def test_an_option_value_out_of_bounds_is_a_usage_error(site: Site, args: tuple[str, ...]) -> None:
    site.shipped()
    site.run("--now", QUIET, *args, codes=(2,), unchanged=True, max_lines=1)


# -- files that cannot be read --------------------------------------------------------------


def binary_policy(site: Site) -> None:
    site.contacts()
    (site.root / "ctmaint.toml").write_bytes(random.Random(7).randbytes(4096))


def utf16_policy(site: Site) -> None:
    site.contacts()
    (site.root / "ctmaint.toml").write_bytes(shipped_policy().encode("utf-16"))


def policy_naming_a_contacts_folder(site: Site) -> None:
    site.policy(set_keys(policy_text(), "provider", {"contacts": '"people"'}))
    (site.root / "people").mkdir()


def contacts_is_a_folder(site: Site) -> None:
    site.policy()
    (site.root / "contacts.csv").mkdir()


def contacts_symlink_loop(site: Site) -> None:
    site.policy()
    os.symlink("loop.csv", site.root / "contacts.csv")
    os.symlink("contacts.csv", site.root / "loop.csv")


def contacts_not_utf8(site: Site) -> None:
    site.policy()
    text = "\n".join(["organization,account,name,title,email,phone,roles,products,timezone",
                      *CONTACTS]) + "\n"  # fmt: skip
    (site.root / "contacts.csv").write_bytes(text.encode("latin-1"))


UNREADABLE = {
    "binary_policy": (binary_policy, "ctmaint.toml"),
    "utf16_policy": (utf16_policy, "ctmaint.toml"),
    "provider_contacts_names_a_folder": (policy_naming_a_contacts_folder, "people"),
    "contacts_is_a_folder": (contacts_is_a_folder, "contacts.csv"),
    "contacts_symlink_loop": (contacts_symlink_loop, "contacts.csv"),
    "contacts_not_utf8": (contacts_not_utf8, "contacts.csv"),
}
READING = {"check": ("check",), "send": ("--now", DUE, "send")}


@pytest.mark.parametrize("command", READING.values(), ids=READING.keys())
@pytest.mark.parametrize(("make", "named"), UNREADABLE.values(), ids=UNREADABLE.keys())
def test_a_file_that_cannot_be_read_is_named_in_one_sentence(
    site: Site, make: Callable[[Site], None], named: str, command: tuple[str, ...]
) -> None:
    make(site)
    site.run(*command, codes=(1,), unchanged=True, mentions=(named,))


HUGE_ROW = csv_row("Big", "", "N" * (130 * 1024), "", "n@big.example", "", "maintenance", "*", "")


def test_check_names_a_contacts_field_over_128_KiB(site: Site) -> None:
    site.shipped([*CONTACTS, HUGE_ROW])
    site.run("check", codes=(1,), unchanged=True, mentions=("contacts.csv", f"line {NEXT_LINE}"))


def test_send_goes_on_past_a_contacts_field_over_128_KiB(site: Site) -> None:
    """One row too big to read is poison like a bad address (see test_poison.py): the others
    get the notice once."""
    site.shipped([*CONTACTS, HUGE_ROW])
    site.run("--now", DUE, "send", codes=(0, 1), mentions=("contacts.csv",))
    site.exactly_once(site.outbox_recipients(), MONTHLY_TO)


# -- check reports the policy's problems, and only real ones --------------------------------


def test_an_empty_products_table_gives_no_false_contacts_problems(site: Site) -> None:
    text = policy_text()
    head, rest = text.split("[products]\n", 1)
    site.policy(head + "[products]\n\n" + rest[rest.index("\n[") :])
    site.contacts()
    site.run("check", codes=(1,), unchanged=True, mentions=("ctmaint.toml", "products"),
             absent=("contacts.csv",), max_lines=6)  # fmt: skip


BROKEN_TOML = {
    "unclosed_array": "x = [\n",
    "missing_value": "x =\n",
    "duplicate_table": "[provider]\nname = 'again'\n",
    "bare_text": "this is not toml\n",
}


@pytest.mark.parametrize("tail", BROKEN_TOML.values(), ids=BROKEN_TOML.keys())
def test_broken_toml_is_reported_without_contacts_problems(site: Site, tail: str) -> None:
    site.policy(policy_text() + tail)
    site.contacts()
    site.run("check", codes=(1,), unchanged=True, mentions=("ctmaint.toml",),
             absent=("contacts.csv",))  # fmt: skip
