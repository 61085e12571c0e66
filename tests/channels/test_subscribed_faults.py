"""`ctmaint send` to subscriptions whose receivers misbehave, as the real command against
loopback receivers: retries keep one webhook-id, 429 with Retry-After is waited out or left
for the next run, a silent host is down for the run alone, 410/404 fail the subscription (said
once), redirects are not followed. The policy's [channels] patience is small (see PATIENCE)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctmaint.channels.webpost import redacted
from tests.channels.receivers import Receivers, Reply, loopback_available, receivers
from tests.channels.test_subscribed_send import (
    DUE,
    LATER,
    REMINDER,
    WEEK_BEFORE,
    Site,
    add,
    apache_404,
    new_site,
)
from tests.channels.test_teams import validator
from tests.conftest import CliRunner


def made(host: str) -> Iterator[Receivers]:
    if not loopback_available(host):
        pytest.skip(f"{host} is not a loopback address here")
    made = receivers(validator(), host)
    yield made
    made.close()


@pytest.fixture
def hosts() -> Iterator[Receivers]:
    """A Teams, a Slack and a webhook receiver on 127.0.0.1."""
    yield from made("127.0.0.1")


@pytest.fixture
def elsewhere() -> Iterator[Receivers]:
    """The same on 127.0.0.2: another host, as far as down_after goes."""
    yield from made("127.0.0.2")


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return new_site(tmp_path)


def test_a_webhook_id_is_the_same_on_every_retry_of_one_delivery(
    site: Site, hosts: Receivers
) -> None:
    retried = site.subscribe(hosts.webhook)
    hosts.webhook.script(retried.path, Reply(503, body=b"try later"))
    dropped = site.subscribe(hosts.webhook)
    hosts.webhook.script(dropped.path, Reply(drop=True))  # taken, perhaps: no answer
    lost = site.subscribe(hosts.webhook)
    hosts.webhook.always(lost.path, Reply(drop=True))  # never a word
    first = site.send()
    assert first.counts.startswith("sent 3, failed 0, expired 0, pending 0, uncertain 2")
    assert hosts.problems() == []  # every request verified, the retry too
    assert [r.status for r in hosts.webhook.to(retried.path)] == [503, 204]
    (one_id,) = set(hosts.webhook.ids(retried.path))
    assert one_id.startswith("msg_")
    assert site.ledger()[(WEEK_BEFORE, dropped.key)][0] == "uncertain"
    second = site.send(LATER)
    assert "2 unanswered last time, sent once more" in second.summary
    assert [r.status for r in hosts.webhook.to(dropped.path)] == [None, 204]
    ids = hosts.webhook.ids(dropped.path)
    assert ids[0] == ids[1] != one_id  # the receiver can drop the repeat, not another's
    assert len(hosts.webhook.to(retried.path)) == 2  # nothing again for the one sent
    assert len(set(hosts.webhook.ids(lost.path))) == 1
    # Unanswered twice: given up, not sent a third time.
    third = site.send("2030-06-14T09:10:00-06:00", code=1)  # a delivery failed
    assert "1 unanswered twice, given up" in third.summary, third.summary
    assert len(hosts.webhook.to(lost.path)) == 2
    states = {key: row[0] for (_, key), row in site.ledger().items()}
    emailed = dict.fromkeys(("ann@acme.example", "cy@beta.example"), "sent")
    assert states == {**emailed, **{s.key: "sent" for s in site.subs}, lost.key: "failed"}


def test_a_429_is_waited_out_within_max_wait_and_left_for_the_next_run_beyond(
    site: Site, hosts: Receivers
) -> None:
    soon = site.subscribe(hosts.slack)
    hosts.slack.script(soon.path, Reply(429, {"Retry-After": "1"}, b"rate_limited"))
    late = site.subscribe(hosts.teams)
    hosts.teams.script(late.path, Reply(429, {"Retry-After": "30"}, b"slow down"))
    first = site.send()
    assert first.counts.startswith("sent 3, failed 0, expired 0, pending 1"), first.out
    asked, then = hosts.slack.to(soon.path)
    assert (asked.status, then.status) == (429, 200)
    assert then.at - asked.at >= 0.9  # it waited the second it was asked to
    assert [r.status for r in hosts.teams.to(late.path)] == [429]  # 30 s > max_wait: no wait
    assert "asked to wait 30 s" in first.err
    assert first.seconds < 15
    second = site.send(LATER)
    assert second.counts.startswith("sent 1, failed 0, expired 0, pending 0")
    assert [r.status for r in hosts.teams.to(late.path)] == [429, 202]
    assert len(hosts.slack.to(soon.path)) == 2
    assert hosts.problems() == []


def test_a_host_that_never_answers_is_down_for_the_run_and_other_hosts_go_on(
    site: Site, hosts: Receivers, elsewhere: Receivers
) -> None:
    site.policy(concurrency=1)  # one request at a time: the silences come in a row
    silent = [site.subscribe(hosts.webhook) for _ in range(3)]
    for sub in silent:
        hosts.webhook.always(sub.path, Reply(hang=True))
    others = [site.subscribe(receiver) for receiver in elsewhere]
    first = site.send()
    # Two silences of timeout_seconds (1 s): down, the third not asked; then the rest.
    assert first.seconds < 8, first.seconds
    asked = [sub for sub in silent if hosts.webhook.to(sub.path)]
    assert len(asked) == 2
    assert sum(len(hosts.webhook.to(sub.path)) for sub in silent) == 2  # none retried
    ledger = site.ledger()
    states = sorted(ledger[(WEEK_BEFORE, sub.key)][0] for sub in silent)
    assert states == ["pending", "uncertain", "uncertain"]
    assert "127.0.0.1 did not answer 2 requests in a row" in first.err
    for sub in others:
        assert sub.delivered() == {REMINDER[sub.channel]: 1}, sub.channel
        assert ledger[(WEEK_BEFORE, sub.key)][0] == "sent"
    assert elsewhere.problems() == []
    assert first.counts.startswith("sent 5, failed 0, expired 0, pending 1, uncertain 2")
    # The host answers again: each of its deliveries is sent once more, the same id.
    for sub in silent:
        hosts.webhook.always(sub.path, None)
    second = site.send(LATER)
    assert second.counts.startswith("sent 3, failed 0, expired 0, pending 0"), second.out
    assert "2 unanswered last time, sent once more" in second.summary
    for sub in silent:
        requests = hosts.webhook.to(sub.path)
        assert len(requests) == (2 if sub in asked else 1)
        assert requests[-1].status == 204
        assert len(set(hosts.webhook.ids(sub.path))) == 1
    assert hosts.problems() == []
    assert all(len(r.requests) == 1 for r in elsewhere)  # nothing again for those sent


def test_410_and_404_fail_the_subscription_once_and_nothing_else(
    site: Site, hosts: Receivers
) -> None:
    gone = site.subscribe(hosts.slack)
    hosts.slack.always(gone.path, Reply(410, {"Content-Type": "text/html"}, b"no_service"))
    missing = site.subscribe(hosts.teams)
    hosts.teams.always(
        missing.path, Reply(404, {"Content-Type": "text/html"}, apache_404(missing.path))
    )
    fine = [site.subscribe(hosts.webhook), site.subscribe(hosts.slack), site.subscribe(hosts.teams)]
    notices = [WEEK_BEFORE, add(site, "sip", "SIP trunk patch"), add(site, "teams", "SBC patch")]
    ran = site.send(code=1)
    assert ran.counts.startswith("sent 13, failed 6, expired 0, pending 0"), ran.out
    assert len(hosts.slack.to(gone.path)) == 1  # its later notices: no request
    assert len(hosts.teams.to(missing.path)) == 1
    lines = ran.err.splitlines()
    for sub, answer in ((gone, "410 Gone: no_service"), (missing, "404 Not Found")):
        said = [line for line in lines if sub.key in line]
        assert len(said) == 1, said  # once, though three notices were due to it
        assert answer in said[0]
    for sub in fine:
        assert sorted(sub.delivered().values()) == [1, 1, 1], sub.channel
    assert hosts.problems() == []
    emailed = site.emails()
    assert {notice for notice, address in emailed if address == "ann@acme.example"} == set(notices)
    ledger = site.ledger()
    for notice in notices:
        assert ledger[(notice, gone.key)][0] == "failed"
        assert "410" in ledger[(notice, gone.key)][3]
        assert ledger[(notice, missing.key)][0] == "failed"
    again = site.send(LATER)  # a failed delivery is final: the next run asks nobody
    assert again.counts.startswith("sent 0, failed 0")
    assert len(hosts.slack.to(gone.path)) == 1


@pytest.mark.parametrize(("status", "state"), [(202, "sent"), (503, "pending")])
def test_an_answer_that_never_ends_holds_a_request_no_longer_than_the_timeout(
    site: Site, hosts: Receivers, status: int, state: str
) -> None:
    """A receiver that sends its status, then a body a byte at a time forever: each
    request ends within timeout_seconds (1 s) all told, not at each byte, so the run ends
    and the others get theirs. A 2xx status line is the receiver's acceptance."""
    trickle = site.subscribe(hosts.teams)
    hosts.teams.always(trickle.path, Reply(status, drip=0.2))
    other = site.subscribe(hosts.slack)
    ran = site.run("send", timeout=30)
    assert ran.code == 0, (ran.seconds, ran.err)
    assert ran.seconds < 10
    assert site.ledger()[(WEEK_BEFORE, trickle.key)][0] == state
    assert other.delivered() == {REMINDER["slack"]: 1}
    assert len(hosts.teams.to(trickle.path)) == (1 if status < 300 else 3)  # 2 retries


