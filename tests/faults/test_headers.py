"""Family 1, headers: no text from contacts.csv or the policy reaches a mail header
unescaped. `check` refuses line breaks and control characters where they would reach one,
naming the file and the line or key; `send` either refuses in one sentence or writes the
text escaped, and no .eml in the outbox gets a header the text tried to add."""

from __future__ import annotations

import re

import pytest

from tests.faults.conftest import (
    CONTACTS,
    DUE,
    MONTHLY_TO,
    NEXT_LINE,
    Site,
    csv_row,
    header_lines,
    policy_text,
    toml_string,
)

INJECTED = "Bcc: spy@evil.test"

# contact field -> the value that tries to add a header
CONTACT_FAULTS = {
    "name_crlf": ("name", f"Eve\r\n{INJECTED}"),
    "name_lf": ("name", f"Eve\n{INJECTED}"),
    "name_cr": ("name", f"Eve\r{INJECTED}"),
    "name_nul": ("name", f"Eve\x00{INJECTED}"),
    "name_u2028_line_separator": ("name", f"Eve\u2028{INJECTED}"),
    "name_u2029_paragraph_separator": ("name", f"Eve\u2029{INJECTED}"),
    "name_u0085_next_line": ("name", f"Eve\x85{INJECTED}"),
    "name_vertical_tab": ("name", f"Eve\x0b{INJECTED}"),
    "name_escape": ("name", "Eve \x1b[31mred"),
    "organization_crlf": ("organization", f"Evil Org\r\n{INJECTED}"),
    "account_crlf": ("account", f"EVL-1\r\n{INJECTED}"),
}
FIELDS = ("organization", "account", "name", "title", "email", "phone", "roles", "products",
          "timezone")  # fmt: skip


def injected_contact(field: str, value: str) -> str:
    cells = dict.fromkeys(FIELDS, "")
    cells.update(organization="Evil Org", account="EVL-1", name="Eve",
                 email="eve@evil.example", roles="maintenance", products="*")  # fmt: skip
    cells[field] = value
    return csv_row(*(cells[f] for f in FIELDS))


def contact_lines(value: str) -> tuple[str, ...]:
    """Where a message may put the appended row: the first and last of the lines a quoted
    line break makes it span, or its first line (csv_row leaves a lone CR unquoted, so the
    row ends there and each of its lines is named on its own)."""
    extra = len(re.findall(r"\r\n|\r|\n", value))
    return (f"line {NEXT_LINE}", f"lines {NEXT_LINE}-{NEXT_LINE + extra}")


# policy key -> (shipped line, the line with the key's value faulted)
POLICY_FAULTS = {
    "provider_name_crlf": (
        "provider.name",
        'name = "CallTower"',
        "name = " + toml_string(f"CallTower\r\n{INJECTED}"),
    ),
    "provider_sender_crlf": (
        "provider.sender",
        'sender = "CallTower Maintenance <maintenance@calltower.com>"',
        "sender = " + toml_string(f"CallTower\r\n{INJECTED} <maintenance@calltower.com>"),
    ),
    "provider_reply_to_crlf": (
        "provider.reply_to",
        'reply_to = "support@calltower.com"',
        "reply_to = " + toml_string(f"support@calltower.com\r\n{INJECTED}"),
    ),
    "calendar_title_crlf": (
        "calendars.monthly.title",
        'title = "Monthly scheduled maintenance"',
        "title = " + toml_string(f"Monthly\r\n{INJECTED}"),
    ),
    "calendar_title_lf": (
        "calendars.monthly.title",
        'title = "Monthly scheduled maintenance"',
        "title = " + toml_string(f"Monthly\n{INJECTED}"),
    ),
    "calendar_title_nul": (
        "calendars.monthly.title",
        'title = "Monthly scheduled maintenance"',
        "title = " + toml_string(f"Monthly\x00{INJECTED}"),
    ),
    "calendar_title_escape": (
        "calendars.monthly.title",
        'title = "Monthly scheduled maintenance"',
        "title = " + toml_string("Monthly \x1b[31mred"),
    ),
    "calendar_title_u2028": (
        "calendars.monthly.title",
        'title = "Monthly scheduled maintenance"',
        "title = " + toml_string(f"Monthly\u2028{INJECTED}"),
    ),
    "calendar_summary_crlf": (
        "calendars.monthly.summary",
        'summary = "Monthly scheduled maintenance"',
        "summary = " + toml_string(f"Monthly\r\n{INJECTED}"),
    ),
    "calendar_description_escape": (
        "calendars.monthly.description",
        'description = "System patching,',
        'description = "\\u001b[2J System patching,',
    ),
}


def assert_no_injected_header(site: Site) -> None:
    """No .eml in the outbox has a header line the injected text made, nor the text raw
    in its header block, nor a NUL there."""
    for path in site.emls():
        data = path.read_bytes()
        lines = header_lines(data)
        added = [ln for ln in lines if ln.lower().startswith(b"bcc:")]
        assert not added, f"{path.name} has a header line {added[0]!r}"
        block = b"\n".join(lines)
        assert INJECTED.encode() not in block, f"{path.name}: {INJECTED!r} raw in its headers"
        assert b"\x00" not in block, f"{path.name}: a NUL in its headers"
        assert not any(b"spy@evil.test" in ln for ln in lines if ln.lower().startswith(b"to:"))


@pytest.mark.parametrize(("field", "value"), CONTACT_FAULTS.values(), ids=CONTACT_FAULTS.keys())
def test_check_refuses_a_contact_that_would_add_a_header(
    site: Site, field: str, value: str
) -> None:
    site.shipped([*CONTACTS, injected_contact(field, value)])
    site.run("check", codes=(1,), unchanged=True, mentions=("contacts.csv", contact_lines(value)))


@pytest.mark.parametrize(("field", "value"), CONTACT_FAULTS.values(), ids=CONTACT_FAULTS.keys())
def test_send_writes_no_header_from_a_contact(site: Site, field: str, value: str) -> None:
    site.shipped([*CONTACTS, injected_contact(field, value)])
    result = site.run("--now", DUE, "send", codes=(0, 1))
    assert_no_injected_header(site)
    if result.code == 0:  # sent, escaped: every other recipient got the reminder
        assert set(site.outbox_recipients()) >= MONTHLY_TO


@pytest.mark.parametrize(("key", "old", "new"), POLICY_FAULTS.values(), ids=POLICY_FAULTS.keys())
def test_check_refuses_policy_text_that_would_break_a_header(
    site: Site, key: str, old: str, new: str
) -> None:
    site.shipped()
    site.policy(policy_text({old: new}))
    site.run("check", codes=(1,), unchanged=True, mentions=("ctmaint.toml", key))


@pytest.mark.parametrize(("key", "old", "new"), POLICY_FAULTS.values(), ids=POLICY_FAULTS.keys())
def test_send_writes_no_header_from_the_policy(site: Site, key: str, old: str, new: str) -> None:
    site.shipped()
    site.policy(policy_text({old: new}))
    site.run("--now", DUE, "send", codes=(0, 1))
    assert_no_injected_header(site)
