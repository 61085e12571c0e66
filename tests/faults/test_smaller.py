"""Family 6, smaller: ids with a line break, a NUL in a name, owner-only outbox files, no
temporary file after a killed send, no state created by a failing or a reading command,
and a `--now` hint whose suggestions are themselves accepted."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable

import pytest

from tests.faults.conftest import (
    CONTACTS,
    DUE,
    NEXT_LINE,
    QUIET,
    Site,
    addresses,
    header_lines,
    kill_mid_run,
    people,
    policy_text,
    spawn,
    walk,
)

# -- window, calendar and product ids with a line break -------------------------------------

MONTHLY = "monthly-2030-06-21"
CONNECT = "connect-2030-06-11"  # Tue 2030-06-11 21:00 MDT, after QUIET
IDS = {
    "edit_trailing_newline": ("edit", f"{MONTHLY}\n", "--description", "Core switch upgrade."),
    "edit_trailing_cr": ("edit", f"{MONTHLY}\r", "--description", "Core switch upgrade."),
    "cancel_trailing_newline": ("cancel", f"{CONNECT}\n", "--reason", "Postponed."),
    "reschedule_trailing_newline": ("reschedule", f"{MONTHLY}\n", "--start",
                                    "2030-06-22T22:00:00-06:00"),
    "extend_trailing_newline": ("extend", f"{MONTHLY}\n", "--until", "2030-06-22T05:00:00-06:00"),
    "cancel_leading_newline": ("cancel", f"\n{CONNECT}", "--reason", "Postponed."),
}  # fmt: skip


@pytest.mark.parametrize("args", IDS.values(), ids=IDS.keys())
def test_a_window_id_with_a_line_break_is_refused_and_nothing_stored(
    site: Site, args: tuple[str, ...]
) -> None:
    site.shipped()
    site.ok("--now", QUIET, "send")  # the state exists
    site.run("--now", QUIET, *args, codes=(1, 2), unchanged=True, max_lines=1)


def calendar_id_with_newline(site: Site) -> None:
    site.policy(policy_text({"[calendars.connect]": '[calendars."connect\\n"]'}))
    site.contacts()


def product_id_with_newline(site: Site) -> None:
    text = policy_text({'teams = "Microsoft Teams Voice"': '"teams\\n" = "Microsoft Teams Voice"'})
    site.policy(text)
    site.contacts(CONTACTS[:2])  # products *: no contact names the product


POLICY_IDS = {"calendar_id": calendar_id_with_newline, "product_id": product_id_with_newline}


@pytest.mark.parametrize("make", POLICY_IDS.values(), ids=POLICY_IDS.keys())
def test_check_refuses_a_policy_id_with_a_line_break(
    site: Site, make: Callable[[Site], None]
) -> None:
    make(site)
    site.run("--now", DUE, "check", codes=(1,), unchanged=True, mentions=("ctmaint.toml",))


@pytest.mark.parametrize("make", POLICY_IDS.values(), ids=POLICY_IDS.keys())
def test_build_writes_no_file_named_with_a_line_break(
    site: Site, make: Callable[[Site], None]
) -> None:
    make(site)
    site.run("--now", DUE, "build", codes=(1,), unchanged=True, max_lines=1)
    named = [p.name for p, _ in walk(site.root) if "\n" in p.name]
    assert not named, f"files named with a line break: {named}"


# -- a NUL in a contact's name --------------------------------------------------------------

NUL_ROW = 'Evil Org,EVL-1,"Eve\x00Mallory",,eve@evil.example,,maintenance,*,'


def test_check_refuses_a_nul_in_a_name(site: Site) -> None:
    site.shipped([*CONTACTS, NUL_ROW])
    site.run("check", codes=(1,), unchanged=True, mentions=("contacts.csv", f"line {NEXT_LINE}"))


def test_a_nul_in_a_name_never_reaches_a_header(site: Site) -> None:
    site.shipped([*CONTACTS, NUL_ROW])
    site.run("--now", DUE, "send", codes=(0, 1))
    for path in site.emls():
        nul = [line for line in header_lines(path.read_bytes()) if b"\x00" in line]
        assert not nul, f"a NUL in a header of {path.name}: {nul[0][:80]!r}"


# -- owner-only outbox, no temporary files --------------------------------------------------


def test_outbox_files_are_owner_only_whatever_the_umask(site: Site) -> None:
    site.shipped()
    site.ok("--now", DUE, "send")  # the harness runs ctmaint with umask 022
    assert site.emls(), "nothing was written to the outbox"
    mode = stat.S_IMODE(site.outbox.stat().st_mode)
    assert mode == 0o700, f"the outbox folder is {oct(mode)}, not 0o700"
    loose = [
        f"{p.relative_to(site.root)} {oct(stat.S_IMODE(p.stat().st_mode))}"
        for p, kind in walk(site.root / ".ctmaint")
        if kind in ("file", "dir") and stat.S_IMODE(p.stat().st_mode) & 0o077
    ]
    assert not loose, f"readable by others: {loose[:3]}"


def test_no_temporary_file_is_left_after_a_killed_send(site: Site) -> None:
    rows = people(1500)
    site.shipped(rows)
    kill_mid_run(spawn(site, "--now", DUE, "send"), site.outbox, "*.eml", 50)
    site.ok("--now", "2030-06-14T09:01:00-06:00", "send")
    temporary = [
        p.relative_to(site.root).as_posix()
        for p, kind in walk(site.root / ".ctmaint")
        if kind == "file" and (p.name.endswith(".tmp") or p.name.startswith("."))
    ]
    assert not temporary, f"temporary files left: {temporary[:3]} ({len(temporary)})"
    states = site.states()
    site.note(losses=len(addresses(rows) - {a for a, s in states.items() if s == "sent"}))
    assert set(states) == addresses(rows)
    assert set(states.values()) == {"sent"}


# -- commands that fail or only read create no state ----------------------------------------


def broken_policy(site: Site) -> None:
    site.policy(policy_text() + "x = [\n")
    site.contacts()


def bad_contacts(site: Site) -> None:
    """A contacts.csv that cannot be used at all (one bad row is poison, isolated: see
    test_poison.py): its header is not the contract's."""
    site.policy()
    (site.root / "contacts.csv").write_text("name,email\nAnn,ann@acme.example\n")


