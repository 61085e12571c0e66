"""The hardest user of subscriptions: `ctmaint` run for real (its entry point, through the
suite's CliRunner; a subprocess where a broken run could hang) against loopback receivers,
trying to break what issue 22 promises. Nothing of a URL beyond its host nor any of a secret
is ever shown or stored, whatever the URL looks like; subscriptions.csv is read as a person
writes it (BOM, CRLF, quotes, comments, case) and every bad row or file is named by file
and line, never a traceback; each notice reaches each subscription once, a change notice
reaches those told and no one removed since; and no receiver, however it misbehaves (a
reset, a body it may not send, headers a byte at a time, a Retry-After of decades, a 429
storm), makes a run hang, leave a row 'sending', or post one subscription's notice twice.

Tests marked ``xfail(strict=True)`` are defects found outside the channel modules; each
reason names the file and line and what a user sees.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

import tests.channels.receivers as receiving
from tests.channels.receivers import (
    Receivers,
    Reply,
    SlackReceiver,
    receivers,
    token,
)
from tests.channels.test_subscribed_send import (
    DUE,
    LATER,
    MONTHLY,
    REMINDER,
    WEEK_BEFORE,
    Ran,
    Site,
    Sub,
    apache_404,
    new_site,
)
from tests.channels.test_teams import validator
from tests.conftest import CliRunner

HEADER = "organization,account,channel,target,products,timezone,secret"
LATEST = "2030-06-14T09:10:00-06:00"  # a third run, after LATER
AFTER_WINDOW = "2030-06-22T09:00:00-06:00"  # every notice of the monthly window is past grace


@pytest.fixture
def hosts() -> Iterator[Receivers]:
    made = receivers(validator())
    yield made
    made.close()


class InProcess(Site):
    """A Site whose runs are in this process (the suite's CliRunner): the same entry point
    as the installed command, without starting Python each time."""

    cli: CliRunner | None = None

    def run(self, *args: str, now: str = DUE, timeout: float = 60) -> Ran:
        assert self.cli is not None
        started = time.monotonic()
        result = self.cli("--now", now, *args)
        ran = Ran(result.code, result.out, result.err, time.monotonic() - started)
        assert "Traceback" not in ran.err + ran.out, ran.err
        self.printed.append(ran.out + ran.err)
        return ran


@pytest.fixture
def site(tmp_path: Path, run_cli: CliRunner) -> Site:
    new_site(tmp_path)  # contacts.csv and the policy
    made = InProcess(tmp_path)
    made.cli = run_cli
    return made


@pytest.fixture
def process_site(tmp_path: Path) -> Site:
    """A Site whose runs are subprocesses: for a run that, broken, could hang."""
    return new_site(tmp_path)


@pytest.fixture
def raw() -> Iterator[RawReceiver]:
    made = RawReceiver()
    yield made
    made.close()


# -- helpers --------------------------------------------------------------------------------


def write_rows(site: Site, rows: list[str], text: str | None = None) -> Path:
    """subscriptions.csv (mode 600) holding ``rows`` under the header (or exactly ``text``)."""
    path = site.root / "subscriptions.csv"
    path.write_text(text if text is not None else "\n".join([HEADER, *rows]) + "\n", "utf-8")
    path.chmod(0o600)
    return path


def row(sub: Sub, account: str = "") -> str:
    return f"{sub.org},{account or sub.org},{sub.channel},{sub.url},{sub.products},,{sub.secret}"


def states(site: Site) -> dict[tuple[str, str], str]:
    """(notice, recipient) -> state; no handled error may leave a row 'sending'."""
    found = {key: value[0] for key, value in site.ledger().items()}
    assert "sending" not in found.values(), found
    return found


def stored_and_printed(site: Site) -> list[str]:
    """Everything a run printed, and every file under .ctmaint and notices/."""
    texts = list(site.printed)
    for folder in (site.root / ".ctmaint", site.root / "notices"):
        for path in folder.rglob("*"):
            if path.is_file():
                texts.append(path.read_bytes().decode("utf-8", "replace"))
    return texts


def exposed(site: Site, secrets: list[str]) -> list[str]:
    """The ``secrets`` (tokens, secrets) found in anything printed or stored."""
    texts = stored_and_printed(site)
    return sorted({s for s in secrets for text in texts if s in text or s.lower() in text})


# -- a receiver that says what http.server cannot ---------------------------------------------


Answer = bytes | Callable[[socket.socket], bool]


class RawReceiver:
    """A loopback server answering each POST with the raw bytes scripted for its path's
    first segment (a 204 with a body, any reason phrase, headers a byte at a time, a
    reset). A callable answer gets the socket and returns False to end the connection."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.answers: dict[str, Answer] = {}
        self.stopping = threading.Event()
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while not server.stopping.is_set() and (path := self._request()):
                    server.requests.append(path)
                    answer = server.answers.get("/" + path.split("/")[1], OK)
                    if callable(answer):
                        if not answer(self.connection):
                            return
                    else:
                        self.connection.sendall(answer)

            def _request(self) -> str:
                """Read one request; its path, or "" when the client closed."""
                line = self.rfile.readline()
                if not line:
                    return ""
                length = 0
                while (header := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                self.rfile.read(length)
                return line.decode("latin-1").split(" ")[1]

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: object, client_address: object) -> None:
                return  # a client that reset or left: what the test is about, not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, prefix: str) -> tuple[str, str]:
        """A fresh URL under ``prefix`` and its token."""
        secret = token()
        return f"http://127.0.0.1:{self.port}{prefix}/{secret}", secret

    def to(self, prefix: str) -> list[str]:
        return [path for path in self.requests if path.startswith(prefix + "/")]

    def close(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok"


def reset(sock: socket.socket) -> bool:
    """Read the request, then reset the connection (RST): no answer at all."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    return False


def trickle(stopping: threading.Event, status_line: bytes) -> Callable[[socket.socket], bool]:
    """Send ``status_line``, then one byte of a header every 0.2 s, for 20 s at most."""

    def answer(sock: socket.socket) -> bool:
        try:
            sock.sendall(status_line + b"X-Pad: ")
            ends = time.monotonic() + 20
            while not stopping.wait(0.2) and time.monotonic() < ends:
                sock.sendall(b"a")
        except OSError:
            pass
        return False

    return answer


# -- nothing of a URL beyond its host, nor a secret ----------------------------------------


class V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class V6SlackReceiver(SlackReceiver):
    def url(self, path: str) -> str:
        return f"http://[::1]:{self.port}{path}"


def v6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def v6() -> Iterator[V6SlackReceiver]:
    if not v6_available():
        pytest.skip("no IPv6 loopback here")
    with pytest.MonkeyPatch.context() as patched:  # only while it is made
        patched.setattr(receiving, "ThreadingHTTPServer", V6Server)
        made = V6SlackReceiver("::1")
    yield made
    made.close()


def odd(site: Site, receiver: SlackReceiver, path: str, url: str) -> Sub:
    sub = Sub(receiver, url, path, "*", org=f"Org {len(site.subs)}")
    site.subs.append(sub)
    return sub


def test_odd_urls_reach_their_receivers_and_nothing_shows_more_than_their_host(
    site: Site, hosts: Receivers, v6: V6SlackReceiver
) -> None:
    """IPv6 loopback, an uppercase scheme, a fragment, percent-encoding, userinfo-like text
    in the path, a token in the query, a long path; one echoed back in a 404 page, one in a
    503; rows refused for a password, an unreadable URL, plain http elsewhere."""
    slack = hosts.slack
    tokens = [token() for _ in range(11)]
    paths = [f"/up/{tokens[1]}", f"/frag/{tokens[2]}", f"/u:p@evil.example/{tokens[4]}",
             f"/long/{tokens[5]}/{'a' * 3000}"]  # fmt: skip
    urls = [slack.url(paths[0]).replace("http", "HTTP"), slack.url(paths[1]) + "#" + tokens[3],
            slack.url(paths[2]), slack.url(paths[3])]  # fmt: skip
    good = [odd(site, v6, f"/v6/{tokens[0]}", v6.url(f"/v6/{tokens[0]}"))]
    good += [odd(site, slack, path, url) for path, url in zip(paths, urls, strict=True)]
    encoded = "%74%6F%6B" + tokens[6][3:]  # "tok..." written percent-encoded
    echo_404 = odd(site, slack, f"/pct/{encoded}", slack.url(f"/pct/{encoded}"))
    slack.always(echo_404.path, Reply(404, {"Content-Type": "text/html"},
                                      apache_404(f"/pct/{tokens[6]}")))  # fmt: skip
    query = f"/q?api-version=1&sig={tokens[7]}"
    echo_503 = odd(site, slack, query, slack.url(query))
    slack.always(query, Reply(503, body=f"busy: {echo_503.url} and {query}".encode()))
    refused = [
        f"Bad,B1,slack,http://user:{tokens[8]}@127.0.0.1:{slack.port}/x,*,,",
        f"Bad,B2,slack,http://[::1/x{tokens[9]},*,,",
        f"Bad,B3,teams,http://teams.example.com/{tokens[10]},*,,",
    ]
    write_rows(site, [row(sub) for sub in site.subs] + refused)
    assert site.run("check").code == 1
    planned = site.run("send", "--dry-run", "--format", "json")
    keys = {s["key"] for d in json.loads(planned.out)["deliveries"] for s in d["subscriptions"]}
    assert keys == {sub.key for sub in site.subs}
    ran = site.send(code=1)
    assert "127.0.0.1 answered 404" in ran.err
    assert "127.0.0.1 answered 503" in ran.err
    for sub in good:
        assert sub.delivered() == Counter({REMINDER["slack"]: 1}), sub.path[:40]
    site.send(LATER, code=1)  # the 503 again (the refused rows keep the exit at 1)
    for args in (("notices",), ("history",)):
        site.run(*args, "--format", "json", now=LATER)
        site.run(*args, now=LATER)
    assert exposed(site, [*tokens, tokens[6][3:]]) == []  # the fragment's too
    assert states(site)[(WEEK_BEFORE, echo_503.key)] == "pending"


def test_a_reason_phrase_that_names_the_url_shows_its_host_only(
    site: Site, raw: RawReceiver
) -> None:
    """Old servlet containers put the error message, URL and all, in the status line."""
    url, secret = raw.url("/phrase")
    raw.answers["/phrase"] = (
        f"HTTP/1.1 404 No webhook at /phrase/{secret} ({url})\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    long_url, long_secret = raw.url("/long")
    raw.answers["/long"] = b"HTTP/1.1 400 " + b"x" * 60_000 + b"\r\nContent-Length: 0\r\n\r\n"
    write_rows(site, [f"A,A,slack,{url},*,,", f"B,B,teams,{long_url},*,,"])
    ran = site.send(code=1)
    assert "127.0.0.1 answered 404 No webhook at" in ran.err, ran.err
    assert "127.0.0.1 answered 400" in ran.err
    assert max(map(len, ran.err.splitlines())) < 600  # a 60 KB reason is cut
    assert exposed(site, [secret, long_secret]) == []
    assert set(states(site).values()) == {"sent", "failed"}


@pytest.mark.parametrize(
    "swap",
    ["url-in-channel", "url-in-products", "secret-in-timezone"],
)
def test_a_row_with_swapped_columns_never_prints_its_url_or_secret(
    site: Site, hosts: Receivers, swap: str
) -> None:
    url, path = hosts.webhook.new_url("/webhook/")
    secret = hosts.webhook.secrets[path]
    cells = {
        "url-in-channel": f"Acme,A,{url},webhook,*,,{secret}",
        "url-in-products": f"Acme,A,webhook,*,{url},,{secret}",
        "secret-in-timezone": f"Acme,A,webhook,{url},*,{secret},America/Denver",
    }
    write_rows(site, [cells[swap]])
    checked = site.run("check")
    assert checked.code == 1
    assert "subscriptions.csv: line 2" in checked.err
    site.run("send", "--dry-run")
    site.send(code=1)
    assert exposed(site, [path.rsplit("/", 1)[1], secret.removeprefix("whsec_")]) == []


# -- subscriptions.csv as people write it ----------------------------------------------------


def test_bom_crlf_quotes_comments_case_and_duplicates_are_read_as_meant(
    site: Site, hosts: Receivers
) -> None:
    teams = Sub(hosts.teams, *hosts.teams.new_url("/teams/"), "sip;connect", org="Acme, Inc")
    slack = Sub(hosts.slack, *hosts.slack.new_url("/slack/"), "*", org="Beta")
    url, path = hosts.webhook.new_url("/webhook/")
    webhook = Sub(hosts.webhook, url, path, "*", hosts.webhook.secrets[path], org="Gamma")
    lost = Sub(hosts.slack, *hosts.slack.new_url("/slack/"), "*", org="Delta")
    lines = [
        '# subscriptions, with a comment that "opens a quote',
        HEADER,
        f'"Acme, Inc",ACME-1,Teams,{teams.url},"SIP; Connect",,',
        f"  # {slack.url},  a commented-out row",
        f"Beta,BETA-1,SLACK ,{slack.url},*,Europe/London,",
        f"Beta,BETA-1,slack,{slack.url},*,Europe/London,",  # the same row again
        f"Gamma,GAMMA-1,webhook,{webhook.url},*,,{webhook.secret}",
        f"Delta,DELTA-1,slack,{lost.url},*,Mars/Olympus,",  # line 8: no such zone
        f"Delta,DELTA-2,slack,{lost.url},,,",  # line 9: no products
    ]
    write_rows(site, [], text="\ufeff" + "\r\n".join(lines) + "\r\n")
    checked = site.run("check")
    assert checked.code == 1
    said = [line for line in checked.err.splitlines() if "subscriptions.csv" in line]
    assert [line.split(": ")[2] for line in said] == ["line 8", "line 9"], said
    assert "Mars/Olympus" in said[0]
    assert "products is empty" in said[1]
    ran = site.send(code=1)  # the bad rows left out, said; the rest delivered
    assert ran.summary.startswith("sent 5 (email 2, slack 1, teams 1, webhook 1)"), ran.out
    assert "left out until fixed" in ran.err
    assert "line 8" in ran.err
    for sub in (teams, slack, webhook):
        assert sum(sub.delivered().values()) == 1, sub.channel
    assert hosts.slack.to(lost.path) == []
    assert hosts.problems() == []


def test_a_file_that_is_no_file_or_others_can_read_is_named_and_email_still_goes(
    site: Site, hosts: Receivers, tmp_path: Path
) -> None:
    path = site.root / "subscriptions.csv"
    path.mkdir()
    for args in (("check",), ("send", "--dry-run")):
        ran = site.run(*args)
        assert ran.code == 1, ran.err
        assert f"{path}: is not a file" in ran.err, ran.err
    path.rmdir()
    assert site.run("check").code == 0  # no file: no subscriptions
    sub = site.subscribe(hosts.slack)
    path.chmod(0o644)  # appears between check and send, readable by all
    ran = site.send(code=1)
    assert f"{path}: can be read by others (mode 644)" in ran.err
    assert ran.summary.startswith("sent 2, failed 0"), ran.out  # the email went
    assert hosts.slack.requests == []
    real = tmp_path / "elsewhere.csv"  # a symlink to a file only its owner reads: fine
    path.rename(real)
    real.chmod(0o600)
    path.symlink_to(real)
    site.send(LATER)
    assert sub.delivered() == Counter({REMINDER["slack"]: 1})


def test_a_dangling_symlink_is_named_not_taken_for_no_subscriptions(
    site: Site, tmp_path: Path
) -> None:
    (site.root / "subscriptions.csv").symlink_to(tmp_path / "not-mounted" / "subscriptions.csv")
    checked = site.run("check")
    assert checked.code == 1
    assert "subscriptions.csv" in checked.err


@pytest.mark.parametrize("target", ["{host}:abc/x/{token}", "{host}:99999/x/{token}",
                                    "{host}:{port}/x/{token}/" + "a" * 70_000])  # fmt: skip
def test_check_refuses_a_target_no_request_can_be_made_to(
    site: Site, hosts: Receivers, target: str
) -> None:
    url = "http://" + target.format(host="127.0.0.1", port=hosts.slack.port, token=token())
    write_rows(site, [f"Acme,A,slack,{url},*,,"])
    checked = site.run("check")
    assert checked.code == 1
    assert "subscriptions.csv: line 2" in checked.err


def test_a_target_no_request_can_be_made_to_fails_and_is_not_asked_again(
    site: Site, hosts: Receivers
) -> None:
    """A URL that cannot be posted to never will be: send leaves its row out and says so
    (exit 1), as check refuses it, rather than leave it pending unnoticed (exit 0)."""
    secrets = [token(), token()]
    write_rows(
        site,
        [
            f"A,A,slack,http://127.0.0.1:abc/x/{secrets[0]},*,,",
            f"B,B,slack,http://127.0.0.1:{hosts.slack.port}/x/{secrets[1]}/{'a' * 70_000},*,,",
        ],
    )
    ran = site.send(code=1)  # both rows are left out, and said (check refuses them too)
    assert ran.summary.startswith("sent 2, failed 0"), ran.out  # the email
    assert "line 2: column target (host 127.0.0.1) has no port" in ran.err
    assert "line 3: column target (host 127.0.0.1) is longer than" in ran.err
    assert hosts.slack.requests == []
    assert exposed(site, secrets) == []


def test_check_refuses_one_url_named_for_two_channels(site: Site, hosts: Receivers) -> None:
    url, _ = hosts.slack.new_url("/slack/")
    write_rows(site, [f"A,A,slack,{url},*,,", f"B,B,teams,{url},*,,"])
    checked = site.run("check")
    assert checked.code == 1
    assert "line 3" in checked.err


# -- exactly once ----------------------------------------------------------------------------


def test_a_subscription_removed_while_pending_is_never_posted_to_again(
    site: Site, hosts: Receivers
) -> None:
    kept = site.subscribe(hosts.slack)
    removed = site.subscribe(hosts.webhook)
    hosts.webhook.always(removed.path, Reply(503, body=b"busy"))
    site.send()
    assert states(site)[(WEEK_BEFORE, removed.key)] == "pending"
    write_rows(site, [row(kept)])
    ran = site.send(LATER)
    assert "1 recipient no longer listed in this host's subscriptions.csv" in ran.err
    hosts.webhook.always(removed.path, None)
    site.send(AFTER_WINDOW)
    assert len(hosts.webhook.to(removed.path)) == 3  # the first run's tries, nothing since
    assert states(site)[(WEEK_BEFORE, removed.key)] == "expired"
    assert kept.delivered()[REMINDER["slack"]] == 1


def test_a_change_reaches_every_subscription_told_and_none_removed_since(
    site: Site, hosts: Receivers
) -> None:
    """Two channels told of the window stay, one is removed: a reschedule and then a
    cancellation reach the two, each once, and never the one removed."""
    stays = [site.subscribe(hosts.webhook), site.subscribe(hosts.teams)]
    removed = site.subscribe(hosts.slack)
    site.send()
    write_rows(site, [row(sub, f"ACC-{n}") for n, sub in enumerate(stays)])
    moved = site.run("reschedule", MONTHLY, "--start", "2030-06-22T22:00:00-06:00", now=LATER)
    assert moved.code == 0, moved.err
    site.send(LATER)
    assert site.run("cancel", MONTHLY, "--reason", "Not needed.", now=LATEST).code == 0
    site.send(LATEST)
    site.send(AFTER_WINDOW)
    notices = hosts.webhook.delivered(stays[0].path)
    assert notices == Counter(
        {WEEK_BEFORE: 1, f"{MONTHLY}/reschedule": 1, f"{MONTHLY}/cancel": 1}
    ), notices
    cards = [r.notice.split(":")[0] for r in hosts.teams.to(stays[1].path) if r.ok]
    assert Counter(cards) == Counter({"In one week": 1, "Rescheduled": 1, "Cancelled": 1}), cards
    assert len(hosts.slack.to(removed.path)) == 1  # the reminder, before it was removed
    assert hosts.problems() == []
    assert set(states(site).values()) <= {"sent", "cancelled"}


def test_a_channel_whose_url_was_replaced_hears_of_a_change_or_the_run_says_it_does_not(
    site: Site, hosts: Receivers
) -> None:
    old = site.subscribe(hosts.slack, org="Acme")
    site.send()
    url, path = hosts.slack.new_url("/slack/")
    new = Sub(hosts.slack, url, path, "*", org="Acme")
    write_rows(site, [row(new, "ACC-0")])  # the same organization and channel, a new URL
    site.run("reschedule", MONTHLY, "--start", "2030-06-22T22:00:00-06:00", now=LATER)
    ran = site.send(LATER)
    told = any(r.notice.startswith("Rescheduled") for r in hosts.slack.to(new.path))
    assert told, ran.err  # the account's new URL on that channel is told in the old one's place
    assert not hosts.slack.to(old.path)[1:]  # the old URL had its one notice, nothing since


# -- receivers that misbehave ----------------------------------------------------------------


def test_a_204_with_a_body_does_not_make_the_next_post_on_its_connection_uncertain(
    site: Site, raw: RawReceiver
) -> None:
    """h11 reads no body after a 204: the bytes a receiver sends anyway would be read as
    the answer to the next request on that connection, which the receiver took and
    answered, and which the next run would then post a second time."""
    site.policy(concurrency=1)
    raw.answers["/bodied"] = b'HTTP/1.1 204 No Content\r\nContent-Length: 11\r\n\r\n{"ok":true}'
    raw.answers["/empty"] = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
    rows = [f"Org {n},A,slack,{raw.url(prefix)[0]},*,," for n, prefix in
            enumerate(["/bodied", "/next", "/empty", "/last"])]  # fmt: skip
    write_rows(site, rows)
    ran = site.send()
    assert ran.summary.startswith("sent 6 (email 2, slack 4), failed 0, expired 0, pending 0")
    assert "uncertain" not in ran.summary, ran.err
    site.send(LATER)
    assert [len(raw.to(p)) for p in ("/bodied", "/next", "/empty", "/last")] == [1, 1, 1, 1]


def test_headers_sent_a_byte_at_a_time_hold_a_post_no_longer_than_its_timeout(
    process_site: Site, raw: RawReceiver
) -> None:
    """httpx times each read alone: a receiver that sends its status line and then a
    header a byte every 0.2 s (timeout 1 s) would hold the run, and the send lock, until
    it stops. The post ends within its timeout as unanswered; the others go on."""
    site = process_site
    raw.answers["/slow"] = trickle(raw.stopping, b"HTTP/1.1 200 OK\r\n")
    raw.answers["/slower"] = trickle(raw.stopping, b"HTTP/1.1 ")
    write_rows(site, [f"A,A,slack,{raw.url('/slow')[0]},*,,",
                      f"B,B,teams,{raw.url('/slower')[0]},*,,",
                      f"C,C,webhook,{raw.url('/fine')[0]},*,,whsec_{'QUFB' * 8}"])  # fmt: skip
    ran = site.run("send", timeout=15)
    assert ran.code == 0, (ran.code, ran.seconds, ran.err)
    assert ran.seconds < 8, ran.seconds
    assert "uncertain 2" in ran.summary, ran.summary
    assert sorted(states(site).values()) == ["sent", "sent", "sent", "uncertain", "uncertain"]


def test_a_retry_after_no_number_or_date_is_a_backoff_not_a_crash(
    site: Site, raw: RawReceiver
) -> None:
    """'²' is a digit to str.isdigit() and no number to float()."""
    raw.answers["/super"] = b"HTTP/1.1 429 Slow\r\nRetry-After: \xb2\r\nContent-Length: 0\r\n\r\n"
    write_rows(site, [f"A,A,slack,{raw.url('/super')[0]},*,,"])
    ran = site.send()
    assert "ValueError" not in ran.err, ran.err
    assert "not delivered" not in ran.err, ran.err
    assert "127.0.0.1 answered 429 Slow (after 3 tries)" in ran.err, ran.err
    assert ran.summary.startswith("sent 2, failed 0, expired 0, pending 1"), ran.out
    assert len(raw.to("/super")) == 3


def test_resets_informational_answers_huge_bodies_and_waits_of_decades_end_the_run_quickly(
    site: Site, raw: RawReceiver
) -> None:
    site.policy(down_after=10)  # every raw answer comes from one host
    raw.answers |= {
        "/reset": reset,
        "/hints": b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK,
        "/continue": b"HTTP/1.1 100 Continue\r\n\r\n" + OK,
        "/huge": b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n" + b"x" * 2_000_000,
        "/decades": b"HTTP/1.1 503 Busy\r\nRetry-After: 999999999\r\nContent-Length: 0\r\n\r\n",
        "/far": b"HTTP/1.1 429 Busy\r\nRetry-After: Fri, 31 Dec 9999 23:59:59 GMT\r\n"
        b"Content-Length: 0\r\n\r\n",
    }
    prefixes = list(raw.answers)
    write_rows(site, [f"Org {n},A,slack,{raw.url(p)[0]},*,," for n, p in enumerate(prefixes)])
    ran = site.send()
    assert ran.seconds < 8, ran.seconds
    assert ran.summary.startswith("sent 5 (email 2, slack 3), failed 0, expired 0, pending 2, "
                                  "uncertain 1"), ran.summary  # fmt: skip
    assert "asked to wait 999999999 s" in ran.err
    assert [len(raw.to(p)) for p in prefixes] == [1] * len(prefixes)  # no wait of decades
    states(site)
    raw.answers.clear()
    again = site.send(LATER)
    assert again.summary.startswith("sent 3 (slack 3), failed 0, expired 0, pending 0")
    assert [len(raw.to(p)) for p in prefixes] == [2, 1, 1, 1, 2, 2]


def test_a_429_storm_leaves_each_post_pending_within_the_runs_patience(
    site: Site, hosts: Receivers
) -> None:
    site.policy(retries=1, max_wait_seconds=2, concurrency=4)
    subs = [site.subscribe(hosts.slack) for _ in range(8)]
    for sub in subs:
        hosts.slack.always(sub.path, Reply(429, {"Retry-After": "1"}, b"rate_limited"))
    ran = site.send()
    assert 1 <= ran.seconds < 8, ran.seconds  # 8 posts, 4 at once, one wait of 1 s each
    assert len(hosts.slack.requests) == 16  # each asked twice, the Retry-After waited out
    assert ran.summary.startswith("sent 2, failed 0, expired 0, pending 8"), ran.out
    assert "answered 429 Too Many Requests: rate_limited (after 2 tries)" in ran.err
    for sub in subs:
        hosts.slack.always(sub.path, None)
    assert site.send(LATER).summary.startswith("sent 8 (slack 8), failed 0")
    for sub in subs:
        assert sub.delivered() == Counter({REMINDER["slack"]: 1})
    states(site)