@pytest.mark.parametrize(("status", "state"), [(202, "sent"), (503, "pending")])
def test_an_answer_whose_body_stops_half_way_is_decided_by_its_status(
    site: Site, hosts: Receivers, status: int, state: str
) -> None:
    """The status line came, then the body stalled: the receiver did answer, so the
    delivery is not 'uncertain' (which would send a 202'd card once more next run)."""
    stalled = site.subscribe(hosts.teams)
    hosts.teams.always(stalled.path, Reply(status, body=b"partial", stall=True))
    ran = site.run("send", timeout=30)
    assert ran.code == 0, ran.err
    assert ran.seconds < 10
    assert site.ledger()[(WEEK_BEFORE, stalled.key)][0] == state
    assert "uncertain" not in ran.summary


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed(site: Site, hosts: Receivers, status: int) -> None:
    _, target = hosts.webhook.new_url("/moved/")
    moved = site.subscribe(hosts.slack)
    location = hosts.webhook.url(target)
    hosts.slack.always(moved.path, Reply(status, {"Location": location}))
    ran = site.send(code=1)
    assert ran.counts.startswith("sent 2, failed 1, expired 0, pending 0"), ran.out
    assert hosts.webhook.to(target) == []  # the Location was never asked
    assert len(hosts.slack.to(moved.path)) == 1
    assert f"answered {status}" in ran.err
    assert "a redirect, not followed" in ran.err
    assert target not in ran.err


