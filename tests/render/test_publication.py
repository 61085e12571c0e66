from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
