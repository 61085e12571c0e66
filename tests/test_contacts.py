from __future__ import annotations

from pathlib import Path

import pytest

from ctmaint.contacts import COLUMNS, load_contacts, parse_contacts
from ctmaint.errors import ContactsError

HEADER = ",".join(COLUMNS)
PRODUCTS = frozenset({"voice", "video"})


def rows(*lines: str) -> str:
    return "\n".join((HEADER, *lines)) + "\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ContactsError) as caught:
        parse_contacts(text, "contacts.csv", PRODUCTS)
    return [str(problem) for problem in caught.value.problems]


def test_a_valid_file() -> None:
    contacts = parse_contacts(
        rows(
            "Acme,ACME-1,Ann,CTO,ann@acme.example,+1 555,primary;Maintenance,voice,Europe/London",
            'Beta Inc,,"Bo, Jr.",,bo@beta.example,,maintenance,*,',
        ),
        "contacts.csv",
        PRODUCTS,
    )
    ann, bo = contacts
    assert ann.roles == {"primary", "maintenance"}
    assert ann.zone is not None
    assert ann.zone.key == "Europe/London"
    assert (ann.line, bo.line) == (2, 3)
    assert bo.account == "Beta Inc"  # defaults to the organization
    assert bo.name == "Bo, Jr."
    assert (ann.products, bo.products) == ({"voice"}, {"*"})


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "Acme,,Ann,,ann-at-acme,,maintenance,voice,",
            "contacts.csv: line 2: 'ann-at-acme' is not an email address",
            id="malformed_email",
        ),
        pytest.param(
            "Acme,,Ann,,ann@acme,,maintenance,voice,",
            "'ann@acme' is not an email address",
            id="email_without_dotted_domain",
        ),
        pytest.param(
            "Acme,,Ann,,ann@acme.example,,maintenance;boss,voice,",
            "line 2: role 'boss' is unknown; use one of primary",
            id="unknown_role",
        ),
        pytest.param(
            "Acme,,Ann,,ann@acme.example,,maintenance,fax,",
            "line 2: product 'fax' is unknown; use '*' or one of video, voice",
            id="unknown_product",
        ),
        pytest.param(
            "Acme,,Ann,,ann@acme.example,,maintenance,voice,Mars/Olympus",
            "line 2: 'Mars/Olympus' is not an IANA time zone",
            id="bad_zone",
        ),
        pytest.param(
            ",,Ann,,ann@acme.example,,maintenance,voice,",
            "line 2: column organization is empty",
            id="empty_required",
        ),
        pytest.param(
            "Acme,,Ann,ann@acme.example,maintenance,voice",
            "line 2: has 6 fields; expected 9",
            id="short_row",
        ),
    ],
)
def test_each_bad_row_is_reported_by_line(line: str, expected: str) -> None:
    found = problems(rows(line))
    assert any(expected in problem for problem in found), found


def test_every_bad_row_is_reported_at_once() -> None:
    found = problems(
        rows(
            "Acme,,Ann,,bad,,maintenance,voice,",
            "Acme,,Bob,,bob@acme.example,,maintenance,voice,",
            "Acme,,Cy,,cy@acme.example,,chief,fax,",
        )
    )
    assert [p.split(":")[1].strip() for p in found] == ["line 2", "line 4", "line 4"]


def test_the_header_must_be_the_contract() -> None:
    found = problems("org,email\nAcme,a@b.example\n")
    assert found == [f"contacts.csv: line 1: the header must be exactly: {HEADER}"]


def test_missing_file_means_no_contacts_and_bom_is_accepted(tmp_path: Path) -> None:
    assert load_contacts(tmp_path / "none.csv", PRODUCTS) == []
    path = tmp_path / "contacts.csv"
    path.write_text("\ufeff" + rows("Acme,,Ann,,ann@acme.example,,maintenance,voice,"), "utf-8")
    assert [c.email for c in load_contacts(path, PRODUCTS)] == ["ann@acme.example"]


def test_non_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(rows("Caf\xe9,,Ann,,ann@acme.example,,maintenance,voice,").encode("latin-1"))
    with pytest.raises(ContactsError, match="is not UTF-8"):
        load_contacts(path, PRODUCTS)
