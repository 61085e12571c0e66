"""Family 3, poison: one bad recipient or one failing side of a run stops nothing else.

An address the transports cannot encode is refused by `check` (naming the line), and a
`send` with it among good contacts does not die: every other recipient gets the notice
once and nothing is left 'sending'. A status post that cannot be written does not stop
the email, and an outbox that cannot be written does not stop the post (and its
notices are delivered by the next run). A recipient SendGrid rejects is marked failed
while the rest of the run goes on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from werkzeug import Request, Response

from tests.faults.conftest import (
    CONTACTS,
    DUE,
    MONTHLY,
    MONTHLY_TO,
    NEXT_LINE,
    SOON_AFTER,
    VALID_KEY,
    SendGridFake,
    Site,
    accepted,
    addresses,
    answer,
    people,
    policy_text,
    sendgrid_table,
)

POISON = {
    "umlaut_local_part": "jörg@example.com",
    "umlaut_domain": "jorg@exämple.com",
    "all_non_ascii": "用户@例子.广告",
}
POST = f"notices/posts/{MONTHLY}--week-before.md"


def poisoned(address: str) -> str:
    return f"Jorg,,Jörg,,{address},,maintenance,*,"


@pytest.mark.parametrize("address", POISON.values(), ids=POISON.keys())
def test_check_refuses_an_address_the_transports_cannot_encode(site: Site, address: str) -> None:
    site.shipped([*CONTACTS, poisoned(address)])
    site.run("check", codes=(1,), unchanged=True, mentions=("contacts.csv", f"line {NEXT_LINE}"))


@pytest.mark.parametrize("address", POISON.values(), ids=POISON.keys())
def test_send_goes_on_past_an_address_it_cannot_encode(site: Site, address: str) -> None:
    site.shipped([*CONTACTS, poisoned(address)])
    site.run("--now", DUE, "send", codes=(0, 1))
    site.exactly_once(site.outbox_recipients(), MONTHLY_TO)
    state = site.states().get(address.lower())
    assert state in (None, "failed"), f"the poisoned row is {state!r}"


def test_one_poisoned_recipient_in_a_big_audience_costs_only_itself(site: Site) -> None:
    rows = people(60)
    rows.insert(30, f"Big Co,BIG-1,Jörg,,{POISON['umlaut_local_part']},,maintenance,*,")
    site.shipped(rows)
    site.run("--now", DUE, "send", codes=(0, 1))
    site.exactly_once(site.outbox_recipients(), addresses(people(60)))


def unwritable_notices_folder(site: Site) -> None:
    (site.root / "notices").mkdir()
    site.read_only(site.root / "notices")


def posts_is_a_file(site: Site) -> None:
    (site.root / "notices").mkdir()
    (site.root / "notices" / "posts").write_text("not a folder\n")


def index_is_a_folder(site: Site) -> None:
    (site.root / "notices" / "index.json").mkdir(parents=True)


def notices_is_a_file(site: Site) -> None:
    (site.root / "notices").write_text("not a folder\n")


POST_FAULTS = {
    "notices_folder_read_only": unwritable_notices_folder,
    "posts_is_a_file": posts_is_a_file,
    "index_json_is_a_folder": index_is_a_folder,
    "notices_is_a_file": notices_is_a_file,
}


@pytest.mark.parametrize("fault", POST_FAULTS.values(), ids=POST_FAULTS.keys())
def test_a_post_that_cannot_be_written_does_not_stop_email(
    site: Site, fault: Callable[[Site], None]
) -> None:
    site.shipped()
    fault(site)
    site.run("--now", DUE, "send", codes=(0, 1), mentions=(("post", "notices", "status"),))
    site.exactly_once(site.outbox_recipients(), MONTHLY_TO)


def test_an_outbox_that_cannot_be_written_holds_the_post_until_a_notice_goes(
    site: Site,
) -> None:
    """A status post tells what was sent: while no copy of the notice could go out it is not
    posted (issue 20: no post announces a notice nobody was sent); once one goes, it is."""
    site.shipped()
    (site.root / ".ctmaint").mkdir(mode=0o700)
    blocker = site.root / ".ctmaint" / "outbox"
    blocker.write_text("not a folder\n")
    site.run("--now", DUE, "send", codes=(0, 1), mentions=("outbox",))
    assert not (site.root / POST).exists(), "a post announced a notice nobody was sent"
    blocker.unlink()
    site.ok("--now", SOON_AFTER, "send")
    site.exactly_once(site.outbox_recipients(), MONTHLY_TO)
    assert (site.root / POST).is_file(), "the status post was not written once it was sent"


def test_a_recipient_sendgrid_rejects_is_failed_and_the_rest_is_sent(
    site: Site, sendgrid: SendGridFake
) -> None:
    poison = "pat@poison.example"

    def respond(request: Request) -> Response:
        if poison.encode() in request.get_data():
            return answer(400, "Does not contain a valid address.")(request)
        return accepted(request)

    site.shipped([*CONTACTS, f"Poison,,Pat,,{poison},,maintenance,*,"])
    site.policy(policy_text(sendgrid=sendgrid_table()))
    sendgrid.respond = respond
    site.env.update(SENDGRID_API_KEY=VALID_KEY, CTMAINT_SENDGRID_HOST=sendgrid.host)
    site.run("--now", DUE, "send", "--transport", "sendgrid", codes=(1,), mentions=(poison,))
    site.exactly_once(sendgrid.deliveries(), MONTHLY_TO)
    assert site.states()[poison] == "failed"
