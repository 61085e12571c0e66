"""subscriptions.csv: every row checked like contacts.csv's, each problem named with its line,
no URL shown beyond its host and no secret at all, and a file others can read refused."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ctmaint.errors import SubscriptionsError
from ctmaint.model.subscriptions import COLUMNS, read_subscriptions, split_subscriptions

HEADER = ",".join(COLUMNS)
PRODUCTS = frozenset({"teams", "sip"})
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
TEAMS = "https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456"
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXSECRETPATH"


def rows(*lines: str) -> str:
    return "\n".join((HEADER, *lines)) + "\n"


def problems(*lines: str) -> list[str]:
    found, said = split_subscriptions(rows(*lines), "subscriptions.csv", PRODUCTS)
    assert not found
    return [str(problem) for problem in said]


def test_a_valid_file() -> None:
    found, said = split_subscriptions(
        rows(
            f"Acme,ACME-1,teams,{TEAMS},teams;sip,Europe/London,",
            f"Beta,,Slack,{SLACK},*,,",
            f"Gamma,G-1,webhook,https://hooks.gamma.example/ctmaint,sip,,{SECRET}",
            "",
        ),
        "subscriptions.csv",
        PRODUCTS,
    )
    assert not said
    assert [(s.organization, s.account, s.channel, s.host, s.line) for s in found] == [
        ("Acme", "ACME-1", "teams", "acme.webhook.office.com", 2),
        ("Beta", "Beta", "slack", "hooks.slack.com", 3),
        ("Gamma", "G-1", "webhook", "hooks.gamma.example", 4),
    ]
    assert found[0].zone is not None
    assert found[0].zone.key == "Europe/London"
    assert found[2].secret == SECRET
    assert found[1].uses(["webex"])
    assert found[2].uses(["sip"])
    assert not found[2].uses(["teams"])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            f"Acme,,pigeon,{TEAMS},teams,,",
            "channel 'pigeon' is unknown; use one of teams, slack, webhook",
            id="unknown_channel",
        ),
        pytest.param(
            "Acme,,teams,http://acme.example/hook,teams,,",
            "column target (host acme.example) is not an https URL",
            id="plain_http",
        ),
        pytest.param(
            "Acme,,teams,ftp://acme.example/hook,teams,,",
            "column target (host acme.example) is not an https URL",
            id="other_scheme",
        ),
        pytest.param(
            "Acme,,teams,acme.example/hook,teams,,",
            "column target is not a URL with a host",
            id="no_scheme",
        ),
        pytest.param(
            "Acme,,teams,https://user:pw@acme.example/hook,teams,,",
            "column target (host acme.example) holds a user or password",
            id="userinfo",
        ),
        pytest.param(
            "Acme,,teams,https://[::1/hook,teams,,", "column target is not a URL", id="broken_url"
        ),
        pytest.param(
            f"Acme,,teams,{TEAMS},fax,,",
            "product 'fax' is unknown; use '*' or one of sip, teams",
            id="unknown_product",
        ),
        pytest.param(f"Acme,,teams,{TEAMS},teams,Mars/Base,", "Mars/Base", id="bad_zone"),
        pytest.param(
            f"Acme,,teams,{TEAMS},teams,,{SECRET}",
            "column secret is for webhooks only; leave it empty for teams",
            id="secret_for_teams",
        ),
        pytest.param(
            "Acme,,webhook,https://h.example/x,teams,,",
            "column secret is empty; a webhook needs one",
            id="webhook_without_secret",
        ),
        pytest.param(
            "Acme,,webhook,https://h.example/x,teams,,s3cr3t",
            "column secret does not start with whsec_",
            id="not_standard_webhooks",
        ),
        pytest.param(
            "Acme,,webhook,https://h.example/x,teams,,whsec_***",
            "column secret is not base64 after whsec_",
            id="not_base64",
        ),
        pytest.param(
            "Acme,,webhook,https://h.example/x,teams,,whsec_" + "a2tr",
            "column secret is 3 bytes long; give at least 24",
            id="short_secret",
        ),
        pytest.param(f",,teams,{TEAMS},teams,,", "column organization is empty", id="no_org"),
        pytest.param(f"Acme,,teams,{TEAMS},teams", "has 5 fields; expected 7", id="fields"),
    ],
)
def test_each_problem_names_its_line_and_the_fix(line: str, expected: str) -> None:
    said = problems(line)
    assert len(said) == 1, said
    assert said[0].startswith("subscriptions.csv: line 2: "), said
    assert expected in said[0], said


def test_no_problem_shows_a_url_beyond_its_host_or_any_secret() -> None:
    secret_path = "/services/T000/B000/XXXXSECRETPATH?token=hunter2"
    said = problems(
        f"Acme,,pigeon,http://hooks.slack.com{secret_path},fax,,whsec_hunter2hunter2",
        "Beta,,webhook,http://h.example/p?key=hunter2,teams,,whsec_hunter2",
    )
    text = "\n".join(said)
    assert "hooks.slack.com" in text
    assert "h.example" in text
    for secret in ("hunter2", "XXXXSECRETPATH", "/p?"):
        assert secret not in text


def test_http_on_this_machine_is_allowed_for_tests() -> None:
    found, said = split_subscriptions(
        rows(
            "A,,teams,http://127.0.0.1:8080/hook,teams,,",
            "B,,slack,http://[::1]:9/x,teams,,",
            "C,,teams,http://localhost/x,*,,",
        ),
        "s.csv",
        PRODUCTS,
    )
    assert not said
    assert [s.host for s in found] == ["127.0.0.1", "::1", "localhost"]


def test_a_stray_quote_leaves_out_its_row_only() -> None:
    found, said = split_subscriptions(
        rows(f'"Acme,,teams,{TEAMS},teams,,', f"Beta,,slack,{SLACK},*,,"), "s.csv", PRODUCTS
    )
    assert [s.organization for s in found] == ["Beta"]
    assert len(said) == 1
    assert said[0].where == "line 2"


def test_the_header_must_be_exact() -> None:
    with pytest.raises(SubscriptionsError, match="the header must be exactly"):
        split_subscriptions("organization,channel,target\n", "s.csv", PRODUCTS)


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "subscriptions.csv"
    path.write_text(rows(f"Acme,,teams,{TEAMS},teams,,"))
    path.chmod(0o644)
    with pytest.raises(SubscriptionsError) as caught:
        read_subscriptions(path, PRODUCTS)
    assert "can be read by others (mode 644)" in str(caught.value)
    assert "chmod 600" in str(caught.value)
    path.chmod(0o600)
    found, said = read_subscriptions(path, PRODUCTS)
    assert [s.channel for s in found] == ["teams"]
    assert not said


def test_a_missing_file_means_no_subscriptions(tmp_path: Path) -> None:
    assert read_subscriptions(tmp_path / "subscriptions.csv", PRODUCTS) == ([], [])


def test_a_folder_or_a_binary_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SubscriptionsError, match="is not a file"):
        read_subscriptions(tmp_path, PRODUCTS)
    path = tmp_path / "subscriptions.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    path.chmod(0o600)
    with pytest.raises(SubscriptionsError, match="cannot be read"):
        read_subscriptions(path, PRODUCTS)
