from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest

from ctmaint.errors import PolicyError
from ctmaint.model.policy import Policy, load_policy, parse_policy
from ctmaint.model.rules import CronRule, CycleRule
from tests.conftest import calendar_toml, policy_toml


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.toml", Path("."))
    return [str(problem) for problem in caught.value.problems]


def test_the_shipped_policy_is_the_design(shipped: Policy) -> None:
    assert shipped.provider.name == "CallTower"
    assert shipped.zone.key == "America/Denver"
    assert shipped.provider.zone_label == "MT"
    monthly = shipped.calendars["monthly"]
    assert monthly.rule == CronRule("0 22 * * 5#3", shipped.zone)
    assert monthly.duration == timedelta(hours=6)
    assert monthly.notices == ("week-before", "start", "complete")
    assert monthly.status_page
    cert = shipped.calendars["skype-cert"]
    assert cert.rule == CronRule("0 0 * * 5", shipped.zone)
    assert cert.duration == timedelta(minutes=30)
    assert (cert.impact, cert.notices, cert.status_page) == ("NO-IMPACT", (), False)
    connect = shipped.calendars["connect"]
    assert connect.rule == CycleRule(datetime(2026, 1, 6, 21, 0), timedelta(weeks=3), shipped.zone)
    assert connect.duration == timedelta(hours=2)
    assert (connect.impact, connect.notices) == ("NO-IMPACT", ("day-before",))
    assert shipped.stages["week-before"].before == timedelta(days=7)
    assert shipped.stages["week-before"].at == time(9, 0)
    assert shipped.stages["day-before"].before == timedelta(hours=24)
    assert (shipped.unscheduled.avoid_from, shipped.unscheduled.avoid_until) == (
        time(5),
        time(23),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            policy_toml(calendar_toml(colour="red")),
            "p.toml: calendars.nightly.colour: unknown key",
            id="unknown_key",
        ),
        pytest.param(
            policy_toml(calendar_toml(durration="1h")),
            "calendars.nightly.durration: unknown key; did you mean 'duration'?",
            id="misspelt_key",
        ),
        pytest.param(
            policy_toml(calendar_toml(cron="0 22 * * 8")),
            "calendars.nightly.cron: '0 22 * * 8' is not a cron expression",
            id="bad_cron",
        ),
        pytest.param(
            policy_toml(calendar_toml(cron="0 22 * *")),
            "calendars.nightly.cron: '0 22 * *' is not a cron expression with 5 fields",
            id="short_cron",
        ),
        pytest.param(
            policy_toml(zone="America/Denvr"),
            "provider.timezone: 'America/Denvr' is not an IANA time zone",
            id="bad_zone",
        ),
        pytest.param(
            policy_toml(calendar_toml(products=["voice", "fax"])),
            "calendars.nightly.products: 'fax' is not a product; known: voice, video",
            id="unknown_product",
        ),
        pytest.param(
            policy_toml(calendar_toml(duration="0m")),
            "calendars.nightly.duration: must be longer than 0",
            id="zero_duration",
        ),
        pytest.param(
            policy_toml(calendar_toml(duration="-1h")),
            "calendars.nightly.duration: '-1h' is not a duration",
            id="negative_duration",
        ),
        pytest.param(
            policy_toml(calendar_toml(impact="outage")),
            "calendars.nightly.impact: 'outage' is not one of NO-IMPACT",
            id="lowercase_impact",
        ),
        pytest.param(
            policy_toml(calendar_toml(notices=["hour-before"])),
            "calendars.nightly.notices: 'hour-before' is not one of week-before",
            id="unknown_stage",
        ),
        pytest.param(
            policy_toml(calendar_toml(cron=None, every="3w")),
            "calendars.nightly.anchor: is missing",
            id="cycle_without_anchor",
        ),
        pytest.param(
            policy_toml(calendar_toml(cron=None, every="36h", anchor="2026-01-06T21:00")),
            "calendars.nightly.every: '36h' must be a whole number of days or weeks",
            id="cycle_part_days",
        ),
        pytest.param(
            policy_toml(calendar_toml(cron=None, every="3w", anchor="2026-01-06T21:00-07:00")),
            "calendars.nightly.anchor: '2026-01-06T21:00-07:00' must be a local date and time",
            id="anchor_with_offset",
        ),
        pytest.param(
            policy_toml(calendar_toml(every="3w", anchor="2026-01-06T21:00")),
            "calendars.nightly: needs either cron",
            id="cron_and_cycle",
        ),
        pytest.param(
            policy_toml(calendar_toml(skip=["2026-13-01"])),
            "calendars.nightly.skip: '2026-13-01' is not a date",
            id="bad_skip",
        ),
        pytest.param(
            policy_toml(calendar_toml(title=None)),
            "calendars.nightly.title: is missing; add title = ...",
            id="missing_key",
        ),
        pytest.param(
            policy_toml(calendar_toml(duration=6)),
            "calendars.nightly.duration: must be a string, not 6",
            id="wrong_type",
        ),
        pytest.param(
            policy_toml(calendar_toml(status_page="yes")),
            "calendars.nightly.status_page: must be true or false, not 'yes'",
            id="not_a_boolean",
        ),
        pytest.param(
            policy_toml(calendar_toml("BigWindow")),
            "calendars.BigWindow: ids use lowercase letters",
            id="bad_calendar_id",
        ),
        pytest.param(
            policy_toml().replace('before = "24h"', 'before = "0m"'),
            "stages.day-before.before: must be longer than 0",
            id="zero_lead",
        ),
        pytest.param(
            policy_toml().replace('at = "09:00"', 'at = "9am"'),
            "stages.week-before.at: '9am' is not a time of day",
            id="bad_time_of_day",
        ),
        pytest.param(
            policy_toml().replace("<maintenance@example.net>", "<maintenance at example>"),
            "provider.sender: 'Example Maintenance <maintenance at example>' is not an address",
            id="bad_sender",
        ),
        pytest.param(
            policy_toml() + "\n[sendgrid]\nretries = -1\n",
            "sendgrid.retries: must be from 0 to 10, not -1",
            id="bad_sendgrid_setting",
        ),
        pytest.param(
            policy_toml() + "\n[sendgrid]\nconcurrency = 64\n",
            "sendgrid.concurrency: must be from 0 to 32, not 64",
            id="too_many_requests_in_flight",
        ),
        pytest.param(
            policy_toml() + '\n[send]\ntime_budget = "2h"\n',
            "send.time_budget: must be from 1m to 1h, like 4m, not 2h",
            id="time_budget_too_long",
        ),
        pytest.param(
            policy_toml() + '\n[send]\ntime_budget = "soon"\n',
            "send.time_budget: 'soon' is not a duration",
            id="time_budget_not_a_duration",
        ),
        pytest.param(
            policy_toml() + '\n[provider2]\nname = "x"\n',
            "p.toml: provider2: unknown key; did you mean 'provider'?",
            id="unknown_table",
        ),
        pytest.param(
            policy_toml().replace("[provider]", "[provider\n"),
            "p.toml: is not valid TOML",
            id="bad_toml",
        ),
        pytest.param(  # this one used to end in a traceback (a ValueError) after its problem
            policy_toml() + '\n[unscheduled]\nnotices = ["hour-before"]\n',
            "unscheduled.notices: 'hour-before' is not one of announce, start, complete",
            id="unknown_unscheduled_stage",
        ),
    ],
)
def test_each_problem_names_the_file_the_key_and_the_fix(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in problem for problem in found), found


