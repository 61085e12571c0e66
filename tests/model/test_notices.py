from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from msgspec.structs import replace

from ctmaint.model.contacts import COLUMNS, Contact, split_contacts
from ctmaint.model.notices import ContactBook, Recipient, plan
from ctmaint.model.policy import LeadStage, Policy
from ctmaint.model.windows import Window, windows_between
from tests.conftest import calendar_toml, make_policy

DENVER = ZoneInfo("America/Denver")
HOUR = timedelta(hours=1)


def window(policy: Policy, calendar: str, around: datetime) -> Window:
    found = windows_between(policy, around - timedelta(days=1), around + timedelta(days=40))
    return next(w for w in found if w.calendar == calendar)


def parse_contacts(text: str, source: str, product_ids: frozenset[str] | None) -> list[Contact]:
    contacts, problems = split_contacts(text, source, product_ids)
    assert not problems, problems
    return contacts


def recipients(contacts: list[Contact], window: Window) -> list[Recipient]:
    return ContactBook(contacts).recipients(window)


def test_monthly_notices_are_a_week_before_at_0900_then_start_then_end(shipped: Policy) -> None:
    monthly = window(shipped, "monthly", datetime(2030, 6, 1, tzinfo=DENVER))
    notices = plan(shipped, [monthly])
    assert [(n.stage, str(n.due.astimezone(DENVER))) for n in notices] == [
        ("week-before", "2030-06-14 09:00:00-06:00"),
        ("start", "2030-06-21 22:00:00-06:00"),
        ("complete", "2030-06-22 04:00:00-06:00"),
    ]
    week, start, complete = notices
    assert week.expires == monthly.start  # a reminder is worth sending until the start
    assert start.expires == monthly.end
    assert complete.expires == monthly.end + timedelta(hours=24)
    assert week.id == "monthly-2030-06-21/week-before"


def test_connect_notice_is_24_hours_before_and_the_cert_job_has_none(shipped: Policy) -> None:
    connect = window(shipped, "connect", datetime(2030, 6, 1, tzinfo=DENVER))
    (notice,) = plan(shipped, [connect])
    assert notice.stage == "day-before"
    assert connect.start - notice.due == timedelta(hours=24)
    cert = window(shipped, "skype-cert", datetime(2030, 6, 1, tzinfo=DENVER))
    assert plan(shipped, [cert]) == []


def test_week_before_at_0900_holds_across_a_dst_change(shipped: Policy) -> None:
    # 2030-11-15 is the third Friday; DST ended 2030-11-03: the reminder is 09:00 MST.
    monthly = window(shipped, "monthly", datetime(2030, 11, 1, tzinfo=DENVER))
    week = plan(shipped, [monthly])[0]
    assert str(week.due.astimezone(DENVER)) == "2030-11-08 09:00:00-07:00"


def test_a_reminder_is_never_due_after_the_start() -> None:
    # due 1 h before a 06:00 start, moved to 23:00 that day: later than the start
    policy = make_policy(calendar_toml(cron="0 6 * * *", notices=["week-before"]))
    policy = replace(policy, stages={"week-before": LeadStage("week-before", HOUR, time(23))})
    nightly = window(policy, "nightly", datetime(2030, 6, 1, tzinfo=DENVER))
    (notice,) = plan(policy, [nightly])
    assert notice.due == nightly.start.astimezone(UTC)


HEADER = ",".join(COLUMNS)


def test_recipients_by_role_product_and_once_per_address(shipped: Policy) -> None:
    contacts = parse_contacts(
        "\n".join(
            [
                HEADER,
                "Acme,ACME-1,Ann,,ann@acme.example,,maintenance,*,Europe/London",
                "Acme,ACME-1,Bob,,bob@acme.example,,primary;escalation,*,",
                "Beta,BETA-9,Cy,,cy@beta.example,,maintenance,connect,",
                "Gamma,,Di,,di@gamma.example,,maintenance,teams,",
                "Gamma,,Di again,,DI@Gamma.example,,maintenance,teams;skype,",
            ]
        ),
        "contacts.csv",
        frozenset(shipped.products),
    )
    monthly = window(shipped, "monthly", datetime(2030, 6, 1, tzinfo=DENVER))
    connect = window(shipped, "connect", datetime(2030, 6, 1, tzinfo=DENVER))
    assert [r.email for r in recipients(contacts, monthly)] == [
        "ann@acme.example",
        "cy@beta.example",
        "di@gamma.example",
    ]
    assert [r.email for r in recipients(contacts, connect)] == [
        "ann@acme.example",
        "cy@beta.example",
    ]
    ann = recipients(contacts, connect)[0]
    assert (ann.account, ann.zone_key, ann.name) == ("ACME-1", "Europe/London", "Ann")
    di = recipients(contacts, monthly)[2]
    assert (di.account, di.name) == ("Gamma", "Di")  # the first row of an address decides


def test_an_organization_uses_the_products_of_all_its_rows(shipped: Policy) -> None:
    contacts = parse_contacts(
        "\n".join(
            [
                HEADER,
                "Acme,,Ann,,ann@acme.example,,maintenance,teams,",
                "Acme,,Bob,,bob@acme.example,,billing,connect,",
                "Beta,,Cy,,cy@beta.example,,maintenance,teams,",
            ]
        ),
        "contacts.csv",
        frozenset(shipped.products),
    )
    connect = window(shipped, "connect", datetime(2030, 6, 1, tzinfo=DENVER))
    assert [r.email for r in recipients(contacts, connect)] == ["ann@acme.example"]


@pytest.mark.parametrize("calendar", ["monthly", "connect", "skype-cert"])
def test_cancelled_windows_have_no_timed_notices(shipped: Policy, calendar: str) -> None:
    found = window(shipped, calendar, datetime(2030, 6, 1, tzinfo=DENVER))
    cancelled = replace(found, cancelled=True)
    assert plan(shipped, [cancelled]) == []
