"""The layers point one way, checked by package prefix (a module of a forbidden package, or a
private submodule of one, is forbidden too):

- ``ctmaint.errors``: the exceptions every layer raises; imports nothing of ctmaint.
- ``ctmaint.model``: the domain (times, vocabulary, rules, policy, contacts, windows and
  changes, the notice plan); pure, no I/O but reading its own files, never the clock.
- ``ctmaint.state``: the ledger and its backends; of the model, only its vocabulary and text.
  Inside it: dialects and locations, then the ledger, the migrations, the two backends, and
  the opener and the copy above both.
- ``ctmaint.publishing``: files built from the model (calendars, feeds, status JSON, pages).
- ``ctmaint.clock``: the only reader of the real clock.
- ``ctmaint.channels``: how a notice reaches people (outbox, SendGrid, status posts).
- ``ctmaint.sending``: the send decision (pure) and the run that carries it out.
- ``ctmaint.usecases``: what each command does, above everything but the terminal.
- ``ctmaint.cli``: the command line, the only user of typer and of the terminal.

No message below the CLI spells a command-line option, and no module imports a library's
private module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "ctmaint"
MODULES = sorted(PACKAGE.rglob("*.py"))

LAYERS = [  # lowest first: a module imports only its own layer and those below it
    "ctmaint.errors",
    "ctmaint.model",
    "ctmaint.state",
    "ctmaint.publishing",
    "ctmaint.clock",
    "ctmaint.channels",
    "ctmaint.sending",
    "ctmaint.usecases",
    "ctmaint.cli",
]
# Narrower rules inside that order: storage knows no domain model beyond its words, and the
# pure send decision performs nothing. Inside the state, imports point one way too: the
# dialects and locations know nothing of the ledger, the ledger neither its schema nor its
# backends, and the backends neither each other nor the opener above them.
_STATE_ABOVE_LEDGER = {
    "ctmaint.state.migrations",
    "ctmaint.state.sqlite",
    "ctmaint.state.postgres",
    "ctmaint.state.open",
    "ctmaint.state.migrate",
}
FORBIDDEN = {
    "ctmaint.state": {"ctmaint.model"},
    "ctmaint.state.dialects": {"ctmaint.state"},
    "ctmaint.state.location": {"ctmaint.state"},
    "ctmaint.state.ledger": _STATE_ABOVE_LEDGER,
    "ctmaint.state.migrations": _STATE_ABOVE_LEDGER - {"ctmaint.state.migrations"},
    "ctmaint.state.sqlite": {"ctmaint.state.postgres", "ctmaint.state.open",
                             "ctmaint.state.migrate"},
    "ctmaint.state.postgres": {"ctmaint.state.sqlite", "ctmaint.state.open",
                               "ctmaint.state.migrate"},
    "ctmaint.sending.plan": {"ctmaint.channels", "ctmaint.publishing", "ctmaint.clock",
                             "ctmaint.sending.run"},
}  # fmt: skip
ALLOWED = {"ctmaint.state": {"ctmaint.model.vocabulary", "ctmaint.model.text"}}
LIBRARY_ONLY_IN = {"typer": "ctmaint.cli", "rich": "ctmaint.cli"}


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, with ``from a import b`` giving both ``a`` and ``a.b``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer(module: str) -> int | None:
    found = [i for i, prefix in enumerate(LAYERS) if within(module, prefix)]
    return found[0] if found else None


def ours(path: Path) -> set[str]:
    """The ctmaint modules ``path`` imports (a name imported from a module is dropped when
    it is not itself a module)."""
    modules = set(map(name, MODULES)) | {"ctmaint"}
    return {i for i in imports(path) if i in modules}


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_layers_point_one_way(path: Path) -> None:
    module = name(path)
    here = layer(module)
    if module in ("ctmaint", "ctmaint.__main__"):
        return
    assert here is not None, f"{module} is in no layer: add its package to LAYERS"
    for imported in ours(path) - {"ctmaint"}:
        there = layer(imported)
        assert there is not None, f"{module} imports {imported}, which is in no layer"
        assert there <= here, f"{module} imports {imported}, a higher layer"
    for prefix, forbidden in FORBIDDEN.items():
        if within(module, prefix):
            wrong = {
                i for i in ours(path)
                if any(within(i, f) for f in forbidden)
                and not any(within(i, a) for a in ALLOWED.get(prefix, ()))
            }  # fmt: skip
            assert not wrong, f"{module} imports {sorted(wrong)}"


@pytest.mark.parametrize("path", MODULES, ids=name)
def test_libraries_stay_where_they_belong(path: Path) -> None:
    module = name(path)
    for library, home in LIBRARY_ONLY_IN.items():
        if not within(module, home) and module != "ctmaint.__main__":
            wrong = {i for i in imports(path) if within(i, library)}
            assert not wrong, f"{module} imports {library}: only {home} may"
    private = {i for i in imports(path) if is_private(i)}
    assert not private, f"{module} imports a library's private module: {sorted(private)}"


def is_private(module: str) -> bool:
    """Whether ``module`` is a private part of a library (``typer._click``): some part of its
    dotted name starts with an underscore."""
    if module.startswith(("ctmaint", "__future__")):
        return False
    return any(part.startswith("_") for part in module.split("."))


def test_the_layer_rules_catch_what_they_name(tmp_path: Path) -> None:
    """The checker itself: an upward import, a private submodule of a forbidden package and a
    private Typer import are each found."""
    upward = tmp_path / "up.py"
    upward.write_text("from ctmaint.cli import main\nfrom ctmaint.model._x import y\n")
    assert "ctmaint.cli.main" in imports(upward)
    assert within("ctmaint.model._x", "ctmaint.model")
    assert layer("ctmaint.cli.main") > layer("ctmaint.state.ledger")  # type: ignore[operator]
    private = tmp_path / "private.py"
    private.write_text("from typer._click import exceptions\n")
    assert is_private("typer._click")
    assert "typer._click" in imports(private)


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
    "path", [p for p in MODULES if not within(name(p), "ctmaint.cli")], ids=name
)
def test_no_message_below_the_cli_spells_an_option(path: Path) -> None:
    spelled = [s for s in strings(ast.parse(path.read_text())) if FLAG.search(s)]
    assert not spelled, f"{name(path)}: {spelled}"
