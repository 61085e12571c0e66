"""Family 2, secrets: a SendGrid key or host that cannot work stops `send` in one sentence
before anything is claimed or sent, the key is never printed or stored (the sentinel is
looked for in every output and every file of the folder, state.db included), and nothing
is given up on: after a bad host, a run through the outbox delivers each recipient once.
Every other SendGrid fault path (401, 403, 400, 429, 5xx, no answer) keeps the key secret."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from werkzeug import Request, Response

from tests.faults.conftest import (
    DUE,
    MONTHLY_TO,
    SENTINEL,
    SENTINEL_KEY,
    BlackHole,
    SendGridFake,
    Site,
    answer,
    policy_text,
    sendgrid_table,
)

SEND = ("--now", DUE, "send", "--transport", "sendgrid")

KEY_FAULTS = {
    "newline": f"SG.{SENTINEL}\npart2",
    "newline_in_a_well_shaped_key": SENTINEL_KEY[:20] + "\n" + SENTINEL_KEY[20:],
    "euro_sign": SENTINEL_KEY.replace("-.", "€."),
    "spaces_inside": SENTINEL_KEY.replace("-.", " .").replace("-NOT-", " NOT "),
    "control_character": SENTINEL_KEY.replace("-.", "\x01."),
    "tab_inside": SENTINEL_KEY.replace("-.", "\t."),
    "not_sendgrid_shaped": SENTINEL,
    "missing_second_part": f"SG.{SENTINEL}",
    "quoted": f'"{SENTINEL_KEY}"',
    "abc": "abc",
    "empty": "",
    "blank": "   ",
}

HOST_FAULTS = {
    "not_a_url": "not a url",
    "port_not_numeric": "http://127.0.0.1:99x",
    "ftp_scheme": "ftp://x",
    "no_host": "http://",
    "unclosed_ipv6_bracket": "http://[::1",
    "port_out_of_range": "http://127.0.0.1:99999",
}


def setup(site: Site) -> None:
    site.shipped()
    site.policy(policy_text(sendgrid=sendgrid_table(retries=1, backoff=0.05, timeout=5)))


def assert_nothing_given_up(site: Site) -> None:
    given_up = [(r, s) for n, r, s, _ in site.rows() if s in ("uncertain", "failed")]
    assert not given_up, f"rows given up after a fault of the set-up: {given_up[:3]}"


def assert_still_deliverable(site: Site) -> None:
    """Nothing was given up on: no row 'uncertain' or 'failed', and a run through the
    outbox at the same moment delivers every recipient once."""
    assert_nothing_given_up(site)
    site.ok("--now", DUE, "send", "--transport", "outbox", secret=True)
    site.exactly_once(site.outbox_recipients(), MONTHLY_TO)


@pytest.mark.parametrize("key", KEY_FAULTS.values(), ids=KEY_FAULTS.keys())
def test_a_bad_key_is_refused_in_one_sentence_that_never_holds_it(
    site: Site, sendgrid: SendGridFake, key: str
) -> None:
    setup(site)
    site.env.update(SENDGRID_API_KEY=key, CTMAINT_SENDGRID_HOST=sendgrid.host)
    site.run(*SEND, codes=(1, 2), secret=True, max_lines=1, mentions=("SENDGRID_API_KEY",))
    assert not sendgrid.bodies, "the key was used before it was checked"
    assert_nothing_given_up(site)


@pytest.mark.parametrize("host", HOST_FAULTS.values(), ids=HOST_FAULTS.keys())
def test_a_bad_host_is_refused_in_one_sentence_and_nothing_is_given_up(
    site: Site, host: str
) -> None:
    setup(site)
    site.env.update(SENDGRID_API_KEY=SENTINEL_KEY, CTMAINT_SENDGRID_HOST=host)
    site.run(*SEND, codes=(1, 2), secret=True, max_lines=1, mentions=("CTMAINT_SENDGRID_HOST",))
    assert_still_deliverable(site)


ANSWERS: dict[str, tuple[Callable[[Request], Response], tuple[int, ...]]] = {
    "401_bad_key": (answer(401, "The provided authorization grant is invalid"), (1,)),
    "403_no_permission": (answer(403, "access forbidden"), (1,)),
    "400_rejected": (answer(400, "Does not contain a valid address."), (1,)),
    "429_no_reset": (answer(429, "too many requests"), (0,)),
    "500_server_error": (answer(500, "internal error"), (0,)),
}


@pytest.mark.parametrize(("respond", "codes"), ANSWERS.values(), ids=ANSWERS.keys())
def test_every_sendgrid_answer_keeps_the_key_secret(
    site: Site,
    sendgrid: SendGridFake,
    respond: Callable[[Request], Response],
    codes: tuple[int, ...],
) -> None:
    setup(site)
    sendgrid.respond = respond
    site.env.update(SENDGRID_API_KEY=SENTINEL_KEY, CTMAINT_SENDGRID_HOST=sendgrid.host)
    site.run(*SEND, codes=codes, secret=True)
    assert sendgrid.authorizations, "no request reached the fake SendGrid"
    site.run("history", codes=(0,), secret=True)


def test_no_answer_keeps_the_key_secret(site: Site, black_hole: BlackHole) -> None:
    site.shipped()
    site.policy(policy_text(sendgrid=sendgrid_table(retries=0, backoff=0.05, timeout=1)))
    site.env.update(SENDGRID_API_KEY=SENTINEL_KEY, CTMAINT_SENDGRID_HOST=black_hole.host)
    site.run(*SEND, codes=(0, 1), secret=True, within=30)
    site.run("history", codes=(0,), secret=True)


@pytest.mark.parametrize(
    "key", [KEY_FAULTS["newline"], KEY_FAULTS["not_sendgrid_shaped"]], ids=["newline", "shape"]
)
@pytest.mark.parametrize("command", ["check", "send --dry-run"])
def test_commands_that_only_look_never_print_the_key(site: Site, key: str, command: str) -> None:
    site.shipped()
    site.policy(policy_text(transport="sendgrid"))
    site.env.update(SENDGRID_API_KEY=key)
    site.run("--now", DUE, *command.split(), codes=(0, 1), secret=True)
