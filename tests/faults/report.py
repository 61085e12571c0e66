"""Run the fault suite and print its figures per family (the table of docs/RELIABILITY.md).

    .venv/bin/python tests/faults/report.py                # run, then print the table
    .venv/bin/python tests/faults/report.py --markdown     # the table as Markdown
    .venv/bin/python tests/faults/report.py --failures     # and each failing case's reason
    .venv/bin/python tests/faults/report.py --from f.jsonl # print the figures of a past run
    .venv/bin/python tests/faults/report.py -- -k secrets  # arguments after -- go to pytest

Each case appends its outcome to the JSON lines file named by CTMAINT_FAULT_REPORT (see
tests/faults/conftest.py); this script sets it, runs pytest on tests/faults and sums it
up. It exits with pytest's exit code (or 0 with --from).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ["headers", "secrets", "poison", "machine", "values", "smaller", "bounded"]
COLUMNS = ["cases", "passed", "failed", "skipped", "tracebacks", "rows stuck", "duplicates",
           "losses"]  # fmt: skip


def run_suite(report: Path, pytest_args: Sequence[str]) -> int:
    env = {**os.environ, "CTMAINT_FAULT_REPORT": str(report)}
    command = [sys.executable, "-m", "pytest", "tests/faults", "-q", "-p", "no:cacheprovider"]
    return subprocess.call([*command, *pytest_args], cwd=ROOT, env=env)


def figures(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """family -> column -> figure, with a "total" row."""
    found = sorted({r["family"] for r in records}, key=lambda f: (f not in FAMILIES, f))
    table: dict[str, dict[str, int]] = {}
    for family in [*(f for f in FAMILIES if f in found), *(f for f in found if f not in FAMILIES)]:
        rows = [r for r in records if r["family"] == family]
        table[family] = {
            "cases": len(rows),
            "passed": sum(r["outcome"] == "passed" for r in rows),
            "failed": sum(r["outcome"] == "failed" for r in rows),
            "skipped": sum(r["outcome"] == "skipped" for r in rows),
            "tracebacks": sum(bool(r["traceback"]) for r in rows),
            "rows stuck": sum(int(r["rows_stuck"]) for r in rows),
            "duplicates": sum(int(r["duplicates"]) for r in rows),
            "losses": sum(int(r["losses"]) for r in rows),
        }
    table["total"] = {c: sum(t[c] for t in table.values()) for c in COLUMNS}
    return table


def render(table: dict[str, dict[str, int]], markdown: bool) -> str:
    header = ["family", *COLUMNS]
    rows = [[family, *(str(values[c]) for c in COLUMNS)] for family, values in table.items()]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                  enumerate(zip(row, widths, strict=True)))
        for row in [header, *rows]
    )  # fmt: skip


def failures(records: list[dict[str, Any]]) -> str:
    lines = []
    for family in FAMILIES + sorted({r["family"] for r in records} - set(FAMILIES)):
        failed = [r for r in records if r["family"] == family and r["outcome"] != "passed"]
        if failed:
            lines.append(f"{family}:")
            lines += [f"  {r['outcome']}: {r['case']}: {r['reason'][:300]}" for r in failed]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--failures", action="store_true", help="list what did not pass")
    parser.add_argument("--from", dest="source", type=Path, help="read a past run's JSON lines")
    parser.add_argument("--keep", type=Path, help="also copy the JSON lines to this file")
    args, pytest_args = parser.parse_known_args(argv)
    pytest_args = [a for a in pytest_args if a != "--"]
    code = 0
    if args.source:
        text = args.source.read_text(encoding="utf-8")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            report = Path(tmp) / "faults.jsonl"
            code = run_suite(report, pytest_args)
            text = report.read_text(encoding="utf-8") if report.exists() else ""
    if args.keep:
        args.keep.write_text(text, encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    print()
    print(render(figures(records), args.markdown))
    if args.failures:
        print()
        print(failures(records))
    return code


if __name__ == "__main__":
    sys.exit(main())
