"""The layers point one way: renderers import no use cases, storage no domain model, the core
no terminal; and no message below the CLI spells a command-line option."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "ctmaint"
MODULES = sorted(PACKAGE.rglob("*.py"))


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


FORBIDDEN = {
    "ctmaint.render": {"ctmaint.services", "ctmaint.cli", "ctmaint.dispatch", "typer"},
    "ctmaint.ledger": {"ctmaint.changes", "ctmaint.schedule", "ctmaint.sendplan",
                       "ctmaint.services", "ctmaint.notices", "ctmaint.policy"},
    "ctmaint.vocabulary": {m for m in map(name, MODULES) if m != "ctmaint.vocabulary"},
    "ctmaint.sendplan": {"ctmaint.dispatch", "ctmaint.services", "ctmaint.delivery",
                         "ctmaint.render", "typer"},
}  # fmt: skip


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_layers_point_one_way(path: Path) -> None:
    module = name(path)
    for layer, forbidden in FORBIDDEN.items():
        if module == layer or module.startswith(layer + "."):
            wrong = {
                i for i in imports(path) if any(i == f or i.startswith(f + ".") for f in forbidden)
            }
            assert not wrong, f"{module} imports {wrong}"
    if module not in ("ctmaint.cli", "ctmaint.__main__"):
        assert "typer" not in imports(path), f"{module} imports typer: only the CLI may"


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_value_types_are_structs_not_dataclasses(path: Path) -> None:
    """Every cron tick creates the classes of the modules it imports. On Python 3.11 a frozen
    dataclass compiles six generated methods from source at import (about 3.8 million
    instructions each, measured with callgrind), a msgspec Struct is made in C (about 0.4
    million): with some fifty value types that is a tenth of the tick (docs/PERFORMANCE.md)."""
    assert "dataclasses" not in imports(path), f"{name(path)}: use msgspec.Struct"


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def strings(tree: ast.AST) -> list[str]:
    """String literals that are not docstrings."""
    docstrings = {
        id(body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and (body := node.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    ]  # fmt: skip


@pytest.mark.parametrize(
    "path", [p for p in MODULES if p.name not in ("cli.py", "usage.py")], ids=name
)
def test_no_message_below_the_cli_spells_an_option(path: Path) -> None:
    spelled = [s for s in strings(ast.parse(path.read_text())) if FLAG.search(s)]
    assert not spelled, f"{name(path)}: {spelled}"
