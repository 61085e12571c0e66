"""The send decision as a pure function: ledger rows in, actions out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from msgspec.structs import replace

from ctmaint.model.changes import Change
from ctmaint.model.contacts import Contact
from ctmaint.model.events import Cancel
from ctmaint.model.notices import ContactBook
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import DeliveryState as S
from ctmaint.model.windows import Window, windows_between
from ctmaint.sending.plan import Deliver, Expire, LedgerView, decide
from ctmaint.state.ledger import DeliveryRow

WEEK = "monthly-2030-06-21/week-before"
REMINDER_DUE = datetime(2030, 6, 14, 15, tzinfo=UTC)  # Fri 09:00 MDT


def contact(n: int) -> Contact:
    return Contact("Acme", "ACME-1", f"P{n}", "", f"p{n}@acme.example", "",
                   frozenset({"maintenance"}), frozenset({"*"}), None, n)  # fmt: skip


CONTACTS = [contact(n) for n in range(4)]


def row(
    n: int, state: S, attempts: int = 1, notice: str = WEEK, resent: bool = False
) -> DeliveryRow:
    window, stage = notice.split("/")
    return DeliveryRow(notice, f"p{n}@acme.example", window, stage, "ACME-1", state, attempts,
                       None, None, None, None, resent)  # fmt: skip


def monthly(shipped: Policy) -> list[Window]:
    found = windows_between(shipped, datetime(2030, 6, 20, tzinfo=UTC),
                            datetime(2030, 6, 23, tzinfo=UTC))  # fmt: skip
    return [w for w in found if w.id == "monthly-2030-06-21"]


def plan_at(shipped: Policy, rows: list[DeliveryRow], now: datetime, cancelled: bool = False):  # type: ignore[no-untyped-def]
    windows = monthly(shipped)
    changes: list[Change] = []
    if cancelled:
        windows = [replace(w, cancelled=True, sequence=1, changed_at=now) for w in windows]
        changes = [Change(1, windows[0].id, Cancel("Recall"), now - timedelta(minutes=1), "ann")]
    view = LedgerView(rows, frozenset(), REMINDER_DUE - timedelta(days=30))
    return decide(shipped, windows, changes, ContactBook(CONTACTS), view, now)


def test_a_due_reminder_goes_to_every_recipient_once(shipped: Policy) -> None:
    plan = plan_at(shipped, [], REMINDER_DUE)
    (step,) = plan.steps
    assert isinstance(step, Deliver)
    assert step.due.notice.id == WEEK
    assert (
        [r.email for r in step.new]
        == [r.email for r in step.send]
        == [f"p{n}@acme.example" for n in range(4)]
    )
    assert step.post


def test_rows_left_by_a_dead_run_are_sent_again_and_only_those(shipped: Policy) -> None:
    rows = [
        row(0, S.SENT),
        row(1, S.SENDING),
        row(2, S.UNCERTAIN),
        row(3, S.UNCERTAIN, 2, resent=True),
    ]
    plan = plan_at(shipped, rows, REMINDER_DUE + timedelta(minutes=5))
    assert plan.recover == ((WEEK, "p1@acme.example"),)
    assert plan.resend_uncertain == ((WEEK, "p2@acme.example"),)
    assert plan.give_up == ((WEEK, "p3@acme.example"),)
    (step,) = plan.steps
    assert isinstance(step, Deliver)
    assert [r.email for r in step.send] == ["p1@acme.example", "p2@acme.example"]
    assert step.new == ()
    assert plan.resent_in_flight == 1


def test_a_cancel_resolves_waiting_rows_and_tells_whoever_may_have_heard(
    shipped: Policy,
) -> None:
    rows = [row(0, S.SENT), row(1, S.SENDING), row(2, S.PENDING, attempts=0),
            row(3, S.FAILED)]  # fmt: skip
    plan = plan_at(shipped, rows, REMINDER_DUE + timedelta(hours=1), cancelled=True)
    assert set(plan.cancel) == {(WEEK, "p1@acme.example"), (WEEK, "p2@acme.example")}
    assert plan.resent_in_flight == 0  # in flight, but its window is cancelled
    (step,) = plan.steps
    assert isinstance(step, Deliver)
    assert step.due.notice.id == "monthly-2030-06-21/cancel"
    # p0 got it, p1 may have (it was in flight); p2 never did; p3's was refused (4xx)
    assert [r.email for r in step.send] == ["p0@acme.example", "p1@acme.example"]


@pytest.mark.parametrize(
    ("epoch_offset", "rows", "expected"),
    [
        pytest.param(timedelta(days=-30), [], 4, id="missed_entirely"),
        pytest.param(timedelta(days=-30), [row(0, S.SENT), row(1, S.PENDING)], 1, id="partly"),
        pytest.param(timedelta(days=+30), [], None, id="before_the_first_send"),
    ],
)
def test_a_late_notice_expires(
    shipped: Policy, epoch_offset: timedelta, rows: list[DeliveryRow], expected: int | None
) -> None:
    windows = monthly(shipped)
    start = windows[0].start
    view = LedgerView(rows, frozenset(), REMINDER_DUE + epoch_offset)
    plan = decide(shipped, windows, [], ContactBook(CONTACTS), view, start + timedelta(minutes=1))
    expired = [s for s in plan.steps if isinstance(s, Expire)]
    if expected is None:
        assert expired == []
    else:
        (step,) = expired
        assert (step.notice.id, step.count) == (WEEK, expected)
