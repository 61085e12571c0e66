"""Family 7, bounded runs: with SendGrid unreachable, or reachable and silent, a `send`
of 200 audiences ends within 60 s, says so in one line, leaves nothing 'sending', and the
next run against a working SendGrid delivers each recipient exactly once."""

from __future__ import annotations

from tests.faults.conftest import (
    DUE,
    SOON_AFTER,
    VALID_KEY,
    BlackHole,
    SendGridFake,
    Site,
    addresses,
    closed_port,
    organizations,
    policy_text,
    sendgrid_table,
)

AUDIENCES = 200
BOUND_S = 60.0
SEND = ("send", "--transport", "sendgrid")
DOWN = ("next run", "down", "unreachable", "not answer", "no answer")


def setup(site: Site, timeout: float) -> set[str]:
    rows = organizations(AUDIENCES)
    site.shipped(rows)
    table = sendgrid_table(retries=3, backoff=1, timeout=timeout, max_wait=60)
    site.policy(policy_text(sendgrid=table))
    site.env.update(SENDGRID_API_KEY=VALID_KEY)
    return addresses(rows)


def deliver_after(site: Site, sendgrid: SendGridFake, expected: set[str]) -> None:
    """The next run, against a SendGrid that answers 202, delivers each recipient once."""
    site.ok("--now", SOON_AFTER, *SEND, env={"CTMAINT_SENDGRID_HOST": sendgrid.host})
    site.exactly_once(sendgrid.deliveries(), expected)


def test_sendgrid_at_a_closed_port(site: Site, sendgrid: SendGridFake) -> None:
    expected = setup(site, timeout=30)
    host = f"http://127.0.0.1:{closed_port()}"
    site.run("--now", DUE, *SEND, env={"CTMAINT_SENDGRID_HOST": host}, codes=(0,),
             within=BOUND_S, max_lines=1, mentions=(DOWN,))  # fmt: skip
    states = {s for _, _, s, _ in site.rows()}
    assert states <= {"pending"}, f"rows not left pending: {states}"
    deliver_after(site, sendgrid, expected)


def test_sendgrid_that_never_answers(
    site: Site, sendgrid: SendGridFake, black_hole: BlackHole
) -> None:
    expected = setup(site, timeout=2)
    site.run("--now", DUE, *SEND, env={"CTMAINT_SENDGRID_HOST": black_hole.host},
             codes=(0, 1), within=BOUND_S, mentions=(DOWN,))  # fmt: skip
    deliver_after(site, sendgrid, expected)
