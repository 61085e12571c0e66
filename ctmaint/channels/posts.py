"""Status post files from before every notice had its own: put right by `send`.

Until issue 19, a post was written to ``posts/<window id>--<stage>.md`` whatever its
ordinal, so a second reschedule (``<window id>/reschedule-2``) overwrote the first one's
file and its ledger row recorded that same path: ``index.json`` listed two posts at one
file, which held the later text. A ledger from then has post rows whose recorded path is
not their own (:func:`ctmaint.model.notices.post_path`); :func:`refile` gives each of them, and
every other post that shared its file, its own file again:

- the post written last to the shared file (latest ``posted_at``, then highest ordinal:
  the order `send` wrote them in) keeps the text that is there, moved to its own path;
- every other one is rendered again from the change that made it, with the window as
  that change left it and its recorded ``posted_at`` (what `send` wrote then, unless
  more changes came before that run);
- a post whose window no longer exists (its calendar or date left the policy) gets a short post
  with what the ledger kept: its title, status and time.

Files are written first, the ledger's rows changed last in one transaction, so a run
stopped half-way is done again whole by the next. When nothing is misfiled (every ledger
since, and once the repair is done) this costs one small query per run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ctmaint.channels.base import NotPublished
from ctmaint.errors import os_reason
from ctmaint.model.changes import Change, final_window, group
from ctmaint.model.notices import Notice, post_path
from ctmaint.model.policy import Policy
from ctmaint.model.times import local_iso
from ctmaint.model.vocabulary import Stage
from ctmaint.publishing.files import ForeignFile, write_atomic, write_own
from ctmaint.state.ledger import Deliveries

if TYPE_CHECKING:
    from ctmaint.channels.message import Post

Row = dict[str, str]  # a post as Deliveries.posts() gives it


def misfiled(posts: Sequence[Row]) -> dict[str, list[Row]]:
    """``recorded path -> posts recorded there`` for every path some post recorded that is
    not its own; each list oldest first (the order they were written in)."""
    wrong = {post["path"] for post in posts if post["path"] != post_path(post["notice"])}
    groups: dict[str, list[Row]] = {}
    for post in posts:
        if post["path"] in wrong:
            groups.setdefault(post["path"], []).append(post)
    for shared in groups.values():
        shared.sort(key=lambda post: (post["posted_at"], _ordinal(post)))
    return groups


def refile(
    deliveries: Deliveries,
    policy: Policy,
    log: Sequence[Change],
    notices_dir: Path,
    now: datetime,
) -> str | None:
    """Give every misfiled post (see the module docstring) its own file under
    ``notices_dir``, record it and write index.json again. A file that cannot be written
    leaves the repair for the next run and is returned as the failure to report."""
    groups = misfiled(deliveries.posts())
    if not groups:
        return None
    by_window = group(log)
    planned: list[tuple[Row, str, bytes]] = []  # (post, title, text); each group's last first
    for shared, posts in groups.items():
        *rest, last = posts
        rebuilt = {post["notice"]: _rebuilt(post, policy, by_window) for post in rest}
        owner = next((p for p in rest if post_path(p["notice"]) == shared), None)
        rewritten = rebuilt[owner["notice"]][1] if owner else None
        kept = _kept_text(notices_dir, shared, post_path(last["notice"]), rewritten)
        title_text = (last["title"], kept) if kept else _rebuilt(last, policy, by_window)
        planned.append((last, *title_text))
        planned += [(post, *rebuilt[post["notice"]]) for post in rest]
    from ctmaint.publishing.statusjson import index_json

    try:
        for post, _, text in planned:  # the text kept is copied before its file is reused
            write_atomic(notices_dir / post_path(post["notice"]), text)
        deliveries.refile_posts(
            (post["notice"], post_path(post["notice"]), title) for post, title, _ in planned
        )
        write_atomic(notices_dir / "index.json", index_json(policy, deliveries.posts(), now))
    except OSError as error:
        return (
            f"the status posts that shared a file cannot be given their own in {notices_dir} "
            f"({os_reason(error)}); the next run tries again, and `ctmaint build` writes "
            "index.json"
        )
    return None


def _kept_text(notices_dir: Path, shared: str, own: str, rewritten: bytes | None) -> bytes | None:
    """The text of the post written last to ``shared``: the text there, or, if a stopped
    repair already gave ``shared`` the text ``rewritten`` of its own post, the copy it
    made first at ``own``. None if there is none."""
    try:
        text = (notices_dir / shared).read_bytes()
        if rewritten is not None and text == rewritten:
            text = (notices_dir / own).read_bytes()
    except OSError:
        return None
    return text


def _rebuilt(post: Row, policy: Policy, by_window: dict[str, list[Change]]) -> tuple[str, bytes]:
    """The title and text of ``post`` rendered again from the change that made it."""
    from ctmaint.channels.message import render_post

    posted_at = datetime.fromisoformat(post["posted_at"])
    notice = _notice(post, policy, by_window)
    if notice is None:
        return post["title"], _short_post(post, policy, posted_at)
    rendered = render_post(notice, policy, posted_at, notice.note)
    return rendered.title, rendered.markdown.encode()


def _notice(post: Row, policy: Policy, by_window: dict[str, list[Change]]) -> Notice | None:
    """The notice of ``post`` with the window as the change that made it left it."""
    window_id, stage, ordinal = post["window"], Stage(post["stage"]), _ordinal(post)
    log = by_window.get(window_id, [])
    made = [index for index, change in enumerate(log) if change.event.notice() is stage]
    if len(made) < ordinal:
        return None
    index = made[ordinal - 1]
    change = log[index]
    window = final_window(policy, window_id, log[: index + 1])
    if window is None:
        return None
    return Notice(
        window,
        stage,
        change.made_at.astimezone(UTC),
        change.event.notice_expires(window, change.made_at),
        ordinal=ordinal,
        note=change.event.note(policy),
        to_told=True,
    )


def _short_post(post: Row, policy: Policy, posted_at: datetime) -> bytes:
    """A post from what the ledger kept of it, for a window that no longer exists."""
    front = {
        "window": post["window"],
        "stage": post["stage"],
        "status": post["status"],
        "title": post["title"],
        "posted_at": local_iso(posted_at, policy.zone),
    }
    lines = "".join(
        f"{key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in front.items()
    )
    return f"---\n{lines}---\n\n# {post['title']}\n".encode()


def _ordinal(post: Row) -> int:
    """2 for ``<window id>/reschedule-2``; 1 when the id's stage has no suffix."""
    suffix = post["notice"].rpartition("/")[2].removeprefix(post["stage"])
    return int(suffix[1:]) if suffix.startswith("-") and suffix[1:].isdigit() else 1


class StatusPosts:
    """The status page's posts: a Markdown file per notice under ``folder`` (``posts/``),
    and ``index.json`` listing them (see :class:`~ctmaint.channels.base.Publisher`)."""

    def __init__(self, folder: Path, policy: Policy) -> None:
        self.folder, self.policy = folder, policy

    def publish(self, notice: Notice, note: str, now: datetime) -> Post:
        from ctmaint.channels.message import render_post

        post = render_post(notice, self.policy, now, note)
        try:
            write_atomic(self.folder / post.path, post.markdown.encode())
        except OSError as error:
            raise NotPublished(
                f"the status post of {notice.id} cannot be written to {self.folder} "
                f"({os_reason(error)}); it is written on the next run"
            ) from None
        return post

    def publish_index(self, posts: Sequence[Row], now: datetime) -> None:
        from ctmaint.publishing.statusjson import index_json

        try:
            write_own(self.folder, "index.json", index_json(self.policy, posts, now))
        except ForeignFile as error:
            raise NotPublished(f"the status index was not written: {error}") from None
        except OSError as error:
            raise NotPublished(
                f"the status index cannot be written to {self.folder} ({os_reason(error)}); "
                "`ctmaint build` writes it too"
            ) from None
