"""The README and the output folders' READMEs say what the code does: every policy key,
every command line, every file example (as sqlite-utils' tests/test_docs.py keeps its
docs honest)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from ctmaint.model.policy import KEYS
from tests.cli.test_help import assert_parses
from tests.conftest import CliRunner
from tests.sending.test_send import CONTACTS, write_contacts

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def policy_table_keys() -> set[str]:
    """Every key the README's policy table names: `provider.name`, `.domain` (a key of the
    table before it) and so on."""
    section = README.split("## The policy file", 1)[1].split("### Time rules", 1)[0]
    found: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        parent = ""
        for name in re.findall(r"`([^`]+)`", row.split("|")[1]):
            if name.startswith("."):
                found.add(parent + name)
            else:
                found.add(name)
                parent = name.rsplit(".", 1)[0] if "." in name else name
    return found


def test_the_policy_table_names_every_key_the_policy_takes_and_no_other() -> None:
    expected = {f"{table}.{key}" if table else key for table, keys in KEYS.items() for key in keys}
    expected -= {key for key in KEYS[""] if key not in ("products",)}  # tables, not keys
    assert policy_table_keys() == expected


def readme_command_lines() -> list[list[str]]:
    """Every `ctmaint ...` line of the README's shell and cron blocks, split as the shell
    would (continuations joined, comments dropped, each command of a `&&` or `;` list apart)."""
    lines = []
    for block in re.findall(r"```(?:sh|cron)\n(.*?)```", README, re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            for part in re.split(r"&&|;", line):
                words = shlex.split(part, comments=True)
                if "ctmaint" in words:
                    lines.append(words[words.index("ctmaint") + 1 :])
    return lines


def test_every_command_line_in_the_readme_parses() -> None:
    found = readme_command_lines()
    assert len(found) >= 20
    for args in found:
        if args and args[0] not in ("--help", "--version"):
            assert_parses(args)


def test_the_index_json_example_has_the_shape_of_the_real_file(
    run_cli: CliRunner, tmp_path: Path
) -> None:
    text = (ROOT / "notices" / "README.md").read_text()
    example = json.loads(text.split("## index.json", 1)[1].split("```json", 1)[1].split("```")[0])
    write_contacts(tmp_path, CONTACTS)
    assert run_cli("--now", "2030-06-14T09:00:00-06:00", "send").code == 0
    real = json.loads((tmp_path / "notices" / "index.json").read_text())
    assert set(example) == set(real)
    assert set(example["page"]) == set(real["page"])
    for key, value in example["posts"][0].items():
        if key != "...":
            assert key in real["posts"][0], key
            if re.fullmatch(r"\d[\d:.TZ+-]+", str(value)):  # a time: the file's format
                assert _shape(value) == _shape(real["posts"][0][key]), key
    assert _shape(example["page"]["updated_at"]) == _shape(real["page"]["updated_at"])


def _shape(value: object) -> str:
    """A value with its digits and letters blurred: the format, not the content."""
    return re.sub(r"[a-z]+", "a", re.sub(r"\d", "0", str(value)))


def listed_files(folder: str) -> list[re.Pattern[str]]:
    """The paths the folder's README lists in its "Files" table, as patterns: a
    `<placeholder>` stands for any name, `.rss` after `x.ics` for `x.rss` (a hidden file,
    `.ctmaint-build.json`, is a name of its own)."""
    text = (ROOT / folder / "README.md").read_text()
    table = text.split("## Files", 1)[1].split("\n## ", 1)[0]
    patterns, stem = [], ""
    for row in table.splitlines():
        if not row.startswith("| `"):
            continue
        for name in re.findall(r"`([^`]+)`", row.split("|")[1]):
            name = stem + name if name.startswith(".") and name.count(".") == 1 else name
            stem = name.rsplit(".", 1)[0]
            parts = re.split(r"<[^>]+>", name)
            patterns.append(re.compile("[^/]+".join(map(re.escape, parts)) + "$"))
    return patterns


@pytest.mark.parametrize("folder", ["calendars", "notices"])
def test_the_output_readmes_name_every_file_build_writes(
    run_cli: CliRunner, tmp_path: Path, folder: str
) -> None:
    write_contacts(tmp_path, CONTACTS)
    assert run_cli("--now", "2030-06-14T09:00:00-06:00", "send").code == 0
    assert run_cli("--now", "2030-06-14T09:00:00-06:00", "build").code == 0
    patterns = listed_files(folder)
    written = [p.relative_to(tmp_path / folder).as_posix()
               for p in (tmp_path / folder).rglob("*") if p.is_file()]  # fmt: skip
    assert len(written) > 5
    for path in written:
        assert any(pattern.match(path) for pattern in patterns), path


def channels_section() -> str:
    return README.split("## Teams, Slack and signed webhooks", 1)[1].split("\n## ", 1)[0]


def readme_blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def sample_notice() -> tuple[object, object, object]:
    """The notice the README's samples show: a Connect release's day-before notice, sent on
    time, to a channel in Europe/London."""
    from datetime import datetime, timedelta

    from ctmaint.model.notices import plan
    from ctmaint.model.policy import load_policy
    from ctmaint.model.windows import windows_between

    policy = load_policy(None, ROOT)
    now = datetime.fromisoformat("2030-07-01T21:00:00-06:00")
    windows = windows_between(policy, now, now + timedelta(days=3))
    notice = next(n for n in plan(policy, windows) if n.id == "connect-2030-07-02/day-before")
    return notice, policy, now


def _within(sample: object, real: object) -> bool:
    """Whether ``sample`` is ``real`` with list items left out (objects keep every key)."""
    if isinstance(sample, dict) and isinstance(real, dict):
        return sample.keys() == real.keys() and all(_within(sample[k], real[k]) for k in sample)
    if isinstance(sample, list) and isinstance(real, list):
        rest = iter(real)  # in order: each sample item is a later real item
        return all(any(_within(item, candidate) for candidate in rest) for item in sample)
    return sample == real


def test_the_readme_payload_samples_are_what_the_channels_post() -> None:
    from zoneinfo import ZoneInfo

    from ctmaint.channels import slack, teams, webhook

    notice, policy, now = sample_notice()
    london = ZoneInfo("Europe/London")
    real = [
        teams.payload(notice, policy, now, london),  # type: ignore[arg-type]
        slack.message(notice, policy, now, london),  # type: ignore[arg-type]
        webhook.payload(notice, policy, now, None),  # type: ignore[arg-type]
    ]
    samples = [json.loads(block) for block in readme_blocks(channels_section(), "json")]
    assert len(samples) == 3
    for sample, made in zip(samples, real, strict=True):
        assert _within(sample, made), json.dumps(made, indent=1)
    assert len(samples[0]["attachments"][0]["content"]["body"]) == 6  # two blocks left out, as said


def test_the_readme_receiver_verifies_what_ctmaint_signs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("standardwebhooks.webhooks")
    from datetime import UTC, datetime

    from ctmaint.channels import webhook
    from ctmaint.channels.signing import signed_headers
    from ctmaint.channels.webpost import delivery_id_of

    (receiver,) = readme_blocks(channels_section(), "python")
    secret = re.search(r'Webhook\("(whsec_[^"]+)"\)', receiver)
    assert secret is not None
    seen: set[str] = set()
    names: dict[str, object] = {"already_seen": lambda i: i in seen or seen.add(i)}
    exec(receiver, names)
    notice, policy, now = sample_notice()
    body = json.dumps(webhook.payload(notice, policy, now, None)).encode()  # type: ignore[arg-type]
    delivery = delivery_id_of("connect-2030-07-02/day-before", "webhook:ops.example.org#1")
    headers = signed_headers(secret.group(1), delivery, datetime.now(UTC), body)
    receive = names["receive"]
    receive(body, headers)  # type: ignore[operator]
    receive(body, headers)  # type: ignore[operator]  # a retry: dropped
    forged = headers | {"webhook-id": "msg_forged"}  # a new id under the old signature
    receive(body, forged)  # type: ignore[operator]
    printed = capsys.readouterr().out
    assert printed.startswith("connect-2030-07-02/day-before 2030-07-03T03:00:00.000Z")
    assert printed.count("connect-2030-07-02/day-before") == 1