def test_every_problem_is_reported_at_once() -> None:
    text = policy_toml(
        calendar_toml("one", cron="bad"),
        calendar_toml("two", duration="0m", products=["fax"]),
        zone="Nowhere/City",
    )
    found = problems(text)
    assert len(found) == 4, found
    assert sum("calendars.two" in p for p in found) == 2


def test_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.toml", tmp_path)


def test_contacts_path_is_relative_to_the_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "ctmaint.toml"
    path.parent.mkdir()
    path.write_text(policy_toml(), encoding="utf-8")
    assert load_policy(path, tmp_path).contacts_path == tmp_path / "conf" / "contacts.csv"
    assert load_policy(None, tmp_path).contacts_path == tmp_path / "contacts.csv"


def test_star_means_every_product() -> None:
    policy = parse_policy(policy_toml(calendar_toml(products=["*"])), "p.toml", Path("."))
    assert policy.calendars["nightly"].products == ("voice", "video")


def test_a_calendar_without_notices_sends_none(tmp_path: Path) -> None:
    """`notices` may be left out: such a calendar (the certificate job) is published only."""
    path = tmp_path / "p.toml"
    path.write_text(policy_toml(calendar_toml(notices=None)))
    policy = load_policy(path, tmp_path)
    assert policy.calendars["nightly"].notices == ()
