from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from ctmaint.errors import ContactsError
from ctmaint.model.contacts import (
    COLUMNS,
    Contact,
    load_contacts,
    read_contacts,
    rows_left_out,
    split_contacts,
)

HEADER = ",".join(COLUMNS)
PRODUCTS = frozenset({"voice", "video"})


def rows(*lines: str) -> str:
    return "\n".join((HEADER, *lines)) + "\n"


def parse_contacts(text: str, source: str, product_ids: frozenset[str]) -> list[Contact]:
    """The contacts of ``text``, or ContactsError listing every bad row (as `check` reads)."""
    contacts, found = split_contacts(text, source, product_ids)
    if found:
        raise ContactsError(found)
    return contacts


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


# -- malformed rows: each is left out and named by its line; no other row is lost -----------

BEFORE = [f"Acme,,P{i},,p{i}@acme.example,,maintenance,voice," for i in (1, 2, 3)]
AFTER = [
    "Acme,,P4,,p4@acme.example,,maintenance,voice,",
    'Beta,,"Bo, Jr.",,bo@beta.example,,maintenance,voice,',  # a quote below the bad rows
    "Acme,,P5,,p5@acme.example,,maintenance,voice,",
]
GOOD = {"p1@acme.example", "p2@acme.example", "p3@acme.example", "p4@acme.example",
        "bo@beta.example", "p5@acme.example"}  # fmt: skip
FIRST_BAD = 2 + len(BEFORE)  # the header is line 1
UNCLOSED = 'Acme,,"Ann,,ann@acme.example,,maintenance,voice,'


class Case(NamedTuple):
    bad: list[str]  # the lines from FIRST_BAD on
    problems: list[tuple[str, str]]  # where and what of each problem
    read: frozenset[str] = frozenset()  # the addresses among the bad lines that are read


MALFORMED = {
    "unclosed_quote": Case(
        [UNCLOSED], [("line 5", 'a quote (") opens a field and does not close')]
    ),
    "two_unclosed_quotes": Case(
        [UNCLOSED, 'Acme,,Cy,"CTO,cy@acme.example,,maintenance,voice,'],
        [("line 5", "does not close on this line"), ("line 6", "does not close on this line")],
    ),
    "unclosed_quote_closed_lines_below_into_the_wrong_count": Case(
        [UNCLOSED, "Beta,,Bea,Dir,bea@beta.example,,maintenance,voice,", 'Beta,,Bea,Dir",x'],
        [("line 5", "does not close on this line"), ("line 7", "has 5 fields; expected 9")],
        frozenset({"bea@beta.example"}),
    ),
    "text_after_a_closing_quote": Case(
        ['Acme,,"Ann" Smith,,ann@acme.example,,maintenance,voice,'],
        [("line 5", 'text follows the quote (") that closes a field; put the whole field')],
    ),
    "too_few_fields": Case(
        ["Acme,,Ann,ann@acme.example,maintenance"], [("line 5", "has 5 fields")]
    ),
    "too_many_fields": Case(
        ["Acme,,Ann,,ann@acme.example,,maintenance,voice,,x"],
        [("line 5", "has 10 fields; expected 9")],
    ),
    "quoted_field_over_the_csv_limit": Case(
        ['Acme,,"' + "N" * (130 * 1024) + '",,ann@acme.example,,maintenance,voice,'],
        [("line 5", "cannot be read: a field is longer than 131072 characters")],
    ),
    "nul_byte": Case(
        ["Acme,,A\x00nn,,ann@acme.example,,maintenance,voice,"],
        [("line 5", "column name contains a control character ('\\x00'); remove it")],
    ),
    # A field may not hold a line break, even quoted as CSV allows: a contact is one line,
    # so each line is read on its own and each that cannot be is named.
    "quoted_field_with_a_line_break": Case(
        ['Acme,,Ann,"VP', 'Operations",ann@acme.example,,maintenance,voice,'],
        [("line 5", "does not close on this line"), ("line 6", "has 6 fields; expected 9")],
    ),
    # A stray quote below cannot pair with an unclosed one and swallow the lines between:
    # the line with the second quote is read on its own (a quote inside a field is text).
    "unclosed_quote_closed_below_into_nine_fields": Case(
        [UNCLOSED, 'Beta,,Bea",,bea@beta.example,,maintenance,voice,'],
        [("line 5", "does not close on this line")],
        frozenset({"bea@beta.example"}),
    ),
    # A quote inside an unquoted field is text, as spreadsheets read it: nothing is lost.
    "quote_inside_an_unquoted_field": Case(
        ['Acme,,A"nn,,ann@acme.example,,maintenance,voice,'],
        [],
        frozenset({"ann@acme.example"}),
    ),
    "blank_lines": Case(["", "   ", ",,,,,,,,"], []),
}


def csv_file(tmp_path: Path, lines: list[str], ending: str) -> Path:
    """contacts.csv of ``lines`` after the header, each ended by ``ending``, with a BOM."""
    path = tmp_path / "contacts.csv"
    path.write_bytes(("\ufeff" + "".join(f"{x}{ending}" for x in [HEADER, *lines])).encode())
    return path


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_row_is_left_out_by_line_and_every_other_row_read(
    tmp_path: Path, case: Case, ending: str
) -> None:
    bad, expected, read = case
    path = csv_file(tmp_path, [*BEFORE, *bad, *AFTER], ending)
    contacts, found = read_contacts(path, PRODUCTS)
    assert [(p.where, p.file) for p in found] == [(where, str(path)) for where, _ in expected]
    for problem, (_, what) in zip(found, expected, strict=True):
        assert what in problem.message
    told = {c.email for c in contacts}
    assert told == GOOD | read
    after = FIRST_BAD + len(bad)  # physical line numbers, whatever ends the lines
    assert [c.line for c in contacts if c.email == "bo@beta.example"] == [after + 1]
    assert rows_left_out(found) == len(expected)
    if found:  # `check` refuses the file with the same problems
        with pytest.raises(ContactsError) as caught:
            load_contacts(path, PRODUCTS)
        assert caught.value.problems == found


@pytest.mark.parametrize("end", ["\n", ""], ids=["ended", "unended"])
def test_an_unclosed_quote_on_the_last_line_is_named(tmp_path: Path, end: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join([HEADER, *BEFORE, UNCLOSED]) + end, "utf-8")
    contacts, found = read_contacts(path, PRODUCTS)
    assert [c.line for c in contacts] == [2, 3, 4]
    assert [p.where for p in found] == ["line 5"]
    assert "does not close on this line" in found[0].message


def test_an_unclosed_quote_does_not_swallow_the_4000_rows_below_it(tmp_path: Path) -> None:
    """The issue's example: one stray quote above 4,000 good rows leaves out one row."""
    good = [f"Big Co,,Person {i},,p{i}@big.example,,maintenance,*," for i in range(4000)]
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join([HEADER, UNCLOSED, *good]) + "\n", "utf-8")
    contacts, found = read_contacts(path, PRODUCTS)
    assert len(contacts) == 4000
    assert [str(p).split(": ")[1] for p in found] == ["line 2"]
    assert (contacts[0].line, contacts[-1].line) == (3, 4002)


def test_rows_left_out_counts_rows_not_problems() -> None:
    _, found = split_contacts(
        rows(",,Ann,,,,maintenance,voice,", UNCLOSED, "Acme,,Bo,,bo@acme.example,,x,y,"),
        "contacts.csv",
        PRODUCTS,
    )
    assert len(found) == 5  # two empty columns, the quote, a role and a product
    assert rows_left_out(found) == 3
