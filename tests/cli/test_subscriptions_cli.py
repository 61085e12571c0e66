"""subscriptions.csv at the command line: `init` writes it commented out and owner-only,
`check` validates it (every problem with its line, a file others can read refused, even when
the policy itself is broken) and never shows more of a URL than its host, and `send
--dry-run`, `notices` and `history` count subscriptions by channel."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from ctmaint.model.subscriptions import read_subscriptions
from tests.conftest import CliRunner

NOW = "2030-06-14T09:00:00-06:00"  # the monthly window of 2030-06-21: its reminder is due
HEADER = "organization,account,channel,target,products,timezone,secret\n"
TOKEN = "T0KEN-do-not-print-9f8e7d"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def write_subscriptions(folder: Path, rows: str, mode: int = 0o600) -> Path:
    path = folder / "subscriptions.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    path.chmod(mode)
    return path


def test_init_writes_an_owner_only_example_whose_rows_are_all_comments(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    assert run_cli("init", "site").code == 0
    path = tmp_path / "site" / "subscriptions.csv"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert text.startswith(HEADER)
    assert all(channel in text for channel in ("teams", "slack", "webhook"))
    assert read_subscriptions(path, None) == ([], [])  # nothing is posted until uncommented
    checked = run_cli("--config", "site/ctmaint.toml", "check")
    assert checked.code == 0, checked.err


def test_an_uncommented_example_row_is_a_subscription(tmp_path: Path) -> None:
    from ctmaint.model.policy import example_subscriptions_text

    text = "\n".join(
        line.removeprefix("#") if line.startswith("#Example") else line
        for line in example_subscriptions_text().splitlines()
    )
    path = tmp_path / "subscriptions.csv"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    found, problems = read_subscriptions(path, ["teams", "connect", "skype", "sip"])
    assert problems == []
    assert [s.channel for s in found] == ["teams", "slack", "webhook"]
    assert [s.line for s in found] == [11, 12, 13]  # comments keep the line numbers


def test_check_names_each_bad_row_by_line_and_shows_only_hosts(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    write_subscriptions(
        tmp_path,
        f"Acme,,teams,https://hooks.example.com/{TOKEN},connect,,\n"
        f"Acme,,fax,https://hooks.example.com/{TOKEN},connect,,\n"
        f"Acme,,slack,http://hooks.example.com/{TOKEN},connect,,\n"
        f"Acme,,webhook,https://ops.example.com/{TOKEN},nosuch,,{SECRET}\n"
        f"Acme,,webhook,https://ops.example.com/{TOKEN},connect,,whsec_short\n",
    )
    result = run_cli("check")
    assert result.code == 1
    said = result.out + result.err
    for line in (3, 4, 5, 6):
        assert f"subscriptions.csv: line {line}" in said
    assert "line 2" not in said
    assert "hooks.example.com" in said
    assert all(secret not in said for secret in (TOKEN, "whsec_short", SECRET))


def test_check_refuses_a_file_others_can_read_even_with_a_broken_policy(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    write_subscriptions(tmp_path, f"Acme,,teams,https://hooks.example.com/{TOKEN},*,,\n", 0o644)
    result = run_cli("check")
    assert result.code == 1
    assert "chmod 600" in result.out + result.err
    (tmp_path / "ctmaint.toml").write_text("[provider]\nname = 'X'\n", encoding="utf-8")
    broken = run_cli("check")
    assert broken.code == 1
    assert "chmod 600" in broken.out + broken.err  # as well as the policy's own problems
    assert TOKEN not in broken.out + broken.err


def test_check_counts_good_subscriptions_by_channel(run_cli: CliRunner, tmp_path: Path) -> None:
    write_subscriptions(
        tmp_path,
        f"Acme,,teams,https://a.example.com/{TOKEN},*,,\n"
        f"Acme,,slack,https://b.example.com/{TOKEN},connect,America/Denver,\n"
        f"Beta,,webhook,https://c.example.com/{TOKEN},*,,{SECRET}\n",
    )
    result = run_cli("check")
    assert result.code == 0, result.err
    assert "3 subscriptions (slack 1, teams 1, webhook 1)" in result.out
    assert TOKEN not in result.out


def test_a_dry_run_lists_subscriptions_by_host_and_a_bad_file_is_reported(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    write_subscriptions(tmp_path, f"Acme,,teams,https://hooks.example.com/{TOKEN},*,,\n")
    result = run_cli("--now", NOW, "send", "--dry-run", "--format", "json")
    assert result.code == 0, result.err
    assert "teams:hooks.example.com#" in result.out
    assert TOKEN not in result.out
    plan = json.loads(result.out)
    reminder = next(d for d in plan["deliveries"] if d["stage"] == "week-before")
    assert reminder["addresses"] == []
    assert [s["channel"] for s in reminder["subscriptions"]] == ["teams"]
    text = run_cli("--now", NOW, "send", "--dry-run")
    assert "monthly-2030-06-21/week-before to 1 (teams 1): teams:hooks.example.com#" in text.out
    assert "dry run: would have sent 1 (teams 1)," in text.out
    (tmp_path / "subscriptions.csv").chmod(0o644)
    refused = run_cli("--now", NOW, "send", "--dry-run")
    assert refused.code == 1
    assert "chmod 600" in refused.err
    assert TOKEN not in refused.out + refused.err


def test_notices_and_history_count_deliveries_by_channel(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "contacts.csv").write_text(
        "organization,account,name,title,email,phone,roles,products,timezone\n"
        "Acme,,Dana,,dana@example.com,,maintenance,*,\n",
        encoding="utf-8",
    )
    # a port nothing listens on: the post cannot be made, so it stays pending
    write_subscriptions(tmp_path, f"Acme,,teams,http://127.0.0.1:9/{TOKEN},*,,\n")
    (tmp_path / "ctmaint.toml").write_text(
        (Path(__file__).parents[2] / "ctmaint" / "data" / "policy.toml")
        .read_text(encoding="utf-8")
        .replace("retries = 3              # tries after the first, for 5xx, 429", "retries = 0 #")
        .replace("timeout_seconds = 30     # for each request; no", "timeout_seconds = 2 #"),
        encoding="utf-8",
    )
    sent = run_cli("--now", NOW, "send")
    assert TOKEN not in sent.out + sent.err
    notices = json.loads(run_cli("--now", NOW, "notices", "--format", "json").out)
    reminder = next(n for n in notices if n["id"] == "monthly-2030-06-21/week-before")
    assert reminder["recipients"] == 2
    assert reminder["channels"] == {"email": 1, "teams": 1}
    history = json.loads(run_cli("--now", NOW, "history", "--format", "json").out)
    entry = next(n for n in history["notices"] if n["notice"] == "monthly-2030-06-21/week-before")
    assert entry["channels"]["email"]["sent"] == 1
    assert entry["channels"]["teams"]["sent"] == 0
    listed = run_cli("--now", NOW, "notices").out
    assert "2 (email 1, teams 1)" in listed
    table = run_cli("--now", NOW, "history").out
    assert "teams" in table
    assert TOKEN not in table