FAILING: dict[str, tuple[Callable[[Site], None], tuple[str, ...]]] = {
    "broken_policy-send": (broken_policy, ("--now", DUE, "send")),
    "broken_policy-upcoming": (broken_policy, ("--now", DUE, "upcoming")),
    "broken_policy-notices": (broken_policy, ("--now", DUE, "notices")),
    "broken_policy-history": (broken_policy, ("history",)),
    "broken_policy-build": (broken_policy, ("--now", DUE, "build")),
    "broken_policy-cancel": (broken_policy, ("--now", QUIET, "cancel", MONTHLY, "--reason", "r")),
    "bad_now-send": (Site.shipped, ("--now", "2026-12-18", "send")),
    "bad_now-upcoming": (Site.shipped, ("--now", "2026-12-18", "upcoming")),
    "bad_now-cancel": (Site.shipped, ("--now", "2026-12-18", "cancel", MONTHLY, "--reason", "r")),
    "bad_contacts-send": (bad_contacts, ("--now", DUE, "send")),
    "bad_contacts-notices": (bad_contacts, ("--now", DUE, "notices")),
    "bad_contacts-dry_run": (bad_contacts, ("--now", DUE, "send", "--dry-run")),
    "unknown_window-cancel": (Site.shipped, ("--now", QUIET, "cancel", "monthly-2030-06-20",
                                             "--reason", "r")),
    "unknown_product-upcoming": (Site.shipped, ("--now", DUE, "upcoming", "--product", "fax")),
}  # fmt: skip


@pytest.mark.parametrize(("make", "args"), FAILING.values(), ids=FAILING.keys())
def test_a_failing_command_creates_no_state(
    site: Site, make: Callable[[Site], None], args: tuple[str, ...]
) -> None:
    make(site)
    site.run(*args, codes=(1, 2), unchanged=True)
    assert not site.state.exists()
    assert not site.state.with_name("state.db.send.lock").exists()


READERS = {
    "upcoming": ("--now", DUE, "upcoming"),
    "notices": ("--now", DUE, "notices"),
    "history": ("history",),
    "send_dry_run": ("--now", DUE, "send", "--dry-run"),
    "dry_run_json": ("--now", DUE, "send", "--dry-run", "--format", "json"),
    "check": ("--now", DUE, "check"),
}


@pytest.mark.parametrize("args", READERS.values(), ids=READERS.keys())
def test_a_reading_command_creates_no_state(site: Site, args: tuple[str, ...]) -> None:
    site.shipped()
    site.run(*args, codes=(0,), unchanged=True)


# -- the --now hint -------------------------------------------------------------------------

_SUGGESTION = re.compile(
    r"\d{4}-?\d{2}-?\d{2}(?:[T ]\d{2}(?::?\d{2}){0,2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})"
)
NAIVE = {
    "date": "2026-12-18",
    "summer_date": "2030-06-14",
    "space_separated": "2026-12-18 22:00",
    "basic_format": "20261218",
    "hour_only": "2026-12-18T22",
}


@pytest.mark.parametrize("naive", NAIVE.values(), ids=NAIVE.keys())
def test_the_hint_for_a_time_without_offset_suggests_accepted_forms(site: Site, naive: str) -> None:
    site.shipped()
    refused = site.run("--now", naive, "upcoming", codes=(2,), unchanged=True, max_lines=1)
    suggestions = _SUGGESTION.findall(refused.err)
    assert suggestions, f"no suggested time in {refused.err!r}"
    for suggestion in suggestions:
        site.ok("--now", suggestion, "upcoming", "--days", "1")
