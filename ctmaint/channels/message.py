"""Notices as messages: subject, plain text, HTML and the window's .ics, from templates.

Rendering is per *audience* (organization, account and local zone), not per address,
so one rendered message can go to many recipients of the same audience (SendGrid
personalizations). Templates are jinja2 with HTML autoescaping: operator text such as
a description with ``<`` or ``&`` is shown, never interpreted.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from zoneinfo import ZoneInfo

from markupsafe import Markup
from msgspec import Struct

from ctmaint.model.notices import Audience, Notice, Recipient
from ctmaint.model.policy import Policy
from ctmaint.model.text import one_line
from ctmaint.model.times import human_local, local_iso
from ctmaint.model.vocabulary import Stage, WindowStatus
from ctmaint.publishing.details import details
from ctmaint.publishing.templates import template

# stage -> (subject prefix, lead sentence); {title} and {provider} are filled in.
STAGE_TEXT = {
    Stage.WEEK_BEFORE: ("In one week", "{title} is scheduled to begin in one week."),
    Stage.DAY_BEFORE: ("Tomorrow", "{title} is scheduled to begin in 24 hours."),
    Stage.START: ("Started", "{title} has begun."),
    Stage.COMPLETE: ("Completed", "{title} has been completed."),
    Stage.ANNOUNCE: ("Unscheduled maintenance", "{provider} will perform unscheduled maintenance."),
    Stage.CANCEL: ("Cancelled", "{title} has been cancelled."),
    Stage.RESCHEDULE: ("Rescheduled", "{title} has been moved to a new time."),
    Stage.EXTEND: ("Extended", "{title} will last longer than planned."),
    Stage.FOLLOW_UP: ("Follow-up", "What {title} brought."),
}
# What an announce says of work recorded after it began or ended (see Window.recorded).
LATE_ANNOUNCE_TEXT = {
    WindowStatus.IN_PROGRESS: (
        "Unscheduled maintenance in progress",
        "{provider} is performing unscheduled maintenance; it is in progress now.",
    ),
    WindowStatus.COMPLETED: (
        "Unscheduled maintenance performed",
        "{provider} performed unscheduled maintenance; it has been completed.",
    ),
}


def stage_text(notice: Notice, now: datetime) -> tuple[str, str]:
    """The subject prefix and lead sentence of ``notice`` sent at ``now`` ({title} and
    {provider} unfilled)."""
    if notice.stage is Stage.ANNOUNCE:
        return LATE_ANNOUNCE_TEXT.get(notice.status_at(now), STAGE_TEXT[Stage.ANNOUNCE])
    return STAGE_TEXT[notice.stage]


# The .ics is UTF-8 (RFC 5545, 3.1.4); without the parameter mail readers assume ASCII.
CALENDAR_CHARSET = "utf-8"
CALENDAR_TYPE = f"text/calendar; charset={CALENDAR_CHARSET}"


class Message(Struct, frozen=True):
    """One rendered notice for one audience; transports add the recipient."""

    notice_id: str
    subject: str
    text: str
    html: str
    ics: bytes
    ics_name: str
    sender: str
    reply_to: str
    domain: str


def render_message(
    notice: Notice, audience: Audience, policy: Policy, now: datetime, note: str = ""
) -> Message:
    """The message of ``notice`` for ``audience`` as of ``now``; ``note`` adds a paragraph."""
    window, provider = notice.window, policy.provider
    zone = ZoneInfo(audience.zone_key) if audience.zone_key else None
    prefix, lead = stage_text(notice, now)
    start = human_local(window.start, policy.zone)
    subject = one_line(f"[{provider.name}] {prefix}: {window.title}, {start}")
    context = {
        "provider": provider,
        "window": window,
        "subject": subject,
        "lead": lead.format(title=window.title, provider=provider.name),
        "details": details(window, policy, zone),
        "note": note,
        "organization": audience.organization,
        "status_page": provider.status_page,
        "calendar": f"{provider.calendar_url}/all.ics" if provider.calendar_url else "",
    }
    return Message(
        notice_id=notice.id,
        subject=subject,
        text=template("notice.txt.j2").render(context),
        html=template("notice.html.j2").render(context),
        ics=window_ics(notice, policy, now, audience.account),
        ics_name=f"{window.id}.ics",
        sender=provider.sender,
        reply_to=provider.reply_to,
        domain=provider.domain,
    )


def window_ics(notice: Notice, policy: Policy, now: datetime, account: str) -> bytes:
    """A calendar holding the notice's window, with X-MAINTNOTE-ACCOUNT set to ``account``."""
    from ctmaint.publishing import ical  # icalendar: only when a message is actually sent

    return ical.window_calendar(notice.window, policy, now, account)


def envelope(message: Message, now: datetime) -> bytes:
    """The RFC 5322 message, less the headers that differ per recipient (To, Message-ID):
    text and HTML alternatives and the .ics. Built once, it serves a whole audience."""
    email = EmailMessage()
    email["Date"] = format_datetime(now)
    email["From"] = message.sender
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    email["Subject"] = message.subject
    email["X-Ctmaint-Notice-Id"] = message.notice_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    email.add_attachment(
        message.ics,
        maintype="text",
        subtype="calendar",
        filename=message.ics_name,
        params={"charset": CALENDAR_CHARSET},
    )
    data: bytes = email.as_bytes(policy=SMTP)
    return data


def personalize(envelope_bytes: bytes, message: Message, recipient: Recipient) -> bytes:
    """``envelope_bytes`` addressed to one recipient.

    The Message-ID is derived from the notice and the address, so a delivery repeated
    after a crash carries the same id and mail systems can drop the duplicate.
    """
    to: str = SMTP.fold("To", formataddr((one_line(recipient.name), recipient.email)))
    identity: str = SMTP.fold("Message-ID", message_id(message, recipient))
    return (to + identity).encode("ascii") + envelope_bytes


def message_id(message: Message, recipient: Recipient) -> str:
    digest = hashlib.sha256(f"{message.notice_id}\0{recipient.email}".encode()).hexdigest()
    local = message.notice_id.replace("/", ".")
    return f"<{local}.{digest[:16]}@{message.domain}>"


class Post(Struct, frozen=True):
    """A status post: its file under notices/, its title and status, its Markdown."""

    path: str
    title: str
    status: str
    markdown: str


def render_post(notice: Notice, policy: Policy, posted_at: datetime, note: str = "") -> Post:
    """The status-page post of ``notice``: Markdown with front matter."""
    window = notice.window
    prefix, lead = stage_text(notice, posted_at)
    title = f"{prefix}: {window.title}, {human_local(window.start, policy.zone)}"
    status = str(notice.status_at(posted_at))
    quote = _yaml_string
    front_matter = {
        "window": quote(window.id),
        "stage": quote(notice.stage),
        "status": quote(status),
        "title": quote(title),
        "start": quote(local_iso(window.start, policy.zone)),
        "end": quote(local_iso(window.end, policy.zone)),
        "products": "[" + ", ".join(quote(p) for p in window.products) + "]",
        "impact": quote(window.impact),
        "posted_at": quote(local_iso(posted_at, policy.zone)),
    }
    markdown = template("post.md.j2").render(
        front_matter=Markup("".join(f"{key}: {value}\n" for key, value in front_matter.items())),
        title=title,
        lead=lead.format(title=window.title, provider=policy.provider.name),
        details=details(window, policy),
        note=note,
    )
    return Post(notice.post_path, title, status, markdown)


def _yaml_string(text: str) -> str:
    """A double-quoted YAML scalar (JSON string syntax is valid YAML)."""
    return json.dumps(text, ensure_ascii=False)
