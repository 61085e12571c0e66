"""The change events: what each stores, reads back, refuses and does to a window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ctmaint.errors import ScheduleError, StateError
from ctmaint.model.changes import Change, final_window, rule_window
from ctmaint.model.events import Add, Cancel, Complete, Edit, Extend, FollowUp, Reschedule, decode
from ctmaint.model.policy import Policy
from ctmaint.model.vocabulary import ChangeKind, Impact

MONTHLY = "monthly-2030-06-21"
T = datetime(2030, 6, 10, 12, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# What earlier ctmaint versions stored, byte for byte the same JSON objects.
STORED: list[tuple[str, dict[str, Any]]] = [
    ("add", {"start": "2030-06-06T05:30:00Z", "end": "2030-06-06T07:30:00Z",
             "products": ["teams", "sip"], "impact": "DEGRADED", "urgent": False,
             "summary": "Emergency SBC patch", "description": "Patch.", "justification": "CVE."}),
    ("edit", {"description": "New words.", "products": ["teams"], "impact": "OUTAGE"}),
    ("cancel", {"reason": "Vendor recall"}),
    ("reschedule", {"start": "2030-06-29T04:00:00Z", "end": "2030-06-29T10:00:00Z",
                    "was_start": "2030-06-22T04:00:00Z", "was_end": "2030-06-22T10:00:00Z"}),
    ("extend", {"end": "2030-06-22T12:00:00Z", "was_end": "2030-06-22T10:00:00Z"}),
    ("complete", {"end": "2030-06-22T08:00:00Z", "was_end": "2030-06-22T10:00:00Z"}),
    ("follow-up", {"notes": "All went well."}),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "fields"), STORED, ids=[k for k, _ in STORED])
def test_stored_changes_decode_and_encode_to_the_same_json(
    kind: str, fields: dict[str, Any]
) -> None:
    event = decode(kind, fields)
    assert event.kind == ChangeKind(kind)
    assert event.to_json() == fields


@pytest.mark.parametrize(
    ("kind", "fields"),
    [("add", {"start": "soon"}), ("cancel", {}), ("teleport", {"to": "mars"}),
     ("edit", {"impact": "SEVERE"}), ("extend", {"end": 5, "was_end": None})],
)  # fmt: skip
def test_a_change_that_cannot_be_read_is_a_state_error(kind: str, fields: dict[str, Any]) -> None:
    with pytest.raises(StateError, match="restore the state database"):
        decode(kind, fields)


def monthly(shipped: Policy) -> Any:
    window = rule_window(shipped, MONTHLY)
    assert window is not None
    return window


def test_events_apply_in_order_and_raise_the_sequence(shipped: Policy) -> None:
    log = [
        Change(i, MONTHLY, decode(kind, fields), T + timedelta(minutes=i), "ann")
        for i, (kind, fields) in enumerate(STORED[1:5], start=1)
    ]
    window = final_window(shipped, MONTHLY, log)
    assert window is not None
    assert window.cancelled
    assert window.description == "New words."
    assert window.impact is Impact.OUTAGE
    assert window.end == at("2030-06-22T12:00:00+00:00")
    assert window.sequence == 4
    assert window.changed_at == T + timedelta(minutes=4)


def test_an_edit_of_unscheduled_work_renames_it(shipped: Policy) -> None:
    add = decode(*STORED[0])
    assert isinstance(add, Add)
    window = add.create("unscheduled-2030-06-05-1", shipped, T)
    assert window.title == "Emergency SBC patch"
    edited = Edit({"summary": "Emergency SBC patch, part 2"}).apply(window, shipped, T)
    assert edited.title == "Emergency SBC patch, part 2"
    assert edited.edited_fields == ("summary",)


def refused(event: Any, shipped: Policy, now: datetime = T) -> str:
    with pytest.raises(ScheduleError) as error:
        event.validate(monthly(shipped), shipped, now)
    return str(error.value)


def test_noop_and_bad_changes_are_refused(shipped: Policy) -> None:
    window = monthly(shipped)
    same = Reschedule(window.start, window.end, window.start, window.end)
    assert "nothing to move" in refused(same, shipped)
    assert "already has these details" in refused(Edit({"impact": Impact.DEGRADED}), shipped)
    assert "nothing to edit" in refused(Edit({}), shipped)
    assert "the summary is empty" in refused(Edit({"summary": " "}), shipped)
    assert "line break" in refused(Edit({"summary": "a\r\nb"}), shipped)
    assert "control character" in refused(Cancel("why\x00"), shipped)
    assert "line break" in refused(Cancel("a\u2028b"), shipped)
    too_long = Extend(window.start + timedelta(days=32), window.end)
    assert "longer than the 31 days allowed" in refused(too_long, shipped)
    assert "not after the current end" in refused(Extend(window.end, window.end), shipped)
    early = Complete(window.start + timedelta(hours=1), window.end)
    assert "in the future" in refused(early, shipped)
    ended = window.end + timedelta(minutes=1)
    assert "cannot be changed" in refused(Cancel("late"), shipped, ended)
    assert "has not ended" in refused(FollowUp("notes"), shipped)


def test_multiline_texts_keep_newlines_and_tabs(shipped: Policy) -> None:
    Cancel("Line one\n\tLine two").validate(monthly(shipped), shipped, T)
    Edit({"description": "a\nb"}).validate(monthly(shipped), shipped, T)


def test_new_work_is_checked_before_it_has_an_id(shipped: Policy) -> None:
    def work(**changes: Any) -> Add:
        values: dict[str, Any] = {
            "start": at("2030-06-13T23:30:00-06:00"), "end": at("2030-06-14T01:30:00-06:00"),
            "products": ("teams",), "impact": Impact.DEGRADED, "summary": "s",
            "description": "d", "justification": "j",
        }  # fmt: skip
        return Add(**(values | changes))

    work().check(shipped, T)
    with pytest.raises(ScheduleError, match="longer than the 31 days"):
        work(end=at("2030-07-20T01:30:00-06:00")).check(shipped, T)
    with pytest.raises(ScheduleError, match="mark it urgent"):
        work(start=at("2030-06-13T12:00:00-06:00")).check(shipped, T)
    work(start=at("2030-06-13T12:00:00-06:00"), urgent=True).check(shipped, T)
    with pytest.raises(ScheduleError, match="already past"):
        work().check(shipped, T + timedelta(days=10))
