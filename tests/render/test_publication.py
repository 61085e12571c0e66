from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from ctmaint.policy import Policy
from ctmaint.render import publication
from ctmaint.render.ical import event_ics
from ctmaint.schedule import windows_between


def test_parallel_event_rendering_gives_the_serial_bytes(shipped: Policy) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    windows = windows_between(shipped, now, now + timedelta(days=5 * 365))
    assert len(windows) >= publication.PARALLEL_FROM  # the forked path runs
    rendered = publication.event_files(windows, shipped, now)
    assert list(rendered) == [w.id for w in windows]
    assert rendered == {w.id: event_ics(w, shipped, now) for w in windows}


def test_a_failure_before_collecting_leaves_no_child_behind(shipped: Policy) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    windows = windows_between(shipped, now, now + timedelta(days=5 * 365))

    def fail_while_rendering_feeds() -> None:
        with publication.events_in_background(windows, shipped, now):
            raise RuntimeError("feeds failed")

    with pytest.raises(RuntimeError, match="feeds failed"):
        fail_while_rendering_feeds()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # the forked renderer was reaped