@pytest.mark.parametrize(
    "target",
    [
        "https://prod-07.westus.logic.azure.com:443/workflows/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
        "/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun"
        "&sv=1.0&sig=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde",
        "https://hooks.slack.com/services/T0123ABCD/B0123ABCDEF/abcdefghijklmnopqrstuvwx",
    ],
)
def test_an_answer_that_echoes_the_url_keeps_only_its_host(target: str) -> None:
    """A receiver's words may hold the URL, its path, a piece of it, raw or decoded."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(target)
    echoes = [
        f"no webhook at {target}",
        f"The requested URL {parts.path} was not found",
        f"GET {parts.path}?{parts.query} refused",
        f"{unquote(parts.query)} is wrong",
        *(f"'{piece}' not found" for piece in parts.path.split("/") if len(piece) >= 16),
        *(f"bad {pair.partition('=')[2]}" for pair in parts.query.split("&")),
    ]
    for echo in echoes:
        shown = redacted(echo, target)
        for piece in (parts.path, parts.query, *parts.path.split("/"), unquote(parts.query)):
            if len(piece) >= 16:
                assert piece not in shown, (echo, shown)
        assert "sig=" not in shown or "AbCdEf" not in shown
    assert redacted(f"no webhook at {target}", target) == f"no webhook at {parts.hostname}"


class FakeClock:
    """ctmaint.clock's ``time``: a monotonic clock that moves only when ctmaint sleeps
    (each sleep recorded), and the real wall clock (signatures carry real timestamps)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[tuple[float, float]] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append((self.now, seconds))
        self.now += seconds

    def time(self) -> float:
        return time.time()


def test_no_wait_for_a_subscription_ends_past_the_runs_time_budget(
    run_cli: CliRunner, site: Site, hosts: Receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Waits out Retry-After in the first channel used (Teams) take most of the 4 minutes;
    the next channel (Slack) may still claim before the deadline, but must not wait past
    it: the run's budget holds across all channels."""
    site.policy(concurrency=1, max_wait_seconds=60, retries=2)
    busy = Reply(429, {"Retry-After": "50"}, b"slow down")
    for receiver in (hosts.teams, hosts.teams, hosts.slack):
        sub = site.subscribe(receiver)
        receiver.always(sub.path, busy)
    fake = FakeClock()
    monkeypatch.setattr("ctmaint.clock.time", fake)
    started = fake.now
    result = run_cli("--now", DUE, "send")
    assert result.code == 0, result.err
    assert fake.sleeps, "nothing waited: the case did not come about"
    budget = 240.0  # the shipped policy's [send] time_budget, 4m
    late = [(at - started, s) for at, s in fake.sleeps if at + s > started + budget]
    assert late == [], f"waits ending past the run's {budget:.0f} s: {late}"


def test_history_and_notices_count_deliveries_by_channel(site: Site, hosts: Receivers) -> None:
    for receiver in hosts:
        site.subscribe(receiver)
    site.send()
    history = json.loads(site.run("history", "--format", "json").out)["notices"]
    (entry,) = [h for h in history if h["notice"] == WEEK_BEFORE]
    listed = json.loads(site.run("notices", "--format", "json").out)
    (notice,) = [n for n in listed if n["id"] == WEEK_BEFORE]
    for record in (entry, notice):
        for channel in ("email", "teams", "slack", "webhook"):
            assert channel in json.dumps(record), (channel, record)
