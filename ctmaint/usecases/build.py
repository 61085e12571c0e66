"""`ctmaint build`: render every calendar, feed and status file, then publish them as one
whole set (see :mod:`ctmaint.publishing.files`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from msgspec import Struct

from ctmaint.errors import (
    Input,
    PublishError,
    UsageError,
    os_reason,
)
from ctmaint.publishing.files import (
    ForeignFile,
    publish_trees,
)
from ctmaint.state.ledger import (
    Deliveries,
)
from ctmaint.usecases.workspace import (
    Workspace,
    schedule,
)


class BuildResult(Struct, frozen=True):
    """What `build` did: the windows, the files written, unchanged and removed."""

    windows: int
    written: list[Path]
    unchanged: int
    removed: list[Path]  # files an earlier build wrote that this one no longer writes
    notes: list[str]  # why a file an earlier build wrote was left in place


def build(workspace: Workspace, calendars_dir: Path, notices_dir: Path) -> BuildResult:
    """Render every feed and status document, then write them atomically.

    Everything is rendered in memory first: a failure leaves the previous files intact.
    """
    from ctmaint.publishing.site import Horizon, calendar_files, notice_files

    if calendars_dir.resolve() == notices_dir.resolve():
        raise UsageError(
            f"the feeds and the status files would share {calendars_dir}: give two folders",
            about=Input.CALENDARS,
        )
    policy, now = workspace.policy, workspace.now
    horizon = Horizon(
        now - timedelta(days=policy.days_back), now + timedelta(days=policy.days_ahead)
    )
    windows = schedule(workspace, horizon.start, horizon.end)
    calendars = calendar_files(windows, policy, now, horizon)
    with workspace.reading() as ledger:
        posts = Deliveries(ledger).posts()  # index.json lists what `send` posted
    notices = notice_files(windows, policy, now, horizon, posts, workspace.changes)
    try:
        done = publish_trees({calendars_dir: calendars, notices_dir: notices})
    except ForeignFile as error:
        raise PublishError(str(error)) from None
    except OSError as error:
        where = error.filename or f"{calendars_dir} or {notices_dir}"
        raise PublishError(
            f"cannot write {where} ({os_reason(error)}); the previous feeds and status files "
            "are unchanged"
        ) from None
    total = len(calendars) + len(notices) + 2  # and the record of each folder
    return BuildResult(
        len(windows), done.written, total - len(done.written), done.removed, done.notes
    )
