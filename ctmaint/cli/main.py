"""The console entry point: the app with every command defined, and :func:`main` to run it."""

import importlib

from ctmaint.cli.app import app, run

# The modules that define the commands, in the order `ctmaint --help` lists them (Typer lists
# commands in the order they are defined).
COMMAND_MODULES = ("ctmaint.cli.publish", "ctmaint.cli.send", "ctmaint.cli.operate")
for _module in COMMAND_MODULES:
    importlib.import_module(_module)

__all__ = ["app", "main"]


def main() -> None:
    """Run ``ctmaint`` with the process's arguments; exits with the command's code."""
    run()
